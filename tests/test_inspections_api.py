"""POST /api/v1/inspections, the contract phones rely on: the client id makes a resend
harmless, the device's location gives the distance to the enterprise, each failed item opens a
rectification, and nothing is written for an enterprise outside the caller's cells."""
import uuid

import pytest
from sqlalchemy import text

from gis import crs
from gis.users import add_role
from tests.factories import login, small_world

E1 = (116.02, 38.45)


@pytest.fixture
def inspector(client, session):
    small_world(session)
    login(client, "c1-inspector")
    return client


def body(**change):
    return {"enterprise": "E1", "inspected_on": "2026-11-20",
            "results": {"Q01": "pass", "Q02": "fail"}, "notes": {"Q02": "无出厂检验记录"},
            "rectification_deadline": "2026-12-20", "client_id": str(uuid.uuid4()),
            "location": {"lon": E1[0] + 0.001, "lat": E1[1], "crs": "wgs84"}, **change}


def count(session, table):
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def test_first_send_is_201_with_distance_and_the_resend_is_200_with_the_same_id(inspector,
                                                                                   session):
    sent = body()
    first = inspector.post("/api/v1/inspections", json=sent)
    assert first.status_code == 201, first.get_json()
    answer = first.get_json()
    # 0.001° of longitude at 38.45° N is about 87 m.
    assert 80 < answer["distance_m"] < 95 and answer["far_from_site"] is False
    before = [count(session, t) for t in ("inspection", "rectification", "audit_log")]
    again = inspector.post("/api/v1/inspections", json=sent)
    assert again.status_code == 200 and again.get_json()["id"] == answer["id"]
    assert again.get_json()["distance_m"] == answer["distance_m"]
    assert [count(session, t) for t in ("inspection", "rectification", "audit_log")] == before


def test_each_failed_item_opens_a_rectification_with_the_deadline_and_its_note(inspector,
                                                                               session):
    answer = inspector.post("/api/v1/inspections", json=body(
        results={"Q01": "fail", "Q02": "fail"}, notes={"Q02": "无记录"})).get_json()
    rows = session.execute(text("""
        SELECT item_code, problem, deadline::text, status FROM rectification
        WHERE inspection_id = :i ORDER BY item_code"""), {"i": answer["id"]}).all()
    assert [tuple(r) for r in rows] == [("Q01", "证照齐全", "2026-12-20", "open"),
                                       ("Q02", "出厂检验：无记录", "2026-12-20", "open")]
    assert sorted(answer["rectifications"]) == sorted(session.execute(text(
        "SELECT id FROM rectification WHERE inspection_id = :i"), {"i": answer["id"]}).scalars())
    steps = session.execute(text("""
        SELECT step, username FROM rectification_step s JOIN rectification r
          ON r.id = s.rectification_id WHERE r.inspection_id = :i"""), {"i": answer["id"]}).all()
    assert {tuple(s) for s in steps} == {("opened", "c1-inspector")}


def test_far_from_the_site_is_recorded_not_refused(inspector):
    answer = inspector.post("/api/v1/inspections", json=body(
        location={"lon": E1[0] + 0.01, "lat": E1[1]})).get_json()
    assert answer["distance_m"] > 800 and answer["far_from_site"] is True


def test_far_from_site_follows_the_setting(app, client, session):
    small_world(session)
    app.config["FAR_FROM_SITE_METRES"] = 50
    login(client, "c1-inspector")
    answer = client.post("/api/v1/inspections", json=body()).get_json()
    assert answer["far_from_site"] is True


def test_gcj02_location_is_converted_before_measuring(inspector):
    lon, lat = crs.wgs84_to_gcj02(*E1)
    answer = inspector.post("/api/v1/inspections", json=body(
        location={"lon": float(lon), "lat": float(lat), "crs": "gcj02"})).get_json()
    # Taken as WGS 84 the offset would be several hundred metres.
    assert answer["distance_m"] < 5 and answer["far_from_site"] is False


def test_unknown_item_is_400_naming_it_and_nothing_is_written(inspector, session):
    before = count(session, "inspection")
    response = inspector.post("/api/v1/inspections?lang=en", json=body(
        results={"Q01": "pass", "Q99": "fail"}))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == "results" and "Q99" in error["message"]
    assert count(session, "inspection") == before


def test_outside_the_callers_cells_is_403_and_nothing_is_written(inspector, session):
    before = [count(session, t) for t in ("inspection", "rectification")]
    response = inspector.post("/api/v1/inspections", json=body(enterprise="E2"))
    assert response.status_code == 403
    assert [count(session, t) for t in ("inspection", "rectification")] == before


def test_inspected_at_gives_the_bureaus_day(inspector, session):
    # 17:30 UTC on the 20th is 01:30 on the 21st in Hejian.
    answer = inspector.post("/api/v1/inspections", json={
        **body(), "inspected_on": None, "inspected_at": "2026-11-20T17:30:00Z"}).get_json()
    day = session.execute(text("SELECT inspected_on::text FROM inspection WHERE id = :i"),
                          {"i": answer["id"]}).scalar()
    assert day == "2026-11-21"


def test_na_is_a_result_and_stored_as_na(inspector, session):
    answer = inspector.post("/api/v1/inspections", json=body(
        results={"Q01": "na", "Q02": "pass"}, notes={}, rectification_deadline=None)).get_json()
    results = session.execute(text("SELECT results FROM inspection WHERE id = :i"),
                              {"i": answer["id"]}).scalar()
    assert results == {"Q01": "na", "Q02": "pass"}


def test_the_inspector_is_the_accounts_person_and_the_second_one_is_recorded(inspector,
                                                                              session):
    second = session.execute(text("""
        INSERT INTO person (code, name) VALUES ('RY-2', '巡查员乙') RETURNING id""")).scalar()
    answer = inspector.post("/api/v1/inspections", json=body(second_inspector="RY-2")).get_json()
    row = session.execute(text("""
        SELECT p.name, i.second_inspector_id, i.username FROM inspection i
        JOIN person p ON p.id = i.inspector_id WHERE i.id = :i"""), {"i": answer["id"]}).one()
    assert tuple(row) == ("巡查员甲", second, "c1-inspector")


def test_the_second_inspector_cannot_be_oneself(inspector, session):
    response = inspector.post("/api/v1/inspections", json=body(second_inspector="c1-inspector"))
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "second_inspector"


def test_a_client_id_of_another_enterprises_inspection_is_409(client, session):
    small_world(session)
    add_role(session, "c1-inspector", "inspector", "S2-01")
    login(client, "c1-inspector")
    sent = body()
    assert client.post("/api/v1/inspections", json=sent).status_code == 201
    reused = client.post("/api/v1/inspections", json={**sent, "enterprise": "E2"})
    assert reused.status_code == 409


@pytest.mark.parametrize("location, field", [
    ({"lon": 38.45, "lat": 116.02}, "location.lon"),
    ({"lon": 116.02, "lat": 38.45, "crs": "bd09"}, "location.crs"),
    ({"lon": 116.02, "lat": 38.45, "alt": 3}, "location.alt"),
    ({"lon": "东经", "lat": 38.45}, "location"),
])
def test_bad_locations_are_named(inspector, location, field):
    response = inspector.post("/api/v1/inspections?lang=en", json=body(location=location))
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_a_bad_client_id_is_400(inspector):
    response = inspector.post("/api/v1/inspections", json=body(client_id="not-a-uuid"))
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "client_id"


def test_the_audit_log_records_distance_and_problems(inspector, session):
    answer = inspector.post("/api/v1/inspections", json=body()).get_json()
    details = session.execute(text("""
        SELECT detail FROM audit_log WHERE action = 'inspection_recorded'
        ORDER BY id DESC LIMIT 1""")).scalar()
    assert details["inspection"] == answer["id"] and details["problems"] == 1
    assert details["far_from_site"] is False


def test_an_account_without_a_person_still_records(client, session):
    from gis.users import create_user

    small_world(session)
    create_user(session, "new-inspector", "secret-pass-1", role="inspector", place="S1-01")
    login(client, "new-inspector")
    response = client.post("/api/v1/inspections", json=body())
    assert response.status_code == 201, response.get_json()
    assert session.execute(text("SELECT inspector_id, username FROM inspection WHERE id = :i"),
                           {"i": response.get_json()["id"]}).one() == (None, "new-inspector")
