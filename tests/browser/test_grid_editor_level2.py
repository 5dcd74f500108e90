"""A grid manager at the city redraws the stations' grids in headless Chromium, as a person
does: opens the city's editor from the menu, clicks a village on the border of two stations,
picks the level-3 cell of the other station it joins, sees the effect on both stations, commits,
and finds the change in the grid's history; a lookup of yesterday still answers the old
station. In Chinese and in English."""
import datetime as dt

import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import screenshot, serve_demo, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
CITY = "130984"
USER, PASSWORD = "citymanager", "demo-citymanager-2026"  # the demo's grid manager at the city
_moved: list[str] = []  # villages moved by earlier tests of this module


@pytest.fixture(scope="module")
def city(database_url):
    """The demo city, served from a database of its own: these tests move station borders."""
    for base, db_url in serve_demo("_level2"):
        engine = create_engine(db_url)
        yield base, engine
        engine.dispose()


def border_village(engine, skip=()):
    """A village of one station's grid touching a cell of another station's, with enterprises
    inside: its code, name, a point inside it, its cell and grid, and the other grid's cell."""
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT v.code, v.name, ST_X(ST_PointOnSurface(v.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(v.geom)) AS lat, a.code AS cell, ga.code AS grid,
                   b.code AS target, gb.code AS target_grid
            FROM village v
            JOIN cell_current a ON a.level = 3 AND a.kind = 'territorial'
                 AND ST_Covers(a.geom, ST_PointOnSurface(v.geom))
            JOIN cell ga ON ga.id = a.parent_id
            JOIN cell_current b ON b.level = 3 AND b.kind = 'territorial'
                 AND b.parent_id <> a.parent_id
                 AND ST_Length(ST_Intersection(ST_Boundary(v.geom), ST_Boundary(b.geom))) > 0.01
            JOIN cell gb ON gb.id = b.parent_id
            WHERE (SELECT count(*) FROM enterprise e WHERE ST_Covers(v.geom, e.geom)) >= 2
              AND NOT v.code = ANY(:skip)
              -- a village whose cell keeps others: moving it leaves the cell something
              AND (SELECT count(*) FROM village w
                   WHERE ST_Covers(a.geom, ST_PointOnSurface(w.geom))) > 3
            ORDER BY v.code LIMIT 1"""), {"skip": list(skip)}).one()


def click_at(page, lon, lat):
    """A real mouse click where the map draws (lon, lat)."""
    point = page.evaluate(f"(() => {{ var p = GridWatchMap.map.latLngToContainerPoint("
                          f"[{lat}, {lon}]); return {{x: p.x, y: p.y}}; }})()")
    box = page.locator(".map-area .folium-map").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def wait_preview(page):
    page.wait_for_selector("body[data-preview='valid'], body[data-preview='invalid'], "
                           "body[data-preview='failed']", state="attached", timeout=30000)
    return page.evaluate("document.body.dataset.preview")


@pytest.mark.parametrize("lang, texts", [
    ("zh", {"link": "调整二级网格", "changes": "变更监督所", "committed": "已提交"}),
    ("en", {"link": "Redraw second-level grids", "changes": "changes station",
            "committed": "Committed"}),
])
def test_the_city_manager_moves_a_village_to_another_station(browser, city, lang, texts):
    base, engine = city
    village = border_village(engine, skip=_moved)
    _moved.append(village.code)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    sign_in(page, base, USER, PASSWORD, "/")
    if lang == "en":
        page.get_by_role("link", name="English").click()
    # From the menu, as a person finds it.
    page.get_by_role("link", name=texts["link"]).click()
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=30000)
    assert page.url.endswith(f"/grid/{CITY}/edit")
    page.wait_for_timeout(500)  # fitBounds settles
    click_at(page, village.lon, village.lat)
    assert page.inner_text("#selected-count") == "1"
    assert village.name in page.inner_text("#selected")
    page.select_option("#target-cell", village.target)
    page.get_by_role("button", name={"zh": "将所选划入此网格",
                                     "en": "Move the selection to this cell"}[lang]).click()
    assert wait_preview(page) == "valid", page.inner_text("#findings")
    # The effect on both stations: one village fewer, one more, and who moves.
    source, target = (page.inner_text(f"#station-effect tr[data-grid='{grid}']")
                      .replace("\u200b", "").split("\t")
                      for grid in (village.grid, village.target_grid))
    before, after = (int(x) for x in source[1].split("→"))
    assert after == before - 1
    before, after = (int(x) for x in target[1].split("→"))
    assert after == before + 1
    moves = page.inner_text("#village-moves")
    assert village.name in moves and texts["changes"] in moves
    assert int(page.inner_text("#between-count")) >= 2
    assert page.locator("#owner-effect tr").count() >= 3  # header and both cells' owners
    screenshot(page, f"grid-editor-level2-{lang}.png")
    page.fill("#comment", {"zh": "村划归相邻监督所", "en": "village to the next station"}[lang])
    page.get_by_role("button", name={"zh": "提交变更", "en": "Commit the change"}[lang]).click()
    page.wait_for_selector("body[data-committed]", state="attached", timeout=30000)
    change = page.evaluate("document.body.dataset.committed")
    assert change.isdigit(), page.inner_text("#commit-result")
    assert texts["committed"] in page.inner_text("#commit-result")
    # The change in the target station's history, reached from the editor.
    with page.expect_navigation():
        page.locator(f"#history-links a[href$='/cells/{village.target_grid}/history']").click()
    assert page.url.endswith(f"/cells/{village.target_grid}/history")
    versions = page.inner_text("#versions")
    assert f"#{change}" in versions and village.name in versions  # the village it took in
    assert {"zh": "村划归相邻监督所", "en": "village to the next station"}[lang] in versions
    # Yesterday the village was the old station's; now it is the new one's.
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    then = page.request.get(f"{base}/api/v1/lookup?lon={village.lon}&lat={village.lat}"
                            f"&at={yesterday}").json()
    now = page.request.get(f"{base}/api/v1/lookup?lon={village.lon}&lat={village.lat}").json()
    assert (then["cell"]["code"], then["ancestors"][0]["code"]) == (village.cell, village.grid)
    assert (now["cell"]["code"], now["ancestors"][0]["code"]) == (village.target,
                                                                  village.target_grid)
    assert errors == []
    context.close()


def test_the_city_editor_on_a_phone(browser, city):
    base, _engine = city
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, locale="zh-CN")
    page = context.new_page()
    sign_in(page, base, USER, PASSWORD, f"/grid/{CITY}/edit")
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=30000)
    map_box = page.locator(".map-area .folium-map").bounding_box()
    assert map_box["width"] >= 380 and map_box["height"] >= 400
    panel = page.locator(".panel.editor").bounding_box()
    assert panel["width"] >= 380  # below the map, the phone's width, not squeezed beside it
    screenshot(page, "grid-editor-level2-phone.png")
    context.close()
