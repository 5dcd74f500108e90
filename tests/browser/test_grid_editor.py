"""A grid manager redraws cells in headless Chromium, both ways: moving whole villages, and
reshaping an outline (dragging a Geoman vertex: a deliberately bad edit, refused) or uploading
new boundaries. Live figures change, the commit lands, history and past-date lookups keep the
old answer."""
import datetime as dt
import json

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
            SELECT v.code, ST_X(ST_PointOnSurface(v.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(v.geom)) AS lat
            FROM village v
            JOIN cell_version a ON a.valid_to IS NULL JOIN cell ca ON ca.id = a.cell_id
            JOIN cell_version b ON b.valid_to IS NULL JOIN cell cb ON cb.id = b.cell_id
            WHERE ca.code = :s AND cb.code = :t
              AND ST_Covers(a.geom, ST_PointOnSurface(v.geom))
              AND ST_Length(ST_Intersection(ST_Boundary(v.geom), ST_Boundary(b.geom))) > 0
              AND EXISTS (SELECT 1 FROM enterprise e WHERE ST_Covers(v.geom, e.geom))
            ORDER BY v.code LIMIT 1"""), {"s": source, "t": target}).one()


def open_editor(page, live_url):
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, live_url, "manager", "demo-manager-2026", f"/grid/{GRID}/edit")
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=30000)
    page.wait_for_timeout(400)  # fitBounds settles


def click_at(page, lon, lat):
    point = page.evaluate(f"(() => {{ var p = GridWatchMap.map.latLngToContainerPoint("
                          f"[{lat}, {lon}]); return {{x: p.x, y: p.y}}; }})()")
    page.locator(".map-area .folium-map").click(position=point)


def wait_preview(page):
    # Selectors, not wait_for_function: its string predicates are eval'd in the page, which the
    # Content-Security-Policy (rightly) forbids.
    page.wait_for_selector("body[data-preview='valid'], body[data-preview='invalid'], "
                           "body[data-preview='failed']", state="attached", timeout=20000)
    return page.evaluate("document.body.dataset.preview")


def test_moving_a_village_end_to_end(page, live_url, db):
    village = border_village(db, f"{GRID}-01", f"{GRID}-02")
    open_editor(page, live_url)
    click_at(page, village.lon, village.lat)
    assert page.inner_text("#selected-count") == "1"
    page.select_option("#target-cell", f"{GRID}-02")
    page.click("#move-villages")
    assert wait_preview(page) == "valid"
    assert int(page.evaluate("document.body.dataset.previewMs")) < 2000
    row = page.inner_text(f"#effect tr[data-cell='{GRID}-02']")
    before, after = [int(x) for x in row.split("\t")[1].split(" → ")]
    assert after > before  # the target cell gains the village's enterprises
    assert int(page.inner_text("#move-count")) == after - before
    moved = page.inner_text("#moves")
    screenshot(page, "grid-editor-villages.png")
    page.fill("#comment", "均衡工作量：移交一个村")
    page.click("#commit")
    page.wait_for_selector("body[data-committed]", state="attached", timeout=20000)
    change = page.evaluate("document.body.dataset.committed")
    assert change.isdigit(), page.inner_text("#commit-result")
    # The history shows the old version closed by this change.
    page.goto(f"{live_url}/cells/{GRID}-01/history")
    versions = page.inner_text("#versions")
    assert f"#{change}" in versions and "均衡工作量" in versions
    # A past-date lookup at one of the moved enterprises still answers the old cell.
    name = moved.splitlines()[0].split(" (")[0]
    with db.connect() as conn:
        code, lon, lat = conn.execute(text(
            "SELECT management_code, ST_X(geom), ST_Y(geom) FROM enterprise WHERE name = :n"),
            {"n": name}).one()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    then = page.request.get(f"{live_url}/api/v1/lookup?lon={lon}&lat={lat}&at={yesterday}")
    now = page.request.get(f"{live_url}/api/v1/lookup?lon={lon}&lat={lat}")
    assert then.json()["cell"]["code"] == f"{GRID}-01"
    assert now.json()["cell"]["code"] == f"{GRID}-02"
    # Undo it from the history page: a new change, the old boundary back, history kept.
    page.goto(f"{live_url}/cells/{GRID}-01/history")
    page.fill("form.revert input[name=comment]", "撤销：试行后恢复")
    with page.expect_navigation():
        page.click("form.revert button[type=submit]")
    versions = page.inner_text("#versions")
    assert f"#{change}" in versions and "撤销：试行后恢复" in versions
    back = page.request.get(f"{live_url}/api/v1/lookup?lon={lon}&lat={lat}")
    assert back.json()["cell"]["code"] == f"{GRID}-01"
    assert page.log.problems() == []


def test_bad_reshape_is_refused_then_an_upload_commits(page, live_url, db, tmp_path):
    open_editor(page, live_url)
    with db.connect() as conn:
        changes_before = conn.execute(text("SELECT count(*) FROM grid_change")).scalar()
    page.select_option("#reshape-cell", f"{GRID}-03")
    page.click("#reshape")
    vertex = page.locator(".marker-icon").first
    box = vertex.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 250, box["y"] + 180, steps=8)
    page.mouse.up()
    assert wait_preview(page) == "invalid"
    findings = page.inner_text("#findings")
    assert "错误" in findings and any(
        reason in findings for reason in ("几何无效", "不属于任何网格", "重叠", "超出上级网格"))
    assert page.locator(".leaflet-interactive[stroke='#c00']").count() >= 1  # the bad spots
    screenshot(page, "grid-editor-bad-edit.png")
    page.fill("#comment", "错误的改动")
    page.click("#commit")
    page.wait_for_selector("body[data-committed]", state="attached", timeout=20000)
    assert page.evaluate("document.body.dataset.committed") == "failed-400"
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grid_change")).scalar() == changes_before
    # Start over and upload new boundaries: a village handed from -03 to -05.
    page.click("#reset")
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=20000)
    village = border_village(db, f"{GRID}-03", f"{GRID}-05")
    with db.connect() as conn:
        geoms = dict(conn.execute(text("""
            SELECT c.code, ST_AsText(cv.geom) FROM cell c
            JOIN cell_version cv ON cv.cell_id = c.id AND cv.valid_to IS NULL
            WHERE c.code IN (:a, :b)"""), {"a": f"{GRID}-03", "b": f"{GRID}-05"}).all())
        vgeom = shapely.from_wkt(conn.execute(text(
            "SELECT ST_AsText(geom) FROM village WHERE code = :c"), {"c": village.code}).scalar())
    source = shapely.set_precision(shapely.difference(shapely.from_wkt(geoms[f"{GRID}-03"]),
                                                      vgeom), 1e-7)
    target = shapely.set_precision(shapely.union(shapely.from_wkt(geoms[f"{GRID}-05"]), vgeom),
                                   1e-7)
    upload = tmp_path / "new.geojson"
    upload.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": f"{GRID}-03"},
         "geometry": json.loads(shapely.to_geojson(source))},
        {"type": "Feature", "properties": {"code": f"{GRID}-05"},
         "geometry": json.loads(shapely.to_geojson(target))}]}))
    page.evaluate("delete document.body.dataset.preview; delete document.body.dataset.committed")
    page.set_input_files("#upload", str(upload))
    assert wait_preview(page) == "valid"
    page.fill("#comment", "上传新边界")
    page.click("#commit")
    page.wait_for_selector("body[data-committed]", state="attached", timeout=20000)
    assert page.evaluate("document.body.dataset.committed").isdigit(), page.inner_text(
        "#commit-result")
    problems = [p for p in page.log.problems() if "/commit" not in p and "400" not in p]
    assert problems == []
