"""Benchmark: the project's full assignment (gw_assign) against geopandas.sjoin and a naive join.

Run from the repository root:

    .venv/bin/python bench/assignment.py [--sizes small,medium,large] [--variants]
                                         [--runs N] [--database-url URL]

The target database (default GRIDWATCH_BENCH_DATABASE_URL, else ``gridwatch_bench`` on the
local cluster) is created when missing and its public schema is WIPED and migrated to head.
Everything is generated from fixed seeds, so two runs load identical data. bench/README.md
explains every column.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gis.db import reset_database, make_engine, normalise_url  # noqa: E402
from gis.migrate import upgrade  # noqa: E402

DEFAULT_URL = "postgresql://gridwatch:gridwatch@127.0.0.1:5432/gridwatch_bench"

# A rectangle around Hejian (lon/lat); every generated cell lies inside it.
WEST, SOUTH, EAST, NORTH = 115.9, 38.25, 116.35, 38.65
GRID = 1e-7  # coordinates are snapped to this grid, so neighbours share edges exactly
VALID_FROM = "2020-01-01 00:00:00+00"
CITY_CODE = "BENCH"
DISTRICT_CODE = "BENCH-01"


@dataclass(frozen=True)
class Size:
    name: str
    enterprises: int
    cells: int
    seed: int
    runs: int  # timed runs of each measurement; the median is printed


SIZES = {
    "small": Size("small", 1_203, 53, 20261128, 3),
    "medium": Size("medium", 100_000, 1_000, 20261129, 3),
    "large": Size("large", 1_000_000, 10_000, 20261130, 1),
    # A province (gis/demo/province.py): 12 cities side by side under a level-0 province,
    # 168 second-level grids, 50,400 level-3 cells, 1,500,000 enterprises.
    "province": Size("province", 1_500_000, 50_400, 2009, 1),
}
# Issue 17: a full assignment writing every row within 1.5x geopandas end to end (aim 1.0x).
GOAL_RATIO, AIM_RATIO = 1.5, 1.0
# The naive join is skipped (and said so) when it runs longer than this.
NAIVE_TIMEOUT_S = 120


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

@dataclass
class Data:
    size: Size
    cell_codes: np.ndarray        # level-3 codes, zero-padded, in id order
    cell_geoms: np.ndarray        # level-3 polygons, snapped to GRID
    xy: np.ndarray                # (n, 2) enterprise points
    kinds: dict = field(default_factory=dict)  # how many points of each generated kind


def level3_code(i: int) -> str:
    return f"{DISTRICT_CODE}-{i:05d}"


def make_cells(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Voronoi partition of the rectangle into n polygons, snapped to GRID.

    Voronoi neighbours are computed from the same vertices, so after snapping every shared edge
    is bit-for-bit identical in both polygons; ``shapely.coverage_is_valid`` checks it.
    """
    rect = shapely.box(WEST, SOUTH, EAST, NORTH)
    seeds = rng.uniform([WEST, SOUTH], [EAST, NORTH], size=(n, 2))
    cells = shapely.get_parts(shapely.voronoi_polygons(
        shapely.multipoints(seeds), extend_to=rect, ordered=True))
    cells = shapely.set_precision(shapely.intersection(cells, rect), GRID)
    if (len(cells) != n or not shapely.is_valid(cells).all()
            or (shapely.get_type_id(cells) != 3).any() or not shapely.coverage_is_valid(cells)):
        raise RuntimeError("generated cells are not a valid polygonal coverage")
    # Sort cells west to east so codes have some spatial order, as real codes do.
    order = np.argsort(shapely.get_coordinates(shapely.centroid(cells))[:, 0], kind="stable")
    return cells[order]


def edge_points(cells: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Points exactly on cell boundaries: a third shared vertices, the rest edge midpoints that
    lie exactly on their segment in floating point (checked with GEOS' robust predicates), a
    few of them on the outer rim (covered by one cell, "within" none)."""
    coords, ring = shapely.get_coordinates(shapely.get_exterior_ring(cells), return_index=True)
    # Vertices: every vertex of the coverage lies on at least one cell's boundary.
    vertices = np.unique(coords, axis=0)
    n_vert = count // 3
    n_rim = max(2, count // 10)
    n_mid = count - n_vert - n_rim
    # Midpoints of every ring segment (consecutive coordinates of the same ring).
    same = ring[:-1] == ring[1:]
    mids = ((coords[:-1] + coords[1:]) / 2.0)[same]
    mids = np.unique(mids, axis=0)
    tree = shapely.STRtree(cells)
    points = shapely.points(mids)
    hits = np.bincount(tree.query(points, predicate="intersects")[0], minlength=len(mids))
    inside = np.bincount(tree.query(points, predicate="within")[0], minlength=len(mids))
    exact = inside == 0                       # on a boundary, bit for bit
    shared = mids[exact & (hits >= 2)]
    rim = mids[exact & (hits == 1)]
    return np.concatenate([
        vertices[rng.choice(len(vertices), size=n_vert, replace=False)],
        shared[rng.choice(len(shared), size=n_mid, replace=False)],
        rim[rng.choice(len(rim), size=n_rim, replace=False)],
    ])


def generate(size: Size) -> Data:
    rng = np.random.default_rng(size.seed)
    cells = make_cells(size.cells, rng)
    n = size.enterprises
    n_edge = max(12, n // 2000)          # exactly on boundaries (shared edges, vertices, rim)
    n_out = max(3, n // 10000)           # outside every cell: recorded with no cell
    n_in = n - n_edge - n_out
    inside = rng.uniform([WEST, SOUTH], [EAST, NORTH], size=(n_in, 2))
    on_edge = edge_points(cells, n_edge, rng)
    # Outside: a band 0.01-0.03 degrees west of the rectangle.
    out = np.column_stack([rng.uniform(WEST - 0.03, WEST - 0.01, n_out),
                           rng.uniform(SOUTH, NORTH, n_out)])
    xy = np.concatenate([inside, on_edge, out])
    xy = xy[rng.permutation(len(xy))]   # ids in random spatial order, as a real import
    codes = np.array([level3_code(i) for i in range(len(cells))])
    return Data(size, codes, cells, xy,
                {"uniform": n_in, "on boundaries": n_edge, "outside": n_out})


# --------------------------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------------------------

def wipe_and_migrate(url: str, scratch_schema: str) -> None:
    """Create the database when missing, wipe its public schema and the bench's own
    ``scratch_schema``, and migrate it to head. Only databases named ...bench... are wiped."""
    target = make_url(normalise_url(url))
    if "bench" not in (target.database or ""):
        sys.exit(f"refusing to wipe database {target.database!r}: its name must contain 'bench'")
    reset_database(url)
    engine = create_engine(target, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {scratch_schema} CASCADE"))
    engine.dispose()
    upgrade(target.render_as_string(hide_password=False))


def prepare_database(url: str) -> None:
    wipe_and_migrate(url, "bench")
    engine = create_engine(make_url(normalise_url(url)), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        # Scratch space of the bench itself, outside the project's schema.
        conn.execute(text("CREATE SCHEMA bench"))
        conn.execute(text("CREATE TABLE bench.result "
                          "(enterprise_id bigint, cell_id bigint, on_edge boolean)"))
    engine.dispose()


def copy_rows(cur, table: str, columns: list[str], frame: pd.DataFrame, chunk: int = 200_000):
    for start in range(0, len(frame), chunk):
        buf = io.StringIO()
        frame.iloc[start:start + chunk].to_csv(buf, header=False, index=False)
        buf.seek(0)
        cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buf)


def ewkb(geoms: np.ndarray) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)


def load(raw, data: Data) -> float:
    """Replace all cells and enterprises with ``data``; returns seconds taken.

    Cells go in first (no enterprise yet, so their insert trigger has nothing to assign), then
    enterprises by COPY with their insert trigger disabled and the GiST index built afterwards;
    enterprise_cell is left empty.
    """
    t0 = time.perf_counter()
    rect = shapely.box(WEST, SOUTH, EAST, NORTH)
    n = len(data.cell_geoms)
    with raw.cursor() as cur:
        cur.execute("TRUNCATE enterprise_cell, enterprise, cell_version, cell, bench.result "
                    "RESTART IDENTITY CASCADE")
        cells = pd.DataFrame({
            "id": np.arange(1, n + 3),
            "code": [CITY_CODE, DISTRICT_CODE, *data.cell_codes],
            "name": ["bench city", "bench district", *data.cell_codes],
            "level": [1, 2] + [3] * n,
            "parent_id": pd.array([None, 1] + [2] * n, dtype="Int64"),
        })
        copy_rows(cur, "cell", list(cells.columns), cells)
        geoms = np.concatenate([[rect, rect], data.cell_geoms])
        versions = pd.DataFrame({
            "id": np.arange(1, n + 3), "cell_id": np.arange(1, n + 3),
            "geom": ewkb(shapely.multipolygons(geoms[:, None])), "valid_from": VALID_FROM,
        })
        copy_rows(cur, "cell_version", list(versions.columns), versions)
        m = len(data.xy)
        ids = np.arange(1, m + 1)
        enterprises = pd.DataFrame({
            "id": ids, "management_code": np.char.add("B", ids.astype(str)),
            "name": "bench enterprise", "grade": "B",
            "geom": ewkb(shapely.points(data.xy)), "valid_from": VALID_FROM,
        })
        cur.execute("ALTER TABLE enterprise DISABLE TRIGGER enterprise_assign_insert")
        cur.execute("DROP INDEX idx_enterprise_geom")
        copy_rows(cur, "enterprise", list(enterprises.columns), enterprises)
        cur.execute("CREATE INDEX idx_enterprise_geom ON enterprise USING gist (geom)")
        cur.execute("ALTER TABLE enterprise ENABLE TRIGGER enterprise_assign_insert")
        for table in ("cell", "cell_version", "enterprise"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))")
    raw.commit()
    vacuum(raw, "cell", "cell_version", "enterprise", "enterprise_cell")
    return time.perf_counter() - t0


def vacuum(raw, *tables: str) -> None:
    old = raw.autocommit
    raw.autocommit = True
    with raw.cursor() as cur:
        for table in tables:
            cur.execute(f"VACUUM ANALYZE {table}")
    raw.autocommit = old


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------

def timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


def execute(raw, sql: str, params=None, *, commit: bool = True):
    with raw.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone() if cur.description else None
    if commit:
        raw.commit()
    return row[0] if row else None


def project_full(raw) -> tuple[float, int]:
    """gw_assign(now(), NULL) on an empty enterprise_cell: compute and write every row."""
    execute(raw, "TRUNCATE enterprise_cell")
    vacuum(raw, "enterprise_cell")
    return timed(execute, raw, "SELECT gw_assign(now(), NULL)")


def project_noop(raw) -> tuple[float, int]:
    """The same call again: nothing changed, so it computes everything and writes nothing."""
    return timed(execute, raw, "SELECT gw_assign(now(), NULL)")


def project_rows(raw) -> pd.DataFrame:
    with raw.cursor() as cur:
        cur.execute("SELECT enterprise_id, coalesce(cell_id, 0), on_edge FROM enterprise_cell "
                    "WHERE valid @> now()")
        rows = cur.fetchall()
    raw.commit()
    frame = pd.DataFrame(rows, columns=["enterprise_id", "cell_id", "on_edge"])
    return frame.set_index("enterprise_id").sort_index()


def frames(data: Data) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """In-memory copies of what the database holds: points (index = enterprise id) and the
    level-3 cells (cell id, code). Built fresh, so no spatial index is cached."""
    points = gpd.GeoDataFrame(index=pd.RangeIndex(1, len(data.xy) + 1, name="enterprise_id"),
                              geometry=shapely.points(data.xy), crs=4326)
    cells = gpd.GeoDataFrame({"cell_id": np.arange(3, len(data.cell_geoms) + 3),
                              "code": data.cell_codes},
                             geometry=data.cell_geoms.copy(), crs=4326)
    return points, cells


def sjoin_in_memory(data: Data, predicate: str) -> float:
    points, cells = frames(data)
    t0 = time.perf_counter()
    gpd.sjoin(points, cells, how="inner", predicate=predicate)
    return time.perf_counter() - t0


def resolve(joined: pd.DataFrame) -> pd.DataFrame:
    """Apply the project's rule to an sjoin result: lowest code wins, on_edge if several."""
    hits = joined.dropna(subset=["cell_id"])
    counts = hits.groupby(level=0).size()
    first = hits.sort_values("code", kind="stable")
    first = first[~first.index.duplicated(keep="first")]
    out = pd.DataFrame(index=joined.index.unique())
    out["cell_id"] = first["cell_id"].reindex(out.index)
    out["on_edge"] = counts.reindex(out.index, fill_value=0) > 1
    return out


def geopandas_end_to_end(engine, raw) -> float:
    """read_postgis the points and cells, sjoin, apply the rule, COPY the result back."""
    t0 = time.perf_counter()
    with engine.connect() as conn:
        points = gpd.read_postgis(
            "SELECT id AS enterprise_id, geom FROM enterprise WHERE valid_from <= now()",
            conn, geom_col="geom", index_col="enterprise_id")
        cells = gpd.read_postgis(
            "SELECT cv.cell_id, c.code, cv.geom FROM cell_version cv "
            "JOIN cell c ON c.id = cv.cell_id "
            "WHERE c.kind = 'territorial' AND c.level = 3 AND cv.valid @> now()",
            conn, geom_col="geom")
    joined = gpd.sjoin(points, cells, how="left", predicate="intersects")
    result = resolve(joined).reset_index()
    result["cell_id"] = result["cell_id"].astype("Int64")
    with raw.cursor() as cur:
        cur.execute("TRUNCATE bench.result")
        copy_rows(cur, "bench.result", ["enterprise_id", "cell_id", "on_edge"], result)
    raw.commit()
    return time.perf_counter() - t0


NAIVE_SQL = """
    INSERT INTO bench.result (enterprise_id, cell_id)
    SELECT e.id, cv.cell_id
    FROM enterprise e
    JOIN cell_version cv ON ST_Covers(cv.geom, e.geom)
    JOIN cell c ON c.id = cv.cell_id
    WHERE c.kind = 'territorial' AND c.level = 3 AND cv.valid @> now()
"""


def plan_shape(raw, sql: str) -> str:
    """Which side of the spatial join the planner put outside, read from EXPLAIN."""
    with raw.cursor() as cur:
        cur.execute(f"EXPLAIN {sql}")
        plan = "\n".join(r[0] for r in cur.fetchall())
    raw.rollback()
    if "idx_cell_version_geom" in plan:
        return "points outer"
    if "idx_enterprise_geom" in plan:
        return "cells outer"
    return "no spatial index"


def naive_join(raw, timeout_s: float | None) -> float | None:
    """The planner's own plan for a points x cells join (no fence, no tie-break)."""
    execute(raw, "TRUNCATE bench.result")
    with raw.cursor() as cur:
        if timeout_s:
            cur.execute(f"SET statement_timeout = '{int(timeout_s * 1000)}ms'")
        try:
            t0 = time.perf_counter()
            cur.execute(NAIVE_SQL)
            raw.commit()
            return time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - only a timeout is expected here
            raw.rollback()
            if "statement timeout" not in str(exc):
                raise
            return None
        finally:
            cur.execute("RESET statement_timeout")
            raw.commit()


# --------------------------------------------------------------------------------------------
# Agreement
# --------------------------------------------------------------------------------------------

@dataclass
class Agreement:
    boundary_points: int      # points on at least one cell boundary (intersects != within)
    off_edge_disagree: int    # elsewhere: project != sjoin(within); must be 0
    on_edge_disagree: int     # on boundaries: project != sjoin(within) (within finds none)
    on_edge_multi: int        # on boundaries: sjoin(intersects) finds several cells
    rule_mismatch: int        # project != sjoin(intersects) + lowest code + on_edge flag


def agreement(data: Data, project: pd.DataFrame) -> Agreement:
    points, cells = frames(data)
    within = gpd.sjoin(points, cells, how="left", predicate="within")
    within = within[~within.index.duplicated(keep="first")]["cell_id"].fillna(0).astype(int)
    inter = gpd.sjoin(points, cells, how="left", predicate="intersects")
    n_inter = inter["cell_id"].notna().groupby(level=0).sum()
    n_within = gpd.sjoin(points, cells, how="inner", predicate="within").groupby(
        level=0).size().reindex(points.index, fill_value=0)
    rule = resolve(inter)
    rule_cell = rule["cell_id"].fillna(0).astype(int)

    ours = project.reindex(points.index)
    missing = int(ours["cell_id"].isna().sum())
    ours_cell = ours["cell_id"].fillna(-1).astype(int)
    ours_edge = ours["on_edge"].fillna(False).astype(bool)
    boundary = (n_inter != n_within).to_numpy()
    differs = (ours_cell != within).to_numpy()
    mismatch = ((ours_cell != rule_cell) | (ours_edge != rule["on_edge"])).to_numpy()
    return Agreement(
        boundary_points=int(boundary.sum()),
        off_edge_disagree=int((differs & ~boundary).sum()) + missing,
        on_edge_disagree=int((differs & boundary).sum()),
        on_edge_multi=int(((n_inter > 1).to_numpy() & boundary).sum()),
        rule_mismatch=int(mismatch.sum()),
    )


# --------------------------------------------------------------------------------------------
# Variants of the bulk query (--variants): the same level-3 answer, different query shapes
# --------------------------------------------------------------------------------------------

LEVEL3 = """SELECT cv.cell_id, c.code, cv.geom
            FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
            WHERE c.kind = 'territorial' AND c.level = 3 AND cv.valid @> now()"""

VARIANTS: dict[str, str] = {
    # The shape gw_assign shipped with: a LATERAL subquery the planner flattens into an
    # ordinary join, then runs points outer (one probe of the cells' index per point).
    "lateral, flattened (as shipped)": f"""
        SELECT h.enterprise_id, (array_agg(h.cell_id ORDER BY h.code))[1] AS cell_id,
               count(*) > 1 AS on_edge
        FROM ({LEVEL3}) v
        CROSS JOIN LATERAL (
            SELECT e.id AS enterprise_id, v.cell_id, v.code
            FROM enterprise e WHERE ST_Covers(v.geom, e.geom) AND e.valid_from <= now()
        ) h
        GROUP BY h.enterprise_id""",
    # Cells outer, forced by an OFFSET 0 fence: the cells' index is invisible through the
    # subquery, so the only indexed plan probes the points' GiST index once per cell. This is
    # gw_assign's pass 1 now.
    "cells outer (OFFSET 0 fence; gw_assign now)": f"""
        SELECT e.id AS enterprise_id, (array_agg(v.cell_id ORDER BY v.code))[1] AS cell_id,
               count(*) > 1 AS on_edge
        FROM ({LEVEL3} OFFSET 0) v
        JOIN enterprise e ON ST_Covers(v.geom, e.geom)
        WHERE e.valid_from <= now()
        GROUP BY e.id""",
    # The same, fenced by a MATERIALIZED CTE, with the tie-break as min(rank of code).
    "cells outer (CTE), min(rank)": f"""
        WITH v AS MATERIALIZED (
            SELECT cell_id, geom, row_number() OVER (ORDER BY code) AS rk FROM ({LEVEL3}) l
        )
        SELECT g.enterprise_id, v.cell_id, g.n > 1 AS on_edge
        FROM (SELECT e.id AS enterprise_id, min(v.rk) AS rk, count(*) AS n
              FROM v JOIN enterprise e ON ST_Covers(v.geom, e.geom)
              WHERE e.valid_from <= now() GROUP BY e.id) g
        JOIN v ON v.rk = g.rk""",
    # Cells cut by ST_Subdivide (at most 5 vertices a piece: these cells have ~7): tighter
    # boxes, more probes. A point on a cut line is in two pieces of one cell: DISTINCT first.
    "cells outer over ST_Subdivide(geom, 5)": f"""
        WITH p AS MATERIALIZED (
            SELECT cell_id, code, ST_Subdivide(geom, 5) AS geom FROM ({LEVEL3}) l
        )
        SELECT h.enterprise_id, (array_agg(h.cell_id ORDER BY h.code))[1] AS cell_id,
               count(*) > 1 AS on_edge
        FROM (SELECT DISTINCT e.id AS enterprise_id, p.cell_id, p.code
              FROM p JOIN enterprise e ON ST_Covers(p.geom, e.geom)
              WHERE e.valid_from <= now()) h
        GROUP BY h.enterprise_id""",
    # Cells outer in parallel: each cell's probe is a (parallel safe) plpgsql function, which
    # the planner cannot flatten; the hits are gathered, then grouped by the leader.
    "cells outer, parallel (2 workers)": f"""
        SELECT h.enterprise_id, (array_agg(v.cell_id ORDER BY v.code))[1] AS cell_id,
               count(*) > 1 AS on_edge
        FROM ({LEVEL3}) v
        CROSS JOIN LATERAL bench.points_in(v.geom, now()) AS h(enterprise_id)
        GROUP BY h.enterprise_id""",
}

POINTS_IN = """
CREATE OR REPLACE FUNCTION bench.points_in(g geometry, at timestamptz) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 100 AS $fn$
BEGIN
    RETURN QUERY SELECT e.id FROM public.enterprise e
                 WHERE ST_Covers(g, e.geom) AND e.valid_from <= at;
END $fn$
"""
CURRENT_SHAPE = "cells outer (OFFSET 0 fence; gw_assign now)"
PARALLEL_SETTINGS = ("SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; "
                     "SET LOCAL min_parallel_table_scan_size = 0")


def run_variant(raw, name: str, sql: str) -> tuple[float, int]:
    with raw.cursor() as cur:
        if "parallel" in name:
            cur.execute(PARALLEL_SETTINGS)
        t0 = time.perf_counter()
        cur.execute(f"CREATE TEMP TABLE bench_variant ON COMMIT DROP AS {sql}")
        rows = cur.rowcount
        elapsed = time.perf_counter() - t0
    raw.rollback()
    return elapsed, rows


UPDATE_FROM = """
    UPDATE bench.result r SET cell_id = cv.cell_id
    FROM enterprise e, cell_version cv, cell c
    WHERE e.id = r.enterprise_id AND c.id = cv.cell_id AND c.kind = 'territorial'
      AND c.level = 3 AND cv.valid @> now() AND ST_Covers(cv.geom, e.geom)
"""


def update_from(raw, timeout_s: float) -> tuple[float | None, str]:
    """The naive bulk shape: rewrite every row of a result table with UPDATE ... FROM.
    Returns (seconds or None after the timeout, the plan shape the planner chose)."""
    execute(raw, "TRUNCATE bench.result")
    execute(raw, "INSERT INTO bench.result (enterprise_id) SELECT id FROM enterprise")
    vacuum(raw, "bench.result")
    shape = plan_shape(raw, UPDATE_FROM)
    with raw.cursor() as cur:
        cur.execute(f"SET statement_timeout = '{int(timeout_s * 1000)}ms'")
        try:
            t0 = time.perf_counter()
            cur.execute(UPDATE_FROM)
            raw.commit()
            return time.perf_counter() - t0, shape
        except Exception as exc:  # noqa: BLE001 - only a timeout is expected here
            raw.rollback()
            if "statement timeout" not in str(exc):
                raise
            return None, shape
        finally:
            cur.execute("RESET statement_timeout")
            raw.commit()


# What writing the answer costs: the same rows inserted into copies of enterprise_cell with
# more and more of its constraints (the last one is enterprise_cell itself).
WRITE_STEPS = [
    ("heap only", []),
    ("+ primary key and btree indexes", [
        "ALTER TABLE bench.w ADD PRIMARY KEY (id)",
        "CREATE INDEX ON bench.w (cell_id)",
        "CREATE UNIQUE INDEX ON bench.w (enterprise_id) WHERE valid_to IS NULL"]),
    ("+ foreign keys (cell, enterprise)", [
        "ALTER TABLE bench.w ADD FOREIGN KEY (cell_id) REFERENCES cell (id)",
        "ALTER TABLE bench.w ADD FOREIGN KEY (enterprise_id) REFERENCES enterprise (id) "
        "ON DELETE CASCADE"]),
    ("+ GiST exclusion (= enterprise_cell)", [
        "ALTER TABLE bench.w ADD EXCLUDE USING gist (enterprise_id WITH =, valid WITH &&)"]),
]


def write_costs(raw) -> list[tuple[str, float, float]]:
    """(step, seconds inserting in enterprise_id order, seconds in hashed order)."""
    execute(raw, "DROP TABLE IF EXISTS bench.w, bench.src")
    execute(raw, "CREATE TABLE bench.src AS SELECT enterprise_id, cell_id, on_edge, valid_from "
                 "FROM enterprise_cell WHERE valid @> now()")
    execute(raw, "CREATE TABLE bench.w (LIKE enterprise_cell INCLUDING DEFAULTS "
                 "INCLUDING GENERATED)")
    out = []
    for step, ddl in WRITE_STEPS:
        for statement in ddl:
            execute(raw, statement)
        times = []
        for order in ("enterprise_id", "hashint8(enterprise_id)"):
            execute(raw, "TRUNCATE bench.w")
            times.append(timed(execute, raw, f"""
                INSERT INTO bench.w (enterprise_id, cell_id, on_edge, valid_from)
                SELECT * FROM bench.src ORDER BY {order}""")[0])
        out.append((step, *times))
    execute(raw, "DROP TABLE bench.w, bench.src")
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0.1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s"


def median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                      enumerate(zip(r, widths))) for r in rows]
    return "\n".join(out)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_province(engine, raw, size: Size) -> float:
    """gis.demo.province.generate_province into the emptied schema (its own seed), then the
    same state as ``load``: enterprise_cell empty, everything analysed."""
    from gis.db import make_session_factory
    from gis.demo.province import generate_province
    t0 = time.perf_counter()
    with raw.cursor() as cur:
        cur.execute("TRUNCATE cell_piece, enterprise_cell, enterprise, cell_version, cell, "
                    "bench.result RESTART IDENTITY CASCADE")
    raw.commit()
    with make_session_factory(engine)() as session:
        generate_province(session, enterprises=size.enterprises, seed=size.seed,
                          inspections_per_enterprise=0, complaints_per_enterprise=0,
                          echo=log)
        session.commit()
    execute(raw, "TRUNCATE enterprise_cell")
    vacuum(raw, "cell", "cell_version", "cell_piece", "enterprise", "enterprise_cell")
    return time.perf_counter() - t0


def province_agreement(raw) -> Agreement:
    """The project's rows against bench.result (geopandas end to end, the same rule): the
    province's points are drawn strictly inside their cells, so every one must agree."""
    with raw.cursor() as cur:
        cur.execute("""
            SELECT count(*) FROM enterprise_cell ec
            JOIN bench.result r ON r.enterprise_id = ec.enterprise_id
            WHERE ec.valid_to IS NULL
              AND (ec.cell_id IS DISTINCT FROM r.cell_id OR ec.on_edge <> r.on_edge)""")
        differ = cur.fetchone()[0]
    raw.commit()
    return Agreement(off_edge_disagree=differ, on_edge_disagree=0, boundary_points=0,
                     on_edge_multi=0, rule_mismatch=differ)


def bench_size(engine, raw, size: Size, runs: int, variants: bool) -> dict:
    if size.name == "province":
        return bench_province(engine, raw, size, runs)
    data = generate(size)
    load_s = load(raw, data)
    log(f"[{size.name}] loaded {len(data.xy):,} enterprises x {len(data.cell_geoms):,} cells "
        f"in {fmt(load_s)} ({', '.join(f'{v:,} {k}' for k, v in data.kinds.items())})")
    r: dict = {"size": size, "runs": runs}

    full = []
    for _ in range(runs):
        seconds, changed = project_full(raw)
        if changed != len(data.xy):
            sys.exit(f"[{size.name}] full assignment wrote {changed} rows, not {len(data.xy)}")
        full.append(seconds)
    r["full"] = median(full)
    log(f"[{size.name}] project full assignment: {', '.join(fmt(s) for s in full)}")
    r["agreement"] = agreement(data, project_rows(raw))

    vacuum(raw, "enterprise_cell")  # what autovacuum does after a bulk write
    noop = []
    for _ in range(runs):
        seconds, changed = project_noop(raw)
        if changed != 0:
            sys.exit(f"[{size.name}] the no-op re-run changed {changed} rows")
        noop.append(seconds)
    r["noop"] = median(noop)
    log(f"[{size.name}] project no-op re-run: {', '.join(fmt(s) for s in noop)}")

    for predicate in ("within", "intersects"):
        r[predicate] = median([sjoin_in_memory(data, predicate) for _ in range(runs)])
    r["e2e"] = median([geopandas_end_to_end(engine, raw) for _ in range(runs)])
    log(f"[{size.name}] sjoin within {fmt(r['within'])}, intersects {fmt(r['intersects'])}, "
        f"geopandas end to end {fmt(r['e2e'])}")
    r["naive_plan"] = plan_shape(raw, NAIVE_SQL)
    r["naive"] = median([naive_join(raw, NAIVE_TIMEOUT_S) for _ in range(runs)])
    log(f"[{size.name}] naive INSERT ... SELECT join ({r['naive_plan']}): "
        f"{fmt(r['naive']) if r['naive'] else f'skipped (> {NAIVE_TIMEOUT_S} s)'}")

    if variants:
        execute(raw, POINTS_IN)
        r["variants"] = {}
        for name, sql in VARIANTS.items():
            results = [run_variant(raw, name, sql) for _ in range(runs)]
            r["variants"][name] = (median([s for s, _ in results]), results[0][1])
            log(f"[{size.name}] variant {name}: {', '.join(fmt(s) for s, _ in results)}")
        r["update_from"], r["update_plan"] = update_from(raw, NAIVE_TIMEOUT_S)
        log(f"[{size.name}] UPDATE ... FROM ... ST_Covers ({r['update_plan']}): "
            f"{fmt(r['update_from'])}")
        r["writes"] = write_costs(raw)
        log(f"[{size.name}] write costs: " + "; ".join(
            f"{step} {fmt(a)} / {fmt(b)}" for step, a, b in r["writes"]))
        # Last, as it rewrites the table: the same points stored in spatial (GiST) order.
        execute(raw, "CLUSTER enterprise USING idx_enterprise_geom")
        vacuum(raw, "enterprise")
        name = CURRENT_SHAPE
        r["clustered"] = median([run_variant(raw, name, VARIANTS[name])[0]
                                 for _ in range(runs)])
        r["clustered_noop"] = median([project_noop(raw)[0] for _ in range(runs)])
        log(f"[{size.name}] enterprise CLUSTERed: {name} {fmt(r['clustered'])}, "
            f"project no-op {fmt(r['clustered_noop'])}")
    return r


def bench_province(engine, raw, size: Size, runs: int) -> dict:
    log(f"[province] loaded in {fmt(load_province(engine, raw, size))}")
    r: dict = {"size": size, "runs": runs}
    n = execute(raw, "SELECT count(*) FROM enterprise")
    full = []
    for _ in range(runs):
        seconds, changed = project_full(raw)
        full.append(seconds)
    r["full"] = median(full)
    log(f"[province] project full assignment: {', '.join(fmt(s) for s in full)} "
        f"({changed:,} rows of {n:,})")
    vacuum(raw, "enterprise_cell")
    r["noop"] = median([project_noop(raw)[0] for _ in range(runs)])
    r["within"] = r["intersects"] = None
    r["e2e"] = median([geopandas_end_to_end(engine, raw) for _ in range(runs)])
    log(f"[province] project no-op {fmt(r['noop'])}, geopandas end to end {fmt(r['e2e'])}")
    r["naive"], r["naive_plan"] = None, "not run"
    r["agreement"] = province_agreement(raw)
    return r


def report(results: list[dict]) -> str:
    out = []
    headers = ["size", "runs", "project full", "project no-op", "sjoin within",
               "sjoin intersects", "geopandas e2e", "full / e2e", "naive join",
               "off-edge disagree", "on-edge disagree"]
    rows = []
    for r in results:
        s, a = r["size"], r["agreement"]
        rows.append([
            f"{s.name} {s.enterprises:,} x {s.cells:,}", str(r["runs"]), fmt(r["full"]),
            fmt(r["noop"]), fmt(r["within"]), fmt(r["intersects"]), fmt(r["e2e"]),
            f"{r['full'] / r['e2e']:.2f}x",
            (f"{fmt(r['naive'])} ({r['naive_plan']})" if r["naive"]
             else r["naive_plan"] if r["naive_plan"] == "not run"
             else f"skipped (>{NAIVE_TIMEOUT_S} s)"),
            str(a.off_edge_disagree),
            f"{a.on_edge_disagree} of {a.boundary_points}",
        ])
    out.append(table(headers, rows))
    out.append("")
    for r in results:
        if r["size"].name not in ("large", "province"):
            continue
        ratio = r["full"] / r["e2e"]
        out.append(f"  {'PASS' if ratio <= GOAL_RATIO else 'FAIL'}  {r['size'].name}: full "
                   f"assignment <= {GOAL_RATIO}x geopandas end to end: {ratio:.2f}x "
                   f"({'aim met' if ratio <= AIM_RATIO else f'aim {AIM_RATIO}x not met'})")
    out.append("")
    for r in results:
        a = r["agreement"]
        if r["size"].name == "province":
            out.append(f"province: the project differs from geopandas end to end for "
                       f"{a.rule_mismatch} enterprises (points drawn inside their cells).")
            continue
        out.append(
            f"{r['size'].name}: {a.boundary_points} points lie on cell boundaries; sjoin "
            f"'within' matches none of them, 'intersects' matches several cells for "
            f"{a.on_edge_multi}; the project differs from 'intersects' + lowest code + on_edge "
            f"for {a.rule_mismatch}.")
    if any("variants" in r for r in results):
        names = list(VARIANTS)
        headers = ["bulk query shape (level 3, to a temp table)"] + [
            r["size"].name for r in results]
        rows = [[n] + [fmt(r["variants"][n][0]) for r in results] for n in names]
        rows.append(["naive UPDATE ... FROM ... ST_Covers (every row)"] + [
            (f"{fmt(r['update_from'])} ({r['update_plan']})" if r["update_from"]
             else f"skipped (>{NAIVE_TIMEOUT_S} s)") for r in results])
        rows.append([f"{CURRENT_SHAPE}, enterprise heap CLUSTERed"] + [
            fmt(r["clustered"]) for r in results])
        rows.append(["project no-op re-run, enterprise heap CLUSTERed"] + [
            fmt(r["clustered_noop"]) for r in results])
        out += ["", table(headers, rows)]
        headers = ["writing the answer (INSERT into a copy of enterprise_cell)"] + [
            f"{r['size'].name} {order}" for r in results for order in ("id order", "hashed")]
        steps = [s for s, _ in WRITE_STEPS]
        rows = [[step] + [fmt(t) for r in results for t in r["writes"][i][1:]]
                for i, step in enumerate(steps)]
        out += ["", table(headers, rows)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,medium,large",
                        help="comma-separated: small (1,203 x 53), medium (100,000 x 1,000), "
                             "large (1,000,000 x 10,000)")
    parser.add_argument("--database-url",
                        default=os.environ.get("GRIDWATCH_BENCH_DATABASE_URL", DEFAULT_URL),
                        help="a database whose name contains 'bench'; it is wiped and migrated")
    parser.add_argument("--runs", type=int, default=None,
                        help="timed runs per measurement (default 3, large 1)")
    parser.add_argument("--variants", action="store_true",
                        help="also time alternative bulk query shapes and the write cost")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.sizes.split(",") if n.strip()]
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")

    prepare_database(args.database_url)
    engine = make_engine(args.database_url)  # the project's session settings (jit off, UTC)
    raw = engine.raw_connection().driver_connection
    with raw.cursor() as cur:
        cur.execute("SELECT version(), postgis_full_version(), "
                    "current_setting('max_parallel_workers_per_gather')")
        pg, postgis, workers = cur.fetchone()
    raw.commit()
    log(f"{pg.split(' on ')[0]}; PostGIS {postgis.split()[0].split('=')[1].strip(chr(34))}; "
        f"geopandas {gpd.__version__}, shapely {shapely.__version__} "
        f"(GEOS {shapely.geos_version_string}); {os.cpu_count()} CPUs; "
        f"max_parallel_workers_per_gather {workers}")
    results = []
    for name in names:
        size = SIZES[name]
        results.append(bench_size(engine, raw, size, args.runs or size.runs, args.variants))
    raw.close()
    engine.dispose()

    print()
    print(report(results))
    bad = [r["size"].name for r in results if r["agreement"].off_edge_disagree]
    if bad:
        print(f"\nFAIL: the project disagrees with sjoin off cell edges ({', '.join(bad)})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
