"""12365 complaints (gis/complaints.py): taken in once for every path, routed to the cell, the
boundary version and the owner of the moment they arrived (and kept when owners or boundaries
change later), due by the service's response time, handled received → assigned → handled →
closed with a step each, reassigned with a reason, overdue when late; the hotline's export
imported once whatever the times it is sent; the pages and the PATCH of the API on the same
rules."""
import datetime as dt
import io
import json

import pytest
import shapely
from sqlalchemy import text

from gis import complaints, people
from gis.errors import ImportRefused
from gis.validation import ValidationError
from tests.factories import login, small_world

UTC = dt.timezone.utc
JAN = dt.datetime(2026, 1, 1, tzinfo=UTC)
MARCH = dt.datetime(2026, 3, 1, tzinfo=UTC)
IN_S1_01 = {"lon": "116.045", "lat": "38.45"}  # S1-01 until the edge moves west to 116.04
ZONE = "Asia/Shanghai"


@pytest.fixture
def world(session):
    """The small world from 1 January 2026: 王一 owns S1-01 until 1 March, 李二 from then;
    张三 owns S1-02; the grid S1 has no owner of its own, the city has 赵城."""
    small_world(session, valid_from=JAN)
    ids = {}
    for code, name in (("RY1", "王一"), ("RY2", "李二"), ("RY3", "张三"), ("RY9", "赵城")):
        ids[code] = people.create_person(session, {"code": code, "name": name})["id"]
    people.assign(session, people.target(session, "owner", "S1-01"), ids["RY1"], JAN)
    people.assign(session, people.target(session, "owner", "S1-01"), ids["RY2"], MARCH)
    people.assign(session, people.target(session, "owner", "S1-02"), ids["RY3"], JAN)
    people.assign(session, people.target(session, "owner", "C"), ids["RY9"], JAN)
    return ids


def take(session, when=None, **fields):
    values = {"service_code": "quality", "description": "电线绝缘层破损", **IN_S1_01,
              **fields}
    return complaints.receive(session, source=fields.pop("source", "staff"), zone=ZONE,
                              received_at=when, username="tester",
                              **{k: v for k, v in values.items() if k != "source"})


def stamp(session, number):
    return session.execute(text("""
        SELECT c.code AS cell, k.cell_version_id, p.code AS owner, a.code AS assignee,
               k.outside_grid, k.due_at, k.received_at, k.status, k.geom IS NULL AS no_point,
               k.location_source, k.urgent
        FROM complaint k LEFT JOIN cell c ON c.id = k.cell_id
        LEFT JOIN person p ON p.id = k.owner_id LEFT JOIN person a ON a.id = k.assignee_id
        WHERE k.number = :n"""), {"n": number}).one()


# --- routing ------------------------------------------------------------------------------------

def test_a_complaint_goes_to_the_owner_of_its_spot_when_it_came_in(session, world):
    before = take(session, MARCH - dt.timedelta(days=14))
    after = take(session, MARCH + dt.timedelta(days=14))
    assert (stamp(session, before.number).cell, stamp(session, before.number).owner) == \
        ("S1-01", "RY1")
    assert (stamp(session, after.number).cell, stamp(session, after.number).owner) == \
        ("S1-01", "RY2")
    # A day either side of the change, in minutes: the owner of that moment.
    just_before = take(session, MARCH - dt.timedelta(minutes=1))
    assert stamp(session, just_before.number).owner == "RY1"
    assert stamp(session, take(session, MARCH).number).owner == "RY2"
    assert before.owner_name == "王一" and after.owner_name == "李二"
    assert stamp(session, before.number).assignee == "RY1"


def test_an_owner_change_after_arrival_keeps_the_stamp(session, world):
    k = take(session, MARCH + dt.timedelta(days=2))
    later = dt.datetime.now(UTC) - dt.timedelta(days=1)
    people.assign(session, people.target(session, "owner", "S1-01"), world["RY3"], later)
    row = stamp(session, k.number)
    assert (row.owner, row.assignee) == ("RY2", "RY2")


def test_a_boundary_change_after_arrival_keeps_the_cell_and_version(session, world):
    from gis import redraw

    k = take(session, MARCH)
    version = stamp(session, k.number).cell_version_id
    edge = {"S1-01": shapely.MultiPolygon([shapely.box(116.0, 38.4, 116.04, 38.5)]),
            "S1-02": shapely.MultiPolygon([shapely.box(116.04, 38.4, 116.1, 38.5)])}
    moved_at = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    redraw.commit(session, redraw.Proposal("S1", edge), username="s1-manager",
                  comment="西移", valid_from=moved_at)
    row = stamp(session, k.number)
    assert (row.cell, row.cell_version_id, row.owner) == ("S1-01", version, "RY2")
    assert session.execute(text("SELECT valid_to FROM cell_version WHERE id = :v"),
                           {"v": version}).scalar() == moved_at
    # The same spot now is S1-02's.
    now = take(session)
    assert (stamp(session, now.number).cell, stamp(session, now.number).owner) == \
        ("S1-02", "RY3")


def test_outside_every_cell_it_goes_to_the_city_flagged(session, world):
    k = take(session, MARCH, lon="116.5", lat="38.45")
    row = stamp(session, k.number)
    assert (row.cell, row.owner, row.outside_grid) == ("C", "RY9", True)
    assert k.outside_grid and k.located and k.cell_code == "C"
    inside = take(session, MARCH)
    assert stamp(session, inside.number).outside_grid is False


def test_an_address_we_cannot_place_goes_to_the_city_without_a_point(session, world):
    k = complaints.receive(session, source="open311", service_code="other",
                           description="某地有假货", address="不存在的路 1 号", zone=ZONE)
    row = stamp(session, k.number)
    assert (row.cell, row.outside_grid, row.no_point, row.location_source) == \
        ("C", True, True, None)
    assert not k.located


def test_an_address_that_is_an_enterprise_s_takes_its_point(session, world):
    session.execute(text("UPDATE enterprise SET address = '河间市 瀛州镇 工业路８号' "
                         "WHERE management_code = 'E2'"))
    k = complaints.receive(session, source="open311", service_code="quality",
                           description="质量差", address="河间市瀛州镇工业路8号", zone=ZONE)
    row = stamp(session, k.number)
    assert (row.cell, row.location_source, row.no_point) == ("S2-01", "address", False)
    assert session.execute(text("""
        SELECT e.management_code FROM complaint k JOIN enterprise e ON e.id = k.enterprise_id
        WHERE k.number = :n"""), {"n": k.number}).scalar() == "E2"


def test_the_enterprise_named_gives_the_point(session, world):
    k = complaints.receive(session, source="public", service_code="labelling",
                           description="无生产日期", enterprise="E1", zone=ZONE)
    row = stamp(session, k.number)
    assert (row.cell, row.location_source) == ("S1-01", "enterprise")
    by_attribute = complaints.receive(session, source="open311", service_code="labelling",
                                      description="无厂名", attributes={"enterprise": "E2"},
                                      zone=ZONE)
    assert stamp(session, by_attribute.number).cell == "S2-01"
    with pytest.raises(ValidationError) as refused:
        complaints.receive(session, source="public", service_code="quality",
                           description="x", enterprise="NOPE", zone=ZONE)
    assert refused.value.field == "enterprise"


def test_due_from_the_service_s_response_time(session, world):
    k = take(session, MARCH, service_code="special_equipment")
    row = stamp(session, k.number)
    assert row.due_at - row.received_at == dt.timedelta(hours=24) and row.urgent
    k = take(session, MARCH, service_code="labelling")
    row = stamp(session, k.number)
    assert row.due_at - row.received_at == dt.timedelta(hours=120) and not row.urgent


def test_numbers_follow_each_other_and_references_carry_a_check_code(session, world):
    a, b = take(session, MARCH), take(session, MARCH)
    assert a.number.startswith("TS-2026-") and int(b.number[-6:]) == int(a.number[-6:]) + 1
    assert a.reference.startswith(a.number + "-") and len(a.reference) == len(a.number) + 7
    assert complaints.by_reference(session, a.reference)["number"] == a.number
    assert complaints.by_reference(session, a.reference.lower())["number"] == a.number
    assert complaints.by_reference(session, a.number + "-000000") is None
    assert complaints.by_reference(session, b.number) is None


@pytest.mark.parametrize("fields, field, code", [
    ({"service_code": "nope"}, "service_code", "no_such_service"),
    ({"description": "  "}, "description", "required"),
    ({"lon": None, "lat": None}, "lat", "location_required"),
    ({"lat": None}, "lat", "required"),
    ({"lon": "38.45", "lat": "116.045"}, "lon", "swapped"),
    ({"email": "not-an-address"}, "email", "pattern"),
    ({"phone": "call me"}, "phone", "phone_form"),
    ({"media_url": "javascript:alert(1)"}, "media_url", "url_form"),
    ({"attributes": {"colour": "red"}}, "attribute", "unknown_attribute"),
    ({"service_code": "special_equipment", "attributes": {"equipment": "rocket"}},
     "attribute", "attribute_choices"),
    ({"description": "a\x00b"}, "description", "control_character"),
])
def test_what_is_refused_names_its_field(session, world, fields, field, code):
    with pytest.raises(ValidationError) as refused:
        take(session, MARCH, **fields)
    assert (refused.value.field, refused.value.code) == (field, code)


def test_a_complaint_from_the_future_is_refused(session, world):
    with pytest.raises(ValidationError) as refused:
        take(session, dt.datetime.now(UTC) + dt.timedelta(hours=1))
    assert refused.value.field == "received_at"


# --- handling -----------------------------------------------------------------------------------

def test_steps_go_forward_in_order_each_with_who_and_when(session, world):
    k = take(session, MARCH)
    complaints.advance(session, k.number, "assigned", username="c1-inspector", note="已派单")
    complaints.advance(session, k.number, "handled", username="c1-inspector", note="已约谈企业")
    with pytest.raises(complaints.ComplaintRefused) as back:
        complaints.advance(session, k.number, "assigned", username="c1-inspector")
    assert back.value.reason == "backwards"
    with pytest.raises(complaints.ComplaintRefused) as same:
        complaints.advance(session, k.number, "handled", username="c1-inspector")
    assert same.value.reason == "same"
    complaints.advance(session, k.number, "closed", username="s1-manager", note="已回复投诉人")
    with pytest.raises(complaints.ComplaintRefused) as closed:
        complaints.advance(session, k.number, "closed")
    assert closed.value.reason == "closed"
    got = complaints.get(session, k.number)
    assert [s["status"] for s in got["steps"]] == ["received", "assigned", "handled", "closed"]
    assert [s["username"] for s in got["steps"]] == ["tester", "c1-inspector", "c1-inspector",
                                                    "s1-manager"]
    assert got["steps"][2]["note"] == "已约谈企业" and got["status_notes"] == "已回复投诉人"
    assert got["closed_at"] is not None and got["open311_status"] == "closed"
    ats = [s["at"] for s in got["steps"]]
    assert ats == sorted(ats) and ats[0] == MARCH


def test_a_duplicate_is_closed_as_it_arrives(session, world):
    k = take(session, MARCH)
    complaints.advance(session, k.number, "closed", username="s1-manager", note="重复投诉")
    assert [s["status"] for s in complaints.get(session, k.number)["steps"]] == [
        "received", "closed"]


def test_reassignment_to_another_cell_s_owner_with_a_reason(session, world):
    k = take(session, MARCH)
    with pytest.raises(ValidationError) as no_reason:
        complaints.reassign(session, k.number, cell="S1-02", reason=" ", username="s1-manager")
    assert no_reason.value.field == "comment"
    done = complaints.reassign(session, k.number, cell="S1-02", reason="实为邻村企业",
                               username="s1-manager")
    assert done["cell"] == "S1-02" and done["person_id"] == world["RY3"]
    row = stamp(session, k.number)
    assert (row.cell, row.owner, row.assignee, row.status) == ("S1-01", "RY2", "RY3",
                                                              "assigned")
    got = complaints.get(session, k.number)
    assert got["assigned_cell_code"] == "S1-02"
    last = got["steps"][-1]
    assert (last["status"], last["reason"], last["person_code"]) == ("assigned", "实为邻村企业",
                                                                    "RY3")
    assert complaints.target(session, k.number)["path"][-1] == session.execute(text(
        "SELECT id FROM cell WHERE code = 'S1-02'")).scalar()
    with pytest.raises(complaints.ComplaintRefused) as same:
        complaints.reassign(session, k.number, person="RY3", reason="再派", username="x")
    assert same.value.reason == "same_handler"
    # By person: the cell they own.
    back = complaints.reassign(session, k.number, person="RY2", reason="退回", username="x")
    assert back["cell"] == "S1-01"
    complaints.advance(session, k.number, "handled", username="x")
    with pytest.raises(complaints.ComplaintRefused) as late:
        complaints.reassign(session, k.number, cell="S1-02", reason="再派", username="x")
    assert late.value.reason == "not_reassignable"


def test_overdue_is_open_past_its_due_time(session, world):
    now = dt.datetime.now(UTC)
    late = take(session, now - dt.timedelta(hours=80))  # quality: 72 hours
    fresh = take(session, now - dt.timedelta(hours=1))
    closed = take(session, now - dt.timedelta(hours=100))
    complaints.advance(session, closed.number, "closed", username="x")
    total, rows = complaints.search(session, cells=None, overdue=True)
    assert [r["number"] for r in rows] == [late.number] and total == 1
    _total, rows = complaints.search(session, cells=None, order="overdue")
    assert rows[0]["number"] == late.number and rows[0]["overdue"]
    assert {r["number"] for r in rows if not r["overdue"]} >= {fresh.number, closed.number}
    assert complaints.overdue_count(session, cells=None) == 1
    s2 = list(session.execute(text("SELECT id FROM cell WHERE code = 'S2-01'")).scalars())
    assert complaints.overdue_count(session, cells=s2) == 0


# --- the hotline's export ----------------------------------------------------------------------

HOTLINE = [
    {"工单编号": "12365-A1", "受理时间": "2026/3/2 9:15", "诉求内容": "加油机计量不准",
     "诉求类别": "计量问题", "经度": "116.045", "纬度": "38.45", "联系人": "刘先生",
     "联系电话": "13900001111"},
    {"工单编号": "12365-A2", "受理时间": "2026年3月3日 14:00", "诉求内容": "假冒商标",
     "诉求类别": "假冒伪劣", "地址": "", "被投诉企业": "enterprise E2"},
    {"工单编号": "12365-A3", "受理时间": "2026-03-04 08:00", "诉求内容": "其他问题",
     "诉求类别": "价格欺诈", "地址": "某村东头"},
]


def test_the_hotline_export_is_imported_once(session, world):
    summary = complaints.import_hotline(session, HOTLINE, zone=ZONE, username="cli")
    assert (summary.inserted, summary.unchanged) == (3, 0)
    rows = {r.external_id: r for r in summary.complaints}
    a1 = stamp(session, rows["12365-A1"].number)
    assert (a1.cell, a1.owner) == ("S1-01", "RY2")
    assert a1.received_at == dt.datetime(2026, 3, 2, 1, 15, tzinfo=UTC)  # 09:15 in Beijing
    assert stamp(session, rows["12365-A2"].number).cell == "S2-01"  # the enterprise named
    a3 = stamp(session, rows["12365-A3"].number)
    assert (a3.cell, a3.outside_grid, a3.no_point) == ("C", True, True)
    assert any("价格欺诈" in n for n in summary.notes) and any("12365-A3" in n and "city" in n
                                                           for n in summary.notes)
    service = session.execute(text("SELECT service_code, source, last_name, phone FROM complaint "
                                   "WHERE external_id = '12365-A1'")).one()
    assert tuple(service) == ("metrology", "import", "刘先生", "13900001111")
    again = complaints.import_hotline(session, HOTLINE, zone=ZONE, username="cli")
    assert (again.inserted, again.unchanged) == (0, 3)
    assert session.execute(text("SELECT count(*) FROM complaint WHERE source = 'import'")
                           ).scalar() == 3


def test_a_gbk_csv_with_bad_rows_names_every_one_and_writes_nothing(session, world, tmp_path):
    csv = ("工单编号,受理时间,诉求内容,诉求类别,经度,纬度\n"
           "12365-B1,2026-03-02 10:00,电子秤缺斤短两,计量问题,116.02,38.45\n"
           "12365-B2,明天,锅炉冒烟,特种设备安全,116.02,38.45\n"
           "12365-B3,2026-03-02 11:00,,产品质量问题,116.02,38.45\n"
           "12365-B1,2026-03-02 12:00,重复,产品质量问题,116.02,38.45\n")
    path = tmp_path / "hotline.csv"
    path.write_bytes(csv.encode("gbk"))
    with pytest.raises(ImportRefused) as refused:
        complaints.import_hotline(session, path, zone=ZONE)
    where = [(p.row, p.error.field) for p in refused.value.problems]
    assert where == [(3, "received_at"), (4, "description"), (5, "external_id")]
    assert session.execute(text("SELECT count(*) FROM complaint WHERE external_id LIKE "
                                "'12365-B%'")).scalar() == 0
    path.write_bytes("\n".join(csv.splitlines()[:2]).encode("gbk"))
    summary = complaints.import_hotline(session, path, zone=ZONE)
    assert summary.inserted == 1
    assert stamp(session, summary.complaints[0].number).cell == "S1-01"


def test_an_export_without_its_columns_is_refused(session, world):
    with pytest.raises(ImportRefused) as refused:
        complaints.import_hotline(session, [{"编号": "1", "内容": "x"}], zone=ZONE)
    assert refused.value.problems[0].error.code == "missing_columns"


# --- the web: the PATCH of the API, the pages ---------------------------------------------------

def test_the_api_patch_moves_a_complaint_on_through_its_steps(client, session, world):
    login(client, "c1-inspector")
    answer = client.patch("/api/v1/complaints/K1", json={"status": "assigned", "note": "收到"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "assigned"
    again = client.patch("/api/v1/complaints/K1", json={"status": "assigned"})
    assert again.status_code == 200 and again.get_json()["unchanged"] is True
    back = client.patch("/api/v1/complaints/K1", json={"status": "received"})
    assert back.status_code == 409
    steps = session.execute(text("""
        SELECT s.status, s.username, s.note FROM complaint_step s
        JOIN complaint k ON k.id = s.complaint_id WHERE k.number = 'K1' ORDER BY s.id""")).all()
    assert [tuple(s) for s in steps] == [("assigned", "c1-inspector", "收到")]
    assert client.patch("/api/v1/complaints/K1", json={"status": "closed"}).status_code == 200
    closed = session.execute(text("SELECT closed_at FROM complaint WHERE number = 'K1'")).scalar()
    assert closed is not None


@pytest.fixture
def taken(session, world):
    now = dt.datetime.now(UTC)
    late = take(session, now - dt.timedelta(hours=80), phone="13900002222",
                last_name="投诉人甲")
    fresh = take(session, now - dt.timedelta(hours=2), lon="116.15", lat="38.45")
    return late, fresh


def test_the_list_flags_overdue_in_red_and_filters(client, taken):
    late, fresh = taken
    login(client, "s1-manager")
    html = client.get("/complaints").get_data(as_text=True)
    assert late.number in html and fresh.number not in html  # S2 is not theirs
    assert f'data-number="{late.number}" data-overdue="true"' in html
    login(client, "admin")
    html = client.get("/complaints?overdue=true").get_data(as_text=True)
    assert late.number in html and fresh.number not in html
    html = client.get("/complaints?place=S2").get_data(as_text=True)
    assert fresh.number in html and late.number not in html
    html = client.get("/complaints?status=closed").get_data(as_text=True)
    assert late.number not in html


def test_the_page_shows_the_stamp_and_moves_it_on(client, session, taken):
    late, _fresh = taken
    login(client, "c1-inspector")
    html = client.get(f"/complaints/{late.number}").get_data(as_text=True)
    assert "S1-01" in html and "李二" in html and "投诉人甲" in html and "13900002222" in html
    assert 'id="complaint-overdue"' in html
    answer = client.post(f"/complaints/{late.number}/status",
                         data={"status": "handled", "note": "已现场核查"})
    assert answer.status_code == 302
    back = client.post(f"/complaints/{late.number}/status", data={"status": "assigned"})
    assert back.status_code == 409 and "已办理" in back.get_data(as_text=True)
    login(client, "c2-inspector")
    assert client.post(f"/complaints/{late.number}/status",
                       data={"status": "closed"}).status_code == 403
    assert client.get(f"/complaints/{late.number}").status_code == 403


def test_reassigning_on_the_page_needs_a_reason(client, session, taken):
    late, _fresh = taken
    login(client, "s1-manager")
    refused = client.post(f"/complaints/{late.number}/reassign", data={"cell": "S1-02"})
    assert refused.status_code == 400
    done = client.post(f"/complaints/{late.number}/reassign",
                       data={"cell": "S1-02", "comment": "属邻村"})
    assert done.status_code == 302
    assert stamp(session, late.number).assignee == "RY3"
    entry = session.execute(text("""
        SELECT action, detail FROM audit_log ORDER BY id DESC LIMIT 1""")).one()
    assert entry.action == "complaint_reassigned" and entry.detail["cell"] == "S1-02"


def test_the_hotline_file_upload_and_the_cli(client, runner, session, world, tmp_path):
    data = ("工单编号,受理时间,诉求内容,诉求类别,经度,纬度\n"
            "12365-C1,2026-03-02 10:00,电子秤缺斤短两,计量问题,116.02,38.45\n").encode("gbk")
    login(client, "s1-manager")
    assert client.get("/complaints/import").status_code == 403
    login(client, "admin")
    page = client.post("/complaints/import",
                       data={"file": (io.BytesIO(data), "hotline.csv")},
                       content_type="multipart/form-data")
    assert page.status_code == 200 and 'id="import-result"' in page.get_data(as_text=True)
    path = tmp_path / "hotline.csv"
    path.write_bytes(data)
    result = runner.invoke(args=["complaints", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "inserted 0, unchanged 1" in result.output
    actions = [r for r, in session.execute(text(
        "SELECT action FROM audit_log WHERE action = 'complaints_imported'"))]
    assert len(actions) == 2


def test_staff_enter_a_complaint_by_hand(client, session, world):
    login(client, "city-leader")
    answer = client.post("/complaints/new", data={
        "service_code": "quality", "description": "来电反映：电线质量差", "enterprise": "E1",
        "last_name": "王女士", "phone": "13900003333"})
    assert answer.status_code == 302
    number = answer.headers["Location"].rsplit("/", 1)[-1]
    row = stamp(session, number)
    assert row.cell == "S1-01" and session.execute(text(
        "SELECT source FROM complaint WHERE number = :n"), {"n": number}).scalar() == "staff"
    login(client, "s1-manager")
    assert client.post("/complaints/new", data={
        "service_code": "quality", "description": "x", "enterprise": "E1"}).status_code == 403


def test_overdue_complaints_on_the_wall_and_in_my_work(client, session, taken):
    from gis import wall, work

    late, fresh = taken
    window = wall.Window.last(30, dt.date.today())
    figures = wall.map_figures(session, cells=None, window=window, today=dt.date.today())
    assert figures["overdue_complaints"] == 1
    totals, rows = wall.record_rows(session, "overdue_complaints", cells=None, window=window,
                                    today=dt.date.today())
    assert totals["rows"] == 1 and rows[0]["number"] == late.number
    cells = work.field_cells(session, list(session.execute(text(
        "SELECT id FROM cell WHERE code = 'S1-01'")).scalars()))
    data = work.my_work(session, cells, dt.date.today(), ZONE)
    mine = {k["number"]: k for k in data["complaints"]}
    assert mine[late.number]["overdue"] is True and mine[late.number]["due_at"]
    cell = [r for r in wall.cell_rows(session, cells=None, window=window,
                                      today=dt.date.today()) if r["code"] == "S1-01"][0]
    assert cell["overdue_complaints"] == 1
    json.dumps(data)  # the phone keeps it as JSON


# --- the public page ----------------------------------------------------------------------------

def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (30, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def test_the_public_page_takes_a_complaint_with_a_photo(app, client, session, world):
    page = client.get("/public/complaints/new?enterprise=E1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "enterprise E1" in html and "李二" in html
    assert client.get("/public/complaints/new?enterprise=NOPE").status_code == 404
    sent = client.post("/public/complaints/new?enterprise=E1", data={
        "service_code": "quality", "description": "电线一折就断", "phone": "13900004444",
        "name": "赵先生", "photo": (io.BytesIO(_jpeg()), "wire.jpg")},
        content_type="multipart/form-data")
    assert sent.status_code == 201
    html = sent.get_data(as_text=True)
    reference = html.split('id="reference" translate="no">')[1].split("<")[0]
    number = reference.rsplit("-", 1)[0]
    row = session.execute(text("""
        SELECT k.id, k.source, k.phone, k.last_name, c.code, e.management_code
        FROM complaint k JOIN cell c ON c.id = k.cell_id JOIN enterprise e ON e.id = k.enterprise_id
        WHERE k.number = :n"""), {"n": number}).one()
    assert tuple(row)[1:] == ("public", "13900004444", "赵先生", "S1-01", "E1")
    photo = session.execute(text("SELECT id, media_type FROM photo WHERE complaint_id = :k"),
                            {"k": row.id}).one()
    assert photo.media_type == "image/jpeg"
    status = client.get(f"/public/complaints/{reference.lower()}")
    assert status.status_code == 200
    assert "13900004444" not in status.get_data(as_text=True)
    assert client.get(f"/public/complaints/{number}-000000").status_code == 404
    assert client.get(f"/public/complaints/{number}").status_code == 404
    # Staff who read the complaint see the photo; nobody else does.
    assert client.get(f"/complaints/{number}/photos/{photo.id}").status_code == 302
    login(client, "c1-inspector")
    shown = client.get(f"/complaints/{number}/photos/{photo.id}")
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"
    login(client, "c2-inspector")
    assert client.get(f"/complaints/{number}/photos/{photo.id}").status_code == 403
    audit = session.execute(text("SELECT action, username FROM audit_log WHERE target = :t "
                                 "ORDER BY id"), {"t": f"complaint {number}"}).all()
    assert [tuple(a) for a in audit] == [("photo_added", None), ("complaint_received", None)]


def test_the_public_page_refuses_what_is_not_a_photo_and_needs_a_place(client, session, world):
    refused = client.post("/public/complaints/new?enterprise=E1", data={
        "service_code": "quality", "description": "x",
        "photo": (io.BytesIO(b"MZ not a picture"), "x.jpg")}, content_type="multipart/form-data")
    assert refused.status_code == 400 and 'id="public-problem"' in refused.get_data(as_text=True)
    no_place = client.post("/public/complaints/new", data={"service_code": "quality",
                                                           "description": "x"})
    assert no_place.status_code == 400
    assert session.execute(text("SELECT count(*) FROM complaint WHERE source = 'public'")
                           ).scalar() == 0


def test_the_public_page_is_limited_per_client(app, client, session, world):
    app.config.update(PUBLIC_COMPLAINT_BURST=1, PUBLIC_COMPLAINT_PER_HOUR=1)
    form = {"service_code": "quality", "description": "x"}
    assert client.post("/public/complaints/new?enterprise=E1", data=form).status_code == 201
    again = client.post("/public/complaints/new?enterprise=E1", data=form)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 60
    other = client.post("/public/complaints/new?enterprise=E1", data=form,
                        environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 201


def test_the_public_form_needs_its_csrf_token(app, client, session, world):
    app.config["WTF_CSRF_ENABLED"] = True
    form = {"service_code": "quality", "description": "x"}
    assert client.post("/public/complaints/new?enterprise=E1", data=form).status_code == 400
    page = client.get("/public/complaints/new?enterprise=E1").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/public/complaints/new?enterprise=E1",
                       data={**form, "csrf_token": token}).status_code == 201


def test_attributes_read_as_their_definitions_say_them(session, world):
    k = take(session, MARCH, service_code="special_equipment",
             attributes={"equipment": "elevator", "enterprise": "某电梯公司"})
    got = complaints.get(session, k.number)
    assert got["attribute_rows"] == [("被投诉的企业", "某电梯公司"), ("设备种类", "电梯")]
    assert got["management_code"] is None  # words that name no enterprise stay words


def test_the_complaint_pages_say_everything_in_chinese(client, session, taken):
    from tests.test_i18n import english_words

    late, _fresh = taken
    complaints.reassign(session, late.number, cell="S1-02", reason="邻村", username="x")
    login(client, "admin")
    pages = ["/complaints", f"/complaints/{late.number}", "/complaints/new",
             "/complaints/import", "/public/complaints/new?enterprise=E1",
             "/public/complaints/new", f"/public/complaints/{late.reference}",
             "/public/complaints/TS-1999-000001-AAAAAA", "/records/overdue_complaints"]
    for path in pages:
        html = client.get(path + ("&" if "?" in path else "?") + "lang=zh_Hans_CN").get_data(
            as_text=True)
        html = html[html.index("<main>"):]  # the page's own, not the menu
        # Data typed by people (enterprise names "enterprise E1" in the small world) aside.
        words = english_words(html) - {"enterprise", "cell", "WGS", "GPS", "GCJ",
                                       "external_id", "received_at", "description", "category",
                                       "service_code", "lon", "lat", "crs", "address",
                                       "name", "phone", "urgent", "XLSX", "CSV", "TS",
                                       "AAAAAA"}
        assert words == set(), (path, words)
