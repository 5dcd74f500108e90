"""Hostile strings in every text field that can be shown, every page opened as every role in
Chromium: no dialog, no script, no request the markup would make if it were parsed as HTML.

The attack of issue 10 was a cell code holding ``<img src onerror=...>``: Leaflet put it into
tooltips as HTML on every map page, and an admin who opened the map gave the attacker the admin
role. Codes now have one format (tests/test_hostile_input.py); everything else a user types or
a file carries (names, addresses, contacts, comments, titles) may hold any text, and this test
shows each reaches the page as text. The markup is built so that parsing it as HTML would (a)
set ``window.__xss`` or open a dialog, (b) request ``/xss-probe``, or (c) trip the
Content-Security-Policy, which logs a console error: any of the three fails the test.
"""
import csv
import datetime as dt

import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import serve_demo, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

# Each under 100 characters (the shortest column it goes into).
HOSTILE = [
    '测<img src=/xss-probe onerror="window.__xss=1;alert(1)">',
    '"><script>window.__xss=2;alert(2)</script>',
    "<svg/onload=window.__xss=3>&lt;b&gt;",
    "javascript:window.__xss=4//{{7*7}}${7*7}",
    "'><iframe srcdoc='<script>parent.__xss=5</script>'>",
]
GRID = "130984-Z01"
CELL = "130984-Z01-01"
USERS = {"admin": "demo-admin-2026", "leader": "demo-leader-2026",
         "manager": "demo-manager-2026", "inspector": "demo-inspector-2026"}


def h(i: int, prefix: str = "") -> str:
    return prefix + HOSTILE[i % len(HOSTILE)]


def poison(session, tmp_dir):
    """Hostile text in every shown field, through the import path where there is one."""
    from gis import audit, redraw, reference, users
    from gis.enterprises import import_enterprises

    rows = session.execute(text("""
        SELECT e.management_code, e.grade, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
        FROM enterprise e JOIN enterprise_cell ec ON ec.enterprise_id = e.id
             AND ec.valid_to IS NULL JOIN cell c ON c.id = ec.cell_id
        WHERE c.code LIKE :g ORDER BY e.management_code LIMIT 40"""), {"g": f"{GRID}-%"}).all()
    path = tmp_dir / "hostile.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["management_code", "name", "address", "industry", "grade", "contact_name",
                      "contact_phone", "lon", "lat", "products"])
        for i, r in enumerate(rows):
            out.writerow([r.management_code, h(i, "企业"), h(i + 1, "地址"), h(i + 2),
                          r.grade, h(i + 3), "0317-1234567", r.lon, r.lat, h(i + 4)])
    import_enterprises(session, path)
    # People through the roster import (gis/people.py): one owns the cell and hands it over
    # tomorrow with a hostile comment (the handover's page, the plates).
    from gis import people, policy

    roster = tmp_dir / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["code", "name", "unit", "position", "cell"])
        out.writerow(["HX-001", h(0, "人员"), h(1, "单位"), h(2), CELL])
        out.writerow(["HX-002", h(3, "人员"), h(4, "单位"), h(0), ""])
    people.import_roster(session, roster, zone="Asia/Shanghai", grants=(policy.Grant("admin"),),
                         grace=dt.timedelta(hours=48), username="admin")
    tomorrow = people.db_now(session) + dt.timedelta(days=1)
    people.hand_over(session, people.plan_handover(
        session, people.person_id(session, "HX-001"), people.person_id(session, "HX-002"),
        tomorrow), h(1, "交接"), username="admin")
    # The rest written as a file would.
    for table, column in (("cell", "name"), ("person", "name"), ("station", "name"),
                          ("village", "name"), ("township", "name"), ("person", "unit")):
        session.execute(text(f"""
            UPDATE {table} SET {column} = left(:p || {column}, 100)
            WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT 400)"""),
            {"p": HOSTILE[len(table) % len(HOSTILE)]})
    session.execute(text("UPDATE complaint SET text = :t"), {"t": h(1, "投诉")})
    reference.add_checklist_item(session, "X01", h(0, "检查"), h(2))
    users.create_user(session, "hostile", "hostile-pass-1", role="leader", place=GRID,
                      display_name=h(1))
    users.create_token(session, "admin", h(3))
    audit.record(session, "login_failed", target=h(2), detail={"reason": h(0)}, via="web")
    # A committed redraw with a hostile comment (history page, audit log).
    children = redraw.current_children(session, GRID)
    codes = sorted(children)
    village = session.execute(text("""
        SELECT v.code FROM village v JOIN cell_version cv ON cv.valid_to IS NULL
        JOIN cell c ON c.id = cv.cell_id AND c.code = :a
        JOIN cell_version b ON b.valid_to IS NULL JOIN cell cb ON cb.id = b.cell_id
             AND cb.code = :b
        WHERE ST_Covers(cv.geom, ST_PointOnSurface(v.geom))
          AND ST_Length(ST_Intersection(ST_Boundary(v.geom), ST_Boundary(b.geom))) > 0
        ORDER BY v.code LIMIT 1"""), {"a": codes[0], "b": codes[1]}).scalar()
    proposal = redraw.village_moves(session, GRID, {village: codes[1]})
    redraw.commit(session, proposal, username="manager", comment=h(0, "调整"),
                  confirm_warnings=True)


@pytest.fixture(scope="module")
def hostile_url(database_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    for base, db_url in serve_demo("_hostile", lambda s: poison(s, tmp)):
        engine = create_engine(db_url)
        yield base, engine
        engine.dispose()


@pytest.fixture
def watched(page):
    """The page, failing the test on any dialog, page error or probe request."""
    seen = {"dialogs": [], "errors": [], "probes": []}

    def dialog(d):
        seen["dialogs"].append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: "xss-probe" in r.url and seen["probes"].append(r.url))
    page.seen = seen
    return page


def check(page, where: str) -> None:
    page.wait_for_timeout(300)  # let late handlers (onerror of images) fire
    state = page.evaluate("window.__xss")
    assert state is None, f"{where}: injected script ran (window.__xss = {state})"
    assert page.seen["dialogs"] == [], f"{where}: dialogs {page.seen['dialogs']}"
    assert page.seen["probes"] == [], f"{where}: markup parsed, requested {page.seen['probes']}"
    assert page.seen["errors"] == [], f"{where}: page errors {page.seen['errors']}"
    assert page.log.console_errors == [], f"{where}: console {page.log.console_errors}"
    assert page.log.outside == [], f"{where}: outside hosts {page.log.outside}"


def visit(page, base, path, ready=None):
    page.goto(base + path)
    if ready:
        page.wait_for_selector(ready, state="attached", timeout=30000)
    check(page, path)
    return page.inner_text("body")


def tap_at(page, lon, lat, selector):
    point = page.evaluate(f"(() => {{ var p = GridWatchMap.map.latLngToContainerPoint("
                          f"[{lat}, {lon}]); return {{x: p.x, y: p.y}}; }})()")
    page.locator(selector).click(position=point)


def one_enterprise(engine):
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT e.management_code, e.name, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
            FROM enterprise e JOIN enterprise_cell ec ON ec.enterprise_id = e.id
                 AND ec.valid_to IS NULL JOIN cell c ON c.id = ec.cell_id
            WHERE c.code = :c AND e.name LIKE '企业%' ORDER BY e.management_code LIMIT 1"""),
            {"c": CELL}).one()


PAGES = {
    "admin": ["/", "/enterprises", "/enterprises?q=%E4%BC%81%E4%B8%9A", "/admin/users",
              "/admin/audit", "/admin/reference", "/account", f"/cells/{CELL}/history",
              f"/cells/{CELL}/card", f"/cells/{GRID}/history", "/people", "/people?q=HX",
              "/people/HX-001", "/people/HX-002", "/people/gaps", "/people/handovers/1",
              f"/cells/{CELL}/owner", f"/cells/{GRID}/owners", "/people/HX-001/edit"],
    "leader": ["/", "/enterprises", f"/cells/{CELL}/history", f"/cells/{CELL}/card",
               "/account", "/people?q=HX", "/people/HX-002"],
    "manager": ["/", "/enterprises", f"/cells/{CELL}/history", f"/cells/{CELL}/card",
                "/people/HX-001", "/people/HX-001/handover", f"/cells/{CELL}/owner"],
    "inspector": ["/", "/enterprises", f"/cells/{CELL}/card", "/account", "/people/HX-001"],
}


@pytest.mark.parametrize("role", list(USERS))
def test_every_page_shows_hostile_text_as_text(watched, hostile_url, role):
    base, engine = hostile_url
    page = watched
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, base, role, USERS[role], "/")
    check(page, "after login")
    shown = ""
    for path in PAGES[role]:
        shown += visit(page, base, path)
    # The strings arrived, and as the text they are, not as markup.
    assert "<img src=/xss-probe" in shown or "<svg/onload" in shown or "<script>" in shown
    if role == "manager":
        # The handover's person field suggests hostile names as text while one types.
        visit(page, base, "/people/HX-001/handover")
        page.locator("#handover-form input[name=successor]").type("人员", delay=50)
        page.wait_for_selector("#successor-suggestions button", timeout=10000)
        check(page, "handover suggestions")
        assert "<" in page.inner_text("#successor-suggestions")
    # The map wall: cell labels (names), legends, figures; then a real click on a cell.
    visit(page, base, "/map", ready="body[data-drawn='true']")
    assert page.locator(".cell-label").count() > 0  # tooltips built, as text
    ent = one_enterprise(engine)
    page.locator(".map-area .folium-map").click(position={"x": 5, "y": 5})  # a real click
    check(page, "/map after a click")
    # The phone lookup: a tap on a hostile enterprise's place; the card names it as text.
    page.set_viewport_size({"width": 390, "height": 844})
    visit(page, base, "/lookup", ready="body[data-drawn='true']")
    tap_at(page, ent.lon, ent.lat, ".lookup-map .folium-map")
    page.wait_for_selector("body[data-lookup]", state="attached", timeout=15000)
    check(page, "/lookup card")
    if page.evaluate("document.body.dataset.lookup") == "found":
        assert "<" in page.inner_text("#lookup-card")
    page.fill("#enterprise-search input[name=q]", ent.management_code)
    page.click("#enterprise-search button[type=submit]")
    page.wait_for_selector("#search-results li", timeout=15000)
    check(page, "/lookup search results")


def test_the_grid_editor_shows_hostile_names_as_text(watched, hostile_url):
    base, engine = hostile_url
    page = watched
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, base, "manager", USERS["manager"], f"/grid/{GRID}/edit")
    page.wait_for_selector("body[data-editor='ready']", state="attached", timeout=30000)
    page.wait_for_timeout(400)
    check(page, "editor")
    with engine.connect() as conn:
        village = conn.execute(text("""
            SELECT v.code, ST_X(ST_PointOnSurface(v.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(v.geom)) AS lat, c.code AS cell
            FROM village v JOIN cell_version cv ON cv.valid_to IS NULL
            JOIN cell c ON c.id = cv.cell_id AND c.code LIKE :g
            WHERE ST_Covers(cv.geom, ST_PointOnSurface(v.geom))
              AND EXISTS (SELECT 1 FROM enterprise e WHERE ST_Covers(v.geom, e.geom))
            ORDER BY v.code LIMIT 1"""), {"g": f"{GRID}-%"}).one()
        target = conn.execute(text("""
            SELECT c.code FROM cell c JOIN cell p ON p.id = c.parent_id
            WHERE p.code = :g AND c.code <> :c AND c.retired_at IS NULL ORDER BY c.code
            LIMIT 1"""), {"g": GRID, "c": village.cell}).scalar()
    point = page.evaluate(f"(() => {{ var p = GridWatchMap.map.latLngToContainerPoint("
                          f"[{village.lat}, {village.lon}]); return {{x: p.x, y: p.y}}; }})()")
    box = page.locator(".map-area .folium-map").bounding_box()
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])  # the village's tooltip
    page.wait_for_timeout(300)
    check(page, "editor tooltip")
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.select_option("#target-cell", target)
    page.click("#move-villages")
    page.wait_for_selector("body[data-preview='valid'], body[data-preview='invalid']",
                           state="attached", timeout=20000)
    check(page, "editor preview")
    assert "<" in page.inner_text("#moves") + page.inner_text("#findings")


def test_a_hostile_cell_code_is_refused_at_every_door(hostile_url, runner, tmp_path):
    """Editor API (as the manager, through the browser's own session) and CLI import: the code
    never reaches the database."""
    import geopandas as gpd
    import shapely

    base, engine = hostile_url
    path = tmp_path / "cells.geojson"
    gpd.GeoDataFrame({"code": ["<img src=x onerror=alert(1)>"], "name": ["x"]},
                     geometry=[shapely.box(116.0, 38.3, 116.01, 38.31)], crs=4326).to_file(path)
    result = runner.invoke(args=["grid", "import", str(path), "--level", "3", "--parent", GRID])
    assert result.exit_code != 0 and "feature 1" in result.output
    with engine.connect() as conn:
        assert not conn.execute(text("SELECT 1 FROM cell WHERE code LIKE '%<%'")).scalar()
    assert dt.date.today()  # the demo was loaded for today
