"""A grid manager redraws cells in headless Chromium at 1920×1080, as a person does: clicking
villages, dragging a vertex of an outline with the mouse, choosing files. An unchanged outline
is no change; one dragged vertex changes only the area near it, the neighbour follows and the
change commits, dated in the bureau's zone; wrong files each get one message saying what is
wrong, in Chinese and English; the effect shows the enterprises that move; the history and
change pages name cells, people and villages and link back."""
import datetime as dt
import json
import math
import re
from zoneinfo import ZoneInfo

import pytest
import shapely
from sqlalchemy import create_engine, text

from tests.browser.conftest import screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
GRID = "130984-Z01"
DESK = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
LANGS = {"zh": "zh_Hans_CN", "en": "en"}


@pytest.fixture(scope="module")
def db(live_url):
    from tests.browser.conftest import LIVE_DATABASE

    engine = create_engine(LIVE_DATABASE["url"])
    yield engine
    engine.dispose()


def border_village(db, source, target):
    """A village of ``source`` touching ``target``: its code and a point inside it."""
    with db.connect() as conn:
        return conn.execute(text("""
            SELECT v.code, v.name, ST_X(ST_PointOnSurface(v.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(v.geom)) AS lat
            FROM village v
            JOIN cell_current a ON a.code = :s JOIN cell_current b ON b.code = :t
            WHERE ST_Covers(a.geom, ST_PointOnSurface(v.geom))
              AND ST_Length(ST_Intersection(ST_Boundary(v.geom), ST_Boundary(b.geom))) > 0
              AND EXISTS (SELECT 1 FROM enterprise e WHERE ST_Covers(v.geom, e.geom))
            ORDER BY v.code LIMIT 1"""), {"s": source, "t": target}).one()


def open_editor(page, live_url, lang="zh"):
    page.set_viewport_size(DESK)
    sign_in(page, live_url, "manager", "demo-manager-2026",
            f"/grid/{GRID}/edit?lang={LANGS[lang]}")
    if "/edit" not in page.url:
        page.goto(f"{live_url}/grid/{GRID}/edit?lang={LANGS[lang]}")
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=30000)
    page.wait_for_timeout(500)  # fitBounds settles


def screen_point(page, lon, lat):
    """Where (lon, lat) is on the screen now (a measurement: the clicks are real)."""
    return page.evaluate(f"""(() => {{
        var m = GridWatchMap.map, p = m.latLngToContainerPoint([{lat}, {lon}]),
            r = m.getContainer().getBoundingClientRect();
        return [p.x + r.left, p.y + r.top]; }})()""")


def click_at(page, lon, lat):
    page.mouse.click(*screen_point(page, lon, lat))


def drag(page, start, end):
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=12)
    page.mouse.up()


def forget(page, *keys):
    """Forget what the page said last (its data-* marks), to wait for its next answer."""
    page.evaluate("keys => keys.forEach(k => delete document.body.dataset[k])", list(keys))


def wait_preview(page):
    # Selectors, not wait_for_function: its string predicates are eval'd in the page, which the
    # Content-Security-Policy (rightly) forbids.
    page.wait_for_selector("body[data-preview='valid'], body[data-preview='invalid'], "
                           "body[data-preview='failed']", state="attached", timeout=20000)
    return page.get_attribute("body", "data-preview")


def commit(page, comment, day=None):
    forget(page, "committed")
    page.fill("#comment", comment)
    if day:
        page.fill("#valid-from", day)
    page.click("#commit")
    page.wait_for_selector("body[data-committed]", state="attached", timeout=20000)
    return page.get_attribute("body", "data-committed")


def effect_rows(page):
    """code -> the texts of its row in the effect table."""
    rows = {}
    for row in page.locator("#effect tbody tr[data-cell]").all():
        rows[row.get_attribute("data-cell")] = [c.inner_text() for c in row.locator("td").all()]
    return rows


def test_moving_a_village_end_to_end(page, live_url, db):
    village = border_village(db, f"{GRID}-01", f"{GRID}-02")
    open_editor(page, live_url)
    click_at(page, village.lon, village.lat)
    assert page.inner_text("#selected-count") == "1"
    page.select_option("#target-cell", f"{GRID}-02")
    page.click("#move-villages")
    assert wait_preview(page) == "valid"
    assert int(page.get_attribute("body", "data-preview-ms")) < 2000
    rows = effect_rows(page)
    before, after = map(int, re.match(r"(\d+) → (\d+)", rows[f"{GRID}-02"][1]).groups())
    assert after > before  # the target cell gains the village's enterprises
    moved = int(page.inner_text("#move-count"))
    assert moved == after - before
    # The enterprises that move are ringed on the map and listed with where they go.
    assert page.get_attribute("body", "data-moving-enterprises") == str(moved)
    assert page.locator("path.leaflet-interactive[stroke='#000'][stroke-width='3']").count() \
        == moved
    assert "→" in page.inner_text("#moves li >> nth=0")
    screenshot(page, "grid-editor-villages.png")
    assert commit(page, "均衡工作量：移交一个村").isdigit(), page.inner_text("#commit-result")
    change = page.get_attribute("body", "data-committed")
    assert "Asia/Shanghai" in page.inner_text("#commit-result")
    # The change's page: who (display name), the village moved from one named cell to another.
    with page.expect_navigation():
        page.click("#commit-result a")
    assert page.url.endswith(f"/grid/changes/{change}")
    villages = page.inner_text("#change-villages")
    assert village.name in villages and "世纪阳光" in villages and "天昕苑" in villages
    assert "演示网格管理员" in page.inner_text("#change-facts")
    # From the change to the cell's history: the version closed by it says the same.
    with page.expect_navigation():
        page.click(f"#change-cells a[href$='/cells/{GRID}-01/history']")
    versions = page.inner_text("#versions")
    assert f"#{change}" in versions and "均衡工作量" in versions
    assert village.name in versions and "演示网格管理员" in versions
    # A past-date lookup at one of the moved enterprises still answers the old cell.
    with db.connect() as conn:
        code, lon, lat = conn.execute(text("""
            SELECT e.management_code, ST_X(e.geom), ST_Y(e.geom) FROM enterprise e
            JOIN village v ON ST_Covers(v.geom, e.geom) WHERE v.code = :v
            ORDER BY e.management_code LIMIT 1"""), {"v": village.code}).one()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    then = page.request.get(f"{live_url}/api/v1/lookup?lon={lon}&lat={lat}&at={yesterday}")
    now = page.request.get(f"{live_url}/api/v1/lookup?lon={lon}&lat={lat}")
    assert then.json()["cell"]["code"] == f"{GRID}-01"
    assert now.json()["cell"]["code"] == f"{GRID}-02"
    # Undo it from the history page: a new change, the old boundary back, history kept.
    page.fill("form.revert input[name=comment]", "撤销：试行后恢复")
    with page.expect_navigation():
        page.click("form.revert button[type=submit]")
    versions = page.inner_text("#versions")
    assert f"#{change}" in versions and "撤销：试行后恢复" in versions
    back = page.request.get(f"{live_url}/api/v1/lookup?lon={lon}&lat={lat}")
    assert back.json()["cell"]["code"] == f"{GRID}-01"
    # The revert links back to what it reverts, and the two changes link to each other.
    with page.expect_navigation():
        page.click(f"#versions a:text-is('#{change}') >> nth=0")
    assert page.locator("#change-facts a").count() == 1  # reverted by the revert
    with page.expect_navigation():
        page.click("#change-links a[rel=next]")
    assert f"#{change}" in page.inner_text("#change-facts")  # "reverts #change"
    with page.expect_navigation():
        page.click("#change-links a[rel=prev]")
    assert page.url.endswith(f"/grid/changes/{change}")
    assert page.log.problems() == []


def shared_vertex(db, cell, neighbour):
    """A vertex of ``cell`` shared with ``neighbour`` and not on the grid's outline, as far as
    can be from the vertices next to it (room to drag it without snapping onto them)."""
    with db.connect() as conn:
        rows = conn.execute(text("""
            WITH ring AS (
                SELECT (d).path[3] AS i, (d).geom AS pt
                FROM (SELECT ST_DumpPoints(geom) AS d FROM cell_current WHERE code = :c) x
                WHERE (d).path[1] = 1 AND (d).path[2] = 1
            ), n AS (SELECT max(i) AS last FROM ring)
            SELECT r.i, ST_X(r.pt) AS lon, ST_Y(r.pt) AS lat,
                   least(ST_Distance(r.pt::geography, p.pt::geography),
                         ST_Distance(r.pt::geography, q.pt::geography)) AS room
            FROM ring r, n
            JOIN ring p ON true JOIN ring q ON true
            WHERE r.i < n.last
              AND p.i = CASE WHEN r.i = 1 THEN n.last - 1 ELSE r.i - 1 END
              AND q.i = r.i + 1
              AND ST_DWithin((SELECT geom FROM cell_current WHERE code = :n), r.pt, 1e-9)
              AND NOT ST_DWithin((SELECT ST_Boundary(geom) FROM cell_current WHERE code = :g),
                                 r.pt, 1e-9)
              AND NOT EXISTS (SELECT 1 FROM cell_current o JOIN cell k ON k.id = o.id
                              JOIN cell pa ON pa.id = k.parent_id
                              WHERE pa.code = :g AND o.code NOT IN (:c, :n)
                                AND ST_DWithin(o.geom, r.pt, 1e-9))
            ORDER BY room DESC LIMIT 1"""), {"c": cell, "n": neighbour, "g": GRID}).one()
    return rows


def outline_marker(page, point):
    """The outline's vertex marker (Geoman's white square) at ``point`` on the screen."""
    markers = page.locator(".marker-icon:not(.marker-icon-middle)")
    boxes = [m.bounding_box() for m in markers.all()]
    centres = [(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2) for b in boxes]
    return min(centres, key=lambda c: math.dist(c, point)), centres


def open_spot(start, centres, reach=45):
    """A point ``reach`` px from ``start`` well away from the outline's other vertices (Geoman
    snaps a dropped vertex onto a vertex within 15 px)."""
    for angle in range(0, 360, 30):
        end = (start[0] + reach * math.cos(math.radians(angle)),
               start[1] + reach * math.sin(math.radians(angle)))
        if all(math.dist(end, c) > 35 for c in centres if math.dist(c, start) > 1):
            return end
    raise AssertionError("no room to drag the vertex")


def geometry(db, code):
    with db.connect() as conn:
        return shapely.from_wkb(bytes(conn.execute(text(
            "SELECT ST_AsBinary(geom) FROM cell_current WHERE code = :c"), {"c": code}).scalar()))


def changes(db):
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM grid_change")).scalar()


def test_an_outline_edit_validates_as_exactly_the_move_made(page, live_url, db):
    cell, neighbour = f"{GRID}-03", f"{GRID}-05"
    vertex = shared_vertex(db, cell, neighbour)
    before = {c: geometry(db, c) for c in (cell, neighbour)}
    count = changes(db)
    open_editor(page, live_url)
    page.select_option("#reshape-cell", cell)
    page.click("#reshape")
    (start, centres) = outline_marker(page, screen_point(page, vertex.lon, vertex.lat))
    # Dragged away and back onto where it was (snapped to the neighbour's vertex): no change.
    away = open_spot(start, centres)
    drag(page, start, away)
    assert wait_preview(page) == "valid"
    forget(page, "preview")
    drag(page, away, start)
    assert wait_preview(page) == "valid"
    assert page.inner_text("#findings") == "未发现问题。"
    assert all("→" not in "".join(cells) for cells in effect_rows(page).values())
    assert page.inner_text("#move-count") == "0"
    assert page.locator("path[fill='#111'][fill-opacity='0.35']").count() == 0
    assert commit(page, "边界不变") == "failed-400"
    assert changes(db) == count
    # Now one real move: only the area near the vertex changes, the neighbour follows.
    forget(page, "preview")
    drag(page, start, away)
    assert wait_preview(page) == "valid", page.inner_text("#findings")
    assert page.inner_text("#findings") == "未发现问题。"
    rows = effect_rows(page)
    assert {code for code, cells in rows.items() if "→" in cells[-1]} == {cell, neighbour}
    shade = page.locator("path[fill='#111'][fill-opacity='0.35']").bounding_box()
    assert math.dist((shade["x"] + shade["width"] / 2, shade["y"] + shade["height"] / 2),
                     start) < 80 and shade["width"] < 150 and shade["height"] < 150
    page.mouse.move(300, 700)  # over the panel: scroll down to the checks and the effect
    page.mouse.wheel(0, 450)
    page.wait_for_timeout(300)
    screenshot(page, "grid-editor-reshape.png")
    # Dated today in the bureau's zone, whatever the browser's or the server's clock says.
    label = page.inner_text("#valid-from-note")
    zone = re.search(r"([A-Za-z_]+/[A-Za-z_]+)", label).group(1)
    today = dt.datetime.now(ZoneInfo(zone)).date()
    page.fill("#valid-from", today.isoformat())
    page.dispatch_event("#valid-from", "change")
    assert today.isoformat() in page.inner_text("#valid-from-note")
    change = commit(page, "拖动一个顶点：与小亮甲牌网格的边界东移")
    assert change.isdigit(), page.inner_text("#commit-result")
    assert zone in page.inner_text("#commit-result")
    with db.connect() as conn:
        valid_from, summary = conn.execute(text(
            "SELECT valid_from, summary FROM grid_change WHERE id = :i"), {"i": int(change)}
        ).one()
    assert valid_from == dt.datetime.combine(today, dt.time(0), ZoneInfo(zone))
    assert sorted(summary["changed"]) == [cell, neighbour]
    # What moved is what the neighbour gave up, near the vertex, and nothing else.
    after = {c: geometry(db, c) for c in (cell, neighbour)}
    moved = shapely.symmetric_difference(after[cell], before[cell])
    given = shapely.symmetric_difference(after[neighbour], before[neighbour])
    assert shapely.symmetric_difference(moved, given).area < 1e-10  # ≈ 1 m²
    assert shapely.Point(vertex.lon, vertex.lat).distance(moved) < 1e-6
    assert shapely.hausdorff_distance(shapely.Point(vertex.lon, vertex.lat),
                                      moved.envelope) < 0.05  # within a few km of it
    # Only the refused commit of the unchanged outline answered 400.
    assert [p for p in page.log.problems() if "/commit" not in p and "400" not in p] == []


def test_a_vertex_dragged_out_of_the_grid_is_refused_there_only(page, live_url, db):
    cell = f"{GRID}-03"
    with db.connect() as conn:
        # A vertex of the cell on the grid's outline, away from other cells.
        lon, lat = conn.execute(text("""
            SELECT ST_X(d.geom), ST_Y(d.geom)
            FROM cell_current c, ST_DumpPoints(c.geom) d, cell_current g
            WHERE c.code = :c AND g.code = :g
              AND ST_DWithin(ST_Boundary(g.geom), d.geom, 1e-9)
            ORDER BY ST_Distance(d.geom, ST_Centroid(g.geom)) DESC LIMIT 1"""),
            {"c": cell, "g": GRID}).one()
        centre = conn.execute(text("SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) "
                                   "FROM cell_current WHERE code = :g"), {"g": GRID}).one()
    count = changes(db)
    open_editor(page, live_url, "en")
    page.select_option("#reshape-cell", cell)
    page.click("#reshape")
    start, _centres = outline_marker(page, screen_point(page, lon, lat))
    middle = screen_point(page, *centre)
    outward = math.atan2(start[1] - middle[1], start[0] - middle[0])
    drag(page, start, (start[0] + 40 * math.cos(outward), start[1] + 40 * math.sin(outward)))
    assert wait_preview(page) == "invalid"
    findings = page.locator("#findings li").all_inner_texts()
    assert len(findings) == 1 and "extends outside its parent grid" in findings[0]
    ring = page.locator("path[stroke='#c00']").bounding_box()
    assert math.dist((ring["x"] + ring["width"] / 2, ring["y"] + ring["height"] / 2),
                     start) < 60
    screenshot(page, "grid-editor-outside.png")
    assert commit(page, "wrong") == "failed-400"
    assert changes(db) == count
    assert [p for p in page.log.problems() if "/commit" not in p and "400" not in p] == []


def feature_collection(*features):
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": json.loads(shapely.to_geojson(g))}
        for props, g in features]}, ensure_ascii=False)


WRONG_FILES = {
    "zh": ("CSV 表格，不是边界文件", "没有“code”属性", "经纬度互换后正好落在其中"),
    "en": ("is a CSV table, not a boundary file", "have no “code” property",
           "inside it with longitude and latitude swapped"),
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_wrong_uploads_each_get_one_message_then_a_right_one_commits(page, live_url, db,
                                                                     tmp_path, lang):
    script_errors = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    open_editor(page, live_url, lang)
    no_changes = page.inner_text("#findings")
    page.click("#upload-card summary")
    cell = geometry(db, f"{GRID}-03")
    table = tmp_path / "企业名录.csv"
    table.write_text("企业管理编码,企业名称,经度,纬度\nHJ99999,测试厂,116.12,38.37\n",
                     encoding="utf-8")
    nameless = tmp_path / "no-codes.geojson"
    nameless.write_text(feature_collection(({"name": "御府江南"}, cell)), encoding="utf-8")
    swapped = tmp_path / "swapped.geojson"
    swapped.write_text(feature_collection(({"code": f"{GRID}-03"}, shapely.transform(
        cell, lambda xy: xy[:, ::-1]))), encoding="utf-8")
    for path, expected in zip((table, nameless, swapped), WRONG_FILES[lang]):
        forget(page, "upload")
        page.set_input_files("#upload", str(path))
        page.wait_for_selector("body[data-upload='refused']", state="attached", timeout=20000)
        message = page.inner_text("#upload-result")
        assert expected in message, message
        assert "\n" not in message.strip() and "m²" not in message
        assert page.inner_text("#findings") == no_changes  # nothing from the file was used
    screenshot(page, f"grid-editor-upload-refused-{lang}.png")
    # The page said it and went on: no script error (a CSV used to throw one), only the 400s.
    assert script_errors == []
    assert [e for e in page.log.console_errors if "400 (BAD REQUEST)" not in e] == []
    if lang != "en":
        return
    # Start over and upload new boundaries: a village handed from -03 to -05.
    page.click("#reset")
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=20000)
    assert page.inner_text("#upload-result") == ""
    village = border_village(db, f"{GRID}-03", f"{GRID}-05")
    with db.connect() as conn:
        vgeom = shapely.from_wkb(bytes(conn.execute(text(
            "SELECT ST_AsBinary(geom) FROM village WHERE code = :c"),
            {"c": village.code}).scalar()))
    source = shapely.set_precision(shapely.difference(cell, vgeom), 1e-7)
    target = shapely.set_precision(shapely.union(geometry(db, f"{GRID}-05"), vgeom), 1e-7)
    upload = tmp_path / "new.geojson"
    upload.write_text(feature_collection(({"code": f"{GRID}-03"}, source),
                                         ({"code": f"{GRID}-05"}, target)))
    forget(page, "upload", "preview")
    page.set_input_files("#upload", str(upload))
    page.wait_for_selector("body[data-upload='read']", state="attached", timeout=20000)
    assert wait_preview(page) == "valid", page.inner_text("#findings")
    assert f"{GRID}-03, {GRID}-05" in page.inner_text("#upload-result")
    assert commit(page, "Uploaded new boundaries").isdigit(), page.inner_text("#commit-result")
    assert [p for p in page.log.problems() if "/boundaries" not in p and "400" not in p] == []


def test_history_in_english_names_cells_and_people_and_links_back(page, live_url, db):
    page.set_viewport_size(DESK)
    sign_in(page, live_url, "manager", "demo-manager-2026", f"/cells/{GRID}-03/history?lang=en")
    if "/history" not in page.url:
        page.goto(f"{live_url}/cells/{GRID}-03/history?lang=en")
    assert "History of cell 御府江南等17村网格 130984-Z01-03" in page.inner_text("h1")
    versions = page.inner_text("#versions")
    assert "演示网格管理员" in versions and "manager" not in versions
    assert "Villages moved" in versions
    screenshot(page, "grid-history.png")
    with page.expect_navigation():
        page.click("#history-links a:text('The cell on the map')")
    assert "/map" in page.url and f"cell={GRID}-03" in page.url
    page.go_back()
    with page.expect_navigation():
        page.click("#versions tr >> nth=1 >> a[href*='/grid/changes/'] >> nth=0")
    assert "Cells redrawn" in page.inner_text("main")
    with page.expect_navigation():
        page.click("#change-links a:text('Redraw in the grid editor')")
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=30000)
    assert page.url.endswith(f"/grid/{GRID}/edit")


def test_the_editor_and_the_history_on_a_phone(browser, live_url):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    sign_in(page, live_url, "manager", "demo-manager-2026", f"/grid/{GRID}/edit")
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=30000)
    box = page.locator(".map-area").bounding_box()
    assert box["width"] >= PHONE["width"] - 2 and box["height"] > 300  # the map comes first
    panel = page.locator(".panel.editor").bounding_box()
    assert panel["width"] >= PHONE["width"] - 2
    screenshot(page, "grid-editor-phone.png")
    page.goto(f"{live_url}/cells/{GRID}-03/history")
    screenshot(page, "grid-history-phone.png")
    context.close()
