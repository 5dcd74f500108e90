"""Suggest the smallest redraw that balances the inspectors' workload (均衡建议).

A second-level grid's level-3 cells are unions of whole villages, each cell one inspector's.
When enterprises arrive or grades change, some cells carry far more required inspections than
their neighbours. Territory-design tools would redraw the grid from scratch; a grid manager
wants the *fewest* village moves that bring every cell within a tolerance of the grid's average,
because each move hands real enterprises to another inspector.

The work is split the way the rest of gis/ splits it:

- PostGIS computes the village graph (``load_problem``): each village of the grid with the cell
  that holds it now (by a point inside it), its enterprises and their required inspections a
  year (365 ÷ the grade's interval in days), its complaints of the last year, its area, its open
  rectifications; and which villages share an edge (a shared boundary of length > 0, found
  through the villages' GiST index).
- Python optimises over that graph (``solve``): a mixed-integer programme with PuLP and its
  bundled CBC (minimise the villages moved, then open rectifications handed over, then the
  enterprises moved; every cell's workload within ``tolerance`` × the average; every cell
  contiguous by a single-commodity flow from a village that stays), warm-started and, when the
  solver finds nothing in its time, replaced by a greedy local search seeded from today's
  cells. bench/rebalance.py compares both with PySAL spopt's AZP (seeded and from scratch) and
  with a balance-only MIP, docs/rebalance.md says what was kept and why.
- The proposal is ordinary village moves (``gis.redraw.village_moves``): previewed, validated,
  committed and reverted like a manual edit, by the editor and by ``grid rebalance``.

Workloads are in inspections a year (optionally plus weighted complaints and km²); areas in km²
on the spheroid; coordinates lon/lat (EPSG:4326).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import time
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import GridWatchError


class RebalanceError(GridWatchError):
    """The grid cannot be rebalanced as asked (not a grid of villages, unknown codes...)."""


@dataclass
class Options:
    """What a suggestion is asked for.

    ``tolerance``: the largest |workload − average| ÷ average allowed for a cell (0.1 = 10 %).
    ``max_moves``: at most this many villages move (None: as many as needed).
    ``keep``: village codes that must not move, and cell codes none of whose villages moves
    (neither out nor in).
    ``complaint_weight``: inspections a year one complaint of the last 365 days counts for;
    ``area_weight``: inspections a year one km² counts for (both 0 by default: the workload is
    the required inspections alone).
    ``method``: "mip" (the one kept) or "local" (the greedy search alone).
    ``time_limit``: seconds the MIP solver may take per solve, before its best answer is taken
    (or, with none, the local search's)."""

    tolerance: float = 0.1
    max_moves: int | None = None
    keep: frozenset[str] = frozenset()
    complaint_weight: float = 0.0
    area_weight: float = 0.0
    method: str = "mip"
    time_limit: float = 20.0
    hops: int = 2  # a village may join a cell whose villages are this many steps away


@dataclass
class Village:
    code: str
    name: str
    cell: str
    enterprises: int
    inspections: float  # required inspections a year of its enterprises
    complaints: int  # complaints inside it in the last 365 days
    area_km2: float
    rectifications: list[dict] = field(default_factory=list)  # open ones: enterprise, id, owner
    workload: float = 0.0  # inspections + weights (set by load_problem / weigh)


@dataclass
class Problem:
    """The village graph of one grid: villages by code, their edges (pairs sharing a
    boundary), the grid's cells, and each cell's owner (name, for the warnings)."""

    grid: str
    villages: dict[str, Village]
    edges: set[tuple[str, str]]
    cells: list[str]
    owners: dict[str, str] = field(default_factory=dict)

    def neighbours(self) -> dict[str, set[str]]:
        out = {code: set() for code in self.villages}
        for a, b in self.edges:
            out[a].add(b)
            out[b].add(a)
        return out


@dataclass
class Solution:
    """Where each village goes (only those that move), how it was found, in what time."""

    moves: dict[str, str]
    method: str
    status: str  # optimal | feasible | best_effort | unchanged | fallback
    seconds: float
    notes: list[str] = field(default_factory=list)


def weigh(problem: Problem, options: Options) -> None:
    """Each village's workload: its required inspections a year, plus the options' weights."""
    for v in problem.villages.values():
        v.workload = (v.inspections + options.complaint_weight * v.complaints
                      + options.area_weight * v.area_km2)


VILLAGES_SQL = """
WITH grid AS MATERIALIZED (
    SELECT id, geom FROM cell_current WHERE code = :g AND retired_at IS NULL
),
cells AS MATERIALIZED (
    SELECT c.id, c.code, c.geom FROM cell_current c, grid g
    WHERE c.parent_id = g.id AND c.retired_at IS NULL
),
-- A village belongs to the cell that holds a point inside it (as gis.redraw.village_moves).
vil AS MATERIALIZED (
    SELECT v.id, v.code, v.name, v.geom, k.code AS cell
    FROM grid g JOIN village v ON v.geom && g.geom
    JOIN LATERAL (
        SELECT c.code FROM cells c WHERE ST_Covers(c.geom, ST_PointOnSurface(v.geom))
        ORDER BY c.code LIMIT 1) k ON true
),
-- Each enterprise recorded in a cell of the grid, in one village (the lowest code on an edge).
ent AS MATERIALIZED (
    SELECT DISTINCT ON (e.id) e.id, e.management_code, v.code AS village,
           coalesce(365.0 / gi.interval_days, 0) AS inspections
    FROM cells c JOIN enterprise_cell_current ec ON ec.cell_id = c.id
    JOIN enterprise e ON e.id = ec.enterprise_id
    JOIN vil v ON ST_Covers(v.geom, e.geom)
    LEFT JOIN grade_interval gi ON gi.grade = e.grade
    ORDER BY e.id, v.code
)
SELECT v.code, v.name, v.cell,
       (SELECT count(*) FROM ent WHERE ent.village = v.code) AS enterprises,
       (SELECT coalesce(sum(inspections), 0) FROM ent WHERE ent.village = v.code)
           AS inspections,
       (SELECT count(*) FROM complaint m WHERE ST_Covers(v.geom, m.geom)
          AND m.received_at > CAST(:today AS date) - 365) AS complaints,
       ST_Area(v.geom::geography) / 1e6 AS area_km2,
       (SELECT coalesce(json_agg(json_build_object(
                   'enterprise', ent.management_code, 'rectification', r.id)
                   ORDER BY ent.management_code, r.id), '[]'::json)
        FROM ent JOIN rectification r ON r.enterprise_id = ent.id
        WHERE ent.village = v.code AND r.status <> 'verified') AS rectifications
FROM vil v ORDER BY v.code
"""

# Villages of the grid that share an edge: candidates through the villages' GiST index, then a
# shared boundary of positive length (a corner alone is no edge; a sliver of overlap counts).
EDGES_SQL = """
WITH grid AS MATERIALIZED (
    SELECT id, geom FROM cell_current WHERE code = :g AND retired_at IS NULL
),
vil AS MATERIALIZED (
    SELECT v.id, v.code, v.geom FROM grid g JOIN village v ON v.geom && g.geom
    WHERE v.code = ANY(:codes)
)
SELECT a.code AS a, b.code AS b
FROM vil a JOIN village b ON b.geom && a.geom AND b.code > a.code
     AND ST_Intersects(a.geom, b.geom) AND b.code = ANY(:codes),
     LATERAL (SELECT ST_Intersection(a.geom, b.geom) AS g) x
WHERE ST_Length(ST_CollectionExtract(x.g, 2)) > 0 OR ST_Area(ST_CollectionExtract(x.g, 3)) > 0
ORDER BY 1, 2
"""


def grid_row(session: Session, code: str):
    row = session.execute(text("""
        SELECT id, code, level, kind FROM cell_current
        WHERE code = :c AND retired_at IS NULL"""), {"c": code}).one_or_none()
    if row is None:
        raise RebalanceError(f"grid {code!r} does not exist")
    return row


def grids_of(session: Session, code: str) -> list[str]:
    """The grids a rebalance of ``code`` works on: itself when it is a second-level grid; a
    city's territorial second-level grids (professional grids are not built from villages)."""
    row = grid_row(session, code)
    if row.level == 2:
        return [code]
    if row.level == 1:
        return list(session.execute(text("""
            SELECT c.code FROM cell_current c
            WHERE c.parent_id = :p AND c.retired_at IS NULL AND c.level = 2
              AND c.kind = 'territorial' ORDER BY c.code"""), {"p": row.id}).scalars())
    raise RebalanceError(f"grid {code!r} is level {row.level}: give a second-level grid or a "
                         "city")


def load_problem(session: Session, grid_code: str, options: Options,
                 today: dt.date | None = None) -> Problem:
    """The village graph of a second-level grid, from PostGIS (see the module's docstring)."""
    today = today or dt.date.today()
    row = grid_row(session, grid_code)
    if row.level != 2:
        raise RebalanceError(f"grid {grid_code!r} is level {row.level}; a rebalance moves "
                             "villages between the cells of a second-level grid")
    rows = session.execute(text(VILLAGES_SQL), {"g": grid_code, "today": today}).all()
    cells = list(session.execute(text("""
        SELECT c.code FROM cell_current c JOIN cell p ON p.id = c.parent_id
        WHERE p.code = :g AND c.retired_at IS NULL ORDER BY c.code"""),
        {"g": grid_code}).scalars())
    villages = {r.code: Village(r.code, r.name, r.cell, int(r.enterprises),
                                float(r.inspections), int(r.complaints), float(r.area_km2),
                                list(r.rectifications or []))
                for r in rows}
    if not villages:
        raise RebalanceError(f"grid {grid_code!r} holds no villages")
    edges = {(r.a, r.b) for r in session.execute(text(EDGES_SQL),
                                                 {"g": grid_code, "codes": list(villages)})}
    owners = dict(session.execute(text("""
        SELECT c.code, p.name FROM cell c JOIN cell g ON g.id = c.parent_id
        JOIN responsibility r ON r.cell_id = c.id AND r.role = 'owner'
             AND r.valid @> now()
        JOIN person p ON p.id = r.person_id
        WHERE g.code = :g"""), {"g": grid_code}).all())
    problem = Problem(grid_code, villages, edges, cells, owners)
    weigh(problem, options)
    return problem


# -- measuring ------------------------------------------------------------------------------

def assignment(problem: Problem, moves: dict[str, str] | None = None) -> dict[str, str]:
    """village -> cell, today's with ``moves`` applied."""
    out = {code: v.cell for code, v in problem.villages.items()}
    out.update(moves or {})
    return out


def workloads(problem: Problem, moves: dict[str, str] | None = None) -> dict[str, float]:
    """cell -> workload, today's or after ``moves``."""
    loads = {c: 0.0 for c in problem.cells}
    for code, cell in assignment(problem, moves).items():
        loads[cell] = loads.get(cell, 0.0) + problem.villages[code].workload
    return loads


def max_deviation(loads: dict[str, float]) -> float:
    """The largest |workload − average| ÷ average over the cells (0 when all are empty)."""
    if not loads:
        return 0.0
    average = sum(loads.values()) / len(loads)
    if average <= 0:
        return 0.0
    return max(abs(w - average) for w in loads.values()) / average


def summary(problem: Problem, moves: dict[str, str] | None = None) -> dict:
    loads = workloads(problem, moves)
    return {"max_deviation": round(max_deviation(loads), 3),
            "average": round(sum(loads.values()) / max(1, len(loads)), 2),
            "workloads": {c: round(w, 2) for c, w in sorted(loads.items())}}


def connected(nodes: set[str], neighbours: dict[str, set[str]]) -> bool:
    """Is the subgraph on ``nodes`` connected (an empty one is not)?"""
    if not nodes:
        return False
    start = next(iter(nodes))
    seen, queue = {start}, deque([start])
    while queue:
        for n in neighbours[queue.popleft()]:
            if n in nodes and n not in seen:
                seen.add(n)
                queue.append(n)
    return len(seen) == len(nodes)


def members(problem: Problem, moves: dict[str, str] | None = None) -> dict[str, set[str]]:
    out = {c: set() for c in problem.cells}
    for code, cell in assignment(problem, moves).items():
        out.setdefault(cell, set()).add(code)
    return out


def contiguous_cells(problem: Problem, moves: dict[str, str] | None = None) -> dict[str, bool]:
    """cell -> are its villages one connected piece of the village graph?"""
    nb = problem.neighbours()
    return {c: connected(m, nb) for c, m in members(problem, moves).items()}


def _frozen(problem: Problem, options: Options) -> set[str]:
    """Villages that may not move: those kept by code, and every village of a kept cell."""
    unknown = set(options.keep) - set(problem.villages) - set(problem.cells)
    if unknown:
        raise RebalanceError(f"--keep {sorted(unknown)[0]!r}: neither a village nor a cell of "
                             f"grid {problem.grid}")
    return {code for code, v in problem.villages.items()
            if code in options.keep or v.cell in options.keep}


def _closed_cells(problem: Problem, options: Options) -> set[str]:
    return {c for c in problem.cells if c in options.keep}


def _cost(problem: Problem, code: str, total_enterprises: int) -> float:
    """What moving a village costs: a move first, an open rectification handed over next,
    then its enterprises (the weights make the order; see docs/rebalance.md)."""
    v = problem.villages[code]
    move = 2.0 * (total_enterprises + 1)
    return move + (total_enterprises + 1) * bool(v.rectifications) + v.enterprises


# -- the greedy local search (also the fallback) --------------------------------------------

def local_search(problem: Problem, options: Options) -> Solution:
    """Greedy moves seeded from today's cells: each step moves the border village that most
    reduces the workload beyond the tolerance (ties: fewer enterprises), keeping both cells
    contiguous, until every cell is within the tolerance or ``max_moves`` is reached; then
    moves that are no longer needed are undone."""
    started = time.perf_counter()
    nb = problem.neighbours()
    frozen = _frozen(problem, options)
    closed = _closed_cells(problem, options)
    label = assignment(problem)
    home = dict(label)
    groups = members(problem)
    was_connected = {c: connected(m, nb) for c, m in groups.items()}
    loads = workloads(problem)
    average = sum(loads.values()) / max(1, len(loads))
    band = options.tolerance * average
    limit = options.max_moves if options.max_moves is not None else len(problem.villages)

    def excess(load):
        return max(0.0, abs(load - average) - band)

    def moved_count():
        return sum(1 for c in label if label[c] != home[c])

    def removable(code, cell):
        rest = groups[cell] - {code}
        return bool(rest) and (not was_connected[cell] or connected(rest, nb))

    for _ in range(4 * len(problem.villages)):
        total = sum(excess(w) for w in loads.values())
        if total <= 1e-9:
            break
        best = None
        for code, cell in label.items():
            if code in frozen or cell in closed:
                continue
            w = problem.villages[code].workload
            targets = {label[n] for n in nb[code]} - {cell} - closed
            for target in targets:
                returns = target == home[code]
                if not returns and label[code] == home[code] and moved_count() >= limit:
                    continue
                gain = (excess(loads[cell]) + excess(loads[target])
                        - excess(loads[cell] - w) - excess(loads[target] + w))
                # A move that brings no cell nearer the band but evens two cells out passes
                # workload along a chain of cells (the undoing below drops what was not needed).
                spread = ((loads[cell] - average) ** 2 + (loads[target] - average) ** 2
                          - (loads[cell] - w - average) ** 2 - (loads[target] + w - average) ** 2)
                if gain < -1e-9 or (gain <= 1e-9 and spread <= 1e-9):
                    continue
                key = (gain > 1e-9, gain, spread, returns, -problem.villages[code].enterprises,
                       -bool(problem.villages[code].rectifications))
                if best is not None and key <= best[0]:
                    continue
                if not removable(code, cell):
                    continue
                best = (key, code, cell, target)
        if best is None:
            break
        _key, code, cell, target = best
        w = problem.villages[code].workload
        groups[cell].discard(code)
        groups[target].add(code)
        loads[cell] -= w
        loads[target] += w
        label[code] = target
    # Undo what is not needed: a moved village goes home when everything stays as balanced.
    for code in sorted((c for c in label if label[c] != home[c]),
                       key=lambda c: -problem.villages[c].enterprises):
        cell, target = label[code], home[code]
        w = problem.villages[code].workload
        if target not in {label[n] for n in nb[code]} | {cell}:
            continue
        before = excess(loads[cell]) + excess(loads[target])
        after = excess(loads[cell] - w) + excess(loads[target] + w)
        if after <= before + 1e-9 and removable(code, cell):
            groups[cell].discard(code)
            groups[target].add(code)
            loads[cell] -= w
            loads[target] += w
            label[code] = target
    moves = {c: label[c] for c in label if label[c] != home[c]}
    reached = max_deviation(loads) <= options.tolerance + 1e-9
    return Solution(moves, "local", "feasible" if reached else "best_effort",
                    time.perf_counter() - started)


# -- the mixed-integer programme ------------------------------------------------------------

def _candidates(problem: Problem, options: Options, nb) -> dict[str, list[str]]:
    """village -> cells it may end in: its own, and those of villages within ``hops`` steps
    (none for a kept village; no kept cell takes a village in)."""
    frozen = _frozen(problem, options)
    closed = _closed_cells(problem, options)
    out = {}
    for code, v in problem.villages.items():
        cells = {v.cell}
        if code not in frozen:
            ring, seen = {code}, {code}
            for _ in range(max(1, options.hops)):
                ring = {n for r in ring for n in nb[r]} - seen
                seen |= ring
            cells |= {problem.villages[n].cell for n in seen} - closed
        out[code] = sorted(cells)
    return out


def _roots(problem: Problem, nb) -> dict[str, str]:
    """One village per cell that stays: the one deepest inside it (most steps from another
    cell; then most enterprises), so that contiguity is a flow from it. Moving it would cost
    more moves than any village nearer the edge anyway."""
    groups = members(problem)
    roots = {}
    for cell, villages in groups.items():
        if not villages:
            continue
        depth = {c: 0 for c in villages if any(problem.villages[n].cell != cell for n in nb[c])}
        queue = deque(depth)
        while queue:
            c = queue.popleft()
            for n in nb[c]:
                if n in villages and n not in depth:
                    depth[n] = depth[c] + 1
                    queue.append(n)
        roots[cell] = max(villages, key=lambda c: (depth.get(c, 0),
                                                   problem.villages[c].enterprises, c))
    return roots


def _model(problem: Problem, options: Options, *, balance_only: bool = False,
           deviation: float | None = None):
    """The PuLP model and its variables. ``deviation``: the bound on every cell's relative
    deviation (default the tolerance); ``balance_only``: no cost for moves, minimise the
    largest deviation instead (the territory-design objective, for the bench)."""
    import pulp

    nb = problem.neighbours()
    cand = _candidates(problem, options, nb)
    roots = _roots(problem, nb)
    contiguous = contiguous_cells(problem)
    total_ent = sum(v.enterprises for v in problem.villages.values())
    loads = workloads(problem)
    average = sum(loads.values()) / max(1, len(loads))
    prob = pulp.LpProblem("rebalance", pulp.LpMinimize)
    x = {(v, c): prob.add_variable(f"x_{i}_{j}", cat="Binary")
         for i, v in enumerate(problem.villages)
         for j, c in enumerate(problem.cells) if c in cand[v]}
    index = {c: j for j, c in enumerate(problem.cells)}
    for v in problem.villages:
        prob += pulp.lpSum(x[v, c] for c in cand[v]) == 1
    for c, r in roots.items():
        prob += x[r, c] == 1
    moved = {v: 1 - x[v, problem.villages[v].cell] for v in problem.villages
             if len(cand[v]) > 1}
    load = {c: pulp.lpSum(problem.villages[v].workload * x[v, c]
                          for v in problem.villages if (v, c) in x) for c in problem.cells}
    z = None
    if balance_only or deviation == "free":
        z = prob.add_variable("z", lowBound=0)
        for c in problem.cells:
            prob += load[c] - average <= z * average
            prob += average - load[c] <= z * average
    else:
        bound = options.tolerance if deviation is None else deviation
        for c in problem.cells:
            prob += load[c] <= (1 + bound) * average
            prob += load[c] >= (1 - bound) * average
    if options.max_moves is not None and not balance_only:
        prob += pulp.lpSum(moved.values()) <= options.max_moves
    # Contiguity: a flow from the root reaches every village of the cell, through villages of
    # the cell only (Shirabe's single-commodity flow), for each cell contiguous today.
    for c in problem.cells:
        if c not in roots or not contiguous.get(c, False):
            continue
        nodes = [v for v in problem.villages if (v, c) in x]
        if len(nodes) < 2:
            continue
        big = len(nodes) - 1
        node_set = set(nodes)
        j = index[c]
        f = {}
        for v in nodes:
            for n in nb[v]:
                if n in node_set:
                    f[v, n] = prob.add_variable(
                        f"f_{j}_{_idx(problem, v)}_{_idx(problem, n)}", lowBound=0)
                    prob += f[v, n] <= big * x[v, c]
                    prob += f[v, n] <= big * x[n, c]
        for v in nodes:
            if v == roots[c]:
                continue
            inflow = pulp.lpSum(f[n, v] for n in nb[v] if (n, v) in f)
            outflow = pulp.lpSum(f[v, n] for n in nb[v] if (v, n) in f)
            prob += inflow - outflow == x[v, c]
            # Implied by the flow, but the relaxation is far tighter with it: a village of the
            # cell other than its root has a neighbour in the cell.
            prob += x[v, c] <= pulp.lpSum(x[n, c] for n in nb[v] if n in node_set)
    if z is not None and balance_only:
        prob += z
    elif z is not None:
        prob += z * 1e4 + pulp.lpSum(moved.values())
    else:
        prob += pulp.lpSum(_cost(problem, v, total_ent) * m for v, m in moved.items())
    return prob, x, cand, z


def _idx(problem: Problem, code: str) -> int:
    cache = problem.__dict__.setdefault("_index", {c: i for i, c in enumerate(problem.villages)})
    return cache[code]


def _cbc_path() -> str | None:
    """The CBC executable PuLP's wheels carry (works offline); None: ``cbc`` on the PATH (or
    PuLP 4's ``pulp[cbc]``)."""
    from pulp.apis import coin_api

    bundled = getattr(coin_api, "pulp_cbc_path", None)
    return bundled if bundled and os.path.exists(bundled) else None


def _solve_model(prob, time_limit: float, warm: bool) -> str:
    """'optimal', 'feasible' (stopped at the time limit with an answer) or 'none'."""
    import pulp

    solver = pulp.COIN_CMD(path=_cbc_path(), msg=False,
                           timeLimit=max(1, int(math.ceil(time_limit))), warmStart=warm,
                           threads=1)
    prob.solve(solver)
    if prob.sol_status == pulp.LpSolutionOptimal:
        return "optimal"
    if prob.sol_status in (pulp.LpSolutionIntegerFeasible,):
        return "feasible"
    if prob.status == pulp.LpStatusInfeasible:
        return "infeasible"  # proven: no answer exists in this model
    return "none"


def _read_moves(problem: Problem, x, cand) -> dict[str, str]:
    moves = {}
    for v, cells in cand.items():
        chosen = max(cells, key=lambda c: x[v, c].value() or 0)
        if chosen != problem.villages[v].cell:
            moves[v] = chosen
    return moves


def _warm(problem: Problem, x, cand, moves: dict[str, str]) -> None:
    target = assignment(problem, moves)
    for v, cells in cand.items():
        for c in cells:
            x[v, c].setInitialValue(1 if target[v] == c else 0)


def mip(problem: Problem, options: Options, *, balance_only: bool = False) -> Solution:
    """The fewest moves bringing every cell within the tolerance (PuLP + CBC), warm-started
    from the local search when that reaches the tolerance. A village may end in a cell
    ``hops`` steps away; when CBC proves that too near (no answer), twice and four times as
    far. When the tolerance cannot be reached (by ``max_moves``, kept villages, contiguity),
    the smallest deviation that can, then the fewest moves for it. Each solve stops at
    ``time_limit``, all of them by three times that; when CBC has found nothing by then, the
    local search's answer (status ``fallback``)."""
    started = time.perf_counter()
    deadline = started + 3 * options.time_limit

    def budget() -> float:
        return min(options.time_limit, deadline - time.perf_counter())

    greedy = local_search(problem, options)
    if not balance_only and max_deviation(workloads(problem)) <= options.tolerance:
        return Solution({}, "mip", "unchanged", time.perf_counter() - started)
    warm = (not balance_only and greedy.status == "feasible"
            and _contiguous_where_it_was(problem, greedy.moves))
    moves, status, notes = None, "none", []
    for hops in (options.hops, 2 * options.hops, 4 * options.hops):
        if budget() < 1:
            break
        reach = dataclasses.replace(options, hops=hops)
        prob, x, cand, _z = _model(problem, reach, balance_only=balance_only)
        if warm:
            _warm(problem, x, cand, greedy.moves)
        status = _solve_model(prob, budget(), warm)
        if status in ("optimal", "feasible"):
            moves = _read_moves(problem, x, cand)
        if status != "infeasible" or balance_only:
            break
        notes.append(f"nothing_within_{hops}_steps")
    if moves is None and not balance_only and budget() >= 1:
        # The tolerance is out of reach: the smallest largest deviation that is not, then
        # the fewest moves for it.
        prob, x, cand, z = _model(problem, options, deviation="free")
        if _solve_model(prob, budget(), False) in ("optimal", "feasible"):
            moves = _read_moves(problem, x, cand)
            reached = max(options.tolerance, (z.value() or 0) + 1e-6)
            if budget() >= 1:
                prob, x, cand, _z = _model(problem, options, deviation=reached)
                _warm(problem, x, cand, moves)
                if _solve_model(prob, budget(), True) in ("optimal", "feasible"):
                    moves = _read_moves(problem, x, cand)
            # (A model stopped at its time limit with nothing may still have had an answer
            # within the tolerance: this one finds it.)
            status = "feasible" if reached <= options.tolerance + 1e-6 else "best_effort"
            if status == "best_effort":
                notes.append("tolerance_unreachable")
    if moves is None:
        greedy.method, greedy.status = "mip", "fallback"
        greedy.seconds = time.perf_counter() - started
        greedy.notes.append("solver_found_nothing_in_time")
        return greedy
    return Solution(moves, "mip-balance" if balance_only else "mip", status,
                    time.perf_counter() - started, notes)


def _contiguous_where_it_was(problem: Problem, moves: dict[str, str]) -> bool:
    before = contiguous_cells(problem)
    after = contiguous_cells(problem, moves)
    return all(after[c] for c in before if before[c])


def solve(problem: Problem, options: Options) -> Solution:
    """The suggestion's moves by ``options.method``: "mip" (kept) or "local"."""
    if options.method == "local":
        return local_search(problem, options)
    if options.method == "mip":
        return mip(problem, options)
    raise RebalanceError(f"unknown method {options.method!r}: mip or local")


# -- the suggestion as the editor and the CLI show it ---------------------------------------

@dataclass
class Suggestion:
    grid: str
    problem: Problem
    solution: Solution
    options: Options

    @property
    def moves(self) -> dict[str, str]:
        return dict(sorted(self.solution.moves.items()))

    def warnings(self) -> list[dict]:
        """What the moves hand over that someone should know: open rectifications (their
        enterprise goes to another cell's owner), and a tolerance out of reach."""
        out = []
        for code, target in self.moves.items():
            v = self.problem.villages[code]
            for r in v.rectifications:
                out.append({"kind": "open_rectification", "village": code,
                            "village_name": v.name, "enterprise": r["enterprise"],
                            "rectification": r["rectification"], "from": v.cell, "to": target,
                            "owner": self.problem.owners.get(v.cell),
                            "new_owner": self.problem.owners.get(target),
                            "message": f"village {code} ({v.name}): enterprise "
                                       f"{r['enterprise']} has an open rectification "
                                       f"(#{r['rectification']}); it moves from cell {v.cell} "
                                       f"to {target}, to another owner"})
        after = max_deviation(workloads(self.problem, self.moves))
        if after > self.options.tolerance + 1e-9:
            out.append({"kind": "tolerance_unreachable", "max_deviation": round(after, 3),
                        "tolerance": self.options.tolerance,
                        "message": f"no suggestion within the limits reaches the tolerance "
                                   f"{self.options.tolerance:.0%}: the largest deviation "
                                   f"after it is {after:.1%}"})
        broken = [c for c, ok in contiguous_cells(self.problem, self.moves).items()
                  if not ok and contiguous_cells(self.problem).get(c)]
        for c in broken:  # never expected: the model forbids it; said if it ever happens
            out.append({"kind": "not_contiguous", "cell": c,
                        "message": f"cell {c} would be in several pieces"})
        return out

    def as_dict(self) -> dict:
        """The answer of ``grid rebalance --json`` and of the editor's suggestion."""
        villages = self.problem.villages
        return {
            "grid": self.grid,
            "moves": [{"village": code, "name": villages[code].name,
                       "from": villages[code].cell, "to": target,
                       "enterprises": villages[code].enterprises,
                       "workload": round(villages[code].workload, 2)}
                      for code, target in self.moves.items()],
            "before": summary(self.problem),
            "after": summary(self.problem, self.moves),
            "tolerance": self.options.tolerance,
            "enterprises_moved": sum(villages[c].enterprises for c in self.moves),
            "method": self.solution.method, "status": self.solution.status,
            "seconds": round(self.solution.seconds, 2),
            "warnings": self.warnings(),
        }


def suggest(session: Session, grid_code: str, options: Options,
            today: dt.date | None = None) -> Suggestion:
    """The suggestion for one second-level grid (read only: nothing is written)."""
    problem = load_problem(session, grid_code, options, today)
    return Suggestion(grid_code, problem, solve(problem, options), options)


def suggest_all(session: Session, code: str, options: Options,
                today: dt.date | None = None) -> list[Suggestion]:
    """``suggest`` for a second-level grid, or for each of a city's (``grids_of``). Kept codes
    belong to one grid or another: each grid is given those that are its own."""
    grids = grids_of(session, code)
    out, known = [], set()
    for grid in grids:
        problem = load_problem(session, grid, options, today)
        own = frozenset(k for k in options.keep
                        if k in problem.villages or k in problem.cells)
        known |= own
        opts = dataclasses.replace(options, keep=own)
        out.append(Suggestion(grid, problem, solve(problem, opts), opts))
    unknown = sorted(set(options.keep) - known)
    if unknown:
        raise RebalanceError(f"--keep {unknown[0]!r}: neither a village nor a cell of "
                             f"{code}")
    return out


def proposal(session: Session, suggestion: Suggestion):
    """The suggestion as a redraw proposal (gis.redraw.village_moves): checked, previewed and
    committed like any move of villages."""
    from gis import redraw

    if not suggestion.moves:
        return None
    return redraw.village_moves(session, suggestion.grid, suggestion.moves)
