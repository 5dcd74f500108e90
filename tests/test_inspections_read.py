"""Inspections read back, by enterprise and by cell: results in the API's words ("na"), the
problems they opened with their lateness, where the inspector stood, photos with their
addresses; a cell's are those of the enterprises in it on the day (a retired cell's too);
only to who may read the place."""
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
import shapely
from sqlalchemy import text

from gis import inspections_read, redraw
from tests.factories import login, small_world
from tests.test_photos import (FAR, NEAR, add_inspection, add_rectification, jpeg, png,
                               _post)

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def world(session):
    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    session.execute(text("INSERT INTO person (code, name) VALUES ('RY-2', '巡查员乙')"))
    session.execute(text("UPDATE person SET code = 'RY-1' WHERE name = '巡查员甲'"))
    return session


def _person(session, code):
    return session.execute(text("SELECT id FROM person WHERE code = :c"), {"c": code}).scalar()


def _get(client, url, **args):
    response = client.get(url, query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_an_enterprises_inspection_reads_back_whole(client, world):
    client_id = uuid.uuid4()
    inspection = add_inspection(
        world, results={"Q01": "pass", "Q02": "fail", "Q03": "n/a", "Q04": "na"},
        notes={"Q02": "灭火器过期"}, client_id=str(client_id),
        second_inspector_id=_person(world, "RY-2"), distance_m=12.345, far_from_site=False,
        location_crs="gcj02")
    world.execute(text("""
        UPDATE inspection SET location = ST_SetSRID(ST_Point(116.0201, 38.4501), 4326)
        WHERE id = :i"""), {"i": inspection})
    late = add_rectification(world, inspection, item="Q02", deadline=dt.date(2026, 11, 25))
    in_time = add_rectification(world, inspection, item="Q01", deadline=dt.date(2099, 1, 1))
    login(client, "c1-inspector")
    [near] = _post(client, f"/api/v1/inspections/{inspection}/photos",
                   (jpeg(at=NEAR), "gate.jpg")).get_json()["photos"]
    [fixed] = _post(client, f"/api/v1/rectifications/{late}/photos",
                    (jpeg(at=FAR), "fixed.jpg")).get_json()["photos"]
    answer = _get(client, "/api/v1/enterprises/E1/inspections")
    assert answer["total"] == 1 and answer["enterprise"] == "E1"
    assert answer["limit"] == 50 and answer["offset"] == 0
    [got] = answer["inspections"]
    assert got == {
        "id": inspection, "client_id": str(client_id), "enterprise": "E1",
        "enterprise_name": "enterprise E1", "inspected_on": "2026-11-20",
        "inspector": {"code": "RY-1", "name": "巡查员甲"},
        "second_inspector": {"code": "RY-2", "name": "巡查员乙"},
        "results": {"Q01": "pass", "Q02": "fail", "Q03": "na", "Q04": "na"},
        "notes": {"Q02": "灭火器过期"},
        "problems": [
            {"id": in_time, "item_code": "Q01", "problem": "灭火器过期", "deadline": "2099-01-01",
             "status": "open", "late": False, "photos": []},
            {"id": late, "item_code": "Q02", "problem": "灭火器过期", "deadline": "2026-11-25",
             "status": "open", "late": True,
             "photos": [{"id": fixed["id"], "url": f"/api/v1/photos/{fixed['id']}",
                         "media_type": "image/jpeg", "distance_m": fixed["distance_m"],
                         "far_from_site": True}]}],
        "location": {"lon": pytest.approx(116.0201), "lat": pytest.approx(38.4501)},
        "distance_m": 12.3, "far_from_site": False,
        "photos": [{"id": near["id"], "url": f"/api/v1/photos/{near['id']}",
                    "media_type": "image/jpeg", "distance_m": near["distance_m"],
                    "far_from_site": False}],
    }
    # The address given serves the photo.
    assert client.get(got["photos"][0]["url"]).status_code == 200


def test_an_inspection_without_people_place_or_problems(client, world):
    add_inspection(world, results={"Q01": "pass"}, problems_found=0,
                   rectification_status="none")
    login(client, "s1-leader")
    [got] = _get(client, "/api/v1/enterprises/E1/inspections")["inspections"]
    assert got["second_inspector"] is None and got["client_id"] is None
    assert got["location"] is None and got["distance_m"] is None
    assert got["problems"] == [] and got["photos"] == [] and got["notes"] == {}


def test_a_correction_after_the_deadline_stays_late(world):
    inspection = add_inspection(world)
    add_rectification(world, inspection, item="Q01", deadline=dt.date(2026, 11, 25),
                      status="verified",
                      rectified_at=dt.datetime(2026, 11, 26, 9, tzinfo=BEIJING),
                      rectified_by="a", verified_at=dt.datetime(2026, 11, 27, tzinfo=BEIJING),
                      verified_by="b")
    add_rectification(world, inspection, item="Q02", deadline=dt.date(2026, 11, 25),
                      status="verified",
                      # 23:30 on the 25th in Beijing is still the 25th there (UTC: 15:30).
                      rectified_at=dt.datetime(2026, 11, 25, 23, 30, tzinfo=BEIJING),
                      rectified_by="a", verified_at=dt.datetime(2026, 11, 27, tzinfo=BEIJING),
                      verified_by="b")
    e1 = world.execute(text("SELECT id FROM enterprise WHERE management_code = 'E1'")).scalar()
    [got] = inspections_read.inspections(world, zone="Asia/Shanghai",
                                         today=dt.date(2026, 12, 30),
                                         enterprise_id=e1)["inspections"]
    assert [(p["item_code"], p["late"]) for p in got["problems"]] == [("Q01", True),
                                                                       ("Q02", False)]


def test_newest_first_in_pages_between_dates(client, world):
    days = [dt.date(2026, 11, d) for d in (3, 10, 17, 24)]
    ids = [add_inspection(world, day=d) for d in days]
    add_inspection(world, enterprise="E2", day=dt.date(2026, 11, 10))
    login(client, "city-leader")
    url = "/api/v1/enterprises/E1/inspections"
    first = _get(client, url, limit=3)
    assert first["total"] == 4 and [i["id"] for i in first["inspections"]] == ids[:0:-1]
    second = _get(client, url, limit=3, offset=3)
    assert second["total"] == 4 and [i["id"] for i in second["inspections"]] == [ids[0]]
    beyond = _get(client, url, offset=10)
    assert beyond["total"] == 4 and beyond["inspections"] == []
    between = _get(client, url, **{"from": "2026-11-10", "to": "2026-11-17"})
    assert [i["inspected_on"] for i in between["inspections"]] == ["2026-11-17", "2026-11-10"]
    assert _get(client, url, **{"from": "2026-11-20"})["total"] == 1
    for args, field in (({"from": "2026-11-20", "to": "2026-11-10"}, "to"),
                        ({"from": "yesterday"}, "from"), ({"limit": 0}, "limit"),
                        ({"limit": 1000}, "limit"), ({"page": 2}, "page")):
        response = client.get(url, query_string=args)
        assert response.status_code == 400, args
        assert response.get_json()["error"]["field"] == field


def test_only_who_may_read_the_place_reads_its_inspections(client, world):
    add_inspection(world)
    for username, enterprise, cell in (
            ("c1-inspector", 200, 200), ("s1-leader", 200, 200), ("s1-manager", 200, 200),
            ("city-leader", 200, 200), ("admin", 200, 200),
            ("c2-inspector", 404, 403), ("s2-manager", 404, 403)):
        login(client, username)
        got = client.get("/api/v1/enterprises/E1/inspections")
        assert got.status_code == enterprise, username
        assert client.get("/api/v1/cells/S1-01/inspections").status_code == cell, username
        client.post("/logout")
    login(client, "s2-manager")
    # Outside one's area an enterprise reads as one that does not exist, word for word.
    hidden = client.get("/api/v1/enterprises/E1/inspections").get_json()["error"]["message"]
    absent = client.get("/api/v1/enterprises/E404/inspections").get_json()["error"]["message"]
    assert hidden == absent.replace("E404", "E1")
    assert client.get("/api/v1/cells/NOPE/inspections").status_code == 404
    client.post("/logout")
    assert client.get("/api/v1/cells/S1-01/inspections").status_code == 401


def test_a_cells_inspections_are_of_the_enterprises_in_it_on_the_day(client, world):
    # S1-01 is merged into S1-02 from 1 June, midnight in Beijing (31 May, 16:00 UTC): E1
    # (116.02, 38.45) moves into S1-02 then, and S1-01 is retired.
    merge = redraw.Proposal("S1", {"S1-02": shapely.MultiPolygon([
        shapely.box(116.0, 38.4, 116.1, 38.5)])}, retire={"S1-01"})
    redraw.commit(world, merge, username="s1-manager", comment="合并", confirm_warnings=True,
                  valid_from=dt.datetime(2026, 6, 1, tzinfo=BEIJING))
    before = add_inspection(world, day=dt.date(2026, 5, 31))
    after = add_inspection(world, day=dt.date(2026, 6, 1))
    other = add_inspection(world, enterprise="E2", day=dt.date(2026, 6, 1))
    login(client, "city-leader")

    def ids(url):
        return [i["id"] for i in _get(client, url)["inspections"]]

    assert ids("/api/v1/cells/S1-01/inspections") == [before]
    assert ids("/api/v1/cells/S1-02/inspections") == [after]
    assert ids("/api/v1/cells/S1/inspections") == [after, before]
    assert ids("/api/v1/cells/C/inspections") == [other, after, before]
    assert ids("/api/v1/enterprises/E1/inspections") == [after, before]
    answer = _get(client, "/api/v1/cells/S1-01/inspections")
    assert answer["cell"] == "S1-01" and answer["total"] == 1


def test_photos_of_rectifications_are_not_listed_as_the_inspections(client, world):
    inspection = add_inspection(world)
    rectification = add_rectification(world, inspection)
    login(client, "c1-inspector")
    _post(client, f"/api/v1/rectifications/{rectification}/photos", (png(), "after.png"))
    [got] = _get(client, "/api/v1/cells/S1-01/inspections")["inspections"]
    assert got["photos"] == [] and len(got["problems"][0]["photos"]) == 1
