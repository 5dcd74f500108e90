"""One meaning for a date: a boundary change that takes effect at 02:00 in the bureau's zone
(Asia/Shanghai, 18:00 UTC the day before) is seen the same way by the map wall
(/map?at=), the point lookup (/api/v1/lookup?at=), the command line (grid export --at) and the
history page. Asking about that local day gives the new boundary everywhere, asking about the
day before gives the old one everywhere; date-times typed without a zone are the bureau's."""
import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
import shapely
from sqlalchemy import text

from gis import dates
from gis.errors import ValidationError
from tests.factories import login, small_world

BUREAU = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc
# Far enough back to be history, recent enough for the demo-free small world.
DAY = dt.date(2026, 3, 2)
BEFORE = DAY - dt.timedelta(days=1)
CHANGE_AT = dt.datetime.combine(DAY, dt.time(2, 0), tzinfo=BUREAU)
# S1-01 is lon 116.00-116.05 until the change, 116.00-116.04 after: this spot moves to S1-02.
SPOT = {"lon": 116.045, "lat": 38.45}


def box(*b):
    return shapely.MultiPolygon([shapely.box(*b)])


@pytest.fixture
def changed(client, session):
    """The small world from 1 January; at 02:00 local time on DAY (18:00 UTC the day before)
    the edge between S1-01 and S1-02 moves west. The admin commits it through the editor's
    API, typing the time without a zone, as a person at the bureau would."""
    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=BUREAU))
    login(client, "admin")
    geometries = {"S1-01": box(116.0, 38.4, 116.04, 38.5),
                  "S1-02": box(116.04, 38.4, 116.1, 38.5)}
    response = client.post("/api/v1/grid/S1/commit", json={
        "geometries": {c: json.loads(shapely.to_geojson(g)) for c, g in geometries.items()},
        "comment": "调整边界", "valid_from": f"{DAY.isoformat()}T02:00:00",
        "backdate_reason": "按镇政府文件补录"})
    assert response.status_code == 201, response.get_json()
    return client


def test_the_change_is_stored_at_two_in_the_morning_local_time(changed, session):
    valid_from = session.execute(text("""
        SELECT cv.valid_from FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
        WHERE c.code = 'S1-01' ORDER BY cv.valid_from DESC LIMIT 1""")).scalar()
    assert valid_from == CHANGE_AT
    assert valid_from.astimezone(UTC) == dt.datetime(2026, 3, 1, 18, 0, tzinfo=UTC)


def _map_edge(client, day: dt.date) -> float:
    """The east edge of S1-01 as the wall draws it for /map?at=day."""
    page = client.get(f"/map?at={day.isoformat()}")
    assert page.status_code == 200
    # The page hands its filters to the layers it fetches: the same ``at``.
    assert f'"at": "{day.isoformat()}"' in page.get_data(as_text=True)
    cells = client.get(f"/api/v1/layers/cells.geojson?at={day.isoformat()}").get_json()
    [feature] = [f for f in cells["features"] if f["properties"]["code"] == "S1-01"]
    return round(shapely.geometry.shape(feature["geometry"]).bounds[2], 6)


def _lookup_cell(client, day: dt.date) -> str:
    answer = client.get("/api/v1/lookup", query_string={**SPOT, "at": day.isoformat()})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["cell"]["code"]


def _cli_edge(runner, tmp_path, day: dt.date) -> float:
    import geopandas as gpd

    path = tmp_path / f"cells-{day}.geojson"
    result = runner.invoke(args=["grid", "export", str(path), "--at", day.isoformat()])
    assert result.exit_code == 0, result.output
    frame = gpd.read_file(path)
    return round(frame[frame["code"] == "S1-01"].geometry.iloc[0].bounds[2], 6)


def test_asking_at_the_local_day_of_the_change_sees_it_everywhere(changed, runner, tmp_path):
    assert _map_edge(changed, DAY) == 116.04
    assert _lookup_cell(changed, DAY) == "S1-02"
    assert _cli_edge(runner, tmp_path, DAY) == 116.04


def test_asking_at_the_day_before_sees_the_old_boundary_everywhere(changed, runner, tmp_path):
    # The day before in the bureau's zone is the day of the change in UTC: a reader in UTC
    # would see the new boundary here.
    assert _map_edge(changed, BEFORE) == 116.05
    assert _lookup_cell(changed, BEFORE) == "S1-01"
    assert _cli_edge(runner, tmp_path, BEFORE) == 116.05


@pytest.mark.parametrize("lang, shown", [("zh_Hans_CN", "2026/3/2 02:00"),
                                         ("en", "3/2/26, 2:00")])
def test_the_history_shows_the_local_day_and_time_of_the_change(changed, lang, shown):
    html = changed.get(f"/cells/S1-01/history?lang={lang}").get_data(as_text=True)
    versions = html[html.index('id="versions"'):html.index('id="owners"')]
    rows = re.findall(r"<tr>.*?</tr>", versions, re.S)
    newest, oldest = rows[1], rows[2]
    assert shown in newest  # valid from: the local time typed
    assert shown in oldest  # the old boundary's valid to: the same moment
    assert "3/1" not in newest and "3/1/26" not in oldest  # never the UTC day


def test_the_lookup_answer_gives_the_moment_of_the_change_with_its_offset(changed):
    """The answer is for machines: an ISO instant with its offset (the phone card shows it in
    the bureau's zone, as the history does)."""
    answer = changed.get("/api/v1/lookup", query_string={**SPOT, "at": DAY.isoformat()})
    version = answer.get_json()["cell"]["version"]
    assert dt.datetime.fromisoformat(version["valid_from"]) == CHANGE_AT
    old = changed.get("/api/v1/lookup", query_string={**SPOT, "at": BEFORE.isoformat()})
    assert dt.datetime.fromisoformat(old.get_json()["cell"]["version"]["valid_to"]) == CHANGE_AT


def test_the_cli_reads_a_bare_date_as_the_end_of_that_day_like_the_lookup():
    zone = "Asia/Shanghai"
    assert dates.as_of(DAY.isoformat(), zone) == dates.parse_datetime(
        DAY.isoformat(), zone, day_end=True)
    assert dates.as_of(DAY.isoformat(), zone) > CHANGE_AT
    assert dates.as_of(BEFORE.isoformat(), zone) < CHANGE_AT
    # An explicit time is that time, in the bureau's zone when none is given.
    assert dates.as_of(f"{DAY}T01:59", zone) < CHANGE_AT <= dates.as_of(f"{DAY}T02:00", zone)
    assert dates.as_of(None, zone) is None and dates.as_of("", zone) is None


# --- date-times without a zone ---------------------------------------------------------------

@pytest.mark.parametrize("typed", ["2026-03-02T02:00", "2026-03-02 02:00", "2026-03-02T02:00:00"])
def test_a_date_time_without_a_zone_is_the_bureaus_local_time(typed):
    assert dates.parse_datetime(typed, "Asia/Shanghai") == CHANGE_AT


def test_a_naive_datetime_object_is_the_bureaus_local_time_too():
    naive = dt.datetime(2026, 3, 2, 2, 0)
    assert dates.parse_datetime(naive, "Asia/Shanghai") == CHANGE_AT
    assert dates.local(naive, "Asia/Shanghai") == CHANGE_AT
    assert dates.local(CHANGE_AT.astimezone(UTC), "Asia/Shanghai").hour == 2


def test_an_owner_valid_from_without_a_zone_is_local_and_never_a_500(client, session):
    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=BUREAU))
    other = session.execute(text(
        "INSERT INTO person (name, phone) VALUES ('李卫东', '13931712345') RETURNING id")).scalar()
    login(client, "admin")
    response = client.put("/api/v1/cells/S1-01/owner", json={
        "person_id": other, "valid_from": "2026-03-02T02:00", "backdate_reason": "补录"})
    assert response.status_code == 200, response.get_json()
    stored = session.execute(text("""
        SELECT r.valid_from FROM responsibility r JOIN cell c ON c.id = r.cell_id
        WHERE c.code = 'S1-01' AND r.person_id = :p"""), {"p": other}).scalar()
    assert stored == CHANGE_AT


def test_a_cli_valid_from_without_a_zone_is_local(runner, session, tmp_path):
    import geopandas as gpd

    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=BUREAU))
    path = tmp_path / "edge.geojson"
    gpd.GeoDataFrame({"code": ["S1-01", "S1-02"]},
                     geometry=[box(116.0, 38.4, 116.04, 38.5), box(116.04, 38.4, 116.1, 38.5)],
                     crs=4326).to_file(path)
    done = runner.invoke(args=["grid", "redraw", str(path), "--comment", "调整",
                               "--valid-from", "2026-03-02 02:00", "--reason", "补录"])
    assert done.exit_code == 0, done.output
    assert session.execute(text("""
        SELECT max(cv.valid_from) FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
        WHERE c.code = 'S1-01'""")).scalar() == CHANGE_AT


def test_the_domain_refuses_to_compare_a_naive_datetime_with_stored_ones(session):
    """A caller that forgets the zone gets a clear error, not a wrong answer or a TypeError
    from deep inside (a 500): the adapters read every date-time through gis.dates."""
    from gis import redraw

    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=BUREAU))
    with pytest.raises(ValueError, match="time zone"):
        redraw.commit(session, redraw.Proposal("S1", {"S1-01": box(116.0, 38.4, 116.04, 38.5),
                                                      "S1-02": box(116.04, 38.4, 116.1, 38.5)}),
                      username="u", comment="c", valid_from=dt.datetime(2026, 3, 2, 2, 0))


@pytest.mark.parametrize("value", ["yesterday", "2026-02-30", "02/03/2026", "1899-12-31"])
def test_a_bad_date_is_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as refused:
        dates.as_of(value, "Asia/Shanghai")
    assert refused.value.field == "at"


def test_the_exported_boundaries_say_when_they_began_in_the_bureaus_zone(changed, runner,
                                                                          tmp_path):
    path = tmp_path / "cells.geojson"
    assert runner.invoke(args=["grid", "export", str(path)]).exit_code == 0
    [s1] = [f["properties"] for f in json.loads(path.read_text())["features"]
            if f["properties"]["code"] == "S1-01"]
    assert s1["valid_from"] == "2026-03-02T02:00:00+08:00"


def test_a_background_jobs_times_are_given_with_the_bureaus_offset(client, session, runner):
    from gis import jobs

    small_world(session)
    admin_id = session.execute(text("SELECT id FROM app_user WHERE username = 'admin'")).scalar()
    job = jobs.enqueue(session, "enterprise_import", {"kind": "csv"}, file=b"x",
                       file_name="big.csv", user_id=admin_id, username="admin")
    login(client, "admin")
    answer = client.get(f"/api/v1/jobs/{job}").get_json()
    assert answer["created_at"].endswith("+08:00") and answer["finished_at"] is None
    listed = runner.invoke(args=["jobs", "list"])
    assert f"{job}\tenterprise_import" in listed.output and "+08:00\t" in listed.output
