"""Enforcement cases (gis/cases.py): opened from a rectification, a failed batch, a complaint or
nothing, numbered AJ-<year>-NNNN; open → investigating → decided → closed one step at a time,
the decision and the ending in words; every step kept and audited; grid managers at or above
the enterprise's cell and admins handle them; the wall counts them."""
import datetime as dt

import pytest
from sqlalchemy import text

from gis import cases, dates, testing
from gis.fieldwork import NotFound
from gis.rectification import open_rectification
from gis.validation import ValidationError
from gis.wall import Window, map_figures
from tests.factories import login, small_world

TODAY = dates.today("Asia/Shanghai")
DAY = TODAY - dt.timedelta(days=10)


@pytest.fixture
def world(session):
    """small_world, a failed and a passed batch at E1, a problem found at E2 (its
    rectification) and complaint K1 (no enterprise)."""
    person = small_world(session, valid_from=dt.datetime.now(dt.timezone.utc)
                         - dt.timedelta(days=400))
    batch = {"management_code": "E1", "product": "塑料管材", "sampled_on": DAY,
             "kind": "spot_check", "level": "city"}
    failed = testing.record_batch(session, {**batch, "report_number": "BG-1", "result": "不合格",
                                            "failed_items": "静液压强度"}, today=TODAY)
    passed = testing.record_batch(session, {**batch, "report_number": "BG-2", "result": "合格"},
                                  today=TODAY)
    e2 = session.execute(text("SELECT id FROM enterprise WHERE management_code = 'E2'")).scalar()
    inspection = session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspector_id, inspected_on, results,
                                problems_found, problems, rectification_status,
                                rectification_deadline)
        VALUES (:e, :p, :d, '{"Q01": "fail"}', 1, '无出厂检验记录', 'open', :d + 30)
        RETURNING id"""), {"e": e2, "p": person, "d": DAY}).scalar()
    rectification = open_rectification(session, enterprise_id=e2, inspection_id=inspection,
                                       problem="无出厂检验记录", deadline=DAY + dt.timedelta(30))
    session.ids = {"failed": failed.id, "passed": passed.id, "rectification": rectification}
    return session


def steps(session, number):
    return [tuple(r) for r in session.execute(text("""
        SELECT s.status, s.note, s.result FROM case_step s
        JOIN enforcement_case k ON k.id = s.case_id WHERE k.number = :n ORDER BY s.id"""),
        {"n": number})]


def test_a_case_opens_from_each_source_and_is_numbered_in_its_year(world):
    ids = world.ids
    a = cases.open_case(world, source="spot_check", ref=ids["failed"], today=TODAY,
                        cause="抽检不合格", username="s1-manager")
    b = cases.open_case(world, source="rectification", ref=ids["rectification"], today=TODAY,
                        cause="逾期未整改")
    c = cases.open_case(world, source="complaint", ref="K1", enterprise="E1", today=TODAY,
                        cause="投诉属实")
    d = cases.open_case(world, enterprise="E2", today=TODAY, cause="上级交办",
                        opened_on=dt.date(2025, 6, 1))
    year = TODAY.year
    assert [x["number"] for x in (a, b, c, d)] == [
        f"AJ-{year}-0001", f"AJ-{year}-0002", f"AJ-{year}-0003", "AJ-2025-0001"]
    assert [x["management_code"] for x in (a, b, c, d)] == ["E1", "E2", "E1", "E2"]
    rows = world.execute(text("""
        SELECT number, status, opened_on, spot_check_id, rectification_id,
               (complaint_id IS NOT NULL) AS from_complaint, username
        FROM enforcement_case ORDER BY id""")).all()
    assert [(r.spot_check_id, r.rectification_id, r.from_complaint) for r in rows] == [
        (ids["failed"], None, False), (None, ids["rectification"], False), (None, None, True),
        (None, None, False)]
    assert rows[0].status == "open" and rows[0].opened_on == TODAY
    assert rows[0].username == "s1-manager"
    assert steps(world, a["number"]) == [("open", "抽检不合格", None)]
    assert cases.get_case(world, a["number"])["report_number"] == "BG-1"


def test_what_a_case_may_be_opened_from(world):
    ids = world.ids
    cases.open_case(world, source="spot_check", ref=ids["failed"], today=TODAY, cause="x")
    refusals = (
        ({"source": "spot_check", "ref": ids["failed"]}, "spot_check", "case_exists"),
        ({"source": "spot_check", "ref": ids["passed"]}, "spot_check", "batch_passed"),
        ({"source": "rectification", "ref": ids["rectification"], "enterprise": "E1"},
         "enterprise", "source_enterprise"),
        ({"source": "complaint", "ref": "K1"}, "enterprise", "required"),
        ({"enterprise": "E9"}, "enterprise", "no_such_target"),
        ({"enterprise": "E1", "number": "AJ-2026 1"}, "number", "case_number"),
        ({"enterprise": "E1", "opened_on": TODAY + dt.timedelta(days=1)}, "opened_on",
         "after_today"),
        ({"enterprise": "E1", "cause": " "}, "cause", "required"))
    for given, field, code in refusals:
        with pytest.raises(ValidationError) as exc:
            cases.open_case(world, today=TODAY, **{"cause": "原因", **given})
        assert (exc.value.field, exc.value.code) == (field, code), given
    with pytest.raises(NotFound):
        cases.open_case(world, source="complaint", ref="K404", enterprise="E1", today=TODAY,
                        cause="x")
    given = cases.open_case(world, enterprise="E1", number="冀河市监罚〔2026〕12号",
                            today=TODAY, cause="x")
    assert given["number"] == "冀河市监罚〔2026〕12号"
    with pytest.raises(ValidationError) as exc:
        cases.open_case(world, enterprise="E2", number="冀河市监罚〔2026〕12号", today=TODAY,
                        cause="x")
    assert exc.value.code == "case_number_exists"


def test_steps_go_in_order_and_deciding_and_closing_need_the_result(world):
    number = cases.open_case(world, enterprise="E1", today=TODAY, cause="无证生产",
                             opened_on=DAY)["number"]
    with pytest.raises(cases.CaseRefused) as exc:
        cases.advance(world, number, "decided", result="罚款", today=TODAY)
    assert (exc.value.reason, exc.value.status, exc.value.next) == (
        "not_next", "open", "investigating")
    with pytest.raises(cases.CaseRefused):
        cases.advance(world, number, "open", today=TODAY)
    cases.advance(world, number, "investigating", "现场检查", today=TODAY, username="admin")
    with pytest.raises(ValidationError) as exc:
        cases.advance(world, number, "decided", "无结果", today=TODAY)
    assert (exc.value.field, exc.value.code) == ("result", "required")
    cases.advance(world, number, "decided", result="罚款 2 万元", today=TODAY)
    with pytest.raises(ValidationError) as exc:
        cases.advance(world, number, "closed", today=TODAY)
    assert exc.value.field == "result"
    with pytest.raises(ValidationError) as exc:
        cases.advance(world, number, "closed", result="已缴纳", today=TODAY,
                      closed_on=DAY - dt.timedelta(days=1))
    assert (exc.value.field, exc.value.code) == ("closed_on", "before")
    done = cases.advance(world, number, "closed", result="罚款已缴纳，结案", today=TODAY)
    assert done["closed_on"] == TODAY
    with pytest.raises(cases.CaseRefused) as exc:
        cases.advance(world, number, "closed", result="again", today=TODAY)
    assert exc.value.reason == "closed"
    case = cases.get_case(world, number)
    assert (case["status"], case["closed_on"], case["result"], case["next"]) == (
        "closed", TODAY, "罚款已缴纳，结案", None)
    assert steps(world, number) == [("open", "无证生产", None), ("investigating", "现场检查", None),
                                    ("decided", None, "罚款 2 万元"),
                                    ("closed", None, "罚款已缴纳，结案")]


def test_the_list_filters_by_year_status_source_and_place(world):
    cases.open_case(world, source="spot_check", ref=world.ids["failed"], today=TODAY, cause="a")
    cases.open_case(world, enterprise="E2", today=TODAY, cause="b", opened_on=dt.date(2025, 5, 1))
    total, rows = cases.search(world, cells=None)
    assert total == 2 and rows[0]["source"] == "spot_check"
    assert cases.search(world, cells=None, year=2025)[1][0]["management_code"] == "E2"
    assert cases.search(world, cells=None, source="none")[0] == 1
    assert cases.search(world, cells=None, status="closed")[0] == 0
    assert cases.search(world, cells=None, query="E2")[0] == 1
    s2 = list(world.execute(text("SELECT id FROM cell WHERE code LIKE 'S2%'")).scalars())
    assert [r["management_code"] for r in cases.search(world, cells=s2)[1]] == ["E2"]
    assert TODAY.year in cases.years(world) and 2025 in cases.years(world)


def test_the_wall_counts_cases_and_their_change_on_the_year_before(world):
    cases.open_case(world, enterprise="E1", today=TODAY, cause="a")
    cases.open_case(world, enterprise="E2", today=TODAY, cause="b", opened_on=DAY)
    cases.open_case(world, enterprise="E2", today=TODAY, cause="c",
                    opened_on=TODAY - dt.timedelta(days=400))
    figures = map_figures(world, cells=None, window=Window.last(365, TODAY, "Asia/Shanghai"),
                          today=TODAY)
    assert (figures["cases"], figures["cases_before"], figures["cases_change"]) == (2, 1, 1.0)


def test_pages_and_api_open_and_move_a_case_with_the_audit_log(client, world):
    login(client, "s1-manager")
    form = client.get(f"/cases/new?spot_check={world.ids['failed']}&lang=zh_Hans_CN")
    page = form.get_data(as_text=True)
    assert form.status_code == 200 and "静液压强度" in page and 'value="E1"' in page
    answer = client.post("/cases/new", data={"spot_check": world.ids["failed"],
                                             "enterprise": "E1", "cause": "抽检不合格，立案调查",
                                             "number": "", "opened_on": ""})
    number = f"AJ-{TODAY.year}-0001"
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/cases/{number}")
    page = client.get(f"/cases/{number}?lang=zh_Hans_CN").get_data(as_text=True)
    assert "抽检不合格，立案调查" in page and 'id="step-form"' in page and "BG-1" in page
    again = client.post("/cases/new?lang=zh_Hans_CN", data={"spot_check": world.ids["failed"],
                                                            "cause": "再次"})
    assert again.status_code == 400 and "已据此立案" in again.get_data(as_text=True)
    wrong = client.post(f"/cases/{number}/status?lang=zh_Hans_CN", data={"status": "closed",
                                                                        "result": "结案"})
    assert wrong.status_code == 409 and "下一步应为" in wrong.get_data(as_text=True)
    moved = client.post(f"/cases/{number}/status", data={"status": "investigating",
                                                        "note": "约谈企业"})
    assert moved.status_code == 302
    api = client.post(f"/api/v1/cases/{number}/status", json={"status": "decided"})
    assert api.status_code == 400 and api.get_json()["error"]["field"] == "result"
    api = client.post(f"/api/v1/cases/{number}/status", json={"status": "decided",
                                                             "result": "责令改正并罚款"})
    assert api.status_code == 200 and api.get_json()["status"] == "decided"
    assert [s["status"] for s in api.get_json()["steps"]] == ["open", "investigating", "decided"]
    skipped = client.post(f"/api/v1/cases/{number}/status", json={"status": "decided",
                                                                 "result": "x"})
    assert skipped.status_code == 409 and skipped.get_json()["error"]["next"] == "closed"
    made = client.post("/api/v1/cases", json={"rectification": world.ids["rectification"],
                                              "cause": "逾期未整改"})
    assert made.status_code == 403  # E2 lies in S2
    log = world.execute(text("""
        SELECT action, target, detail FROM audit_log WHERE target LIKE 'case %'
        ORDER BY id""")).all()
    assert [(r.action, r.detail.get("status")) for r in log] == [
        ("case_opened", None), ("case_status_changed", "investigating"),
        ("case_status_changed", "decided")]
    assert log[0].detail["source"] == "spot_check" and log[0].detail["enterprise"] == "E1"
    assert log[1].detail["note"] == "约谈企业" and log[2].detail["previous"] == "investigating"
    listing = client.get(f"/cases?year={TODAY.year}").get_data(as_text=True)
    assert number in listing
    audit = None
    client.post("/logout")
    login(client, "admin")
    audit = client.get("/admin/audit?lang=zh_Hans_CN").get_data(as_text=True)
    assert "立案" in audit and "案件办理进展" in audit


def test_who_may_handle_and_read_cases(client, world):
    number = cases.open_case(world, enterprise="E1", today=TODAY, cause="a")["number"]
    for username, status in (("c1-inspector", 403), ("s1-leader", 403), ("s2-manager", 403),
                             ("s1-manager", 302), ("admin", 302)):
        login(client, username)
        answer = client.post("/cases/new", data={"enterprise": "E1", "cause": username})
        assert answer.status_code == status, username
        client.post("/logout")
    for username, status, form in (("s1-leader", 200, False), ("s2-manager", 403, False),
                                   ("c1-inspector", 200, False), ("s1-manager", 200, True)):
        login(client, username)
        answer = client.get(f"/cases/{number}")
        assert answer.status_code == status, username
        assert ('id="step-form"' in answer.get_data(as_text=True)) == form, username
        client.post("/logout")
    login(client, "s2-manager")
    assert client.post(f"/cases/{number}/status", data={"status": "investigating"}
                       ).status_code == 403
    assert number not in client.get("/cases").get_data(as_text=True)
    assert client.get("/cases/AJ-1999-0001").status_code == 404
    assert client.get("/cases/new?complaint=K404").status_code == 404
