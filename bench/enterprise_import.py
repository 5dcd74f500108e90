"""Benchmark: `flask enterprises import` of a 100,000-row CSV on real-shaped cells, against
geopandas doing read_csv + points_from_xy + sjoin on the same cells, in the same run.

Run from the repository root:

    .venv/bin/python bench/enterprise_import.py [--rows 100000] [--runs 3]
                                                [--shapes demo3,demo2,detailed]
                                                [--database-url URL]

The database (default GRIDWATCH_BENCH_IMPORT_DATABASE_URL, else ``gridwatch_bench_import`` on
the local cluster) is WIPED and migrated, then the demo city (gis.demo.build.load_demo, seed
2009) is loaded once to take its outlines. Each shape then replaces every cell with:

- ``demo3``: the demo city's three territorial levels (the city's outline, its second-level
  grids, the level-3 cells: real township and village outlines, up to a few hundred vertices);
- ``demo2``: the city and its second-level grids only, as a city looks on the day it starts
  (no level 3: every enterprise is assigned to a large second-level grid);
- ``detailed``: ``demo2`` with every outline cut into segments of at most ``--segment`` degrees,
  so each grid has thousands of vertices (same shapes, many more vertices).

For each shape, each run starts from no enterprise and times the import as the command runs
it (gis.enterprises.import_enterprises: read and check every row, COPY, one upsert whose
trigger assigns every enterprise, commit). The baseline is timed on the same file and the
same cells (the deepest level, already in a GeoDataFrame): pandas.read_csv, points_from_xy,
geopandas.sjoin(predicate="intersects"). The floor column is what storing the same rows
alone costs (read_csv, COPY, one INSERT into a table shaped like enterprise with its indexes,
no triggers: ``storage_floor``). Both sides' answers are compared (off cell edges
they must agree). Medians of ``--runs``. bench/README.md ("Enterprise import") explains the
columns and gives results.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.assignment import copy_rows, ewkb, prepare_database, vacuum  # noqa: E402
from gis.db import make_engine, make_session_factory  # noqa: E402

DEFAULT_URL = "postgresql://gridwatch:gridwatch@127.0.0.1:5432/gridwatch_bench_import"
SHAPES = ("demo3", "demo2", "detailed")
GOAL, AIM = 3.0, 1.5
GRADES = np.array(list("ABCD"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def demo_outlines(engine) -> pd.DataFrame:
    """The demo city's territorial cells with their current outlines."""
    from gis.demo.build import load_demo
    Session = make_session_factory(engine)
    with Session() as session:
        load_demo(session, n_enterprises=50)
        session.commit()
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT c.id, c.code, c.name, c.level, c.parent_id, ST_AsBinary(cv.geom) AS wkb
            FROM cell c JOIN cell_version cv ON cv.cell_id = c.id AND cv.valid_to IS NULL
            WHERE c.kind = 'territorial' ORDER BY c.level, c.code""")).all()
    frame = pd.DataFrame(rows, columns=["id", "code", "name", "level", "parent_id", "wkb"])
    frame["geom"] = shapely.from_wkb(frame.pop("wkb").map(bytes))
    return frame


def shape_cells(outlines: pd.DataFrame, shape: str, segment: float) -> pd.DataFrame:
    cells = outlines if shape == "demo3" else outlines[outlines.level < 3]
    cells = cells.copy()
    if shape == "detailed":
        cells["geom"] = shapely.segmentize(cells.geom.to_numpy(), segment)
    return cells.reset_index(drop=True)


def load_cells(engine, raw, cells: pd.DataFrame) -> None:
    """Every table emptied, then these cells and their versions (pieces by the trigger)."""
    from gis.demo.build import _wipe
    Session = make_session_factory(engine)
    with Session() as session:
        _wipe(session)
        session.commit()
    with raw.cursor() as cur:
        frame = cells[["id", "code", "name", "level", "parent_id"]].copy()
        frame["parent_id"] = frame.parent_id.astype("Int64")
        copy_rows(cur, "cell", list(frame.columns), frame)
        versions = pd.DataFrame({
            "cell_id": cells.id, "valid_from": "2020-01-01 00:00:00+00",
            "geom": ewkb(shapely.multipolygons(
                [list(shapely.get_parts(g)) for g in cells.geom])),
        })
        copy_rows(cur, "cell_version", list(versions.columns), versions)
        cur.execute("SELECT setval(pg_get_serial_sequence('cell', 'id'), "
                    "(SELECT max(id) FROM cell))")
    raw.commit()
    vacuum(raw, "cell", "cell_version", "cell_piece")


def write_csv(path: Path, outlines: pd.DataFrame, rows: int, seed: int) -> None:
    """``rows`` enterprises: 99.9 % inside the city's outline, the rest anywhere in its box."""
    rng = np.random.default_rng(seed)
    city = shapely.union_all(outlines[outlines.level == outlines.level.min()].geom.to_numpy())
    west, south, east, north = city.bounds
    inside = []
    need = rows - rows // 1000
    while sum(len(a) for a in inside) < need:
        xy = np.column_stack([rng.uniform(west, east, rows), rng.uniform(south, north, rows)])
        inside.append(xy[shapely.contains_xy(city, xy[:, 0], xy[:, 1])])
    xy = np.concatenate(inside)[:need]
    stray = np.column_stack([rng.uniform(west, east, rows // 1000),
                             rng.uniform(south, north, rows // 1000)])
    xy = np.round(np.concatenate([xy, stray]), 6)
    ids = np.arange(1, rows + 1)
    pd.DataFrame({
        "management_code": np.char.add("BI-", ids.astype(str)),
        "name": np.char.add("企业", ids.astype(str)),
        "grade": GRADES[rng.integers(0, 4, rows)],
        "lon": xy[:, 0], "lat": xy[:, 1],
    }).to_csv(path, index=False)


def project_import(engine, raw, path: Path) -> tuple[float, dict]:
    from gis.enterprises import import_enterprises
    with raw.cursor() as cur:
        cur.execute("TRUNCATE enterprise RESTART IDENTITY CASCADE")
        cur.execute("TRUNCATE enterprise_cell RESTART IDENTITY")
    raw.commit()
    Session = make_session_factory(engine)
    t0 = time.perf_counter()
    with Session() as session:
        summary = import_enterprises(session, path)
        session.commit()
    elapsed = time.perf_counter() - t0
    with engine.connect() as conn:
        answer = dict(conn.execute(text("""
            SELECT e.management_code, c.code FROM enterprise e
            JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
            LEFT JOIN cell c ON c.id = ec.cell_id""")).all())
    assert summary.inserted == len(answer), (summary.inserted, len(answer))
    return elapsed, answer


def geopandas_import(path: Path, cells: gpd.GeoDataFrame) -> tuple[float, pd.DataFrame]:
    t0 = time.perf_counter()
    frame = pd.read_csv(path)
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat),
                              crs="EPSG:4326")
    joined = gpd.sjoin(points, cells, how="left", predicate="intersects")
    elapsed = time.perf_counter() - t0
    return elapsed, joined


def storage_floor(raw, path: Path) -> float:
    """What only storing the rows costs: pandas.read_csv, COPY, and one INSERT into a scratch
    table shaped like enterprise (its columns, checks and indexes, the GiST one included)
    without its triggers: no assignment, no grade or cell history, no row check. No import
    that keeps the rows in the database can take less; the goal's ratio is read against it."""
    t0 = time.perf_counter()
    frame = pd.read_csv(path, dtype=str)
    with raw.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_floor, bench_floor_stage")
        cur.execute("CREATE TABLE bench_floor (LIKE enterprise INCLUDING DEFAULTS "
                    "INCLUDING CONSTRAINTS INCLUDING INDEXES)")
        cur.execute("CREATE TEMP TABLE bench_floor_stage (management_code text, name text, "
                    "grade text, lon float8, lat float8)")
        copy_rows(cur, "bench_floor_stage", ["management_code", "name", "grade", "lon", "lat"],
                  frame[["management_code", "name", "grade", "lon", "lat"]])
        cur.execute("""
            INSERT INTO bench_floor (id, management_code, name, grade, geom)
            SELECT nextval('enterprise_id_seq'), management_code, name, grade,
                   ST_SetSRID(ST_MakePoint(lon, lat), 4326)
            FROM bench_floor_stage""")
    raw.commit()
    elapsed = time.perf_counter() - t0
    with raw.cursor() as cur:
        cur.execute("DROP TABLE bench_floor")
    raw.commit()
    return elapsed


def compare(project: dict, joined: pd.DataFrame) -> tuple[int, int]:
    """Enterprises matched by exactly one cell (or none) in sjoin whose project answer differs;
    and how many sjoin matched to several cells (points on edges, decided by code)."""
    counts = joined.groupby("management_code").size()
    single = joined[joined.management_code.map(counts) == 1]
    expected = {k: (v if isinstance(v, str) else None)
                for k, v in zip(single.management_code, single.code)}
    differ = sum(1 for k, v in expected.items() if project.get(k) != v)
    return differ, int((counts > 1).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--segment", type=float, default=0.0005,
                        help="detailed: longest segment, degrees (default 0.0005, ~50 m)")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--database-url", default=os.environ.get(
        "GRIDWATCH_BENCH_IMPORT_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    if "bench" not in args.database_url:
        parser.error("the database name must contain 'bench': it is wiped")

    log(f"load average {os.getloadavg()[0]:.2f}; preparing {args.database_url}")
    prepare_database(args.database_url)
    engine = make_engine(args.database_url)
    outlines = demo_outlines(engine)
    raw = engine.raw_connection().driver_connection
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "enterprises.csv"
        write_csv(path, outlines, args.rows, args.seed)
        log(f"wrote {args.rows:,} rows ({path.stat().st_size / 1e6:.1f} MB)")
        for shape in shapes:
            cells = shape_cells(outlines, shape, args.segment)
            load_cells(engine, raw, cells)
            deepest = cells[cells.level == cells.level.max()]
            frame = gpd.GeoDataFrame(deepest[["code"]], geometry=deepest.geom.to_numpy(),
                                     crs="EPSG:4326")
            vertices = shapely.get_num_coordinates(deepest.geom.to_numpy())
            pieces = raw.cursor()
            pieces.execute("SELECT count(*) FROM cell_piece")
            n_pieces = pieces.fetchone()[0]
            project, baseline, floor = [], [], []
            for run in range(args.runs):
                seconds, joined = geopandas_import(path, frame)
                baseline.append(seconds)
                floor.append(storage_floor(raw, path))
                seconds, answer = project_import(engine, raw, path)
                project.append(seconds)
                log(f"[{shape}] run {run + 1}: project {seconds:.2f} s, "
                    f"geopandas {baseline[-1]:.2f} s")
            differ, on_edges = compare(answer, joined)
            p, b = statistics.median(project), statistics.median(baseline)
            f = statistics.median(floor)
            results.append({
                "shape": shape, "levels": f"{cells.level.min()}-{cells.level.max()}",
                "cells": len(deepest), "max vertices": int(vertices.max()),
                "median vertices": int(np.median(vertices)), "pieces": n_pieces,
                "project s": p, "geopandas s": b, "ratio": p / b,
                "floor s": f, "floor ratio": f / b,
                "differ": differ, "on edges": on_edges,
            })
    raw.close()

    headers = ["shape", "levels", "cells", "max vertices", "median vertices", "pieces",
               "project s", "geopandas s", "ratio", "floor s", "floor ratio", "differ",
               "on edges"]
    print(f"\nenterprises import of {args.rows:,} rows, median of {args.runs} runs "
          f"(load average at the end {os.getloadavg()[0]:.2f})\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for r in results:
        cells = [f"{r[h]:.2f}" if isinstance(r[h], float) else f"{r[h]:,}" if isinstance(r[h], int)
                 else str(r[h]) for h in headers]
        cells[headers.index("ratio")] = f"{r['ratio']:.2f}x"
        cells[headers.index("floor ratio")] = f"{r['floor ratio']:.2f}x"
        print("| " + " | ".join(cells) + " |")
    print()
    ok = True
    for r in results:
        verdict = "PASS" if r["ratio"] <= GOAL else "FAIL"
        aim = "aim met" if r["ratio"] <= AIM else f"aim {AIM}x not met"
        print(f"  {verdict}  {r['shape']}: import <= {GOAL}x geopandas: {r['ratio']:.2f}x ({aim}); "
              f"storing the rows alone: {r['floor ratio']:.2f}x")
        if r["differ"]:
            ok = False
            print(f"  FAIL  {r['shape']}: {r['differ']} enterprises off cell edges differ "
                  "from sjoin")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
