"""Whose cell is this spot: on and off edges, before and after a redraw and an owner change,
in WGS84 and GCJ-02; every bad parameter named."""
import datetime as dt

import pytest
import shapely
from sqlalchemy import text

from gis.crs import wgs84_to_gcj02
from tests.factories import add_cells, add_enterprises, login, small_world

UTC = dt.timezone.utc
JAN = dt.datetime(2026, 1, 1, tzinfo=UTC)
MAR = dt.datetime(2026, 3, 1, tzinfo=UTC)
MAY = dt.datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def world(session):
    small_world(session, valid_from=JAN)  # history has room: everything began on 1 January
    people = {}
    for name, phone in (("甲", "13800000001"), ("乙", "13800000002"), ("所长", "13800000003"),
                        ("镇长", "13800000004"), ("厂长", "13800000005")):
        people[name] = session.execute(text(
            "INSERT INTO person (name, phone, unit) VALUES (:n, :p, '单位') RETURNING id"),
            {"n": name, "p": phone}).scalar()
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
        SELECT :p, 'department', 'owner', id, :t FROM cell WHERE code = 'S1-01'"""),
        {"p": people["甲"], "t": JAN})
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
        SELECT :p, 'department', 'station_chief', id, :t FROM cell WHERE code = 'S1'"""),
        {"p": people["所长"], "t": JAN})
    session.execute(text("""
        INSERT INTO township (code, name, geom)
        VALUES ('130984100000', '测试镇',
                ST_Multi(ST_MakeEnvelope(116, 38.4, 116.2, 38.5, 4326)))"""))
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, township_id, valid_from)
        SELECT :p, 'government', 'township_leader', id, :t FROM township"""),
        {"p": people["镇长"], "t": JAN})
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, enterprise_id, valid_from)
        SELECT :p, 'enterprise', 'principal', id, :t FROM enterprise
        WHERE management_code = 'E1'"""),
        {"p": people["厂长"], "t": JAN})
    return people


@pytest.fixture
def inspector(client, world):
    login(client, "c2-inspector")  # any logged-in user may look up any spot
    return client


def ask(client, **params):
    return client.get("/api/v1/lookup", query_string=params)


def test_interior_point_answers_cell_ancestors_and_people(inspector):
    response = ask(inspector, lon=116.021, lat=38.45)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["cell"]["code"] == "S1-01" and answer["cell"]["level"] == 3
    assert answer["cell"]["version"]["valid_to"] is None
    assert [a["code"] for a in answer["ancestors"]] == ["S1", "C"]
    assert answer["on_edge"] is False
    department = {p["role"]: p for p in answer["responsibilities"]["department"]}
    assert department["owner"]["name"] == "甲" and department["owner"]["phone"] == "13800000001"
    assert department["station_chief"]["name"] == "所长"
    assert answer["responsibilities"]["government"][0]["name"] == "镇长"
    assert answer["township"]["name"] == "测试镇"
    assert answer["nearest_enterprises"][0]["management_code"] == "E1"
    assert 80 < answer["nearest_enterprises"][0]["distance_m"] < 95  # 0.001° at 38.45°N


def test_point_on_a_shared_edge_says_so_and_which_rule_chose(inspector):
    answer = ask(inspector, lon=116.05, lat=38.45).get_json()
    assert answer["cell"]["code"] == "S1-01" and answer["on_edge"] is True
    assert answer["edge_candidates"] == ["S1-01", "S1-02"]
    assert "lowest code" in answer["edge_rule"]


def test_cell_without_owner_falls_to_its_parent(inspector, session, world):
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
        SELECT :p, 'department', 'owner', id, :t FROM cell WHERE code = 'S1'"""),
        {"p": world["所长"], "t": JAN})
    owner = ask(inspector, lon=116.07, lat=38.45).get_json()["owner"]
    assert owner["name"] == "所长" and owner["inherited"] is True and owner["cell_code"] == "S1"


def test_outside_every_cell_is_404_with_the_nearest_cell(inspector):
    response = ask(inspector, lon=116.25, lat=38.45)
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["nearest_cell"]["code"] == "S2-01"
    assert 4000 < error["nearest_cell"]["distance_m"] < 5000  # 0.05° of longitude at 38.45°N


def test_nearest_enterprises_are_nearest_in_metres_not_degrees(inspector, session):
    # At 38.42°N a degree of longitude is 0.78 of a degree of latitude: "east" is nearer in
    # metres (~105 m against ~117 m) but farther in degrees (0.0012° against 0.00105°).
    add_enterprises(session, ("EAST", 116.0112, 38.42), ("NORTH", 116.01, 38.42105))
    nearest = ask(inspector, lon=116.01, lat=38.42).get_json()["nearest_enterprises"]
    assert [n["management_code"] for n in nearest[:2]] == ["EAST", "NORTH"]
    assert 100 < nearest[0]["distance_m"] < 110 and 112 < nearest[1]["distance_m"] < 122
    distances = [n["distance_m"] for n in nearest]
    assert distances == sorted(distances) and len(nearest) == 4  # EAST, NORTH, E1, E2


def test_the_nearest_cell_outside_is_nearest_in_metres(inspector, session):
    # From (116.3, 38.3): XN is 0.009° north (~999 m), XE 0.011° east (~962 m).
    add_cells(session, ("XN", 1, shapely.box(116.29, 38.309, 116.31, 38.32), None),
              ("XE", 1, shapely.box(116.311, 38.29, 116.32, 38.31), None), valid_from=JAN)
    error = ask(inspector, lon=116.3, lat=38.3).get_json()["error"]
    assert error["nearest_cell"]["code"] == "XE"
    assert 950 < error["nearest_cell"]["distance_m"] < 975


@pytest.mark.parametrize("params, field", [
    ({"lat": 38.45}, "lon"),
    ({"lon": 116.02}, "lat"),
    ({"lon": "east", "lat": 38.45}, "lon"),
    ({"lon": 0, "lat": 0}, "lon"),
    ({"lon": 38.45, "lat": 116.02}, "lon"),
    ({"lon": -73.98, "lat": 40.75}, "lon"),
    ({"lon": 116.02, "lat": 38.45, "crs": "bd09"}, "crs"),
    ({"lon": 116.02, "lat": 38.45, "at": "last tuesday"}, "at"),
    ({"lon": 116.02, "lat": 38.45, "zoom": 3}, "zoom"),
])
def test_bad_parameters_are_400_naming_them(inspector, params, field):
    response = ask(inspector, **params)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_gcj02_coordinates_are_converted_before_the_lookup(inspector):
    # 116.047 is 250 m west of the edge; its GCJ-02 form lies ~500 m further east, across it.
    gx, gy = wgs84_to_gcj02(116.047, 38.45)
    assert gx > 116.05
    assert ask(inspector, lon=gx, lat=gy).get_json()["cell"]["code"] == "S1-02"
    converted = ask(inspector, lon=gx, lat=gy, crs="gcj02").get_json()
    assert converted["cell"]["code"] == "S1-01"
    assert converted["query"]["wgs84"] == pytest.approx([116.047, 38.45], abs=1e-7)


def test_time_travel_across_a_redraw_and_an_owner_change(inspector, session, world):
    # 1 March: the edge moves west to 116.03, so 116.04 passes from S1-01 to S1-02.
    add_cells(session, ("S1-01", 3, shapely.box(116.0, 38.4, 116.03, 38.5), "S1"),
              ("S1-02", 3, shapely.box(116.03, 38.4, 116.1, 38.5), "S1"), valid_from=MAR)
    # 1 May: S1-01 passes from 甲 to 乙.
    from gis.fieldwork import set_cell_owner

    cell_id = session.execute(text("SELECT id FROM cell WHERE code = 'S1-01'")).scalar()
    set_cell_owner(session, cell_id, world["乙"], MAY)

    def at(day, lon=116.04):
        return ask(inspector, lon=lon, lat=38.45, at=day).get_json()

    assert at("2026-02-28")["cell"]["code"] == "S1-01"
    assert at("2026-02-28")["owner"]["name"] == "甲"
    assert at("2026-03-01T07:59:00+08:00")["cell"]["code"] == "S1-01"  # before the change
    assert at("2026-03-01")["cell"]["code"] == "S1-02"  # the day it changed
    assert at("2026-04-01")["cell"]["version"]["valid_from"].startswith("2026-03-01")
    assert at("2026-04-30", lon=116.01)["owner"]["name"] == "甲"
    assert at("2026-05-01", lon=116.01)["owner"]["name"] == "乙"
    assert at("2026-06-01", lon=116.01)["owner"]["name"] == "乙"
    old = at("2026-02-01")["cell"]["version"]
    assert old["valid_to"].startswith("2026-03-01")


def test_enterprise_responsible_chain_includes_its_own_person(inspector):
    inspector.post("/logout")
    login(inspector, "c1-inspector")  # E1 is in this inspector's cell
    answer = inspector.get("/api/v1/enterprises/E1/responsible").get_json()
    assert answer["enterprise"]["management_code"] == "E1"
    assert answer["cell"]["code"] == "S1-01"
    assert answer["responsibilities"]["enterprise"][0]["name"] == "厂长"
    assert {p["role"] for p in answer["responsibilities"]["department"]} == {
        "owner", "station_chief"}
    before = inspector.get("/api/v1/enterprises/E1/responsible?at=2025-06-01").get_json()
    assert before["enterprise"]["assigned"] is False and "cell" not in before
    assert inspector.get("/api/v1/enterprises/NOPE/responsible").status_code == 404


def test_lookup_needs_a_login_or_a_token(client, world, session):
    assert ask(client, lon=116.02, lat=38.45).status_code == 401
    from gis.users import create_token

    _id, token = create_token(session, "c1-inspector")
    response = client.get("/api/v1/lookup?lon=116.02&lat=38.45",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json()["cell"]["code"] == "S1-01"


def test_lookup_page_renders(inspector):
    html = inspector.get("/lookup").get_data(as_text=True)
    assert "使用我的位置" in html and 'id="coords"' in html


@pytest.fixture
def token(session, world):
    from gis.users import create_token

    return {"Authorization": f"Bearer {create_token(session, 'c2-inspector', 'phone')[1]}"}


def _fast(response) -> bool:
    return 'desc="fast"' in response.headers.get("Server-Timing", "")


@pytest.mark.parametrize("params", [
    {"lon": 116.021, "lat": 38.45},
    {"lon": 116.05, "lat": 38.45},                      # on an edge
    {"lon": 116.15, "lat": 38.45, "at": "2026-02-01"},  # a past date
    {"lon": 116.027, "lat": 38.449, "crs": "gcj02"},
])
def test_token_lookups_take_the_fast_path_with_the_views_answer(client, token, params):
    first = client.get("/api/v1/lookup", query_string=params, headers=token)
    assert first.status_code == 200 and not _fast(first)  # the view checked the token
    again = client.get("/api/v1/lookup", query_string=params, headers=token)
    assert again.status_code == 200 and _fast(again)
    assert again.get_data() == first.get_data()
    assert again.content_type == first.content_type == "application/json"


@pytest.mark.parametrize("params, status", [
    ({"lon": 116.021}, 400),
    ({"lon": 116.021, "lat": 38.45, "zoom": 3}, 400),
    ({"lon": 116.021, "lat": 38.45, "lang": "en"}, 200),
    ({"lon": 116.021, "lat": 38.45, "lat2": ""}, 400),
    ({"lon": 116.25, "lat": 38.45}, 404),
])
def test_what_the_fast_path_does_not_answer_the_view_does(client, token, params, status):
    client.get("/api/v1/lookup?lon=116.021&lat=38.45", headers=token)  # the token is known
    response = client.get("/api/v1/lookup", query_string=params, headers=token)
    assert response.status_code == status and not _fast(response)
    if status != 200:
        assert response.get_json()["error"]["status"] == status


def test_the_fast_path_never_answers_a_cookie_or_an_unchecked_token(inspector, token, client):
    assert not _fast(ask(inspector, lon=116.021, lat=38.45))  # a session: Flask's
    unknown = {"Authorization": "Bearer gw_never-issued"}
    assert client.get("/api/v1/lookup?lon=116.021&lat=38.45", headers=unknown).status_code == 401


def test_professional_grids_answer_with_their_owners_or_the_one_above(inspector, session):
    from gis.cells import CellRecord, upsert_cells

    def record(code, level, box, parent):
        return CellRecord(code=code, name=f"食品 {code}", level=level, kind="professional",
                          specialty="food", geom=shapely.MultiPolygon([shapely.box(*box)]),
                          parent_code=parent, where=code)

    upsert_cells(session, [record("F", 2, (116.0, 38.4, 116.2, 38.5), "C"),
                           record("F-01", 3, (116.0, 38.4, 116.1, 38.5), "F"),
                           record("F-02", 3, (116.1, 38.4, 116.2, 38.5), "F")], valid_from=JAN)
    for name, code in (("食品站长", "F"), ("食品专员", "F-02")):
        person = session.execute(text(
            "INSERT INTO person (name, phone) VALUES (:n, '13900000000') RETURNING id"),
            {"n": name}).scalar()
        session.execute(text("""
            INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
            SELECT :p, 'department', 'owner', id, :t FROM cell WHERE code = :c"""),
            {"p": person, "t": JAN, "c": code})
    west = ask(inspector, lon=116.02, lat=38.45).get_json()["professional"]
    assert [(g["code"], g["owner"]["name"]) for g in west] == [("F", "食品站长"),
                                                              ("F-01", "食品站长")]
    east = ask(inspector, lon=116.15, lat=38.45).get_json()["professional"]
    assert [(g["code"], g["owner"]["name"]) for g in east] == [("F", "食品站长"),
                                                              ("F-02", "食品专员")]
    assert east[0]["specialty"] == "food" and east[1]["level"] == 3


def _contacts(session):
    session.execute(text("""
        UPDATE enterprise SET contact_name = '联系人' || management_code,
                              contact_phone = '1390000000' || right(management_code, 1)"""))


def test_an_enterprise_outside_ones_area_answers_as_if_it_did_not_exist(inspector, session):
    _contacts(session)
    # c2-inspector reads grid S2 only; E1 is in S1-01.
    outside = inspector.get("/api/v1/enterprises/E1/responsible")
    missing = inspector.get("/api/v1/enterprises/E0/responsible")
    assert outside.status_code == missing.status_code == 404
    assert outside.get_data(as_text=True).replace("E1", "E0") == missing.get_data(as_text=True)
    assert "13900000001" not in outside.get_data(as_text=True)
    # Inside the area, as before: the chain and the enterprise's contacts.
    inside = inspector.get("/api/v1/enterprises/E2/responsible").get_json()
    assert inside["enterprise"]["contact"] == {"name": "联系人E2", "phone": "13900000002"}
    # A past date does not widen it: visibility follows where the enterprise is now.
    assert inspector.get("/api/v1/enterprises/E1/responsible?at=2026-02-01").status_code == 404


def test_the_lookup_never_carries_enterprise_contacts(inspector, session, app, token):
    _contacts(session)
    # From S2-01, the nearest enterprises include E1, outside c2-inspector's area: named (the
    # responsibility plate at its gate names it too), never its contact person or phone.
    answer = ask(inspector, lon=116.11, lat=38.45)
    nearest = answer.get_json()["nearest_enterprises"]
    assert {n["management_code"] for n in nearest} == {"E1", "E2"}
    assert all(set(n) == {"management_code", "name", "grade", "distance_m"} for n in nearest)
    body = answer.get_data(as_text=True)
    assert "1390000000" not in body and "联系人" not in body
    # The responsible officials stay, in anyone's area: they are public by design.
    there = ask(inspector, lon=116.02, lat=38.45).get_json()  # S1-01, outside the area
    assert (there["owner"]["name"], there["owner"]["phone"]) == ("甲", "13800000001")
    r = there["responsibilities"]
    assert {p["name"] for p in r["department"] + r["government"]} == {"甲", "所长", "镇长"}
    phone = app.test_client()  # no cookie: a terminal with a token
    phone.get("/api/v1/lookup?lon=116.11&lat=38.45", headers=token)
    fast = phone.get("/api/v1/lookup?lon=116.11&lat=38.45", headers=token)
    assert _fast(fast) and "1390000000" not in fast.get_data(as_text=True)


def test_coordinates_typed_with_a_chinese_input_method_or_in_degrees_minutes_seconds(inspector):
    plain = ask(inspector, lon=116.0875, lat=38.4424).get_json()
    for lon, lat in (("１１６．０８７５", "３８．４４２４"), ("116,0875", "38,4424"),
                     ("116°05'15\"E", "38°26'32.64\"N"), ("116度5分15秒", "38度26分32.64秒")):
        answer = ask(inspector, lon=lon, lat=lat)
        assert answer.status_code == 200, (lon, answer.get_json())
        assert answer.get_json()["cell"]["code"] == plain["cell"]["code"]
        assert answer.get_json()["query"]["wgs84"] == pytest.approx([116.0875, 38.4424],
                                                                    abs=1e-6)


def test_map_as_of_a_date_is_the_end_of_that_day_in_the_bureaus_zone(client, session, world):
    """A boundary change at 02:00 local time on 1 March is not there on 28 February: /map?at=
    read the date in UTC, where 02:00 local is still 28 February."""
    import json as json_module

    from gis import redraw

    at = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    proposal = redraw.Proposal("S1", {
        "S1-01": shapely.MultiPolygon([shapely.box(116.0, 38.4, 116.03, 38.5)]),
        "S1-02": shapely.MultiPolygon([shapely.box(116.03, 38.4, 116.1, 38.5)])})
    redraw.commit(session, proposal, username="cli", comment="3 月 1 日 2 时生效", valid_from=at)
    login(client, "admin")

    def east_edge(day):
        body = client.get(f"/api/v1/layers/cells.geojson?at={day}").get_data(as_text=True)
        feature = [f for f in json_module.loads(body)["features"]
                   if f["properties"]["code"] == "S1-01"][0]
        return round(shapely.geometry.shape(feature["geometry"]).bounds[2], 4)

    assert east_edge("2026-02-28") == 116.05
    assert east_edge("2026-03-01") == 116.03


def test_a_missing_enterprise_is_a_404_in_the_users_language(inspector):
    chinese = inspector.get("/api/v1/enterprises/NOPE0/responsible").get_json()["error"]
    assert chinese["status"] == 404 and chinese["message"] == "企业 NOPE0 不存在。"
    english = inspector.get("/api/v1/enterprises/NOPE0/responsible?lang=en").get_json()
    assert english["error"]["message"] == "Enterprise NOPE0 does not exist."


def test_an_enterprise_the_lookup_places_in_a_cell_is_found_by_that_cells_inspector(
        client, session, world):
    """The inspector of the cell the lookup names finds every enterprise standing there, by
    name, code or address, however many more match elsewhere."""
    add_enterprises(session, *[(f"S2E{i:02d}", 116.15, 38.41 + i / 100) for i in range(25)])
    session.execute(text("""
        UPDATE enterprise SET name = '河间市' || management_code || '玻璃钢有限公司',
                              address = '河间市瀛州路' || management_code"""))
    login(client, "c1-inspector")
    answer = ask(client, lon=116.02, lat=38.45).get_json()  # where E1 stands
    assert answer["cell"]["code"] == "S1-01"
    e1 = answer["nearest_enterprises"][0]
    assert (e1["management_code"], e1["distance_m"]) == ("E1", 0)
    for q in ("河间", "玻璃钢", e1["name"], "E1", "瀛州路E1"):
        found = client.get("/api/v1/enterprises", query_string={"q": q}).get_json()
        assert "E1" in {e["management_code"] for e in found["enterprises"]}, q
    # The 25 in S2-01 are counted as outside the area, not listed.
    assert found["outside"]["count"] == 0
    everywhere = client.get("/api/v1/enterprises?q=河间").get_json()
    assert everywhere["outside"]["count"] == 26  # S2-01's 25 and E2
    assert {e["management_code"] for e in everywhere["enterprises"]} == {"E1"}


def test_the_lookup_page_opens_on_the_users_own_area(client, world):
    import json

    login(client, "c1-inspector")
    html = client.get("/lookup").get_data(as_text=True)
    texts = json.loads(html.split('id="texts">')[1].split("</script>")[0])
    assert texts["home"] == [[38.4, 116.0], [38.5, 116.05]]  # S1-01, [[south, west], [north, east]]
    client.post("/logout")
    login(client, "admin")  # no place: the city
    html = client.get("/lookup?enterprise=E1").get_data(as_text=True)
    texts = json.loads(html.split('id="texts">')[1].split("</script>")[0])
    assert texts["home"] == [[38.4, 116.0], [38.5, 116.2]] and texts["enterprise"] == "E1"


def test_the_lookup_page_refuses_unknown_parameters(inspector):
    assert inspector.get("/lookup?bogus=1").status_code == 400


def test_a_code_with_a_slash_has_its_chain_and_its_page(client, session, world):
    add_enterprises(session, ("HJ/2026.01", 116.02, 38.46))
    login(client, "c1-inspector")
    # As the lookup page asks (encodeURIComponent): the server sees the slash decoded.
    chain = client.get("/api/v1/enterprises/HJ%2F2026.01/responsible")
    assert chain.status_code == 200
    assert chain.get_json()["enterprise"]["management_code"] == "HJ/2026.01"
    assert client.get("/enterprises/HJ%2F2026.01").status_code == 200


def _zigzag_neighbours(session):
    """S1-01 and S1-02 redrawn on 1 March with a shared edge of 301 vertices zigzagging across
    116.05: each outline is cut into pieces (cell_piece), and the cuts cross sloped edges."""
    edge = [(116.05 + (0.005 if i % 2 else -0.005), round(38.4 + 0.1 * i / 300, 7))
            for i in range(301)]
    west = shapely.Polygon([(116.0, 38.4)] + edge + [(116.0, 38.5)])
    east = shapely.Polygon(edge + [(116.1, 38.5), (116.1, 38.4)])
    assert west.is_valid and east.is_valid and shapely.coverage_is_valid([west, east])
    add_cells(session, ("S1-01", 3, west, "S1"), ("S1-02", 3, east, "S1"), valid_from=MAR)
    return edge


def test_points_on_a_pieces_cut_and_on_a_shared_edge_get_exact_answers(inspector, session):
    """The lookup probes the outlines' pieces; a point on a piece's boundary is decided by the
    whole outline, so a cut is no edge and a shared edge is one."""
    edge = _zigzag_neighbours(session)
    assert dict(session.execute(text("""
        SELECT c.code, count(*) > 1 FROM cell_piece pc JOIN cell c ON c.id = pc.cell_id
        WHERE pc.valid_to IS NULL AND c.code IN ('S1-01', 'S1-02') GROUP BY c.code""")).all()) == {
        "S1-01": True, "S1-02": True}
    # A cut inside S1-01, where two of its pieces meet. Cuts are parallel to an axis, so the
    # middle of one lies exactly on both pieces' boundaries.
    (x1, y1, x2, y2), = session.execute(text("""
        SELECT ST_X(ST_StartPoint(g)), ST_Y(ST_StartPoint(g)),
               ST_X(ST_EndPoint(g)), ST_Y(ST_EndPoint(g))
        FROM (SELECT (ST_Dump(ST_LineMerge(ST_Intersection(a.geom, b.geom)))).geom AS g
              FROM cell_piece a JOIN cell_piece b ON b.version_id = a.version_id AND b.id > a.id
              JOIN cell c ON c.id = a.cell_id
              WHERE c.code = 'S1-01' AND a.valid_to IS NULL) cut
        WHERE ST_GeometryType(g) = 'ST_LineString' AND ST_NPoints(g) = 2
        LIMIT 1""")).all()
    assert x1 == x2 or y1 == y2
    on_cut = ask(inspector, lon=(x1 + x2) / 2, lat=(y1 + y2) / 2).get_json()
    assert (on_cut["cell"]["code"], on_cut["on_edge"]) == ("S1-01", False)
    assert on_cut["edge_candidates"] == ["S1-01"]
    # A vertex of the shared edge: in both cells, the lowest code wins.
    x, y = edge[150]
    shared = ask(inspector, lon=x, lat=y).get_json()
    assert (shared["cell"]["code"], shared["on_edge"]) == ("S1-01", True)
    assert shared["edge_candidates"] == ["S1-01", "S1-02"] and shared["edge_rule"]


def test_every_vertex_of_every_piece_gets_the_whole_outlines_answer(session, world):
    """Pieces' vertices: the outlines' own, and those a cut added (rounded, so maybe a hair
    off the outline). Each is answered as testing the whole versions answers it."""
    edge = _zigzag_neighbours(session)
    rows = session.execute(text("""
        WITH point AS (
            SELECT DISTINCT (ST_DumpPoints(pc.geom)).geom AS pt
            FROM cell_piece pc JOIN cell c ON c.id = pc.cell_id
            WHERE pc.valid_to IS NULL AND c.code IN ('S1-01', 'S1-02'))
        SELECT ST_X(pt), ST_Y(pt),
               (SELECT array_agg(c.code ORDER BY c.code)
                FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
                WHERE cv.valid_to IS NULL AND c.level = 3 AND ST_Covers(cv.geom, pt)),
               gw_lookup(ST_X(pt), ST_Y(pt), now())::jsonb
        FROM point""")).all()
    added = {(x, y) for x, y, *_ in rows} - set(edge) - {
        (116.0, 38.4), (116.0, 38.5), (116.1, 38.4), (116.1, 38.5)}
    assert any(abs(x - 116.05) < 0.005 for x, _y in added)  # a cut across the zigzag
    for _x, _y, whole, answer in rows:
        assert answer["edge_candidates"] == whole, (whole, answer["edge_candidates"])
        assert answer["cell"]["code"] == whole[0] and answer["on_edge"] == (len(whole) > 1)
