"""The map wall with its enterprises as vector tiles (as above VECTOR_TILE_THRESHOLD, 20,000
enterprises by default), in headless Chromium: a second server on the demo city's database
with the threshold at 100, so the 1,203 demo enterprises come as tiles."""
import threading

import pytest

from tests.browser.conftest import BROWSER_KEY, LIVE_DATABASE, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def tiles_url(live_url):
    """The same demo city (nothing is written), enterprises served as tiles."""
    from werkzeug.serving import make_server

    from app import create_app

    app = create_app({"DATABASE_URL": LIVE_DATABASE["url"], "SECRET_KEY": BROWSER_KEY,
                      "VECTOR_TILE_THRESHOLD": 100})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["gridwatch.engine"].dispose()


def test_tiles_are_few_counted_and_only_where_the_enterprises_are(page, tiles_url):
    tiles = []
    page.on("request", lambda r: "/tiles/" in r.url and tiles.append(r.url.split("?")[0]))
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, tiles_url, "leader", "demo-leader-2026", "/map")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    drawn = page.evaluate("GridWatchMap.drawn")
    # A tiled layer reports its count; every other layer still comes with the page.
    assert drawn["enterprises"] == 1203 and drawn["overdue"] > 0
    assert drawn["cells"] == 44
    zoom = page.evaluate("GridWatchMap.map.getZoom()")
    # 512-px tiles: zoom z shows the standard tiles of zoom z - 1, two layers, and only tiles
    # over the city: a handful, not the 50 a 256-px grid over the whole window asks for.
    zooms = {int(u.split("/tiles/")[1].split("/")[1]) for u in tiles}
    assert zooms == {round(zoom) - 1}, (zooms, zoom)
    assert 2 <= len(tiles) <= 16, tiles
    assert {u.split("/tiles/")[1].split("/")[0] for u in tiles} == {"enterprises", "overdue"}
    # The tiles drew: their canvases have marks on them.
    marked = page.evaluate("""(() => { var n = 0;
        document.querySelectorAll('.leaflet-tile-container canvas, canvas.leaflet-tile')
            .forEach(function (c) {
                var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (var i = 3; i < d.length; i += 4) { if (d[i]) { n += 1; break; } }
            });
        return n; })()""")
    assert marked >= 2
    # Zooming in (the + button) asks for the next zoom's tiles, still a handful.
    tiles.clear()
    page.click(".leaflet-control-zoom-in")
    page.wait_for_timeout(1500)
    assert tiles and all(f"/{round(zoom)}/" in u for u in tiles), tiles
    assert page.log.problems() == []
