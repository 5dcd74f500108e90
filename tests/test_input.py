"""Bad and hostile input: 400 naming the field, upload limits, injection strings, error pages
that never leak internals."""
import io

import pytest
from sqlalchemy import text

from tests.factories import login, small_world

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE enterprise; --",
    "\" OR 1=1 --",
    "1; SELECT pg_sleep(5)",
    "%' UNION SELECT username, password_hash, null, null, null, null, null FROM app_user --",
    "_%\\",
    "ST_GeomFromText('POINT(0 0)')) OR (1=1",
]


@pytest.fixture
def admin(client, session):
    small_world(session)
    login(client, "admin")
    return client


@pytest.fixture
def inspector(client, session):
    small_world(session)
    login(client, "c1-inspector")
    return client


GOOD_INSPECTION = {"enterprise": "E1", "inspected_on": "2026-11-20",
                   "results": {"Q01": "pass", "Q02": "fail"},
                   "rectification_deadline": "2026-12-20"}


@pytest.mark.parametrize("change, field", [
    ({"colour": "red"}, "colour"),
    ({"inspected_on": "20.11.2026"}, "inspected_on"),
    ({"inspected_on": None}, "inspected_on"),
    ({"results": ["Q01"]}, "results"),
    ({"problems": "x" * 2001}, "problems"),
    ({"enterprise": 42}, "enterprise"),
    ({"rectification_deadline": None}, "rectification_deadline"),
    ({"results": {"Q77": "pass"}}, "results"),
    ({"results": {"Q01": "maybe"}}, "results"),
])
def test_json_body_errors_name_the_field(inspector, change, field):
    from app.errors import FIELD_LABELS

    body = {**GOOD_INSPECTION, **change}
    response = inspector.post("/api/v1/inspections?lang=en", json=body)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    # Programs read the identifier; people read the field's name (tests/test_messages.py).
    assert error["field"] == field
    assert str(FIELD_LABELS.get(field, field)) in error["message"]


def test_good_inspection_is_recorded_with_its_problems(inspector, session):
    response = inspector.post("/api/v1/inspections", json=GOOD_INSPECTION)
    assert response.status_code == 201
    row = session.execute(text("""
        SELECT problems_found, rectification_status, p.name FROM inspection i
        JOIN person p ON p.id = i.inspector_id WHERE i.id = :i"""),
        {"i": response.get_json()["id"]}).one()
    assert tuple(row) == (1, "open", "巡查员甲")


def test_non_json_body_is_400(inspector):
    response = inspector.post("/api/v1/inspections", data="enterprise=E1")
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "body"


@pytest.mark.parametrize("body, field", [
    ({"A": 0}, "A"), ({"B": 99999}, "B"), ({"C": "often"}, "C"), ({"E": 10}, "E"),
    ({"D": True}, "D"), ({}, "body"),
])
def test_reference_data_ranges(admin, body, field):
    response = admin.put("/api/v1/reference/grade-intervals", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_unknown_form_field_is_refused(admin):
    response = admin.post("/admin/users", data={"username": "x2", "password": "long-pass-1",
                                                "role": "admin", "is_superuser": "1"})
    assert response.status_code == 400
    assert "is_superuser" in response.get_data(as_text=True)


def test_unknown_complaint_is_404_json(inspector):
    response = inspector.patch("/api/v1/complaints/NOPE", json={"status": "closed"})
    assert response.status_code == 404
    assert "NOPE" in response.get_json()["error"]["message"]


def test_upload_over_the_limit_is_413(app, admin):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    big = io.BytesIO(b"management_code,name,grade,lon,lat\n" + b"x" * 4096)
    response = admin.post("/api/v1/imports/enterprises", data={"file": (big, "e.csv")})
    assert response.status_code == 413


def test_upload_type_is_judged_by_content_not_name(admin):
    png = io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64)
    response = admin.post("/api/v1/imports/enterprises", data={"file": (png, "e.csv")})
    assert response.status_code == 415


def test_upload_with_a_bad_row_names_it_and_writes_nothing(admin, session):
    data = "management_code,name,grade,lon,lat\nE8,甲,B,116.03,38.46\nE9,乙,Z,116.03,38.46\n"
    response = admin.post("/api/v1/imports/enterprises",
                          data={"file": (io.BytesIO(data.encode("gbk")), "e.csv")})
    assert response.status_code == 400
    assert "row 3 (E9)" in response.get_json()["error"]["message"]
    assert session.execute(text(
        "SELECT count(*) FROM enterprise WHERE management_code IN ('E8', 'E9')")).scalar() == 0


@pytest.mark.parametrize("attack", INJECTIONS)
def test_injection_strings_in_text_filters_are_just_text(admin, session, attack):
    before = session.execute(text("SELECT count(*) FROM enterprise")).scalar()
    found = admin.get("/api/v1/enterprises", query_string={"q": attack})
    assert found.status_code == 200 and found.get_json()["enterprises"] == []
    for name in ("username", "action", "q"):
        page = admin.get("/admin/audit", query_string={name: attack})
        # Either searched for literally, or refused as too long for the field: never run.
        assert page.status_code in (200, 400)
        html = page.get_data(as_text=True)
        assert "pbkdf2:" not in html and "scrypt:" not in html  # no hash ever leaks out
    assert session.execute(text("SELECT count(*) FROM enterprise")).scalar() == before


def test_like_wildcards_match_literally(admin):
    assert admin.get("/api/v1/enterprises?q=%25").get_json()["enterprises"] == []
    assert len(admin.get("/api/v1/enterprises?q=E").get_json()["enterprises"]) == 2


def test_404_page_is_chinese(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "没有找到" in response.get_data(as_text=True)


def test_500_leaks_no_traceback_or_sql(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("SELECT secret FROM app_user WHERE password_hash = 'x'")

    for path, accept in (("/boom", "text/html"), ("/boom", "application/json")):
        response = client.get(path, headers={"Accept": accept})
        body = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "SELECT" not in body and "Traceback" not in body and "password_hash" not in body


def test_database_errors_are_500_without_sql(app, client, session):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/dberror")
    def dberror():
        from app.db import get_session

        get_session().execute(text("SELECT * FROM no_such_table"))

    body = client.get("/dberror").get_data(as_text=True)
    assert "no_such_table" not in body and "SELECT" not in body
