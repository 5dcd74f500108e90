"""The map wall in headless Chromium with every outside host unreachable: Leaflet runs, every
layer draws (all 1,203 demo enterprises), nothing fails, the view survives a refresh."""
import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def open_wall(page, live_url, query=""):
    sign_in(page, live_url, "leader", "demo-leader-2026", "/map" + query)
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    return page.evaluate("GridWatchMap.drawn")


def test_wall_draws_every_layer_offline(page, live_url):
    page.set_viewport_size({"width": 1600, "height": 1000})  # a command-room screen
    drawn = open_wall(page, live_url, "?lang=zh_Hans_CN")
    assert page.evaluate("typeof L !== 'undefined' && L.version") == "1.9.4"
    assert drawn["enterprises"] == 1203
    assert drawn["cells"] == 44 and drawn["grids"] == 10
    assert drawn["overdue"] > 0 and drawn["complaints"] > 0 and drawn["hotspots"] >= 1
    assert page.inner_text("#figures [data-figure=enterprises]") == "1,203"
    # Every layer is in the layer control, with its translated title.
    control = page.inner_text(".leaflet-control-layers")
    assert "企业（按监管等级）" in control and "逾期未巡查" in control
    screenshot(page, "map-wall.png")
    assert page.log.problems() == []


def empty_spot(cell: str) -> tuple[float, float]:
    """A point inside ``cell`` at least ~500 m from every enterprise (a click there is the
    cell's, not a point's)."""
    from sqlalchemy import create_engine, text

    from tests.browser.conftest import LIVE_DATABASE

    engine = create_engine(LIVE_DATABASE["url"])
    with engine.connect() as conn:
        spot = conn.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (
                SELECT ST_PointOnSurface(ST_Difference(cc.geom, (
                    SELECT ST_Union(ST_Buffer(e.geom, 0.006)) FROM enterprise e))) AS p
                FROM cell_current cc WHERE cc.code = :c) s"""), {"c": cell}).one()
    engine.dispose()
    return spot


def test_clicking_a_cell_opens_its_card(page, live_url):
    page.set_viewport_size({"width": 1920, "height": 1080})
    open_wall(page, live_url)
    lon, lat = empty_spot("130984-Z01-01")
    point = page.evaluate(f"(() => {{ var p = GridWatchMap.map.latLngToContainerPoint("
                          f"[{lat}, {lon}]); return {{x: p.x, y: p.y}}; }})()")
    # A real mouse click where the cell is drawn: the canvases of the points and the heat map
    # lie on top of it, and used to swallow it.
    page.locator(".map-area .folium-map").click(position=point)
    page.wait_for_selector("#cell-card:not([hidden]) h2")
    card = page.inner_text("#cell-card")
    assert "130984-Z01-01" in card and "电话" in card
    assert page.locator("#cell-card a[href^='tel:']").count() >= 1
    assert page.log.problems() == []


def test_refresh_and_filters_keep_the_view(page, live_url):
    open_wall(page, live_url)
    page.evaluate("void GridWatchMap.map.setView([38.45, 116.1], 13, {animate: false})")
    before = page.evaluate("[GridWatchMap.map.getCenter().lat, GridWatchMap.map.getZoom()]")
    page.select_option("#time-filter select[name=days]", "30")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    assert "days=30" in page.url
    page.evaluate("void GridWatchMap.refresh()")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    after = page.evaluate("[GridWatchMap.map.getCenter().lat, GridWatchMap.map.getZoom()]")
    assert after == before
    # A reload (the wall's browser restarted) comes back to the same place.
    page.reload()
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    assert page.evaluate("GridWatchMap.map.getZoom()") == 13
    assert page.log.problems() == []


def test_choropleth_legend_appears(page, live_url):
    open_wall(page, live_url, "?figure=overdue_rate")
    assert page.locator("#choropleth-legend li").count() >= 2
    assert page.log.problems() == []


def test_the_period_label_follows_the_filter(page, live_url):
    open_wall(page, live_url)
    before = page.inner_text("#period")
    page.select_option("#time-filter select[name=days]", "30")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    page.locator("#period").filter(has_not_text=before).wait_for(timeout=10000)
    assert page.inner_text("#period") != before
    assert page.log.problems() == []
