"""Rebalance bench (docs/rebalance.md): for a grid unbalanced on purpose, each method's moves,
enterprises moved, largest deviation before and after, contiguity and time, side by side.

Grids:
- ``demo``: the demo city (loaded by the demo loader into a database of the bench's own,
  ``--database-url``, default gridwatch_bench_r on the local cluster; all in one transaction,
  rolled back) with a park of ``--park`` grade-D enterprises added in ``--park-cell``
  (gis/demo/park.py); the village graph read by gis.rebalance.load_problem (PostGIS).
- ``generated``: a ``--side`` × ``--side`` lattice of square villages cut into blocks of
  ``--block`` × ``--block`` villages (the cells), enterprises drawn per village (grades A–D in
  the demo's proportions), and a park in one cell; built in Python (no database).

Methods:
- ``mip`` (kept): gis.rebalance.mip, PuLP + CBC, fewest moves within the tolerance, every cell
  contiguous (flow), warm-started from the local search;
- ``local``: gis.rebalance.local_search, greedy moves seeded from today's cells;
- ``mip-balance``: the same PuLP model with no cost for moves, minimising the largest deviation
  (the territory-design objective: what a balanced redraw with this library gives) with every
  village free to join any cell;
- ``azp-seeded``: PySAL spopt's AZP (regionalisation with contiguity) seeded from today's cells,
  objective the squared deviations of the cells' workloads from the average;
- ``azp-scratch``: the same AZP from a random start (a redraw from scratch); its regions are
  matched to today's cells by the most villages shared (Hungarian method) before counting
  moves.

    .venv/bin/python bench/rebalance.py [--grids demo generated] [--tolerance 0.1]
        [--time-limit 20] [--side 30] [--block 6] [--park 20] [--json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gis import rebalance  # noqa: E402

GRADES = [("A", 365, 0.25), ("B", 180, 0.45), ("C", 120, 0.2), ("D", 90, 0.1)]


def demo_problem(url: str, cell: str, park: int, options) -> rebalance.Problem:
    """The demo city with a park in ``cell``: its grid's village graph, from PostGIS."""
    from gis.db import make_engine, make_session_factory, transaction
    from gis.demo.build import load_demo
    from gis.demo.park import add_park
    from gis.migrate import upgrade

    upgrade(url)
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            load_demo(session)
            add_park(session, cell, park)
            started = time.perf_counter()
            problem = rebalance.load_problem(session, cell.rsplit("-", 1)[0], options)
            problem.load_seconds = time.perf_counter() - started
            session.rollback()
    finally:
        engine.dispose()
    return problem


def generated_problem(side: int, block: int, park: int, seed: int, options):
    """A lattice of ``side`` × ``side`` villages, cells of ``block`` × ``block`` villages,
    about 2 enterprises a village (drawn, so cells differ by chance as real ones do), and a
    park of ``park`` grade-D enterprises in the village in the middle of the lattice."""
    rng = random.Random(seed)
    per_row = side // block
    villages, edges = {}, set()

    def code(x, y):
        return f"V{x:03d}{y:03d}"

    for x in range(side):
        for y in range(side):
            density = 1.5 + rng.random()
            n = max(0, int(rng.gauss(density, 1.0) + 0.5))
            inspections = 0.0
            for _ in range(n):
                r, acc = rng.random(), 0.0
                for _grade, days, share in GRADES:
                    acc += share
                    if r <= acc:
                        inspections += 365 / days
                        break
            cell = f"G-{(y // block) * per_row + x // block + 1:03d}"
            villages[code(x, y)] = rebalance.Village(code(x, y), code(x, y), cell, n,
                                                     inspections, 0, 1.0)
            if x + 1 < side:
                edges.add((code(x, y), code(x + 1, y)))
            if y + 1 < side:
                edges.add((code(x, y), code(x, y + 1)))
    middle = code(side // 2, side // 2)
    villages[middle].enterprises += park
    villages[middle].inspections += park * 365 / 90
    cells = sorted({v.cell for v in villages.values()})
    problem = rebalance.Problem("G", villages, edges, cells)
    rebalance.weigh(problem, options)
    problem.load_seconds = 0.0
    return problem


class Balance:
    """spopt objective: the sum over regions of (workload − average)²; lower is more even.
    ``update`` is the change a move makes (AZP asks it for every candidate move)."""

    def __init__(self, average: float):
        self.average = average

    def __call__(self, labels, attr):
        import numpy as np

        values = attr[:, 0] if attr.ndim > 1 else attr
        return float(sum((values[labels == r].sum() - self.average) ** 2
                         for r in np.unique(labels)))

    def update(self, moving_area, recipient_region, labels, attr):
        values = attr[:, 0] if attr.ndim > 1 else attr
        w = values[moving_area]
        donor = values[labels == labels[moving_area]].sum()
        recipient = values[labels == recipient_region].sum()
        a = self.average
        return ((donor - w - a) ** 2 + (recipient + w - a) ** 2
                - (donor - a) ** 2 - (recipient - a) ** 2)


def azp(problem: rebalance.Problem, seeded: bool, seed: int) -> rebalance.Solution:
    import numpy as np
    import pandas as pd
    from libpysal.weights import W
    from scipy.optimize import linear_sum_assignment
    from spopt.region import AZP
    from spopt.region.objective_function import ObjectiveFunction

    started = time.perf_counter()
    codes = list(problem.villages)
    index = {c: i for i, c in enumerate(codes)}
    nb = problem.neighbours()
    w = W({index[c]: [index[n] for n in sorted(nb[c])] for c in codes}, silence_warnings=True)
    frame = pd.DataFrame({"workload": [problem.villages[c].workload for c in codes]})
    cell_index = {c: j for j, c in enumerate(problem.cells)}
    today = np.array([cell_index[problem.villages[c].cell] for c in codes])
    loads = rebalance.workloads(problem)
    objective = Balance(sum(loads.values()) / len(loads))
    ObjectiveFunction.register(Balance)
    model = AZP(frame, w, ["workload"], n_clusters=len(problem.cells), random_state=seed,
                initial_labels=today.copy() if seeded else None, objective_func=objective)
    model.solve()
    _regions, labels = np.unique(np.asarray(model.labels_), return_inverse=True)
    # Regions to cells: the matching that keeps the most villages where they are.
    k = len(problem.cells)
    shared = np.zeros((max(k, len(_regions)), k))
    for region, cell in zip(labels, today):
        shared[region, cell] += 1
    rows, cols = linear_sum_assignment(-shared)
    to_cell = {r: problem.cells[c] for r, c in zip(rows, cols)}
    if len(to_cell) < len(_regions):  # more regions than cells: cannot be a rebalance
        raise RuntimeError(f"AZP made {len(_regions)} regions for {k} cells")
    moves = {c: to_cell[labels[i]] for i, c in enumerate(codes)
             if to_cell[labels[i]] != problem.villages[c].cell}
    return rebalance.Solution(moves, "azp-seeded" if seeded else "azp-scratch", "heuristic",
                              time.perf_counter() - started)


def run(problem: rebalance.Problem, options, methods, seed: int,
        balance_hops: int = 2) -> list[dict]:
    rows = []
    before = rebalance.max_deviation(rebalance.workloads(problem))
    for method in methods:
        if method == "mip":
            solution = rebalance.mip(problem, options)
        elif method == "local":
            solution = rebalance.local_search(problem, options)
        elif method == "mip-balance":
            free = dataclasses.replace(options, hops=balance_hops)
            solution = rebalance.mip(problem, free, balance_only=True)
            if solution.status == "fallback":  # CBC had no answer: the greedy's is no MIP's
                rows.append({"method": method, "moves": None, "enterprises": None,
                             "before": round(before, 3), "after": None, "within": None,
                             "contiguous": None, "seconds": round(solution.seconds, 2),
                             "status": "no answer in the time limit"})
                continue
        elif method in ("azp-seeded", "azp-scratch"):
            try:
                solution = azp(problem, method == "azp-seeded", seed)
            except ImportError as exc:
                print(f"  {method}: spopt missing ({exc}); pip install -e '.[bench]'",
                      file=sys.stderr)
                continue
        else:
            raise SystemExit(f"unknown method {method}")
        after = rebalance.max_deviation(rebalance.workloads(problem, solution.moves))
        contiguous = rebalance.contiguous_cells(problem, solution.moves)
        rows.append({"method": method, "moves": len(solution.moves),
                     "enterprises": sum(problem.villages[v].enterprises
                                        for v in solution.moves),
                     "before": round(before, 3), "after": round(after, 3),
                     "within": after <= options.tolerance + 1e-9,
                     "contiguous": all(contiguous.values()),
                     "seconds": round(solution.seconds, 2), "status": solution.status})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", nargs="+", default=["demo", "generated"])
    parser.add_argument("--methods", nargs="+",
                        default=["mip", "local", "mip-balance", "azp-seeded", "azp-scratch"])
    parser.add_argument("--database-url", default=os.environ.get(
        "GRIDWATCH_BENCH_DATABASE_URL",
        "postgresql://gridwatch:gridwatch@127.0.0.1:5432/gridwatch_bench_r"))
    parser.add_argument("--park-cell", default="130984-Z01-02")
    parser.add_argument("--park", type=int, default=20)
    parser.add_argument("--side", type=int, default=30)
    parser.add_argument("--block", type=int, default=6)
    parser.add_argument("--generated-park", type=int, default=20)
    parser.add_argument("--balance-hops", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    options = rebalance.Options(tolerance=args.tolerance, time_limit=args.time_limit)
    results = {}
    for grid in args.grids:
        if grid == "demo":
            problem = demo_problem(args.database_url, args.park_cell, args.park, options)
            label = (f"demo {problem.grid} + park of {args.park} D in {args.park_cell}: "
                     f"{len(problem.villages)} villages, {len(problem.cells)} cells, "
                     f"{sum(v.enterprises for v in problem.villages.values())} enterprises, "
                     f"graph from PostGIS in {problem.load_seconds:.2f} s")
        elif grid == "generated":
            problem = generated_problem(args.side, args.block, args.generated_park, args.seed,
                                        options)
            label = (f"generated {args.side}x{args.side} lattice, cells of {args.block}x"
                     f"{args.block}: {len(problem.villages)} villages, {len(problem.cells)} "
                     f"cells, {sum(v.enterprises for v in problem.villages.values())} "
                     f"enterprises (park of {args.generated_park} D)")
        else:
            raise SystemExit(f"unknown grid {grid}")
        rows = run(problem, options, args.methods, args.seed, args.balance_hops)
        results[grid] = {"label": label, "rows": rows}
        if not args.json:
            print(label)
            print(f"  tolerance {args.tolerance:.0%}, solver time limit {args.time_limit:g} s "
                  "a solve")
            print(f"  {'method':<12} {'moves':>6} {'ent.':>6} {'before':>7} {'after':>7} "
                  f"{'within':>6} {'contig':>6} {'time s':>7}  status")
            for r in rows:
                answered = r["after"] is not None
                after = f"{r['after']:.1%}" if answered else "-"
                moves = str(r["moves"]) if answered else "-"
                enterprises = str(r["enterprises"]) if answered else "-"
                print(f"  {r['method']:<12} {moves:>6} {enterprises:>6} "
                      f"{r['before']:>7.1%} {after:>7} {str(r['within']):>6} "
                      f"{str(r['contiguous']):>6} {r['seconds']:>7.2f}  {r['status']}")
            sys.stdout.flush()
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
