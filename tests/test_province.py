"""A province in one deployment (docs/province.md): a level-0 cell above two cities. Roles at
the province read and compare both; every role in city A reads and writes nothing of city B,
by any path (API, pages, files, layers, tiles)."""
import datetime as dt
import math
import re

import pytest
import shapely
from sqlalchemy import text

from gis import policy, tree
from gis.cells import CellRecord, upsert_cells
from gis.errors import ImportRefused
from tests.factories import PASSWORD, add_cells, add_enterprises, login

# City A: 116.0-116.2 (stations A-S1, A-S2); city B: 116.3-116.5 (one station, two cells);
# the province covers both and the strip between them, which is in no city.
BOX = {
    "P": shapely.box(116.0, 38.4, 116.5, 38.5),
    "A": shapely.box(116.0, 38.4, 116.2, 38.5),
    "A-S1": shapely.box(116.0, 38.4, 116.1, 38.5),
    "A-S2": shapely.box(116.1, 38.4, 116.2, 38.5),
    "A-S1-01": shapely.box(116.0, 38.4, 116.05, 38.5),
    "A-S1-02": shapely.box(116.05, 38.4, 116.1, 38.5),
    "A-S2-01": shapely.box(116.1, 38.4, 116.2, 38.5),
    "B": shapely.box(116.3, 38.4, 116.5, 38.5),
    "B-S1": shapely.box(116.3, 38.4, 116.5, 38.5),
    "B-S1-01": shapely.box(116.3, 38.4, 116.4, 38.5),
    "B-S1-02": shapely.box(116.4, 38.4, 116.5, 38.5),
}
PARENT = {"A": "P", "B": "P", "A-S1": "A", "A-S2": "A", "B-S1": "B", "A-S1-01": "A-S1",
          "A-S1-02": "A-S1", "A-S2-01": "A-S2", "B-S1-01": "B-S1", "B-S1-02": "B-S1"}
LEVEL = {"P": 0, "A": 1, "B": 1, "A-S1": 2, "A-S2": 2, "B-S1": 2}
ENTERPRISES = [("EA1", 116.02, 38.45), ("EA2", 116.15, 38.45), ("EB1", 116.35, 38.45),
               ("EB2", 116.45, 38.45), ("EX", 116.25, 38.45)]  # EX: in the province only
USERS = [
    ("admin", "admin", None),
    ("prov-leader", "leader", "P"),
    ("a-leader", "leader", "A"),
    ("a-citymanager", "grid_manager", "A"),
    ("a-manager", "grid_manager", "A-S1"),
    ("a-inspector", "inspector", "A-S1-01"),
    ("a-hotline", "hotline", "A"),
    ("b-leader", "leader", "B"),
]
ALL = {"EA1", "EA2", "EB1", "EB2", "EX"}
SEES = {
    "admin": ALL, "prov-leader": ALL,
    "a-leader": {"EA1", "EA2"}, "a-citymanager": {"EA1", "EA2"}, "a-hotline": {"EA1", "EA2"},
    "a-manager": {"EA1"}, "a-inspector": {"EA1"},
    "b-leader": {"EB1", "EB2"},
}
CITY_A_USERS = ["a-leader", "a-citymanager", "a-manager", "a-inspector", "a-hotline"]
START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def province_world(session):
    """The province P with cities A and B, five enterprises, a complaint and an inspection in
    each city, a checklist and the users above (password PASSWORD)."""
    from gis.users import create_user

    add_cells(session, *[(code, LEVEL.get(code, 3), geom, PARENT.get(code))
                         for code, geom in BOX.items()], valid_from=START)
    add_enterprises(session, *ENTERPRISES, valid_from=START)
    session.execute(text("""
        INSERT INTO checklist_item (code, title, sort_order) VALUES ('Q01', '证照齐全', 1),
               ('Q02', '出厂检验', 2)"""))
    for number, cell, lon in (("KA", "A-S1-01", 116.02), ("KB", "B-S1-01", 116.35)):
        session.execute(text("""
            INSERT INTO complaint (number, received_at, geom, text, status, cell_id)
            SELECT :n, now() - interval '1 day', ST_SetSRID(ST_Point(:x, 38.45), 4326), '投诉',
                   'received', id
            FROM cell WHERE code = :c"""), {"n": number, "c": cell, "x": lon})
    session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on, results, problems_found,
                                rectification_status)
        SELECT id, CURRENT_DATE - 3, '{"Q01": "pass", "Q02": "pass"}', 0, 'none'
        FROM enterprise WHERE management_code IN ('EA1', 'EB1')"""))
    person = session.execute(text(
        "INSERT INTO person (code, name) VALUES ('RYA', '巡查员甲') RETURNING id")).scalar()
    for username, role, place in USERS:
        create_user(session, username, PASSWORD, role=role, place=place,
                    person_id=person if role == "inspector" else None)
    return session


@pytest.fixture
def world(session):
    return province_world(session)


def _ids(session, *codes):
    return dict(session.execute(text("SELECT code, id FROM cell WHERE code = ANY(:c)"),
                                {"c": list(codes)}).all())


# --- the tree ------------------------------------------------------------------------------

def test_the_province_is_the_root_and_cities_lie_in_it(world):
    ids = _ids(world, "P", "A", "B", "A-S1-01")
    assert tree.root_path(world) == (ids["P"],)
    assert tree.has_province(world)
    assert [c.code for c in tree.cities(world)] == ["A", "B"]
    from gis.users import cell_path
    assert cell_path(world, code="A-S1-01")[:2] == (ids["P"], ids["A"])
    # EX lies in the province but in no city: the province holds it.
    assert world.execute(text("""
        SELECT c.code FROM enterprise e JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        JOIN cell c ON c.id = ec.cell_id WHERE e.management_code = 'EX'""")).scalar() == "P"


def test_a_city_without_a_parent_goes_into_the_province(session):
    add_cells(session, ("P", 0, BOX["P"], None), valid_from=START)
    add_cells(session, ("A", 1, BOX["A"], None), valid_from=START)
    parent = session.execute(text(
        "SELECT p.code FROM cell c JOIN cell p ON p.id = c.parent_id WHERE c.code = 'A'")).scalar()
    assert parent == "P"


def test_a_province_above_a_city_that_was_the_root_takes_it_in(session):
    add_cells(session, ("A", 1, BOX["A"], None), ("A-S1", 2, BOX["A"], "A"), valid_from=START)
    assert tree.root_path(session) == tuple(_ids(session, "A").values())
    add_cells(session, ("P", 0, BOX["P"], None), valid_from=START)
    ids = _ids(session, "P", "A")
    assert tree.root_path(session) == (ids["P"],)
    assert session.execute(text("SELECT parent_id FROM cell WHERE code = 'A'")).scalar() == ids["P"]


@pytest.mark.parametrize("records, reason", [
    ([CellRecord("Q", "another", 0, BOX["P"])], "one province only"),
    ([CellRecord("Q", "under", 0, BOX["P"], parent_code="P")], "has no parent"),
    ([CellRecord("X", "grid", 2, BOX["A"], parent_code="P")], "needs a level-1 parent"),
])
def test_one_province_with_no_parent(session, records, reason):
    add_cells(session, ("P", 0, BOX["P"], None), valid_from=START)
    for r in records:
        r.geom = shapely.MultiPolygon([r.geom])
        r.where = f"cell {r.code}"
    with pytest.raises(ImportRefused) as refused:
        upsert_cells(session, records)
    assert reason in str(refused.value)


# --- who reads what ------------------------------------------------------------------------

def test_readable_places_a_province_role_everything_a_city_role_its_city(world):
    from gis.users import identity, user_id

    ids = _ids(world, "A", "B", "A-S1")

    def places(username):
        return policy.readable_places(identity(world, user_id(world, username)).grants)

    assert places("prov-leader") is None and places("admin") is None
    assert places("a-leader") == (ids["A"],) and places("b-leader") == (ids["B"],)
    assert places("a-manager") == (ids["A-S1"],)
    a_cells = set(policy.visible_cells(world, identity(world, user_id(world, "a-leader")).grants))
    codes = set(world.execute(text("SELECT code FROM cell WHERE id = ANY(:c)"),
                              {"c": list(a_cells)}).scalars())
    assert codes == {"A", "A-S1", "A-S2", "A-S1-01", "A-S1-02", "A-S2-01"}


@pytest.mark.parametrize("username", [u for u, _r, _p in USERS])
def test_every_read_path_keeps_a_city_to_itself(client, world, username):
    login(client, username)
    expected = SEES[username]
    layer = client.get("/api/v1/enterprises.geojson").get_json()
    assert {f["properties"]["code"] for f in layer["features"]} == expected
    wall = client.get("/api/v1/layers/enterprises.geojson").get_json()
    assert {f["properties"]["code"] for f in wall["features"]} == expected
    searched = client.get("/api/v1/enterprises?q=enterprise").get_json()["enterprises"]
    assert {e["management_code"] for e in searched} == expected
    page = client.get("/enterprises").get_data(as_text=True)
    assert {c for c in ALL if f">{c}<" in page} == expected
    chain = {c for c in ALL
             if client.get(f"/api/v1/enterprises/{c}/responsible").status_code == 200}
    assert chain == expected
    pages = {c for c in ALL if client.get(f"/enterprises/{c}").status_code == 200}
    assert pages == expected
    inspected = {c for c in ("EA1", "EB1")
                 if client.get(f"/api/v1/enterprises/{c}/inspections").status_code == 200}
    assert inspected == expected & {"EA1", "EB1"}


@pytest.mark.parametrize("username", CITY_A_USERS + ["b-leader"])
def test_cells_complaints_and_tiles_of_the_other_city_stay_hidden(client, world, username):
    login(client, username)
    mine, other = ("B", "A") if username == "b-leader" else ("A", "B")
    cells = client.get("/api/v1/layers/cells.geojson").get_json()["features"]
    assert cells and all(f["properties"]["code"].startswith(mine + "-") for f in cells)
    grids = client.get("/api/v1/layers/grids.geojson").get_json()["features"]
    assert all(f["properties"]["code"].split("-")[0] == mine for f in grids)
    complaints = client.get("/api/v1/layers/complaints.geojson").get_json()["features"]
    numbers = {f["properties"].get("number") for f in complaints}
    assert f"K{other}" not in numbers
    assert client.get(f"/complaints/K{other}").status_code in (403, 404)
    assert f"K{other}" not in client.get("/complaints").get_data(as_text=True)
    assert client.get(f"/api/v1/cells/{other}-S1-01/inspections").status_code == 403
    assert client.get(f"/cells/{other}-S1-01/card").status_code == 404
    # A tile at zoom 14 names the enterprises in it: none of the other city's.
    for code, lon, lat in ENTERPRISES[:4]:
        tile = client.get(f"/tiles/enterprises/14/{_x(lon, 14)}/{_y(lat, 14)}.pbf")
        assert tile.status_code == 200
        assert (code.encode() in tile.data) == (code in SEES[username]), code
    # The other city's places are no places of theirs.
    assert client.get(f"/statistics?place={other}").status_code == 404
    assert client.get(f"/plans/{other}-S1-01").status_code in (403, 404)
    assert client.get(f"/plates/cell/{other}-S1-01").status_code in (403, 404)
    figures = client.get("/api/v1/figures").get_json()["values"]
    assert figures["enterprises"] == len(SEES[username])


def _x(lon, z):
    return int((lon + 180) / 360 * 2 ** z)


def _y(lat, z):
    return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2 ** z)


def test_the_wall_opens_on_the_users_city(client, world):
    from app.mappage import city_bounds
    from flask_login import login_user

    from gis.users import identity, user_id

    app = client.application
    for username, (west, east) in (("a-manager", (116.0, 116.2)), ("b-leader", (116.3, 116.5)),
                                   ("prov-leader", (116.0, 116.5))):
        with app.test_request_context():
            login_user(identity(world, user_id(world, username)))
            (south, w), (north, e) = city_bounds()
        assert (round(w, 6), round(e, 6)) == (west, east), username


# --- who writes what -----------------------------------------------------------------------

def test_a_city_role_writes_nothing_in_the_other_city(client, world):
    login(client, "a-inspector")
    assert client.post("/api/v1/inspections", json={
        "enterprise": "EB1", "inspected_on": dt.date.today().isoformat(),
        "results": {"Q01": "pass", "Q02": "pass"}}).status_code in (403, 404)
    assert client.patch("/api/v1/complaints/KB", json={"status": "assigned"}).status_code \
        in (403, 404)
    client.post("/logout")
    login(client, "a-citymanager")
    person = world.execute(text("SELECT id FROM person WHERE code = 'RYA'")).scalar()
    assert client.put("/api/v1/cells/B-S1-01/owner",
                      json={"person_id": person}).status_code == 403
    assert client.put("/api/v1/cells/A-S1-01/owner",
                      json={"person_id": person}).status_code == 200
    assert client.post("/complaints/KB/status", data={"status": "assigned"}).status_code \
        in (403, 404)
    assert client.post("/api/v1/grid/B-S1/preview", json={"geometries": {}}).status_code == 403
    assert client.get("/grid/B/edit").status_code == 403
    assert client.post("/api/v1/cases", json={"enterprise": "EB1", "cause": "无证"}).status_code \
        in (403, 404)
    # The province has no editor: its cities are imported, not drawn.
    client.post("/logout")
    login(client, "admin")
    assert client.get("/grid/P/edit").status_code == 404


def test_city_roles_take_complaints_in_and_a_stations_do_not(world):
    from gis.users import identity, user_id

    def may(username):
        return policy.can(identity(world, user_id(world, username)).grants, "intake_complaint")

    assert may("prov-leader") and may("a-leader") and may("a-citymanager") and may("a-hotline")
    assert not may("a-manager") and not may("a-inspector")


def test_a_complaint_outside_every_city_goes_to_the_province(world):
    from gis import complaints

    k = complaints.receive(world, source="open311", service_code="other",
                           description="两市之间", lon="116.25", lat="38.45", zone="Asia/Shanghai")
    cell = world.execute(text("""
        SELECT c.code FROM complaint k JOIN cell c ON c.id = k.cell_id WHERE k.number = :n"""),
        {"n": k.number}).scalar()
    assert cell == "P" and k.outside_grid


# --- comparing the cities ------------------------------------------------------------------

def test_the_province_compares_its_cities_side_by_side(client, world):
    login(client, "prov-leader")
    page = client.get("/statistics")  # the cities, side by side
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _rows(html) == {"A", "B"}
    rows = client.get("/statistics.csv").get_data(as_text=True).splitlines()
    assert any(r.split(",")[0].lstrip("\ufeff") == "A" for r in rows[1:]), rows[:3]
    assert any(r.split(",")[0] == "B" for r in rows)
    from gis import statistics as st

    result = st.statistics(world, level="city", visible=None, zone="Asia/Shanghai",
                           period=st.Period.of("year", dt.date.today(), dt.date.today()))
    by_code = {u["code"]: u["figures"]["enterprises"] for u in result["units"]}
    assert by_code == {"A": 2, "B": 2}
    assert {"yoy", "pop", "yoy_change", "pop_change"} <= set(result["units"][0])
    ranked = client.get("/api/v1/assessment?level=city&from=2026-01-01&to=2026-12-31")
    assert {u["code"] for u in ranked.get_json()["units"]} == {"A", "B"}
    # The assessment opens on the cities for a provincial reader.
    html = client.get("/assessment?from=2026-01-01&to=2026-12-31").get_data(as_text=True)
    assert set(re.findall(r'<tr class="unit" data-code="([^"]+)"', html)) == {"A", "B"}


def _rows(html: str) -> set[str]:
    """The units of a statistics table: its rows' codes."""
    return set(re.findall(r'<th scope="row" data-key="name" data-value="([^"]+)"', html))


def test_a_city_leader_sees_their_city_alone(client, world):
    login(client, "a-leader")
    html = client.get("/statistics").get_data(as_text=True)  # the stations of city A
    assert _rows(html) == {"A-S1", "A-S2"}
    assert "B-S1" not in html  # nor among the places to choose
    rows = client.get("/statistics.csv?level=city").get_data(as_text=True)
    assert "cell A" in rows and "cell B" not in rows
    ranked = client.get("/api/v1/assessment?level=city&from=2026-01-01&to=2026-12-31")
    assert {u["code"] for u in ranked.get_json()["units"]} == {"A"}
    stations = client.get("/api/v1/assessment?level=station&from=2026-01-01&to=2026-12-31")
    assert {u["code"] for u in stations.get_json()["units"]} == {"A-S1", "A-S2"}
    # Asked about city B, the assessment holds nothing of it (as for another station's).
    other = client.get("/api/v1/assessment?level=city&from=2026-01-01&to=2026-12-31&place=B")
    assert other.get_json()["units"] == []
    gaps = client.get("/api/v1/reports/gaps?from=2026-01-01&to=2026-01-31&place=B")
    assert gaps.status_code == 200 and gaps.get_json()["gaps"] == []


# --- the demo of several cities --------------------------------------------------------------

@pytest.mark.slow
def test_the_demo_holds_several_cities_with_codes_of_their_own(session):
    from gis.demo.build import PROVINCE_CODE, load_demo
    from gis.users import identity, user_id

    counts = load_demo(session, today=dt.date(2026, 11, 28), cities=2, n_enterprises=150)
    assert counts["cities"] == 2 and counts["enterprises"] == 300
    assert counts["townships"] == 40 and counts["enterprises outside every cell"] == 0
    tops = session.execute(text("""
        SELECT c.code, p.code FROM cell c LEFT JOIN cell p ON p.id = c.parent_id
        WHERE c.level <= 1 ORDER BY c.code""")).all()
    assert tops == [(PROVINCE_CODE, None), ("130981", PROVINCE_CODE), ("130984", PROVINCE_CODE)]
    # Each city's enterprises lie in its own level-3 cells, and so do its complaints.
    strays = session.execute(text("""
        SELECT count(*) FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        JOIN cell c ON c.id = ec.cell_id
        WHERE c.level <> 3 OR NOT starts_with(c.code, CASE WHEN starts_with(
            e.management_code, 'BT') THEN '130981-' ELSE '130984-' END)""")).scalar()
    assert strays == 0
    # A caller's spot scattered past the city's edge is the province's (outside every city).
    assert session.execute(text("""
        SELECT count(*) FROM complaint k JOIN cell c ON c.id = k.cell_id
        WHERE c.code <> :p AND starts_with(k.number, '12365-BT-')
              <> starts_with(c.code, '130981')"""), {"p": PROVINCE_CODE}).scalar() == 0
    assert session.execute(text("""
        SELECT bool_and(k.outside_grid) FROM complaint k JOIN cell c ON c.id = k.cell_id
        WHERE c.code = :p"""), {"p": PROVINCE_CODE}).scalar() is not False
    assert session.execute(text(
        "SELECT count(*) FROM township WHERE starts_with(code, '130981')")).scalar() == 20
    assert session.execute(text(
        "SELECT count(*) FROM person WHERE starts_with(code, '130981-RY')")).scalar() > 50
    ids = dict(session.execute(text(
        "SELECT code, id FROM cell WHERE code IN ('130981', '130984')")).all())
    for username, places in (("provinceleader", None), ("leader2", (ids["130981"],)),
                             ("leader", (ids["130984"],))):
        grants = identity(session, user_id(session, username)).grants
        assert policy.readable_places(grants) == places, username


def test_a_province_for_the_benches(session):
    from gis.demo.province import check_assignment, generate_province

    made = generate_province(session, cities=5, grids_per_city=3, cells_per_grid=4,
                             enterprises=600, complaints_per_enterprise=0.1,
                             today=dt.date(2026, 11, 28))
    assert made.counts == {"cities": 5, "level-2 grids": 15, "level-3 cells": 60,
                           "enterprises": 600, "inspections": 600, "complaints": 60}
    assert (made.city, made.grid, made.cell) == ("C01", "C01-G01", "C01-G01-0001")
    assert tree.root_path(session) == tuple(_ids(session, "PROV").values())
    assert check_assignment(session, 600) == 0
    # Cities tile without touching; each grid's cells tile it.
    assert session.execute(text("""
        SELECT count(*) FROM cell_current a JOIN cell_current b ON a.id < b.id
             AND a.level = 1 AND b.level = 1 AND ST_Intersects(a.geom, b.geom)""")).scalar() == 0
    assert session.execute(text("""
        SELECT count(*) FROM cell_current g WHERE g.level = 2 AND abs(ST_Area(g.geom) - (
            SELECT sum(ST_Area(c.geom)) FROM cell_current c WHERE c.parent_id = g.id)) > 1e-12
        """)).scalar() == 0
