"""People and their responsibilities (issue 13): the roster imported in Chinese or English,
GBK, XLSX; row errors; a re-import that changes nothing; the export read back; owners assigned
from a date (past dates refused, or an admin with a reason, flagged); a handover that changes
the answers after its date and not before; the cell card and an enterprise's chain naming the
people; who may read and change whom."""
import datetime as dt
import io

import openpyxl
import pytest
from sqlalchemy import text

from gis import people, policy
from gis.errors import ImportRefused
from gis.fieldwork import NotFound
from tests.factories import add_cells, add_enterprises, login, small_world
from tests.test_i18n import english_words

UTC = dt.timezone.utc
JAN = dt.datetime(2026, 1, 1, tzinfo=UTC)
ZONE = "Asia/Shanghai"
NOW = dt.datetime.now(UTC)
GRACE = dt.timedelta(hours=48)
ADMIN = (policy.Grant("admin"),)


@pytest.fixture
def world(session):
    """small_world from 1 January: C > S1 (S1-01, S1-02), S2 (S2-01); E1 in S1-01, E2 in
    S2-01; a township over all of it."""
    small_world(session, valid_from=JAN)
    session.execute(text("""
        INSERT INTO township (code, name, geom)
        VALUES ('130984100000', '测试镇', ST_Multi(ST_MakeEnvelope(116, 38.4, 116.2, 38.5, 4326)))"""))
    return session


def roster_csv(rows, header="人员编号,姓名,单位,职务,电话,用户名,负责网格,起始日期",
               encoding="utf-8") -> bytes:
    return ("\n".join([header] + rows) + "\n").encode(encoding)


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def imported(session, path, **kw):
    kw.setdefault("grants", ADMIN)
    return people.import_roster(session, path, zone=ZONE, grace=GRACE, **kw)


def owner_code(session, cell, at=None):
    return session.execute(text("""
        SELECT p.code FROM cell c CROSS JOIN LATERAL gw_cell_owner(c.id, coalesce(
            CAST(:at AS timestamptz), now())) o JOIN person p ON p.id = o.person_id
        WHERE c.code = :c"""), {"c": cell, "at": at}).scalar()


ROWS = ["RY001,李建国,瀛州路质量监督所,网格责任人,13931712345,s1-leader,S1-01,",
        "RY002,王秀英,瀛州路质量监督所,网格责任人,0317-3601365,,S1-02、S2-01,2026-02-01",
        "RY003,赵立新,测试镇人民政府,镇长,13803170000,,,"]


# --- importing the roster ---------------------------------------------------------------------

def test_a_chinese_roster_adds_people_links_accounts_and_owners(world, tmp_path):
    summary = imported(world, write(tmp_path, "r.csv", roster_csv(ROWS)), reason="建档补录")
    assert (summary.inserted, summary.updated, summary.unchanged, summary.refused) == (3, 0, 0, 0)
    assert (summary.linked, summary.assigned) == (1, 3)
    assert summary.flag == "backdated"  # RY002 owns two cells from 1 February
    assert owner_code(world, "S1-01") == "RY001"
    assert owner_code(world, "S2-01") == "RY002"
    assert owner_code(world, "S2-01", dt.datetime(2026, 1, 31, tzinfo=UTC)) is None
    # 2026-02-01 is midnight in the bureau's zone: 16:00 the day before in UTC.
    assert owner_code(world, "S2-01", dt.datetime(2026, 1, 31, 16, 1, tzinfo=UTC)) == "RY002"
    person = people.get_person(world, "RY001")
    assert person["accounts"] == ["s1-leader"] and person["unit"] == "瀛州路质量监督所"
    assert [d["cell_code"] for d in person["current"]] == ["S1-01"]


def test_english_headers_gbk_and_xlsx_read_the_same(world, tmp_path):
    english = roster_csv([r.replace("S1-02、S2-01,2026-02-01", "S1-02,") for r in ROWS],
                         header="code,name,unit,position,phone,username,cell,from")
    assert imported(world, write(tmp_path, "en.csv", english)).inserted == 3
    # The same people in a GBK file (as Excel saves CSV on Chinese Windows): nothing changes.
    gbk = roster_csv([r.replace("S1-02、S2-01,2026-02-01", "S1-02,") for r in ROWS],
                     encoding="gbk")
    again = imported(world, write(tmp_path, "gbk.csv", gbk))
    assert (again.inserted, again.updated, again.unchanged, again.assigned) == (0, 0, 3, 0)
    sheet = xlsx([["人员编号", "姓名", "电话", "负责网格"],
                  ["RY004", "孙海燕", 13931700001, "S2-01"]])
    summary = imported(world, write(tmp_path, "r.xlsx", sheet))
    assert (summary.inserted, summary.assigned) == (1, 1)
    assert people.get_person(world, "RY004")["phone"] == "13931700001"  # not 1.39e10
    assert owner_code(world, "S2-01") == "RY004"


def test_every_bad_row_is_named_and_nothing_is_written(world, tmp_path):
    bad = roster_csv([
        "RY001,李建国,,,13931712345,,S1-01,",
        "RY 2,王秀英,,,,,,",              # a code with a space
        "RY003,,,,,,,",                   # no name
        "RY001,李四,,,,,,",                # the code again
        "RY005,周刚,,,电话号码,,,",          # a phone without digits
        "RY006,吴敏,,,,nobody,,",           # no such account
        "RY007,郑伟,,,,,NO-SUCH,",           # no such cell
        "RY008,冯军,,,,,S1-01,",             # a cell given in row 2 already
        "RY009,陈静,,,,,,2026-01-01",        # a date without a cell
    ])
    with pytest.raises(ImportRefused) as refused:
        imported(world, write(tmp_path, "bad.csv", bad))
    where = {(p.row, p.error.field, p.error.code) for p in refused.value.problems}
    assert where == {(3, "code", "person_code"), (4, "name", "required"),
                     (5, "code", "repeats_row"), (6, "phone", "phone"),
                     (7, "username", "no_such_user"), (8, "cell", "no_such_cell"),
                     (9, "cell", "cell_repeats_row"), (10, "from", "from_without_cell")}
    assert "row 4" in str(refused.value) and "RY 2" in str(refused.value)
    assert world.execute(text("SELECT count(*) FROM person WHERE code LIKE 'RY%'")).scalar() == 0


def test_skip_invalid_writes_the_good_rows_and_lists_the_rest(world, tmp_path):
    mixed = roster_csv(["RY001,李建国,,,,,S1-01,", "RY002,,,,,,,", "RY003,赵立新,,,,,,"])
    summary = imported(world, write(tmp_path, "m.csv", mixed), skip_invalid=True)
    assert (summary.inserted, summary.refused) == (2, 1)
    assert [str(p) for p in summary.problems] == ["row 3 (RY002): name: required"]


def test_a_missing_required_column_is_refused_by_its_names(world, tmp_path):
    with pytest.raises(ImportRefused) as refused:
        imported(world, write(tmp_path, "h.csv", roster_csv(["李建国"], header="姓名")))
    assert "code/人员编号" in str(refused.value)


def test_reimporting_changes_nothing_and_a_changed_phone_is_one_update(world, tmp_path):
    path = write(tmp_path, "r.csv", roster_csv(ROWS))
    imported(world, path, reason="建档")
    audit_rows = world.execute(text("SELECT count(*) FROM responsibility")).scalar()
    again = imported(world, path, reason="建档")
    assert (again.inserted, again.updated, again.unchanged, again.linked, again.assigned) == \
        (0, 0, 3, 0, 0)
    assert again.flag is None  # nothing dated was written
    assert world.execute(text("SELECT count(*) FROM responsibility")).scalar() == audit_rows
    changed = roster_csv([ROWS[0].replace("13931712345", "13931799999")] + ROWS[1:])
    summary = imported(world, write(tmp_path, "c.csv", changed), reason="建档")
    assert (summary.updated, summary.unchanged) == (1, 2)


def test_a_column_left_out_is_left_alone_and_an_empty_one_clears(world, tmp_path):
    imported(world, write(tmp_path, "r.csv", roster_csv(ROWS)), reason="建档")
    imported(world, write(tmp_path, "n.csv", roster_csv(["RY003,赵立新"], header="code,name")))
    assert people.get_person(world, "RY003")["phone"] == "13803170000"
    imported(world, write(tmp_path, "e.csv", roster_csv(["RY003,赵立新,"],
                                                       header="code,name,phone")))
    assert people.get_person(world, "RY003")["phone"] is None


def test_an_account_of_another_person_is_not_taken(world, tmp_path):
    imported(world, write(tmp_path, "r.csv", roster_csv(ROWS)), reason="建档")
    other = roster_csv(["RY009,钱多多,,,,s1-leader,,"])
    with pytest.raises(ImportRefused) as refused:
        imported(world, write(tmp_path, "o.csv", other))
    assert refused.value.problems[0].error.code == "account_linked"


def test_the_export_reads_back_as_no_change_in_both_formats(world, tmp_path):
    imported(world, write(tmp_path, "r.csv", roster_csv(ROWS)), reason="建档")
    for name in ("roster.xlsx", "roster.csv"):
        data, n = people.export_roster(world, tmp_path / name, ZONE)
        assert n >= 3 and (tmp_path / name).read_bytes() == data
        summary = imported(world, tmp_path / name)
        assert (summary.inserted, summary.updated, summary.assigned, summary.linked) == \
            (0, 0, 0, 0), name
    text_ = (tmp_path / "roster.csv").read_bytes().decode("utf-8-sig")
    assert text_.splitlines()[0].startswith("人员编号,姓名,单位,职务,电话")
    assert "RY002,王秀英,瀛州路质量监督所,网格责任人,0317-3601365,,,S1-02、S2-01,2026-02-01" in text_
    english, _n = people.export_roster(world, "csv", ZONE, chinese=False)
    assert english.decode("utf-8-sig").startswith("code,name,unit,position,phone")


# --- owners from a date ------------------------------------------------------------------------

def test_an_owner_from_a_date_closes_the_one_before_and_keeps_it(world):
    a = people.create_person(world, {"code": "A1", "name": "甲"})["id"]
    b = people.create_person(world, {"code": "B1", "name": "乙"})["id"]
    tgt = people.target(world, "owner", "S1-01")
    assert people.assign(world, tgt, a, JAN)
    assert not people.assign(world, tgt, a, JAN + dt.timedelta(days=3))  # already theirs
    june = dt.datetime(2026, 6, 1, tzinfo=UTC)
    assert people.assign(world, tgt, b, june, comment="调整")
    rows = world.execute(text("""
        SELECT p.code, r.valid_from, r.valid_to, r.comment FROM responsibility r
        JOIN person p ON p.id = r.person_id ORDER BY r.valid_from""")).all()
    assert [(r.code, r.valid_from, r.valid_to) for r in rows] == [("A1", JAN, june),
                                                                  ("B1", june, None)]
    # History is closed, never rewritten, whatever writes to the table.
    with pytest.raises(Exception, match="is history"):
        with world.begin_nested():
            world.execute(text("UPDATE responsibility SET person_id = :b"), {"b": b})


def test_every_kind_of_responsibility_is_assigned_by_its_code(world):
    pid = people.create_person(world, {"code": "X1", "name": "多面手"})["id"]
    for role, code in (("owner", "S1-01"), ("station_chief", "S1"),
                       ("township_leader", "130984100000"), ("principal", "E1")):
        assert people.assign(world, people.target(world, role, code), pid, JAN)
    kinds = world.execute(text("""
        SELECT role, kind FROM responsibility WHERE person_id = :p ORDER BY role"""),
        {"p": pid}).all()
    assert [tuple(k) for k in kinds] == [("owner", "department"), ("principal", "enterprise"),
                                         ("station_chief", "department"),
                                         ("township_leader", "government")]
    with pytest.raises(Exception) as chief:
        people.target(world, "station_chief", "S1-01")
    assert chief.value.code == "chief_grid"
    with pytest.raises(NotFound):
        people.target(world, "principal", "E404")


def test_one_who_left_is_not_given_anything_after(world):
    pid = people.create_person(world, {"code": "L1", "name": "离岗者",
                                       "active_to": dt.date(2026, 3, 1)})["id"]
    tgt = people.target(world, "owner", "S1-01")
    with pytest.raises(Exception) as left:
        people.assign(world, tgt, pid, dt.datetime(2026, 4, 1, tzinfo=UTC), zone=ZONE)
    assert left.value.code == "person_left"
    assert people.assign(world, tgt, pid, dt.datetime(2026, 2, 1, tzinfo=UTC), zone=ZONE)


def test_past_dated_owners_need_an_admin_with_a_reason(world):
    tgt = people.target(world, "owner", "S1-02")
    manager = (policy.Grant("grid_manager", people.target(world, "owner", "S1").path, "S1"),)
    last_year = NOW - dt.timedelta(days=300)
    yesterday = NOW - dt.timedelta(hours=20)
    assert people.authorize_dated(manager, tgt, None, NOW, GRACE, None) == policy.Dated(True)
    assert people.authorize_dated(manager, tgt, yesterday, NOW, GRACE, None) == \
        policy.Dated(True, "backdated")
    assert not people.authorize_dated(manager, tgt, last_year, NOW, GRACE, "因为").allowed
    refused = people.authorize_dated(ADMIN, tgt, last_year, NOW, GRACE, None)
    assert not refused.allowed and refused.needs_reason
    assert people.authorize_dated(ADMIN, tgt, last_year, NOW, GRACE, "补录").flag == "backdated"


# --- handover ----------------------------------------------------------------------------------

@pytest.fixture
def handed(world, client):
    """RY001 owns S1-01 (E1 is there) and is E1's principal; handed to RY002 on 1 June."""
    a = people.create_person(world, {"code": "RY001", "name": "李建国", "phone": "13900000001"})
    people.create_person(world, {"code": "RY002", "name": "王秀英", "phone": "13900000002"})
    people.assign(world, people.target(world, "owner", "S1-01"), a["id"], JAN)
    people.assign(world, people.target(world, "principal", "E1"), a["id"], JAN)
    june = dt.datetime(2026, 6, 1, tzinfo=UTC)
    plan = people.plan_handover(world, a["id"], people.person_id(world, "RY002"), june)
    return people.hand_over(world, plan, "调往二所", username="admin", zone=ZONE)


def test_a_handover_moves_everything_and_lists_the_plates(handed, world):
    assert sorted((m["role"], m["code"]) for m in handed["moved"]) == [("owner", "S1-01"),
                                                                      ("principal", "E1")]
    assert [(p["management_code"], p["roles"]) for p in handed["plates"]] == \
        [("E1", ["owner", "principal"])]
    stored = people.get_handover(world, handed["id"])
    assert stored["comment"] == "调往二所" and stored["summary"]["plates"][0]["cell_code"] == "S1-01"
    old = people.get_person(world, "RY001")
    assert old["current"] == [] and {d["role"] for d in old["past"]} == {"owner", "principal"}
    new = people.get_person(world, "RY002")
    assert {d["handover_id"] for d in new["current"]} == {handed["id"]}


def test_after_a_handover_the_answers_change_from_its_date_and_not_before(handed, client,
                                                                          world):
    login(client, "s1-leader")
    before = client.get("/api/v1/lookup?lon=116.02&lat=38.45&at=2026-05-31").get_json()
    after = client.get("/api/v1/lookup?lon=116.02&lat=38.45&at=2026-06-02").get_json()
    assert (before["owner"]["code"], before["owner"]["name"]) == ("RY001", "李建国")
    assert (after["owner"]["code"], after["owner"]["name"]) == ("RY002", "王秀英")
    assert after["owner"]["phone"] == "13900000002"
    chain = {d: client.get(f"/api/v1/enterprises/E1/responsible?at={d}").get_json()
             for d in ("2026-05-31", "2026-06-02")}
    for day, code in (("2026-05-31", "RY001"), ("2026-06-02", "RY002")):
        answer = chain[day]["responsibilities"]
        assert answer["department"][0]["code"] == code, day
        assert answer["enterprise"][0]["code"] == code, day


def test_a_handover_of_nothing_or_to_oneself_is_refused(world):
    a = people.create_person(world, {"code": "RY001", "name": "李建国"})["id"]
    b = people.create_person(world, {"code": "RY002", "name": "王秀英"})["id"]
    with pytest.raises(Exception) as same:
        people.plan_handover(world, a, a, NOW)
    assert same.value.code == "same_person"
    with pytest.raises(Exception) as nothing:
        people.hand_over(world, people.plan_handover(world, a, b, NOW), "调岗")
    assert nothing.value.code == "nothing_to_hand_over"


def test_a_handover_through_the_page_and_the_api(world, client):
    a = people.create_person(world, {"code": "RY001", "name": "李建国"})["id"]
    people.create_person(world, {"code": "RY002", "name": "王秀英"})
    people.assign(world, people.target(world, "owner", "S1-02"), a, JAN)
    login(client, "s1-manager")
    refused = client.post("/people/RY001/handover", data={"successor": "RY404",
                                                         "comment": "调岗"})
    assert refused.status_code == 400 and "RY404" in refused.get_data(as_text=True)
    done = client.post("/people/RY001/handover", data={"successor": "RY002", "comment": "调岗"})
    assert done.status_code == 302 and "/people/handovers/" in done.location
    page = client.get(done.location).get_data(as_text=True)
    assert "王秀英" in page and "S1-02" in page
    assert owner_code(world, "S1-02") == "RY002"
    back = client.post("/api/v1/people/RY002/handover",
                       json={"successor": "RY001", "comment": "回岗",
                             "valid_from": (NOW + dt.timedelta(days=1)).isoformat()})
    assert back.status_code == 201 and back.get_json()["moved"][0]["code"] == "S1-02"
    flag = world.execute(text("SELECT flag FROM audit_log WHERE action = 'handover' "
                              "ORDER BY id DESC LIMIT 1")).scalar()
    assert flag is None


# --- the API -----------------------------------------------------------------------------------

def test_people_api_finds_adds_and_shows_with_current_and_past(world, client):
    login(client, "admin")
    made = client.post("/api/v1/people", json={"code": "RY010", "name": "刘海涛",
                                               "unit": "瀛州路质量监督所",
                                               "phone": "１３９３１７１２３４５"})
    assert made.status_code == 201
    assert made.get_json()["phone"] == "13931712345"  # full-width digits folded
    again = client.post("/api/v1/people", json={"code": "RY010", "name": "重名"})
    assert again.status_code == 400 and again.get_json()["error"]["field"] == "code"
    found = client.get("/api/v1/people?q=海涛").get_json()
    assert [p["code"] for p in found["people"]] == ["RY010"]
    put = client.put("/api/v1/cells/S1-01/owner", json={"person": "RY010"})
    assert put.status_code == 200 and put.get_json()["person"] == "RY010"
    client.put("/api/v1/cells/S1-01/owner", json={
        "person_id": world.execute(text("SELECT min(id) FROM person")).scalar(),
        "valid_from": (NOW + dt.timedelta(days=1)).isoformat()})
    shown = client.get("/api/v1/people/RY010").get_json()
    assert [(d["role"], d["cell"]) for d in shown["current"]] == [("owner", "S1-01")]
    assert shown["current"][0]["valid_to"] is not None  # the next owner is scheduled
    assert client.get("/api/v1/people/NOPE").status_code == 404
    both = client.put("/api/v1/cells/S1-01/owner", json={"person": "RY010", "person_id": 1})
    assert both.status_code == 400


def test_the_owner_api_takes_a_reason_for_a_past_date_and_flags_it(world, client):
    login(client, "admin")
    people.create_person(world, {"code": "RY010", "name": "刘海涛"})
    body = {"person": "RY010", "valid_from": "2026-03-01"}
    assert client.put("/api/v1/cells/S1-01/owner", json=body).status_code == 400
    done = client.put("/api/v1/cells/S1-01/owner", json={**body, "reason": "责任书补录"})
    assert done.status_code == 200
    entry = world.execute(text("""
        SELECT flag, detail FROM audit_log WHERE action = 'cell_owner_set'""")).one()
    assert entry.flag == "backdated" and entry.detail["backdate_reason"] == "责任书补录"
    assert entry.detail["person"] == "RY010"


def test_a_manager_may_not_date_an_owner_far_back(world, client):
    people.create_person(world, {"code": "RY010", "name": "刘海涛"})
    login(client, "s1-manager")
    far = client.put("/api/v1/cells/S1-01/owner",
                     json={"person": "RY010", "valid_from": "2026-03-01", "reason": "想改"})
    assert far.status_code == 403
    page = client.post("/cells/S1-01/owner?lang=zh_Hans_CN",
                       data={"person": "RY010", "valid_from": "2026-03-01"})
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert 'id="owner-problem"' in html and "48" in html and 'value="RY010"' in html
    on_person = client.post("/people/RY010/responsibilities?lang=zh_Hans_CN", data={
        "role": "owner", "target": "S1-01", "valid_from": "2026-03-01"})
    assert on_person.status_code == 403 and 'id="assign-problem"' in on_person.get_data(
        as_text=True)
    assert client.post("/cells/S2-01/owner", data={"person": "RY010"}).status_code == 403


# --- who may read and change whom --------------------------------------------------------------

def test_principals_outside_ones_area_are_hidden_staff_are_not(world, client):
    staff = people.create_person(world, {"code": "RY001", "name": "李建国"})["id"]
    boss = people.create_person(world, {"code": "QY-E2", "name": "厂长乙"})["id"]
    people.assign(world, people.target(world, "owner", "S2-01"), staff, JAN)
    people.assign(world, people.target(world, "principal", "E2"), boss, JAN)
    login(client, "s1-leader")
    assert client.get("/people/RY001").status_code == 200
    assert client.get("/people/QY-E2").status_code == 404
    assert client.get("/api/v1/people/QY-E2").status_code == 404
    listed = client.get("/api/v1/people?side=all&q=厂长").get_json()["people"]
    assert listed == []
    client.post("/logout")
    login(client, "s2-manager")
    assert client.get("/api/v1/people/QY-E2").get_json()["current"][0]["enterprise"] == "E2"


def test_a_manager_edits_people_of_their_grid_only(world):
    mine = people.create_person(world, {"code": "M1", "name": "甲"})["id"]
    theirs = people.create_person(world, {"code": "T1", "name": "乙"})["id"]
    people.assign(world, people.target(world, "owner", "S1-01"), mine, JAN)
    people.assign(world, people.target(world, "owner", "S2-01"), theirs, JAN)
    s1 = (policy.Grant("grid_manager", people.target(world, "owner", "S1").path, "S1"),)
    assert policy.can_edit_person(s1, people.responsibility_places(world, mine))
    assert not policy.can_edit_person(s1, people.responsibility_places(world, theirs))
    assert policy.can_edit_person(s1, [])  # someone just added
    leader = (policy.Grant("leader", people.target(world, "owner", "C").path, "C"),)
    assert not policy.can_edit_person(leader, [])
    assert policy.can_edit_person(ADMIN, people.responsibility_places(world, theirs))


# --- accounts and gaps -------------------------------------------------------------------------

def test_accounts_link_once_and_the_gaps_say_what_is_missing(world):
    pid = people.create_person(world, {"code": "RY001", "name": "李建国"})["id"]
    people.create_person(world, {"code": "RY002", "name": "王秀英"})
    people.assign(world, people.target(world, "owner", "S1-01"), pid, JAN)
    assert people.link_account(world, "s1-manager", "RY001")
    assert not people.link_account(world, "s1-manager", "RY001")
    with pytest.raises(Exception) as taken:
        people.link_account(world, "s1-manager", "RY002")
    assert taken.value.code == "account_linked"
    gaps = people.gaps(world)
    assert [c["code"] for c in gaps["cells_without_owner"]] == ["S1-02", "S2-01"]
    assert [p["code"] for p in gaps["people_without_responsibility"]][-1] == "RY002"
    accounts = {u["username"] for u in gaps["accounts_without_person"]}
    assert "s1-manager" not in accounts and "admin" in accounts
    counts = people.gap_counts(world)
    assert counts["cells_without_owner"] == 2
    assert counts["accounts_without_person"] == len(accounts)
    in_s1 = people.gap_counts(world, policy.visible_cells(
        world, (policy.Grant("leader", people.target(world, "owner", "S1").path, "S1"),)))
    assert in_s1["cells_without_owner"] == 1


def test_the_overview_and_the_users_page_show_the_gaps(world, client):
    login(client, "admin")
    overview = client.get("/?lang=zh_Hans_CN").get_data(as_text=True)
    assert 'id="roster-figures"' in overview and "无本网格责任人" in overview
    users = client.get("/admin/users?lang=zh_Hans_CN").get_data(as_text=True)
    assert 'id="roster-gaps"' in users and "未关联人员" in users


# --- the card and the pages --------------------------------------------------------------------

def test_the_cell_card_names_the_owner_and_offers_the_manager_to_assign(world, client):
    pid = people.create_person(world, {"code": "RY001", "name": "李建国",
                                       "phone": "13900000001"})["id"]
    people.assign(world, people.target(world, "owner", "S1-01"), pid, JAN)
    login(client, "s1-manager")
    card = client.get("/cells/S1-01/card").get_data(as_text=True)
    assert "李建国" in card and "/people/RY001" in card and "/cells/S1-01/owner" in card
    client.post("/logout")
    login(client, "s1-leader")
    card = client.get("/cells/S1-01/card").get_data(as_text=True)
    assert "/people/RY001" in card and "/cells/S1-01/owner" not in card


def test_the_grid_owners_page_lists_each_cell_with_who_answers(world, client):
    pid = people.create_person(world, {"code": "RY001", "name": "李建国"})["id"]
    people.assign(world, people.target(world, "owner", "S1"), pid, JAN)
    login(client, "s1-manager")
    page = client.get("/cells/S1/owners").get_data(as_text=True)
    assert page.count("李建国") == 3  # the grid's own, and the two cells falling to it
    assert "/cells/S1-01/owner" in page


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_the_people_pages_speak_the_readers_language(world, client, lang):
    a = people.create_person(world, {"code": "RY001", "name": "李建国"})["id"]
    people.create_person(world, {"code": "RY002", "name": "王秀英"})
    people.assign(world, people.target(world, "owner", "S1-01"), a, JAN)
    plan = people.plan_handover(world, a, people.person_id(world, "RY002"), NOW)
    handover = people.hand_over(world, plan, "调岗")["id"]
    login(client, "admin")
    for path in ("/people", "/people/RY001", "/people/RY002", "/people/new",
                 "/people/RY002/edit", "/people/RY002/handover", "/people/import",
                 "/people/gaps", f"/people/handovers/{handover}", "/cells/S1-01/owner",
                 "/cells/S1/owners", "/people?gap=no_responsibility"):
        response = client.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
        assert response.status_code == 200, path
        if lang == "zh_Hans_CN":
            assert english_words(response.get_data(as_text=True)) == set(), path


def test_a_refused_form_says_why_and_keeps_what_was_typed(world, client):
    login(client, "admin")
    page = client.post("/people?lang=zh_Hans_CN", data={"code": "RY 1", "name": "<b>李</b>",
                                                        "phone": "abc"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and "人员编号" in html and "RY 1" in html
    assert "<b>李</b>" not in html and "&lt;b&gt;李&lt;/b&gt;" in html
    people.create_person(world, {"code": "RY001", "name": "李建国"})
    wrong = client.post("/people/RY001/responsibilities?lang=zh_Hans_CN",
                        data={"role": "station_chief", "target": "S1-01"})
    assert wrong.status_code == 400 and "二级综合网格" in wrong.get_data(as_text=True)


def test_the_roster_page_imports_a_file_and_exports_it(world, client):
    login(client, "admin")
    upload = {"file": (io.BytesIO(roster_csv(ROWS[:1], encoding="gbk")), "名册.csv")}
    page = client.post("/people/import?lang=zh_Hans_CN", data=upload,
                       content_type="multipart/form-data")
    assert page.status_code == 200 and "新增人员：1" in page.get_data(as_text=True)
    bad = {"file": (io.BytesIO(roster_csv(["RY002,,,,,,,"])), "bad.csv")}
    refused = client.post("/people/import?lang=zh_Hans_CN", data=bad,
                          content_type="multipart/form-data")
    assert refused.status_code == 400
    assert "第 2 行：名称：必填" in refused.get_data(as_text=True)
    exported = client.get("/people/export?format=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(exported.data))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:2] == ("人员编号", "姓名") and ("RY001", "李建国") in [r[:2] for r in rows]


# --- from an empty city: the "done when" -------------------------------------------------

def test_from_boundaries_alone_to_answers_that_name_the_roster(session, client, tmp_path):
    """Only boundaries and enterprises are there; an admin imports the roster, links an
    account, assigns an owner on the cell's page; the lookup, the cell card and the
    enterprise's chain name them."""
    import shapely

    from gis.users import create_user

    add_cells(session, ("C", 1, shapely.box(116.0, 38.4, 116.2, 38.5), None),
              ("S1", 2, shapely.box(116.0, 38.4, 116.2, 38.5), "C"),
              ("S1-01", 3, shapely.box(116.0, 38.4, 116.1, 38.5), "S1"),
              ("S1-02", 3, shapely.box(116.1, 38.4, 116.2, 38.5), "S1"), valid_from=JAN)
    add_enterprises(session, ("E1", 116.05, 38.45), ("E2", 116.15, 38.45), valid_from=JAN)
    create_user(session, "admin", "secret-pass-1", role="admin")
    create_user(session, "zhang", "secret-pass-1", role="inspector", place="S1-01")
    login(client, "admin")
    roster = roster_csv(["RY001,张伟,瀛州路质量监督所,网格责任人,13931700001,zhang,S1-01,",
                         "RY002,刘芳,瀛州路质量监督所,网格责任人,13931700002,,,",
                         "RY000,陈所长,瀛州路质量监督所,所长,0317-3601365,,S1,"], encoding="gbk")
    page = client.post("/people/import", data={"file": (io.BytesIO(roster), "名册.csv")},
                       content_type="multipart/form-data")
    assert page.status_code == 200, page.get_data(as_text=True)
    assert client.post("/cells/S1-02/owner", data={"person": "RY002"}).status_code == 302
    assert client.post("/people/RY000/responsibilities",
                       data={"role": "station_chief", "target": "S1"}).status_code == 302
    lookup = client.get("/api/v1/lookup?lon=116.05&lat=38.45").get_json()
    assert lookup["owner"] == {"role": "owner", "responsibility": "department", "code": "RY001",
                               "name": "张伟", "phone": "13931700001",
                               "unit": "瀛州路质量监督所", "cell_code": "S1-01",
                               "inherited": False}
    chief = [p for p in lookup["responsibilities"]["department"] if p["role"] == "station_chief"]
    assert chief[0]["code"] == "RY000"
    card = client.get("/cells/S1-02/card").get_data(as_text=True)
    assert "刘芳" in card and "/people/RY002" in card
    chain = client.get("/api/v1/enterprises/E2/responsible").get_json()
    assert chain["responsibilities"]["department"][0]["name"] == "刘芳"
    me = session.execute(text("""
        SELECT p.code FROM app_user u JOIN person p ON p.id = u.person_id
        WHERE u.username = 'zhang'""")).scalar()
    assert me == "RY001"
    assert people.gap_counts(session)["cells_without_owner"] == 0


def test_which_account_is_which_person_only_admins_see(world, client):
    people.create_person(world, {"code": "RY001", "name": "李建国"})
    people.link_account(world, "s2-manager", "RY001")
    login(client, "s1-leader")
    assert client.get("/api/v1/people/RY001").get_json()["accounts"] == []
    assert client.get("/api/v1/people?q=s2-manager").get_json()["people"] == []
    assert "s2-manager" not in client.get("/people/RY001").get_data(as_text=True)
    client.post("/logout")
    login(client, "admin")
    assert client.get("/api/v1/people/RY001").get_json()["accounts"] == ["s2-manager"]
    found = client.get("/api/v1/people?q=s2-manager").get_json()["people"]
    assert [(p["code"], p["usernames"]) for p in found] == [("RY001", ["s2-manager"])]


def test_the_users_page_creates_an_account_that_is_a_person_and_links_others(world, client):
    people.create_person(world, {"code": "RY001", "name": "李建国"})
    people.create_person(world, {"code": "RY002", "name": "王秀英"})
    login(client, "admin")
    made = client.post("/admin/users", data={"username": "lijg", "password": "long-pass-1",
                                             "role": "inspector", "place": "S1-01",
                                             "person": "RY001"})
    assert made.status_code == 302
    assert people.account_person(world, world.execute(text(
        "SELECT id FROM app_user WHERE username = 'lijg'")).scalar())["code"] == "RY001"
    refused = client.post("/admin/users?lang=zh_Hans_CN", data={
        "username": "nobody", "password": "long-pass-1", "role": "leader", "place": "S1",
        "person": "RY404"})
    assert refused.status_code == 400 and "没有人员编号为 RY404 的人员" in refused.get_data(
        as_text=True)
    page = client.get("/admin/users?lang=zh_Hans_CN").get_data(as_text=True)
    assert 'data-action-suffix="/accounts"' in page and "李建国" in page
    linked = client.post("/people/RY002/accounts", data={"username": "s2-manager"})
    assert linked.status_code == 302
    assert people.get_person(world, "RY002")["accounts"] == ["s2-manager"]


def test_the_roster_export_keeps_formulas_as_text_and_imports_back(world, tmp_path):
    """A name typed as "=HYPERLINK(...)" must not run in Excel; the export writes it with a
    leading apostrophe, and reading the file back gives the name as typed."""
    from gis import tables

    world.execute(text(
        "UPDATE person SET name = '=1+1' WHERE code = (SELECT min(code) FROM person)"))
    data, _n = people.export_roster(world, tmp_path / "roster.csv", ZONE)
    assert "'=1+1" in data.decode("utf-8-sig")
    frame = tables.read_table(tmp_path / "roster.csv")
    assert "=1+1" in set(frame.iloc[:, 1]) | set(frame.iloc[:, 0])
