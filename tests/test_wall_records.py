"""The rows behind the figures (gis.wall.record_rows, /records/<kind>): each figure of the wall
and the overview counts exactly the rows its list shows, for the same period and place; spot
checks and periodic supervisory testing are never pooled; a place narrows to its subtree within
what the user may read."""
import datetime as dt

import pytest
from sqlalchemy import text

from gis.wall import RECORD_KINDS, Window, map_figures, place_cells, record_rows
from tests.factories import login, small_world

TODAY = dt.date.today()


@pytest.fixture
def world(session):
    person = small_world(session)
    session.execute(text("UPDATE enterprise SET valid_from = now() - interval '800 days'"))
    ids = dict(session.execute(text("SELECT management_code, id FROM enterprise")).all())

    def day(n):
        return TODAY - dt.timedelta(days=n)

    session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on, inspector_id, problems_found,
                                rectification_status)
        VALUES (:e1, :d10, :p, 2, 'done'), (:e1, :d100, :p, 1, 'open'), (:e2, :d20, :p, 0, 'none'),
               (:e2, :d400, :p, 3, 'done')"""),
        {"e1": ids["E1"], "e2": ids["E2"], "p": person, "d10": day(10), "d100": day(100),
         "d20": day(20), "d400": day(400)})
    session.execute(text("""
        INSERT INTO spot_check (enterprise_id, checked_on, kind, level, batches, passed)
        VALUES (:e1, :d5, 'spot_check', 'city', 4, 3), (:e2, :d5, 'spot_check', 'national', 1, 1),
               (:e1, :d50, 'periodic', 'city', 10, 10), (:e1, :d500, 'periodic', 'city', 2, 0)"""),
        {"e1": ids["E1"], "e2": ids["E2"], "d5": day(5), "d50": day(50), "d500": day(500)})
    session.execute(text("""
        INSERT INTO enforcement_case (number, enterprise_id, opened_on, status)
        VALUES ('A1', :e1, :d30, 'open'), ('A2', :e2, :d200, 'closed'),
               ('A3', :e1, :d400, 'closed')"""),
        {"e1": ids["E1"], "e2": ids["E2"], "d30": day(30), "d200": day(200), "d400": day(400)})
    session.execute(text("""
        INSERT INTO complaint (number, received_at, geom, text, status, cell_id)
        SELECT 'K2', now() - interval '300 days', ST_SetSRID(ST_Point(116.15, 38.45), 4326),
               '投诉', 'closed', id FROM cell WHERE code = 'S2-01'"""))
    return person


FIGURE_OF = {  # record kind -> (figure, the total that equals it)
    "inspections": ("inspections", "rows"),
    "problems": ("problems_found", "problems_found"),
    "spot_checks": ("spot_check_batches", "batches"),
    "periodic_testing": ("periodic_batches", "batches"),
    "failed_batches": ("failed_batches", "failed"),
    "cases": ("cases", "rows"),
    "complaints": ("complaints", "rows"),
    "open_complaints": ("open_complaints", "rows"),
    "overdue_complaints": ("overdue_complaints", "rows"),
}


def ids_of(session, *codes):
    return list(session.execute(text("SELECT id FROM cell WHERE code = ANY(:c)"),
                                {"c": list(codes)}).scalars())


@pytest.mark.parametrize("days", [30, 90, 365, 730])
@pytest.mark.parametrize("place", [None, "S1", "S1-01", "S2-01"])
def test_every_figure_equals_the_rows_behind_it(session, world, days, place):
    cells = place_cells(session, None, place)
    window = Window.last(days, TODAY)
    figures = map_figures(session, cells=cells, window=window, today=TODAY)
    # The statistics' own lists (cases closed, complaints closed, enterprises): their figures
    # are gis/statistics.py's, checked in tests/test_statistics.py.
    assert set(FIGURE_OF) | {"cases_closed", "complaints_closed", "enterprises"} == \
        set(RECORD_KINDS)
    for kind, (figure, total) in FIGURE_OF.items():
        totals, rows = record_rows(session, kind, cells=cells, window=window, today=TODAY)
        assert totals[total] == figures[figure], (kind, days, place)
        assert totals["rows"] == len(rows)
    totals, _rows = record_rows(session, "problems", cells=cells, window=window, today=TODAY)
    assert totals["problems_rectified"] == figures["problems_rectified"]


def test_spot_checks_and_periodic_testing_are_never_pooled(session, world):
    window = Window.last(90, TODAY)
    figures = map_figures(session, cells=None, window=window, today=TODAY)
    assert (figures["spot_check_batches"], figures["spot_check_passed"]) == (5, 4)
    assert (figures["periodic_batches"], figures["periodic_passed"]) == (10, 10)
    assert figures["spot_check_pass_rate"] == 0.8 and figures["periodic_pass_rate"] == 1.0
    totals, rows = record_rows(session, "spot_checks", cells=None, window=window, today=TODAY)
    assert totals["pass_rate"] == 0.8 and {r["level"] for r in rows} == {"city", "national"}
    # Periodic testing alone in a window: no spot-check pass rate at all, not periodic's.
    only = Window(TODAY - dt.timedelta(days=60), TODAY - dt.timedelta(days=40))
    figures = map_figures(session, cells=None, window=only, today=TODAY)
    assert figures["spot_check_pass_rate"] is None and figures["periodic_pass_rate"] == 1.0


def test_a_page_past_the_last_still_counts_every_row(session, world):
    window = Window.last(365, TODAY)
    totals, rows = record_rows(session, "inspections", cells=None, window=window, today=TODAY,
                               limit=1, offset=10)
    assert rows == [] and totals["rows"] == 3 and totals["problems_found"] == 3


def test_a_place_is_its_subtree_within_what_the_user_reads(session, world):
    s1 = set(ids_of(session, "S1", "S1-01", "S1-02"))
    assert set(place_cells(session, None, "S1")) == s1
    assert place_cells(session, None, None) is None
    visible = ids_of(session, "S1-01")
    assert place_cells(session, visible, "S1") == visible
    assert place_cells(session, visible, "S2") == []
    with pytest.raises(LookupError):
        place_cells(session, None, "NOPE")


def test_records_page_for_the_place_and_period(client, world):
    login(client, "admin")
    page = client.get("/records/cases?days=90&cell=S1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # The case numbers as the rows show them (a bare "A2" could be inside the CSRF token).
    assert 'id="record-total">1<' in html and ">A1</a>" in html and ">A2</a>" not in html
    html = client.get("/records/cases?days=365").get_data(as_text=True)
    assert 'id="record-total">2<' in html and ">A2</a>" in html
    html = client.get("/records/open_complaints?cell=S1-01").get_data(as_text=True)
    assert 'id="record-total">1<' in html and "K1" in html
    html = client.get("/records/periodic_testing?days=90").get_data(as_text=True)
    assert 'data-total="batches">10<' in html and 'data-total="pass_rate">100.0%<' in html


def test_records_follow_what_the_user_may_read(client, world):
    login(client, "c2-inspector")  # reads S2 (their station's grid), not S1
    html = client.get("/records/cases?days=365").get_data(as_text=True)
    assert "A2" in html and "A1" not in html
    html = client.get("/records/cases?days=365&cell=S1").get_data(as_text=True)
    assert 'id="record-total">0<' in html and "A1" not in html
    figures = client.get("/api/v1/figures?days=365&cell=S1").get_json()["values"]
    assert figures["cases"] == 0 and figures["enterprises"] == 0


@pytest.mark.parametrize("url, status", [
    ("/records/nothing", 404), ("/records/cases?cell=NOPE", 404),
    ("/records/cases?days=0", 400), ("/records/cases?figure=enterprises", 400),
    ("/enterprises?cell=NOPE", 404), ("/map?cell=NOPE", 404),
])
def test_bad_list_requests_are_refused(client, world, url, status):
    login(client, "admin")
    assert client.get(url).status_code == status


def test_records_need_a_login(client, world):
    assert client.get("/records/cases").status_code in (302, 401)


def test_overview_figures_are_the_users_area(client, world):
    login(client, "s1-leader")
    html = client.get("/?lang=en").get_data(as_text=True)
    assert 'data-figure="enterprises">1<' in html
    assert "/records/cases?days=365" in html


def test_the_big_screen_wall_refreshes_at_its_own_interval(app, client, world):
    app.config["WALL_REFRESH_SECONDS"] = 45
    app.config["MAP_REFRESH_SECONDS"] = 600
    login(client, "admin")
    assert '"refreshSeconds": 45' in client.get("/map?wall=1").get_data(as_text=True)
    assert '"refreshSeconds": 600' in client.get("/map").get_data(as_text=True)


def test_a_list_page_changes_its_place_and_period_in_its_own_form(client, world):
    login(client, "admin")
    html = client.get("/records/cases?days=90").get_data(as_text=True)
    assert 'id="record-filter"' in html and '<option value="S1"' in html
    since = (TODAY - dt.timedelta(days=365)).isoformat()
    html = client.get(f"/records/cases?cell=&from={since}&to={TODAY.isoformat()}"
                      ).get_data(as_text=True)
    assert 'id="record-total">2<' in html
    html = client.get(f"/records/cases?cell=S2&from={since}&to={TODAY.isoformat()}"
                      ).get_data(as_text=True)
    assert 'id="record-total">1<' in html and "A2" in html
