"""Suggesting the smallest redraw that balances the inspectors' workload (gis/rebalance.py):
every cell within the tolerance of the average, every cell still one piece (checked by PostGIS
on the committed boundaries), kept villages and cells left alone, at most max-moves villages,
open rectifications said, and `grid rebalance --json` in its documented shape. On the demo
city with a park added on purpose, the suggestion commits and reverts like a manual edit."""
import datetime as dt
import json

import pytest
import shapely
from sqlalchemy import text

from gis import rebalance, redraw
from tests.factories import add_cells, add_enterprises

MONTH_AGO = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
TOWNSHIP = "130984100000"
COLS, ROWS = 12, 4  # villages 0.01° × 0.025°; cells G-01, G-02, G-03 four columns each


def village_code(col, row):
    return f"1309841{col:02d}{row:03d}"


def village_box(col, row):
    return shapely.box(116.0 + col * 0.01, 38.4 + row * 0.025,
                       116.0 + (col + 1) * 0.01, 38.4 + (row + 1) * 0.025)


def centre(col, row, dx=0.0):
    return 116.0 + col * 0.01 + 0.005 + dx, 38.4 + row * 0.025 + 0.0125


@pytest.fixture
def grid(session):
    """Grid G of three cells of 16 villages each, one grade-B enterprise a village (2.03
    inspections a year), and a park of 8 grade-D enterprises (32.4 a year) in two villages of
    G-01: G-01 64.9, G-02 and G-03 32.4, average 43.3 (50 % over)."""
    add_cells(session,
              ("C", 1, shapely.box(116.0, 38.4, 116.12, 38.5), None),
              ("G", 2, shapely.box(116.0, 38.4, 116.12, 38.5), "C"),
              ("G-01", 3, shapely.box(116.0, 38.4, 116.04, 38.5), "G"),
              ("G-02", 3, shapely.box(116.04, 38.4, 116.08, 38.5), "G"),
              ("G-03", 3, shapely.box(116.08, 38.4, 116.12, 38.5), "G"),
              valid_from=MONTH_AGO)
    session.execute(text("""
        INSERT INTO township (code, name, geom)
        VALUES (:c, '甲镇', ST_Multi(ST_MakeEnvelope(116.0, 38.4, 116.12, 38.5, 4326)))"""),
        {"c": TOWNSHIP})
    for col in range(COLS):
        for row in range(ROWS):
            session.execute(text("""
                INSERT INTO village (code, name, township_id, geom)
                SELECT :c, :n, id, ST_Multi(ST_GeomFromText(:w, 4326)) FROM township
                WHERE code = :t"""), {"c": village_code(col, row), "n": f"{col}-{row}村",
                                      "w": village_box(col, row).wkt, "t": TOWNSHIP})
    add_enterprises(session, *[(f"B{col:02d}{row}", *centre(col, row))
                               for col in range(COLS) for row in range(ROWS)],
                    valid_from=MONTH_AGO)
    add_enterprises(session, *[(f"D{v}{i}", *centre(col, row, dx=0.001 * (i - 2)))
                               for v, (col, row) in enumerate([(1, 1), (2, 2)])
                               for i in range(4)], grade="D", valid_from=MONTH_AGO)
    return "G"


def contiguous_in_postgis(session, grid_code):
    """cell -> ST_NumGeometries of the union of the villages it holds now (1: one piece)."""
    return dict(session.execute(text("""
        SELECT c.code, ST_NumGeometries(ST_Union(v.geom))
        FROM cell_current c JOIN cell p ON p.id = c.parent_id
        JOIN village v ON ST_Covers(c.geom, ST_PointOnSurface(v.geom))
        WHERE p.code = :g AND c.retired_at IS NULL GROUP BY c.code"""), {"g": grid_code}).all())


def test_the_village_graph_comes_from_postgis(session, grid):
    problem = rebalance.load_problem(session, grid, rebalance.Options())
    assert len(problem.villages) == COLS * ROWS
    # A lattice: 11 × 4 east-west and 12 × 3 north-south shared edges; corners are no edge.
    assert len(problem.edges) == (COLS - 1) * ROWS + COLS * (ROWS - 1)
    loads = rebalance.workloads(problem)
    assert loads == pytest.approx({"G-01": 16 * 365 / 180 + 8 * 365 / 90,
                                   "G-02": 16 * 365 / 180, "G-03": 16 * 365 / 180})
    assert rebalance.max_deviation(loads) == pytest.approx(0.5)


def test_the_suggestion_reaches_the_tolerance_and_every_cell_stays_one_piece(session, grid):
    suggestion = rebalance.suggest(session, grid, rebalance.Options(tolerance=0.1,
                                                                    time_limit=10))
    answer = suggestion.as_dict()
    assert answer["before"]["max_deviation"] == pytest.approx(0.5)
    assert answer["after"]["max_deviation"] <= 0.1
    assert answer["status"] in ("optimal", "feasible") and answer["moves"]
    assert all(rebalance.contiguous_cells(suggestion.problem, suggestion.moves).values())
    # Committed through the redraw's path, each cell is one piece in PostGIS too.
    change = redraw.commit(session, rebalance.proposal(session, suggestion),
                           username="tester", comment="均衡工作量",
                           valid_from=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2))
    assert set(contiguous_in_postgis(session, grid).values()) == {1}
    assert session.execute(text("""
        SELECT bool_and(ST_NumGeometries(c.geom) = 1) FROM cell_current c
        WHERE c.code LIKE 'G-%'""")).scalar()
    # The workloads PostGIS counts after the commit are the ones the suggestion promised.
    after = rebalance.load_problem(session, grid, rebalance.Options())
    assert rebalance.workloads(after) == pytest.approx(answer["after"]["workloads"], abs=0.01)
    redraw.revert(session, change, username="tester", comment="撤销")
    assert rebalance.workloads(rebalance.load_problem(session, grid, rebalance.Options())) \
        == pytest.approx(answer["before"]["workloads"], abs=0.01)


def test_fewer_moves_than_the_local_search_and_the_balance_only_model(session, grid):
    problem = rebalance.load_problem(session, grid, rebalance.Options())
    options = rebalance.Options(tolerance=0.1, time_limit=10)
    best = rebalance.mip(problem, options)
    local = rebalance.local_search(problem, options)
    scratch = rebalance.mip(problem, rebalance.Options(tolerance=0.1, time_limit=2),
                            balance_only=True)
    assert len(best.moves) <= len(local.moves) or local.status == "best_effort"
    assert len(best.moves) < len(scratch.moves)


def test_kept_villages_and_cells_do_not_move(session, grid):
    free = rebalance.suggest(session, grid, rebalance.Options(time_limit=10))
    village = sorted(free.moves)[0]
    kept = rebalance.suggest(session, grid, rebalance.Options(
        keep=frozenset({village, "G-03"}), time_limit=10))
    assert village not in kept.moves
    assert all(free.problem.villages[v].cell != "G-03" and target != "G-03"
               for v, target in kept.moves.items())
    assert kept.as_dict()["after"]["workloads"]["G-03"] == \
        kept.as_dict()["before"]["workloads"]["G-03"]
    with pytest.raises(rebalance.RebalanceError, match="neither a village nor a cell"):
        rebalance.suggest(session, grid, rebalance.Options(keep=frozenset({"NOPE"})))


def test_max_moves_is_respected_and_the_tolerance_out_of_reach_is_said(session, grid):
    suggestion = rebalance.suggest(session, grid, rebalance.Options(max_moves=1,
                                                                    time_limit=10))
    answer = suggestion.as_dict()
    assert len(answer["moves"]) <= 1
    assert answer["after"]["max_deviation"] < answer["before"]["max_deviation"]
    assert [w["kind"] for w in answer["warnings"]] == ["tolerance_unreachable"]
    assert answer["status"] == "best_effort"


def test_a_village_with_an_open_rectification_is_said(session, grid):
    # Every enterprise of G-01 has an open rectification: whatever leaves G-01 says so.
    inspections = session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on, problems_found,
                                rectification_status)
        SELECT ec.enterprise_id, CURRENT_DATE - 3, 1, 'open'
        FROM enterprise_cell_current ec JOIN cell c ON c.id = ec.cell_id
        WHERE c.code = 'G-01' RETURNING id""")).scalars().all()
    session.execute(text("""
        INSERT INTO rectification (enterprise_id, inspection_id, problem, deadline)
        SELECT enterprise_id, id, '标识不全', CURRENT_DATE + 20 FROM inspection
        WHERE id = ANY(:ids)"""), {"ids": inspections})
    suggestion = rebalance.suggest(session, grid, rebalance.Options(time_limit=10))
    warned = {w["village"] for w in suggestion.warnings() if w["kind"] == "open_rectification"}
    left = {v for v in suggestion.moves if suggestion.problem.villages[v].cell == "G-01"}
    assert left and warned == left
    w = next(w for w in suggestion.warnings() if w["kind"] == "open_rectification")
    assert w["from"] == "G-01" and "open rectification" in w["message"]


def test_grid_rebalance_json_dry_run_and_commit(app, runner, session, grid):
    result = runner.invoke(args=["grid", "rebalance", "G", "--json", "--time-limit", "10"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert {"moves", "before", "after"} <= set(body)
    assert set(body["before"]) >= {"max_deviation", "workloads"}
    assert set(body["before"]["workloads"]) == {"G-01", "G-02", "G-03"}
    move = body["moves"][0]
    assert set(move) >= {"village", "from", "to", "enterprises"}
    assert body["after"]["max_deviation"] <= 0.1
    # A dry run wrote nothing.
    assert session.execute(text("SELECT count(*) FROM grid_change")).scalar() == 0
    result = runner.invoke(args=["grid", "rebalance", "G", "--commit"])
    assert result.exit_code != 0 and "--comment" in result.output
    result = runner.invoke(args=["grid", "rebalance", "G", "--commit", "--comment", "均衡",
                                 "--keep", village_code(11, 3), "--time-limit", "10"])
    assert result.exit_code == 0, result.output
    assert "committed change" in result.output
    change = session.execute(text("SELECT id, summary FROM grid_change")).one()
    assert change.summary["changed"]
    audit = session.execute(text("""
        SELECT detail FROM audit_log WHERE action = 'grid_changed'
        ORDER BY id DESC LIMIT 1""")).scalar()
    assert audit["rebalance"]["max_deviation"][1] <= 0.1
    assert set(contiguous_in_postgis(session, "G").values()) == {1}


def test_the_editor_suggests_moves_it_can_preview(app, client, session, grid):
    from gis.users import create_user

    create_user(session, "g-manager", "secret-pass-1", role="grid_manager", place="C")
    client.post("/login", data={"username": "g-manager", "password": "secret-pass-1"})
    r = client.post("/api/v1/grid/G/rebalance", json={"tolerance": 0.1})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["after"]["max_deviation"] <= 0.1
    moves = {m["village"]: m["to"] for m in body["moves"]}
    preview = client.post("/api/v1/grid/G/preview", json={"moves": moves})
    assert preview.status_code == 200
    assert preview.get_json()["validation"]["ok"]
    r = client.post("/api/v1/grid/G/rebalance", json={"tolerance": 5})
    assert r.status_code == 400


def test_a_city_rebalances_each_of_its_grids(session, grid):
    suggestions = rebalance.suggest_all(session, "C", rebalance.Options(time_limit=10))
    assert [s.grid for s in suggestions] == ["G"]
    with pytest.raises(rebalance.RebalanceError, match="level 3"):
        rebalance.suggest_all(session, "G-01", rebalance.Options())
