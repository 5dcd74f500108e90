"""Quality warnings (质量预警): each rule fires at its threshold and not below it; thresholds
are reference data; the warnings reach the wall, the cell card and the inspector's work list
(their own cells only)."""
import datetime as dt

import pytest
import shapely
from shapely.geometry import mapping
from sqlalchemy import text

from gis import plans, quality_warnings
from tests.factories import add_enterprises, login, small_world

ZONE = "Asia/Shanghai"
LONG_AGO = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
TODAY = dt.date(2026, 6, 30)  # the last day of June: the month plan is due in full


@pytest.fixture
def world(session):
    small_world(session, valid_from=LONG_AGO)
    return session


@pytest.fixture
def no_hotspots(monkeypatch):
    """The Gi* hot spots are tested apart (hotspot_cells with areas given): elsewhere none."""
    monkeypatch.setattr(quality_warnings, "hot_areas", lambda *a, **k: [])


def _cell_id(session, code):
    return session.execute(text("SELECT id FROM cell WHERE code = :c"), {"c": code}).scalar()


def _batch(session, code, day, batches=1, passed=1, kind="spot_check"):
    session.execute(text("""
        INSERT INTO spot_check (enterprise_id, checked_on, kind, batches, passed)
        SELECT id, :d, :k, :b, :p FROM enterprise WHERE management_code = :c"""),
        {"c": code, "d": day, "k": kind, "b": batches, "p": passed})


def _inspect(session, code, day):
    session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on)
        SELECT id, :d FROM enterprise WHERE management_code = :c"""), {"c": code, "d": day})


def _failed(session, threshold, cells=None):
    return {w["enterprise"]: w["value"] for w in quality_warnings.failed_in_a_row(
        session, threshold, cells=cells, today=TODAY)}


def test_failing_spot_checks_in_a_row_fire_at_the_threshold(world):
    _batch(world, "E1", dt.date(2026, 1, 5))
    _batch(world, "E1", dt.date(2026, 2, 5), passed=0)
    assert _failed(world, 2) == {}
    assert _failed(world, 1) == {"E1": 1}
    _batch(world, "E1", dt.date(2026, 3, 5), batches=3, passed=2)
    assert _failed(world, 2) == {"E1": 2}
    assert _failed(world, 3) == {}
    # 定期监督检验 is another programme: neither a failure nor a pass of this rule.
    _batch(world, "E1", dt.date(2026, 4, 5), kind="periodic")
    _batch(world, "E2", dt.date(2026, 4, 5), passed=0, kind="periodic")
    _batch(world, "E2", dt.date(2026, 4, 6), passed=0, kind="periodic")
    assert _failed(world, 2) == {"E1": 2}
    # A batch that passes ends the run; one sampled after today is not known yet.
    _batch(world, "E1", dt.date(2026, 7, 1))
    assert _failed(world, 2) == {"E1": 2}
    _batch(world, "E1", dt.date(2026, 5, 5))
    assert _failed(world, 1) == {}
    # Only the enterprises of the cells asked about.
    _batch(world, "E2", dt.date(2026, 5, 1), passed=0)
    _batch(world, "E2", dt.date(2026, 5, 2), passed=0)
    assert _failed(world, 2, cells=[_cell_id(world, "S1-01")]) == {}
    assert _failed(world, 2, cells=[_cell_id(world, "S2-01")]) == {"E2": 2}


def _overdue(session, threshold):
    return {w["cell"]: round(w["value"], 4) for w in quality_warnings.overdue_cells(
        session, threshold, cells=None, today=TODAY)}


def test_a_cells_overdue_rate_fires_at_the_threshold(world):
    # S1-01: five enterprises, four inspected lately: one in five (0.2) overdue.
    add_enterprises(world, *[(f"W{i}", 116.01 + 0.005 * i, 38.42) for i in range(4)],
                    valid_from=LONG_AGO)
    for i in range(4):
        _inspect(world, f"W{i}", dt.date(2026, 6, 1))
    assert _overdue(world, 0.2)["S1-01"] == 0.2
    assert "S1-01" not in _overdue(world, 0.21)
    # S2-01: its only enterprise never inspected: all of it overdue.
    assert _overdue(world, 1.0) == {"S2-01": 1.0}
    add_enterprises(world, ("W9", 116.03, 38.43), valid_from=LONG_AGO)
    _inspect(world, "W9", dt.date(2026, 6, 2))
    assert "S1-01" not in _overdue(world, 0.2)  # one in six
    assert _overdue(world, 1 / 6)["S1-01"] == round(1 / 6, 4)


def _areas(confidence):
    west = shapely.box(116.0, 38.4, 116.05, 38.5)
    return [{"code": "H1", "confidence": confidence, "complaints": 7,
             "geometry": mapping(west.buffer(-0.001))}]


def test_a_complaint_hotspot_fires_at_its_confidence(world):
    found = quality_warnings.hotspot_cells(world, 0.95, cells=None, today=TODAY, zone=ZONE,
                                           areas=_areas(0.95))
    assert [(w["cell"], w["value"], w["complaints"]) for w in found] == [("S1-01", 0.95, 7)]
    assert quality_warnings.hotspot_cells(world, 0.99, cells=None, today=TODAY, zone=ZONE,
                                          areas=_areas(0.95)) == []
    assert quality_warnings.hotspot_cells(world, 0.9, cells=[_cell_id(world, "S2-01")],
                                          today=TODAY, zone=ZONE, areas=_areas(0.99)) == []


def test_the_hot_spots_are_the_walls(world):
    """With no complaints to cluster the layer draws none, and neither warns."""
    areas = quality_warnings.hot_areas(world, TODAY, ZONE)
    assert areas == []


def _behind(session, threshold, today=TODAY):
    return {w["person"]: w for w in quality_warnings.behind_plan(
        session, threshold, cells=None, today=today)}


def test_an_inspector_behind_the_month_plan_fires_below_the_threshold(world):
    owner = world.execute(text("SELECT code FROM person WHERE name = '巡查员甲'")).scalar()
    world.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
        SELECT p.id, 'department', 'owner', c.id, :f FROM person p, cell c
        WHERE p.code = :p AND c.code = 'S1-01'"""), {"p": owner, "f": LONG_AGO})
    # Four enterprises of S1-01 are in June's plan (never inspected: overdue at its start).
    add_enterprises(world, *[(f"M{i}", 116.01 + 0.005 * i, 38.42) for i in range(3)],
                    valid_from=LONG_AGO)
    plan = plans.month_plan(world, _cell_id(world, "S1-01"), dt.date(2026, 6, 1), TODAY)
    assert len(plan) == 4
    _inspect(world, "E1", dt.date(2026, 6, 3))
    _inspect(world, "M0", dt.date(2026, 6, 20))
    warning = _behind(world, 0.51)[owner]
    # The month plan's own rule: its rows, and those inspected in the month.
    plan = plans.month_plan(world, _cell_id(world, "S1-01"), dt.date(2026, 6, 1), TODAY)
    assert (warning["due"], warning["done"]) == (
        len(plan), sum(1 for r in plan if r["inspected_in_month"])) == (4, 2)
    assert warning["value"] == 0.5 and warning["cells"] == ["S1-01"]
    assert owner not in _behind(world, 0.5)
    # Mid-month half the plan is expected: by 15 June one of the two expected was done.
    assert owner not in _behind(world, 0.5, today=dt.date(2026, 6, 15))
    assert _behind(world, 0.6, today=dt.date(2026, 6, 15))[owner]["value"] == 0.5
    assert _behind(world, 0.5, today=dt.date(2026, 6, 1)) == {}  # nothing expected yet


def test_thresholds_are_reference_data(world, no_hotspots):
    quality_warnings.set_warning_rule(world, "cell_overdue_rate", threshold=1.0)
    found = quality_warnings.warnings(world, cells=None, today=TODAY, zone=ZONE)
    assert {(w["rule"], w["cell"]) for w in found} == {
        ("cell_overdue_rate", "S1-01"), ("cell_overdue_rate", "S2-01")}
    quality_warnings.set_warning_rule(world, "cell_overdue_rate", active=False)
    assert quality_warnings.warnings(world, cells=None, today=TODAY, zone=ZONE) == []
    with pytest.raises(quality_warnings.ValidationError):
        quality_warnings.set_warning_rule(world, "cell_overdue_rate", threshold=1.5)
    with pytest.raises(LookupError):
        quality_warnings.set_warning_rule(world, "nope", threshold=0.5)


def test_the_inspectors_work_list_warns_of_their_cells_only(client, world, no_hotspots):
    _batch(world, "E1", dt.date(2026, 3, 5), passed=0)
    _batch(world, "E1", dt.date(2026, 4, 5), passed=0)
    _batch(world, "E2", dt.date(2026, 3, 5), passed=0)
    _batch(world, "E2", dt.date(2026, 4, 5), passed=0)
    login(client, "c1-inspector")
    warnings = client.get("/api/v1/work").get_json()["warnings"]
    mine = [w for w in warnings if w["rule"] == "failed_twice"]
    assert [w["enterprise"] for w in mine] == ["E1"]
    assert mine[0]["text"] == "enterprise E1 连续 2 次监督抽查不合格（最近一次抽样于 2026年4月5日）"
    assert mine[0]["day"] == "2026-04-05" and mine[0]["url"] == "/enterprises/E1"
    assert all("S2-01" not in w["cells"] for w in warnings)


def test_the_wall_and_the_cell_card_list_them(client, world, no_hotspots):
    _batch(world, "E2", dt.date(2026, 3, 5), passed=0)
    _batch(world, "E2", dt.date(2026, 4, 5), passed=0)
    login(client, "city-leader")
    wall = client.get("/map").get_data(as_text=True)
    assert 'id="wall-warnings"' in wall and 'data-rule="failed_twice"' in wall
    card = client.get("/cells/S2-01/card").get_data(as_text=True)
    assert 'id="card-warnings"' in card and "enterprise E2" in card
    assert 'data-rule="failed_twice"' not in client.get("/cells/S1-01/card").get_data(
        as_text=True)
    page = client.get("/warnings?place=S2").get_data(as_text=True)
    assert page.count('data-rule="failed_twice"') == 1
    assert client.get("/api/v1/warnings?place=S1").get_json()["warnings"] == [
        w for w in client.get("/api/v1/warnings").get_json()["warnings"]
        if set(w["cells"]) & {"S1-01", "S1-02"}]
    client.post("/logout")
    login(client, "s1-leader")
    seen = client.get("/api/v1/warnings").get_json()["warnings"]
    assert seen and all(set(w["cells"]) <= {"S1-01", "S1-02"} for w in seen)
