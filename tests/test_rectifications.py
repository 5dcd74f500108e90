"""Rectifications (整改 → 复查验收) through the API and the pages: recorded as corrected by
whoever works the enterprise's cell, verified by someone else of the station's grid or a grid
manager above, sent back to open with a step, late when the deadline passes; refused in words
for the same person or a step out of turn; audited; listed only within the reader's area."""
import datetime as dt

import pytest
from sqlalchemy import text

from gis import dates, people, rectification
from gis.users import create_user
from tests.factories import PASSWORD, login, small_world

ZONE = "Asia/Shanghai"


@pytest.fixture
def world(session):
    """small_world (from two days ago); inspection of E1 (S1-01) failing Q01 with a
    rectification due in a week; E2 (S2-01) with one due three days ago. Extra accounts: an
    inspector of S1-02 (same station, a person of their own) and a second account of
    c1-inspector's person in S1-02."""
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
    shared_person = small_world(session, valid_from=long_ago)
    other = people.create_person(session, {"code": "RY-S1B", "name": "巡查员乙"})["id"]
    create_user(session, "s1b-inspector", PASSWORD, role="inspector", place="S1-02",
                person_id=other)
    create_user(session, "c1-alt", PASSWORD, role="inspector", place="S1-02",
                person_id=shared_person)
    today = dates.today(ZONE)
    ids = {}
    for code, deadline in (("E1", today + dt.timedelta(days=7)),
                           ("E2", today - dt.timedelta(days=3))):
        eid, insp = session.execute(text("""
            INSERT INTO inspection (enterprise_id, inspector_id, inspected_on, results,
                                    problems_found, rectification_deadline,
                                    rectification_status)
            SELECT id, :p, :d, '{"Q01": "fail"}', 1, :dl, 'open' FROM enterprise
            WHERE management_code = :c RETURNING enterprise_id, id"""), {
            "p": shared_person, "d": today - dt.timedelta(days=10), "dl": deadline,
            "c": code}).one()
        ids[code] = rectification.open_rectification(
            session, enterprise_id=eid, inspection_id=insp, item_code="Q01",
            problem=f"证照不全 {code}", deadline=deadline, username="c1-inspector",
            person_id=shared_person)
        ids[f"{code}-inspection"] = insp
    session.flush()
    return ids


def client_for(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def audit(session, action):
    return session.execute(text("""
        SELECT username, target, detail FROM audit_log WHERE action = :a ORDER BY id"""),
        {"a": action}).all()


def test_rectified_then_verified_by_a_grid_manager_closes_the_inspection(app, session, world):
    rid = world["E1"]
    inspector = client_for(app, "c1-inspector")
    answer = inspector.post(f"/api/v1/rectifications/{rid}/rectify",
                            json={"note": "已补办营业执照"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "rectified" and body["rectified_by"] == "c1-inspector"
    assert body["steps"][-1]["note"] == "已补办营业执照"
    assert body["steps"][-1]["person"] == "巡查员甲"

    manager = client_for(app, "s1-manager")
    answer = manager.post(f"/api/v1/rectifications/{rid}/verify",
                          json={"accept": True, "note": "现场复查，证照齐全"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "verified" and body["verified_by"] == "s1-manager"
    assert [s["step"] for s in body["steps"]] == ["opened", "rectified", "verified"]
    summary = session.execute(text("""
        SELECT rectification_status, rectified_on FROM inspection WHERE id = :i"""),
        {"i": world["E1-inspection"]}).one()
    assert summary.rectification_status == "done"
    assert summary.rectified_on == dates.local(session.execute(text(
        "SELECT now()")).scalar(), ZONE).date()

    [done] = audit(session, "rectification_rectified")
    assert done.username == "c1-inspector" and done.target == f"rectification {rid}"
    assert done.detail == {"enterprise": "E1", "note": "已补办营业执照"}
    [checked] = audit(session, "rectification_verified")
    assert checked.username == "s1-manager" and checked.detail["enterprise"] == "E1"


def test_an_inspector_of_the_same_station_may_verify(app, session, world):
    rid = world["E1"]
    client_for(app, "c1-inspector").post(f"/api/v1/rectifications/{rid}/rectify",
                                         json={"note": "整改完毕"})
    answer = client_for(app, "s1b-inspector").post(f"/api/v1/rectifications/{rid}/verify",
                                                   json={"accept": True})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "verified"


def test_the_one_who_recorded_the_correction_may_not_verify_it(app, session, world):
    rid = world["E1"]
    inspector = client_for(app, "c1-inspector")
    inspector.post(f"/api/v1/rectifications/{rid}/rectify", json={"note": "整改完毕"})
    answer = inspector.post(f"/api/v1/rectifications/{rid}/verify", json={"accept": True},
                            headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 409
    assert "其他人" in answer.get_json()["error"]["message"] or \
        "someone else" in answer.get_json()["error"]["message"]
    # Another account of the same person (in the station's grid, so policy lets it verify).
    answer = client_for(app, "c1-alt").post(f"/api/v1/rectifications/{rid}/verify",
                                            json={"accept": True})
    assert answer.status_code == 409
    # And a step out of turn: rectifying what is already rectified.
    answer = inspector.post(f"/api/v1/rectifications/{rid}/rectify", json={"note": "再次"})
    assert answer.status_code == 409
    assert session.execute(text("SELECT status FROM rectification WHERE id = :r"),
                           {"r": rid}).scalar() == "rectified"
    assert audit(session, "rectification_verified") == []


def test_sent_back_it_is_open_again_with_a_step_and_the_why(app, session, world):
    rid = world["E1"]
    client_for(app, "c1-inspector").post(f"/api/v1/rectifications/{rid}/rectify",
                                         json={"note": "整改完毕"})
    manager = client_for(app, "s1-manager")
    answer = manager.post(f"/api/v1/rectifications/{rid}/verify", json={"accept": False})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "note"
    answer = manager.post(f"/api/v1/rectifications/{rid}/verify",
                          json={"accept": False, "note": "出厂检验记录仍缺"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "open" and body["rectified_by"] is None
    assert [s["step"] for s in body["steps"]] == ["opened", "rectified", "rejected"]
    assert body["steps"][-1]["note"] == "出厂检验记录仍缺"
    assert session.execute(text("SELECT rectification_status FROM inspection WHERE id = :i"),
                           {"i": world["E1-inspection"]}).scalar() == "open"
    [rejected] = audit(session, "rectification_rejected")
    assert rejected.detail["note"] == "出厂检验记录仍缺"
    # Open again: it may be rectified again.
    again = client_for(app, "c1-inspector").post(f"/api/v1/rectifications/{rid}/rectify",
                                                 json={"note": "补齐出厂检验记录"})
    assert again.status_code == 200 and again.get_json()["status"] == "rectified"


def test_late_while_not_verified_and_for_good_when_rectified_late(app, session, world):
    leader = client_for(app, "city-leader")
    late = leader.get(f"/api/v1/rectifications/{world['E2']}").get_json()
    assert late["late"] is True and late["days_late"] == 3
    on_time = leader.get(f"/api/v1/rectifications/{world['E1']}").get_json()
    assert on_time["late"] is False and on_time["days_late"] == 0
    listed = leader.get("/api/v1/rectifications?late=true").get_json()
    assert [r["id"] for r in listed["rectifications"]] == [world["E2"]]
    assert listed["counts"]["late"] == 1

    today = dates.today(ZONE)
    # Rectified two days after the deadline, then verified: late for good, by two days.
    session.execute(text("""
        UPDATE rectification SET status = 'verified', rectified_by = 'x', verified_by = 'y',
               rectified_at = CAST(:r AS timestamp) AT TIME ZONE 'Asia/Shanghai',
               verified_at = now() WHERE id = :i"""),
                    {"i": world["E2"], "r": dt.datetime.combine(
                        today - dt.timedelta(days=1), dt.time(23, 30))})
    session.flush()
    late = leader.get(f"/api/v1/rectifications/{world['E2']}").get_json()
    assert late["late"] is True and late["days_late"] == 2
    # Rectified on the deadline's own (local) day and verified: not late.
    session.execute(text("""
        UPDATE rectification SET rectified_at = CAST(:r AS timestamp) AT TIME ZONE
               'Asia/Shanghai' WHERE id = :i"""),
                    {"i": world["E2"], "r": dt.datetime.combine(
                        today - dt.timedelta(days=3), dt.time(23, 30))})
    session.flush()
    assert leader.get(f"/api/v1/rectifications/{world['E2']}").get_json()["late"] is False


def test_nobody_outside_the_rule_may_step_it(app, session, world):
    rid = world["E1"]
    for username in ("c2-inspector", "s2-manager", "admin", "city-leader", "s1-leader",
                     "s1b-inspector"):
        answer = client_for(app, username).post(f"/api/v1/rectifications/{rid}/rectify",
                                                json={"note": "整改完毕"})
        assert answer.status_code == 403, username
    client_for(app, "c1-inspector").post(f"/api/v1/rectifications/{rid}/rectify",
                                         json={"note": "整改完毕"})
    for username in ("c2-inspector", "s2-manager", "admin", "city-leader", "s1-leader"):
        answer = client_for(app, username).post(f"/api/v1/rectifications/{rid}/verify",
                                                json={"accept": True})
        assert answer.status_code == 403, username
    # Outside one's area it is not there at all; a number that does not exist is the same.
    outsider = client_for(app, "c2-inspector")
    assert outsider.get(f"/api/v1/rectifications/{rid}").status_code == 404
    assert outsider.get(f"/rectifications/{rid}").status_code == 404
    assert outsider.post("/api/v1/rectifications/999999/rectify",
                         json={"note": "x"}).status_code == 404
    assert audit(session, "rectification_verified") == []


def test_the_list_is_the_readers_area_and_filters(app, session, world):
    ids = lambda answer: sorted(r["id"] for r in answer.get_json()["rectifications"])  # noqa
    c2 = client_for(app, "c2-inspector")
    assert ids(c2.get("/api/v1/rectifications")) == [world["E2"]]
    # Asking for a place outside one's area gives nothing from it.
    assert ids(c2.get("/api/v1/rectifications?place=S1")) == []
    leader = client_for(app, "city-leader")
    assert ids(leader.get("/api/v1/rectifications")) == sorted([world["E1"], world["E2"]])
    assert ids(leader.get("/api/v1/rectifications?place=S1-01")) == [world["E1"]]
    assert ids(leader.get("/api/v1/rectifications?place=S2")) == [world["E2"]]
    assert ids(leader.get("/api/v1/rectifications?status=rectified")) == []
    client_for(app, "c1-inspector").post(f"/api/v1/rectifications/{world['E1']}/rectify",
                                         json={"note": "整改完毕"})
    answer = leader.get("/api/v1/rectifications?status=rectified")
    assert ids(answer) == [world["E1"]]
    assert answer.get_json()["counts"] == {"total": 2, "open": 1, "rectified": 1,
                                           "verified": 0, "late": 1}
    today = dates.today(ZONE)
    assert ids(leader.get(f"/api/v1/rectifications?from={today}&to={today}")) == \
        sorted([world["E1"], world["E2"]])
    assert ids(leader.get(
        f"/api/v1/rectifications?to={today - dt.timedelta(days=1)}")) == []
    bad = leader.get("/api/v1/rectifications?place=NOPE")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "place"
    assert leader.get("/api/v1/rectifications?status=closed").status_code == 400
    # The list page: counts, the late one flagged, each row linked.
    page = leader.get("/rectifications?lang=zh_Hans_CN").get_data(as_text=True)
    assert f'data-id="{world["E2"]}"' in page and "逾期" in page
    assert 'data-count="late">1<' in page and "/enterprises/E1" in page


def test_the_pages_show_each_form_only_to_who_may_use_it(app, session, world):
    rid = world["E1"]
    inspector = client_for(app, "c1-inspector")
    page = inspector.get(f"/rectifications/{rid}?lang=zh_Hans_CN").get_data(as_text=True)
    assert 'id="rectify-form"' in page and 'id="verify-form"' not in page
    leader_page = client_for(app, "s1-leader").get(f"/rectifications/{rid}")
    assert leader_page.status_code == 200
    assert 'id="rectify-form"' not in leader_page.get_data(as_text=True)

    # The plain form: an empty note comes back with why, then a real one is recorded.
    refused = inspector.post(f"/rectifications/{rid}/rectify?lang=zh_Hans_CN",
                             data={"note": " "})
    assert refused.status_code == 400 and "rect-problem" in refused.get_data(as_text=True)
    done = inspector.post(f"/rectifications/{rid}/rectify", data={"note": "<b>已整改</b>"})
    assert done.status_code == 302 and done.location.endswith(f"/rectifications/{rid}")
    page = inspector.get(f"/rectifications/{rid}").get_data(as_text=True)
    assert "&lt;b&gt;已整改&lt;/b&gt;" in page and "<b>已整改</b>" not in page
    assert 'id="verify-form"' not in page and 'id="rect-mine"' in page
    # Posting the verify form anyway: refused in words, nothing changes.
    refused = inspector.post(f"/rectifications/{rid}/verify", data={"accept": "true"})
    assert refused.status_code == 409 and "rect-problem" in refused.get_data(as_text=True)

    manager = client_for(app, "s1-manager")
    assert 'id="verify-form"' in manager.get(f"/rectifications/{rid}").get_data(as_text=True)
    done = manager.post(f"/rectifications/{rid}/verify", data={"accept": "true", "note": ""})
    assert done.status_code == 302
    page = manager.get(f"/rectifications/{rid}").get_data(as_text=True)
    assert 'data-status="verified"' in page and 'class="flash"' in page
