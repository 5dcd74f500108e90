"""My work's data (GET /api/v1/work, gis/work.py): the enterprises of the cells where the
user inspects (not the rest of the station's grid they may read), due this month or overdue
first, their open rectifications and complaints, the checklist and the cells' outlines."""
import datetime as dt

import pytest
from sqlalchemy import text

from gis import work
from tests.factories import login, small_world


@pytest.fixture
def world(session):
    long_ago = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    small_world(session, valid_from=long_ago)
    return session


def test_month_end():
    assert work.month_end(dt.date(2026, 2, 3)) == dt.date(2026, 2, 28)
    assert work.month_end(dt.date(2028, 2, 29)) == dt.date(2028, 2, 29)


def test_an_inspector_gets_their_own_cell_only(client, world):
    login(client, "c1-inspector")
    data = client.get("/api/v1/work").get_json()
    assert [e["code"] for e in data["enterprises"]] == ["E1"]
    assert [k["number"] for k in data["complaints"]] == ["K1"]
    assert [f["properties"]["code"] for f in data["cells"]["features"]] == ["S1-01"]
    assert [c["code"] for c in data["checklist"]] == ["Q01", "Q02"]
    assert data["csrf_token"] and data["far_metres"] == 300
    e1 = data["enterprises"][0]
    # Never inspected, under supervision since 2025-01-01, grade B (180 days).
    assert e1["due_on"] == "2025-06-30" and e1["overdue"] is True


def test_open_rectifications_with_late_flag(client, world):
    login(client, "c1-inspector")
    body = {"enterprise": "E1", "inspected_on": "2026-01-05", "results": {"Q01": "fail"},
            "rectification_deadline": "2026-01-20"}
    assert client.post("/api/v1/inspections", json=body).status_code == 201
    data = client.get("/api/v1/work").get_json()
    [r] = data["rectifications"]
    assert r["enterprise"] == "E1" and r["deadline"] == "2026-01-20" and r["late"] is True
    assert r["status"] == "open" and r["days_late"] > 0
    # Inspected on 2026-01-05: next due 180 days later.
    assert data["enterprises"][0]["last_inspected"] == "2026-01-05"


def test_a_verified_rectification_leaves_the_list(client, world):
    login(client, "c1-inspector")
    client.post("/api/v1/inspections", json={
        "enterprise": "E1", "inspected_on": "2026-01-05", "results": {"Q01": "fail"},
        "rectification_deadline": "2026-01-20"})
    world.execute(text("UPDATE rectification SET status = 'verified'"))
    assert client.get("/api/v1/work").get_json()["rectifications"] == []


def test_a_leader_has_no_field_cells(client, world):
    login(client, "s1-leader")
    data = client.get("/api/v1/work").get_json()
    assert data["enterprises"] == [] and data["complaints"] == []


def test_pages_and_worker_answer(client, world):
    login(client, "c1-inspector")
    for path in ("/work/", "/work/inspect?e=E1"):
        response = client.get(path)
        assert response.status_code == 200
        assert 'id="work-texts"' in response.get_data(as_text=True)
    worker = client.get("/work/sw.js")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript"
    assert "/work/inspect" in worker.get_data(as_text=True)
    assert worker.headers["Cache-Control"] == "no-cache"


def test_the_start_page_of_an_inspector_is_their_work(client, world):
    response = client.post("/login", data={"username": "c1-inspector",
                                           "password": "secret-pass-1"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/work/")
    client.post("/logout")
    response = client.post("/login", data={"username": "s1-leader", "password": "secret-pass-1"})
    assert not response.headers["Location"].endswith("/work/")
