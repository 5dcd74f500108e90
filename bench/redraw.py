"""Benchmark: committing a one-edge redraw between two cells, next to a full reassignment.

Run from the repository root:

    .venv/bin/python bench/redraw.py [--sizes small,medium,large] [--runs N]
                                     [--timeout S] [--database-url URL] [--reuse]

For each size it loads the cells and enterprises of bench/assignment.py (same generator, same
seeds) into its own database (default GRIDWATCH_BENCH_REDRAW_DATABASE_URL, else
``gridwatch_bench_redraw`` on the local cluster; its public schema is WIPED and migrated), runs
the full assignment once, and moves the shared edge of two neighbouring level-3 cells: a new
vertex in the middle of the edge, pushed into one of the two cells, so that exactly those two
cells change and still tile the same area. Then, each in its own transaction rolled back
afterwards (so every run starts from the same state), median of ``--runs``:

1. the reassignment step alone: the UPDATE closing the two versions and the INSERT of the new
   ones, as gis.redraw.commit issues them (the triggers reassign); checked against a direct
   recomputation in shapely of every enterprise near the two cells. Timed on new connections,
   and on one warm connection after a few unmeasured steps (as an app server's pooled
   connection is, where PL/pgSQL has switched gw_assign's statements to generic plans);
2. what a grid manager waits for: gis.redraw.check() (validate), effect() (the preview: who
   moves, whose workload changes; checked against shapely) and commit(), each on its own;
3. gw_assign(now(), NULL) with the new boundaries in place (assignment triggers disabled inside
   the transaction, so the full pass is what writes the changed rows), and the same after
   TRUNCATE enterprise_cell (every row written): the baseline.

At 1,000,000 x 10,000 it prints the issue's goals as PASS/FAIL: effect <= 300 ms, commit <= 150
ms, and the aim of validate, effect and commit <= 100 ms each. bench/README.md ("Redraw")
explains the columns. Exit status 1 if any check fails (not when a goal does).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool, StaticPool

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.assignment import (  # noqa: E402
    DISTRICT_CODE, GRID, SIZES, Data, Size, generate, load, prepare_database, vacuum)
from gis import redraw  # noqa: E402
from gis.db import make_engine, make_session_factory  # noqa: E402
from gis.migrate import alembic_config  # noqa: E402

DEFAULT_URL = "postgresql://gridwatch:gridwatch@127.0.0.1:5432/gridwatch_bench_redraw"
GOAL_SIZE = "large"
# The goals at GOAL_SIZE (ms): what must hold, and what it aims at.
GOALS_MS = (("effect", 300.0), ("commit", 150.0))
AIM_MS = 100.0
# How far the new vertex is pushed, as a share of the shared edge's length: the largest of
# these whose triangle fits inside the cell it is pushed into.
SHIFTS = (0.5, 0.4, 0.3, 0.2, 0.1, 0.05)
# Unmeasured reassignment steps on the warm connection before it is measured: PL/pgSQL plans
# a statement for the values at hand 5 times, then may keep a generic plan.
WARMUP = 6
USERNAME = "bench"
COMMENT = "bench: move the shared edge of two cells"


class CheckFailed(RuntimeError):
    pass


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The edit
# --------------------------------------------------------------------------------------------

@dataclass
class Edit:
    a: int                      # index of the cell that grows (into data.cell_geoms)
    b: int                      # index of the cell that shrinks
    codes: tuple[str, str]      # codes of a and b
    new_a: object               # MultiPolygon
    new_b: object               # MultiPolygon
    triangle: object            # the area that changes hands
    shift: float                # apex distance / edge length
    edge_m: float               # shared edge length (m, approximate)
    triangle_m2: float          # moved area (m², approximate)


def metres(dlon: float, dlat: float, lat: float) -> tuple[float, float]:
    return dlon * 111_320.0 * np.cos(np.radians(lat)), dlat * 110_574.0


def shared_edge(ga, gb):
    """The longest straight piece of the boundary two cells share, as (p0, p1), or None."""
    common = shapely.intersection(ga.exterior, gb.exterior)
    segments = []
    for part in shapely.get_parts(shapely.line_merge(common) if not common.is_empty else common):
        if part.geom_type != "LineString":
            continue
        coords = np.asarray(part.coords)
        segments += [(coords[i], coords[i + 1]) for i in range(len(coords) - 1)]
    if not segments:
        return None
    return max(segments, key=lambda s: np.hypot(*(s[1] - s[0])))


def try_push(grow, shrink, p0, p1, shift: float):
    """New (grow, shrink, triangle): the middle of p0-p1 pushed into ``shrink``."""
    d = p1 - p0
    length = np.hypot(*d)
    normal = np.array([-d[1], d[0]]) / length
    mid = (p0 + p1) / 2.0
    for sign in (1.0, -1.0):
        apex = np.round((mid + sign * normal * shift * length) / GRID) * GRID
        if shrink.contains(shapely.Point(apex)):
            break
    else:
        return None
    triangle = shapely.Polygon([p0, p1, apex])
    if not shapely.covers(shrink, triangle):
        return None
    new_grow = shapely.set_precision(shapely.union(grow, triangle), GRID)
    new_shrink = shapely.set_precision(shapely.difference(shrink, triangle), GRID)
    if (new_grow.geom_type != "Polygon" or new_shrink.geom_type != "Polygon"
            or not new_grow.is_valid or not new_shrink.is_valid
            or not shapely.coverage_is_valid(np.array([new_grow, new_shrink]))
            or abs(shapely.union(new_grow, new_shrink).symmetric_difference(
                shapely.union(grow, shrink)).area) > 1e-16):
        return None
    return new_grow, new_shrink, triangle


def make_edit(data: Data) -> Edit:
    """The first pair of level-3 cells by code that share a straight edge at least as long as
    the side of a square of the average cell's area (so that the moved triangle holds ~1/4 of
    a cell's enterprises); the middle of the edge is pushed into the higher code (else the
    lower) as far as fits."""
    cells = data.cell_geoms
    tree = shapely.STRtree(cells)
    min_edge = np.sqrt(shapely.area(cells).mean())
    for i in range(len(cells)):
        for j in sorted(int(k) for k in tree.query(cells[i], predicate="intersects") if k > i):
            edge = shared_edge(cells[i], cells[j])
            if edge is None or np.hypot(*(edge[1] - edge[0])) < min_edge:
                continue
            p0, p1 = edge
            for shift in SHIFTS:
                for grow, shrink in ((i, j), (j, i)):
                    pushed = try_push(cells[grow], cells[shrink], p0, p1, shift)
                    if pushed is None:
                        continue
                    new_grow, new_shrink, triangle = pushed
                    # The rest of the coverage must stay valid with the new pair in it.
                    near = [int(k) for k in tree.query(shapely.union(cells[i], cells[j]),
                                                       predicate="intersects")
                            if k not in (i, j)]
                    if not shapely.coverage_is_valid(np.array(
                            [new_grow, new_shrink, *cells[near]])):
                        continue
                    lat = (p0[1] + p1[1]) / 2
                    ex, ey = metres(*(p1 - p0), lat)
                    sx, sy = metres(1.0, 1.0, lat)
                    return Edit(grow, shrink, (data.cell_codes[grow], data.cell_codes[shrink]),
                                shapely.MultiPolygon([new_grow]),
                                shapely.MultiPolygon([new_shrink]), triangle, shift,
                                float(np.hypot(ex, ey)), float(triangle.area * sx * sy))
    raise RuntimeError("no pair of cells with a shared edge whose middle can be moved")


# --------------------------------------------------------------------------------------------
# Expected answer (shapely), for the enterprises near the two cells
# --------------------------------------------------------------------------------------------

@dataclass
class Expected:
    ids: np.ndarray        # enterprise ids inside the bounding box of the two cells
    before: dict           # id -> (cell_id, on_edge) with the old boundaries
    after: dict            # id -> (cell_id, on_edge) with the new boundaries
    changed: set           # ids whose (cell, on_edge) differ
    moved: set             # ids whose cell differs
    bbox: tuple


def rule(cells: np.ndarray, points: np.ndarray) -> list[tuple[int, bool]]:
    """The project's rule: lowest code among covering level-3 cells, on_edge if several.
    Codes are zero-padded in index order, so lowest code = lowest index; cell id = index + 3."""
    tree = shapely.STRtree(cells)
    p, c = tree.query(points, predicate="intersects")
    out = [(None, False)] * len(points)
    hits: dict[int, list[int]] = {}
    for pi, ci in zip(p.tolist(), c.tolist()):
        hits.setdefault(pi, []).append(ci)
    for pi, cs in hits.items():
        out[pi] = (min(cs) + 3, len(cs) > 1)
    return out


def expected(data: Data, edit: Edit) -> Expected:
    union = shapely.union(data.cell_geoms[edit.a], data.cell_geoms[edit.b])
    x0, y0, x1, y1 = union.bounds
    xy = data.xy
    mask = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    ids = np.nonzero(mask)[0] + 1
    points = shapely.points(xy[mask])
    new_cells = data.cell_geoms.copy()
    new_cells[edit.a] = edit.new_a.geoms[0]
    new_cells[edit.b] = edit.new_b.geoms[0]
    before = dict(zip(ids.tolist(), rule(data.cell_geoms, points)))
    after = dict(zip(ids.tolist(), rule(new_cells, points)))
    changed = {i for i in before if before[i] != after[i]}
    moved = {i for i in before if before[i][0] != after[i][0]}
    return Expected(ids, before, after, changed, moved, (x0, y0, x1, y1))


# --------------------------------------------------------------------------------------------
# Measurements: each in its own transaction, rolled back
# --------------------------------------------------------------------------------------------

@dataclass
class Step:
    seconds: float
    close_s: float
    insert_s: float
    closed: int            # enterprise_cell rows closed (valid_to = at), net
    inserted: int          # rows starting at `at`, net
    moved: int             # enterprises whose cell changed
    changed: int           # enterprises whose row changed (cell or on_edge)
    tuples: tuple          # enterprise_cell tuples inserted, updated, deleted (gross)
    rows: dict = field(default_factory=dict)   # id -> (cell, on_edge) of the new rows


def begin(session):
    session.begin()
    session.execute(text("SET LOCAL jit = off"))
    return session.execute(text("SELECT now()")).scalar()


def write_versions(session, versions: dict, edit: Edit, at) -> tuple[float, float]:
    """What gis.redraw.commit does after validation: close, then one INSERT."""
    t0 = time.perf_counter()
    session.execute(text("UPDATE cell_version SET valid_to = :at WHERE id = ANY(:ids)"),
                    {"at": at, "ids": [versions[c] for c in edit.codes]})
    t1 = time.perf_counter()
    session.execute(text("""
        INSERT INTO cell_version (cell_id, geom, valid_from, comment, created_by)
        SELECT c.id, ST_Multi(ST_CollectionExtract(ST_GeomFromWKB(g.wkb, 4326), 3)), :at,
               :comment, :u
        FROM (VALUES (:ca, :ga), (:cb, :gb)) AS g(code, wkb) JOIN cell c ON c.code = g.code"""),
        {"at": at, "comment": COMMENT, "u": USERNAME,
         "ca": edit.codes[0], "ga": shapely.to_wkb(edit.new_a),
         "cb": edit.codes[1], "gb": shapely.to_wkb(edit.new_b)})
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def new_rows(session, at) -> dict:
    return {r.enterprise_id: (r.cell_id, r.on_edge) for r in session.execute(text(
        "SELECT enterprise_id, cell_id, on_edge FROM enterprise_cell WHERE valid_from = :at"),
        {"at": at})}


def xact_tuples(session) -> tuple[int, int, int]:
    return tuple(session.execute(text("""
        SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables
        WHERE relid = 'enterprise_cell'::regclass""")).one())


def reassignment_step(Session, versions: dict, edit: Edit, exp: Expected) -> Step:
    session = Session()
    try:
        at = begin(session)
        # PostgreSQL 15's pg_stat_xact_* can include earlier transactions' counts not yet
        # flushed, so take the difference across the step.
        before = xact_tuples(session)
        close_s, insert_s = write_versions(session, versions, edit, at)
        seconds = close_s + insert_s
        tuples = tuple(b - a for a, b in zip(before, xact_tuples(session)))
        closed = session.execute(text(
            "SELECT count(*) FROM enterprise_cell WHERE valid_to = :at"), {"at": at}).scalar()
        rows = new_rows(session, at)
        old = {r.enterprise_id: r.cell_id for r in session.execute(text(
            "SELECT enterprise_id, cell_id FROM enterprise_cell WHERE valid_to = :at"),
            {"at": at})}
        moved = sum(1 for e, (c, _) in rows.items() if old.get(e) != c)
        # Every enterprise near the two cells has the answer shapely computes.
        x0, y0, x1, y1 = exp.bbox
        current = {r.enterprise_id: (r.cell_id, r.on_edge) for r in session.execute(text("""
            SELECT ec.enterprise_id, ec.cell_id, ec.on_edge
            FROM enterprise e JOIN enterprise_cell ec ON ec.enterprise_id = e.id
                 AND ec.valid_to IS NULL
            WHERE e.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"""),
            {"x0": x0, "y0": y0, "x1": x1, "y1": y1})}
        wrong = [(e, current.get(e), want) for e, want in exp.after.items()
                 if current.get(e) != want]
        if wrong:
            raise CheckFailed(f"{len(wrong)} enterprises near the moved edge have the wrong "
                              f"cell after the reassignment step, e.g. (id, got, want) "
                              f"{wrong[:5]}")
        if set(rows) != exp.changed or set(old) != exp.changed:
            raise CheckFailed(
                f"the reassignment step changed the rows of {len(rows)} enterprises "
                f"({len(old)} closed); shapely says exactly {len(exp.changed)} change: "
                f"extra {sorted(set(rows) - exp.changed)[:10]}, "
                f"missing {sorted(exp.changed - set(rows))[:10]}")
        return Step(seconds, close_s, insert_s, closed, len(rows), moved, len(rows), tuples,
                    rows)
    finally:
        session.rollback()
        session.close()


def check_effect(result: dict, edit: Edit, exp: Expected, step: Step) -> None:
    """effect() must list exactly the moves shapely computes (enterprise, from, to) and, for
    the two cells, the enterprises before and after that shapely counts."""
    code = {edit.a + 3: edit.codes[0], edit.b + 3: edit.codes[1]}
    want = sorted((f"B{i}", code.get(exp.before[i][0]), code.get(exp.after[i][0]))
                  for i in exp.moved)
    got = sorted((m["management_code"], m["from_cell"], m["to_cell"])
                 for m in result["moves"])
    if got != want or len(got) != step.moved:
        raise CheckFailed(f"effect() lists {len(got)} moves, shapely says {len(want)} (the "
                          f"reassignment step moved {step.moved}): extra "
                          f"{sorted(set(got) - set(want))[:5]}, missing "
                          f"{sorted(set(want) - set(got))[:5]}")
    cells = {c["code"]: c for c in result["cells"]}
    for cell_id, cell_code in code.items():
        row = cells.get(cell_code)
        count = (sum(1 for c, _ in exp.before.values() if c == cell_id),
                 sum(1 for c, _ in exp.after.values() if c == cell_id))
        got = None if row is None else (row["enterprises_before"], row["enterprises_after"])
        if got != count:
            raise CheckFailed(f"effect() gives {cell_code} {got} enterprises before and "
                              f"after, shapely {count}")


def proposal(versions: dict, edit: Edit) -> redraw.Proposal:
    return redraw.Proposal(DISTRICT_CODE, {edit.codes[0]: edit.new_a, edit.codes[1]: edit.new_b},
                           expected_versions={c: versions[c] for c in edit.codes})


def timed_call(engine, Session, fn, timeout_s: float):
    """Seconds fn(session) took inside its own rolled-back transaction, or None when it ran
    longer than timeout_s in all (its running statement is then cancelled)."""
    session = Session()
    fired = threading.Event()

    def cancel():
        fired.set()
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": pid})

    timer = None
    try:
        begin(session)
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        timer = threading.Timer(timeout_s, cancel)
        timer.start()
        t0 = time.perf_counter()
        try:
            result = fn(session)
        except DBAPIError:
            # A cancelled PostGIS call may report a GEOS error rather than the cancel itself.
            if not fired.is_set():
                raise
            return None, None
        finally:
            timer.cancel()
        seconds = time.perf_counter() - t0
        return (None, None) if seconds > timeout_s else (seconds, result)
    finally:
        if timer is not None:
            timer.join()
        session.rollback()
        session.close()


def keep_pieces(session, versions: dict, edit: Edit, at) -> None:
    """What the assignment triggers do besides assigning, done here while they are off: the
    boundary pieces gw_assign probes (cell_piece, gis/sql/assignment.sql) close with their
    versions, and the new versions get theirs."""
    if session.execute(text("SELECT to_regclass('cell_piece') IS NULL")).scalar():
        return
    session.execute(text("UPDATE cell_piece SET valid_to = :at WHERE version_id = ANY(:ids)"),
                    {"at": at, "ids": [versions[c] for c in edit.codes]})
    session.execute(text("""
        INSERT INTO cell_piece (version_id, cell_id, valid_from, valid_to, geom)
        SELECT v.id, v.cell_id, v.valid_from, v.valid_to, gw_cell_pieces(v.geom)
        FROM cell_version v WHERE v.valid_from = :at"""), {"at": at})


def full_reassignment(Session, versions: dict, edit: Edit, truncate: bool,
                      step_rows: dict) -> tuple[float, int]:
    """gw_assign(now(), NULL) with the new boundaries written while the assignment triggers
    are off (inside the transaction), so the full pass finds and writes the changes itself."""
    session = Session()
    try:
        at = begin(session)
        session.execute(text("ALTER TABLE cell_version DISABLE TRIGGER cell_version_assign_update, "
                             "DISABLE TRIGGER cell_version_assign_insert"))
        write_versions(session, versions, edit, at)
        keep_pieces(session, versions, edit, at)
        if truncate:
            session.execute(text("TRUNCATE enterprise_cell"))
        t0 = time.perf_counter()
        changed = session.execute(text("SELECT gw_assign(now(), NULL)")).scalar()
        seconds = time.perf_counter() - t0
        if not truncate:
            rows = new_rows(session, at)
            if rows != step_rows:
                diff = set(rows.items()) ^ set(step_rows.items())
                raise CheckFailed(f"the full reassignment and the reassignment step disagree "
                                  f"on {len(diff)} rows, e.g. {sorted(diff)[:5]}")
        return seconds, changed
    finally:
        session.rollback()
        session.close()


# --------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.1f}"


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.3f}" if seconds < 1 else f"{seconds:.2f}"


def repeat(label: str, runs: int, fn, timeout_s: float):
    """Up to ``runs`` timings of fn() -> (seconds|None, result); stops at the first timeout."""
    out, result = [], None
    for _ in range(runs):
        seconds, result = fn()
        out.append(seconds)
        if seconds is None:
            log(f"    {label}: timed out after {timeout_s:.0f} s")
            break
    log(f"    {label}: " + ", ".join(f"{fmt_ms(s)} ms" if s is not None else
                                      f"> {timeout_s:.0f} s" for s in out))
    return (median(out) if all(s is not None for s in out) else None), result


@dataclass
class Engines:
    main: object     # the bench's own connections (load, cancel)
    warm: object     # one connection for everything measured, reused (StaticPool)
    fresh: object    # a session factory that opens a new connection each time (NullPool)


def head_revision(url: str) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def built(raw, size: Size, head: str) -> int | None:
    """Enterprises assigned by an earlier run's build of ``size`` at migration ``head`` (its
    marker, written once the full assignment was committed), or None: load it."""
    with raw.cursor() as cur:
        cur.execute("SELECT to_regclass('bench.redraw_build') IS NOT NULL")
        if not cur.fetchone()[0]:
            raw.rollback()
            return None
        cur.execute("""SELECT b.assigned FROM bench.redraw_build b, public.alembic_version v
                       WHERE b.size = %s AND b.seed = %s AND b.head = %s
                         AND v.version_num = b.head""", (size.name, size.seed, head))
        row = cur.fetchone()
    raw.rollback()
    return row[0] if row else None


def reusable(url: str, size: Size) -> bool:
    """Does the database hold an earlier run's build of ``size`` (so it is not wiped)?"""
    try:
        engine = make_engine(url)
        raw = engine.raw_connection().driver_connection
    except DBAPIError:
        return False
    try:
        return built(raw, size, head_revision(url)) is not None
    finally:
        raw.close()
        engine.dispose()


def bench_size(engines: Engines, raw, size: Size, runs: int, timeout_s: float,
               reuse: bool, url: str, all_writes_runs: int) -> dict:
    engine = engines.main
    t0 = time.perf_counter()
    data = generate(size)
    head = head_revision(url)
    assigned = built(raw, size, head) if reuse else None
    if assigned is not None:
        log(f"[{size.name}] reusing the database as an earlier run built it "
            f"({assigned:,} enterprises x {len(data.cell_geoms):,} cells, migration {head})")
    else:
        load_s = load(raw, data)
        with raw.cursor() as cur:
            cur.execute("SELECT gw_assign(now(), NULL)")
            assigned = cur.fetchone()[0]
            cur.execute("""CREATE TABLE IF NOT EXISTS bench.redraw_build
                           (size text, seed bigint, head text, assigned bigint)""")
            cur.execute("TRUNCATE bench.redraw_build")
            cur.execute("INSERT INTO bench.redraw_build VALUES (%s, %s, %s, %s)",
                        (size.name, size.seed, head, assigned))
        raw.commit()
        vacuum(raw, "enterprise_cell")
        log(f"[{size.name}] generated, loaded and assigned {assigned:,} enterprises x "
            f"{len(data.cell_geoms):,} cells in {time.perf_counter() - t0:.1f} s "
            f"(load {load_s:.1f} s)")
    load_before = os.getloadavg()[0]

    edit = make_edit(data)
    exp = expected(data, edit)
    log(f"[{size.name}] edit: {edit.codes[1]} gives {edit.codes[0]} a triangle on their "
        f"{edit.edge_m:,.0f} m shared edge (apex at {edit.shift:.2f} x the edge, "
        f"{edit.triangle_m2:,.0f} m²); shapely: {len(exp.moved)} enterprises change cell, "
        f"{len(exp.changed)} change row, out of {len(exp.ids)} in the two cells' bounding box")
    Session = make_session_factory(engines.warm)
    with Session() as s:
        versions = dict(s.execute(text("""
            SELECT code, version_id FROM cell_current WHERE code = ANY(:c)"""),
            {"c": list(edit.codes)}).all())
        jit = s.execute(text("SHOW jit")).scalar()
    if jit != "off":
        raise CheckFailed(f"jit is {jit} on the project's connections")

    r: dict = {"size": size, "edit": edit, "expected": exp, "load_before": load_before}
    # New connection: gw_assign's statements are planned for the values at hand (PL/pgSQL's
    # first 5 runs of a statement on a connection). Warm connection: after WARMUP steps on the
    # same connection, as on an app server's pooled connection, where PL/pgSQL may have
    # switched a statement to its generic plan.
    for label, factory, warmup in (("new connection", engines.fresh, 0),
                                   ("warm connection", Session, WARMUP)):
        for _ in range(warmup):
            reassignment_step(factory, versions, edit, exp)
        steps = [reassignment_step(factory, versions, edit, exp) for _ in range(runs)]
        step = steps[0]
        key = "fresh" if warmup == 0 else "warm"
        r[key] = tuple(median([getattr(s, f) for s in steps])
                       for f in ("seconds", "close_s", "insert_s"))
        log(f"[{size.name}] reassignment step, {label}"
            f"{f' (after {warmup} unmeasured steps)' if warmup else ''}: " + ", ".join(
                f"{fmt_ms(s.seconds)} ms (close {fmt_ms(s.close_s)} + insert "
                f"{fmt_ms(s.insert_s)})" for s in steps))
    r["moved"], r["closed"], r["inserted"], r["tuples"] = (
        step.moved, step.closed, step.inserted, step.tuples)
    log(f"[{size.name}] reassignment step: {step.moved} moved, {step.closed} rows closed + "
        f"{step.inserted} inserted; enterprise_cell tuples ins/upd/del {step.tuples}; "
        "every run checked against shapely: ok")

    p = proposal(versions, edit)

    def run_validate(session):
        report = redraw.check(session, p)
        if report.errors or report.warnings:
            raise CheckFailed(f"validate() finds {report.as_dict()}")
        return report

    def run_effect(session):
        result = redraw.effect(session, p)
        check_effect(result, edit, exp, step)
        return len(result["moves"])

    def run_commit(session):
        return redraw.commit(session, p, username=USERNAME, comment=COMMENT)

    def measure(label, fn):
        return repeat(label, runs, lambda: timed_call(engine, Session, fn, timeout_s),
                      timeout_s)[0]

    log(f"[{size.name}] gis.redraw (cancelled after {timeout_s:.0f} s; load average "
        f"{os.getloadavg()[0]:.2f}):")
    r["validate"] = measure("validate()", run_validate)
    r["effect"] = measure("effect()", run_effect)
    if r["validate"] is None:
        r["commit"] = None
        log("    commit(): not run, validate() alone timed out")
    else:
        r["commit"] = measure("commit()", run_commit)
    r["timeout"] = timeout_s

    noop = [full_reassignment(Session, versions, edit, False, step.rows) for _ in range(runs)]
    if any(n != step.changed for _, n in noop):
        raise CheckFailed(f"gw_assign(now(), NULL) changed {[n for _, n in noop]} rows, the "
                          f"reassignment step {step.changed}")
    r["full"] = median([s for s, _ in noop])
    log(f"[{size.name}] gw_assign(now(), NULL), new boundaries, triggers off: " + ", ".join(
        f"{fmt_s(s)} s" for s, _ in noop) + f"; wrote {noop[0][1]} rows (same as the step)")
    writes = [full_reassignment(Session, versions, edit, True, step.rows)
              for _ in range(all_writes_runs)]
    if any(n != assigned for _, n in writes):
        raise CheckFailed(f"gw_assign after TRUNCATE wrote {[n for _, n in writes]} rows, "
                          f"not {assigned}")
    r["full_writes"] = median([s for s, _ in writes])
    log(f"[{size.name}] TRUNCATE enterprise_cell + gw_assign(now(), NULL): " + (", ".join(
        f"{fmt_s(s)} s" for s, _ in writes) or "skipped (--all-writes-runs 0)"))
    r["load_after"] = os.getloadavg()[0]
    return r


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                      enumerate(zip(r, widths))) for r in rows]
    return "\n".join(out)


def report(results: list[dict], runs: int) -> str:
    headers = ["size", "moved enterprises", "rows written", "tuples ins/upd/del",
               "reassignment step ms: new conn. (close + insert)", "warm conn. (close + insert)",
               "validate ms", "effect ms", "commit ms", "full reassignment s (+ all writes s)",
               "load avg"]
    rows = []
    for r in results:
        s = r["size"]
        t = r["timeout"]

        def ms(key):
            if r[key] is None:
                return "not run" if key == "commit" and r["validate"] is None else f">{t:.0f} s"
            return fmt_ms(r[key])
        rows.append([
            f"{s.name} {s.enterprises:,} x {s.cells:,}", f"{r['moved']:,}",
            f"{r['closed'] + r['inserted']:,} ({r['closed']} closed + {r['inserted']} new)",
            "/".join(f"{n:,}" for n in r["tuples"]),
            "{} ({} + {})".format(*map(fmt_ms, r["fresh"])),
            "{} ({} + {})".format(*map(fmt_ms, r["warm"])),
            ms("validate"), ms("effect"), ms("commit"),
            f"{fmt_s(r['full'])} ({fmt_s(r['full_writes'])})",
            f"{r['load_before']:.1f}-{r['load_after']:.1f}",
        ])
    out = [f"median of {runs} runs, each in its own transaction, rolled back", "",
           table(headers, rows), ""]
    goal = [r for r in results if r["size"].name == GOAL_SIZE]
    if not goal:
        out.append("goals at 1,000,000 x 10,000: not measured (add --sizes large)")
        return "\n".join(out)
    g = goal[0]
    full_ms = g["full"] * 1000

    def verdict(key, limit):
        v = g[key]
        if v is None:
            return "FAIL", (f"> {g['timeout']:.0f} s" if key != "commit" or g["validate"]
                            is not None else "not run")
        v *= 1000
        return ("PASS" if v <= limit else "FAIL"), (
            f"{v:,.1f} ms ({full_ms / v:,.0f}x faster than the full reassignment's "
            f"{g['full']:.2f} s)")
    out.append(f"goals at 1,000,000 x 10,000 (median of {runs}; load average "
               f"{g['load_before']:.1f} before, {g['load_after']:.1f} after):")
    for key, limit in GOALS_MS:
        result, detail = verdict(key, limit)
        out.append(f"  {result}  {key} <= {limit:.0f} ms: {detail}")
    for key in ("validate", "effect", "commit"):
        result, detail = verdict(key, AIM_MS)
        out.append(f"  {result}  aim: {key} <= {AIM_MS:.0f} ms: {detail}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium,large",
                        help="comma-separated: small (1,203 x 53), medium (100,000 x 1,000), "
                             "large (1,000,000 x 10,000)")
    parser.add_argument("--database-url",
                        default=os.environ.get("GRIDWATCH_BENCH_REDRAW_DATABASE_URL",
                                               DEFAULT_URL),
                        help="a database whose name contains 'bench'; it is wiped and migrated")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--all-writes-runs", type=int, default=None,
                        help="runs of the full reassignment after TRUNCATE (every row "
                             "written; minutes at large); default --runs, 0 skips it")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a size's data when an earlier run of this bench built the "
                             "same size at the current migration head (loading 1M enterprises "
                             "takes minutes); otherwise wipe and load as usual")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="give up on validate(), effect() or commit() after this many "
                             "seconds (the first run that does ends that measurement)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.sizes.split(",") if n.strip()]
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")

    if not (args.reuse and reusable(args.database_url, SIZES[names[0]])):
        prepare_database(args.database_url)
    # All engines come from gis.db.make_engine: the project's session settings (jit off, UTC).
    engine = make_engine(args.database_url)
    engines = Engines(engine, make_engine(args.database_url, poolclass=StaticPool),
                      make_session_factory(make_engine(args.database_url, poolclass=NullPool)))
    raw = engine.raw_connection().driver_connection
    with raw.cursor() as cur:
        cur.execute("SELECT version(), postgis_full_version()")
        pg, postgis = cur.fetchone()
    raw.commit()
    log(f"{pg.split(' on ')[0]}; PostGIS {postgis.split()[0].split('=')[1].strip(chr(34))}; "
        f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string}); "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    results = []
    try:
        for name in names:
            results.append(bench_size(
                engines, raw, SIZES[name], args.runs, args.timeout, args.reuse,
                args.database_url,
                args.runs if args.all_writes_runs is None else args.all_writes_runs))
    except CheckFailed as exc:
        print(f"FAIL: {exc}")
        return 1
    finally:
        raw.close()
        for e in (engine, engines.warm, engines.fresh.kw["bind"]):
            e.dispose()
    print()
    print(report(results, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
