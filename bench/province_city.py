"""A city's answer time in a province (docs/province.md): the same requests, timed for a
city's leader in a province-sized database and for the leader of a one-city database holding
just such a city, and for the province's leader.

    .venv/bin/python bench/province_city.py [--province-url URL] [--city-url URL]
        [--cities 12] [--grids 14] [--cells 300] [--enterprises 1500000] [--runs 3] [--reuse]

Both databases (names must contain "bench") are wiped, migrated and filled by
``gis.demo.province.generate_province`` (the city's with ``cities=1`` and a province's share of
enterprises), then VACUUM ANALYZEd; ``--reuse`` keeps what a previous run wrote. Requests go
through the app in this process (Flask's test client: no network), logged in as a leader; each
is timed ``--runs`` times after one warm-up, the median printed. Also printed: EXPLAIN ANALYZE
of the enterprise list's statement for the city's leader in the province.
"""
from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from gis.db import (make_engine, make_session_factory, normalise_url, reset_database,  # noqa: E402
                    transaction)
from gis.migrate import upgrade  # noqa: E402

BASE = "postgresql://gridwatch:gridwatch@127.0.0.1:5432/"
PASSWORD = "bench-pass-2026"
WALL = 4  # the first REQUESTS are the wall's
REQUESTS = [  # (what, url); the wall's first (--wall-only)
    ("figures (the wall's tiles of numbers)", "/api/v1/figures"),
    ("layers (specs, counts)", "/api/v1/layers"),
    ("vector tile z12 in the city", "/tiles/enterprises/12/{tx}/{ty}.pbf"),
    ("cells layer", "/api/v1/layers/cells.geojson"),
    ("enterprise list, first page", "/enterprises"),
    ("enterprise search", "/api/v1/enterprises?q=%E6%BC%94%E7%A4%BA%E4%BC%81%E4%B8%9A12"),
    ("overdue list (records)", "/records/enterprises?grade=D"),
    ("statistics, this month", "/statistics"),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build(url: str, **shape) -> None:
    from gis.demo.province import check_assignment, generate_province

    if "bench" not in (make_url(normalise_url(url)).database or ""):
        sys.exit(f"refusing to wipe {url}: the database's name must contain 'bench'")
    reset_database(url)
    upgrade(url)
    engine = make_engine(url)
    began = time.perf_counter()
    with transaction(make_session_factory(engine)) as session:
        made = generate_province(session, echo=log, **shape)
        assert check_assignment(session) == 0
    log(f"{url}: written in {time.perf_counter() - began:.0f} s: {made.counts}")
    log("steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in made.seconds.items() if v >= 0.5))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def users(url: str) -> None:
    from gis.users import create_user

    with transaction(make_session_factory(make_engine(url))) as session:
        for name, place in (("bench-city", "C01"), ("bench-province", "PROV")):
            if not session.execute(text("SELECT 1 FROM app_user WHERE username = :u"),
                                   {"u": name}).scalar():
                create_user(session, name, PASSWORD, role="leader", place=place)


def tile_of(url: str) -> tuple[int, int]:
    import math

    with make_engine(url).connect() as conn:
        lon, lat = conn.execute(text("""
            SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM cell_current
            WHERE code = 'C01-G01'""")).one()
    n = 2 ** 12
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def measure(url: str, username: str, runs: int, requests=REQUESTS) -> dict[str, float]:
    from app import create_app

    # A test client: no CSRF token to fetch, no TLS for the session cookie.
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32),
                      "TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": PASSWORD}
                       ).status_code == 302
    tx, ty = tile_of(url)
    out = {}
    for what, path in requests:
        path = path.format(tx=tx, ty=ty)
        times = []
        for n in range(runs + 1):
            began = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - began
            assert response.status_code == 200, (path, response.status_code)
            if n:
                times.append(elapsed)
        out[what] = statistics.median(times)
    app.extensions["gridwatch.engine"].dispose()
    return out


def explain(url: str) -> str:
    from gis import policy
    from gis.users import identity, user_id

    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        grants = identity(session, user_id(session, "bench-city")).grants
        began = time.perf_counter()
        cells = policy.visible_cells(session, grants)
        walk = time.perf_counter() - began
        plan = session.execute(text("""
            EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
            SELECT count(*) FROM enterprise e
            JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
            WHERE ec.cell_id = ANY(CAST(:cells AS bigint[]))"""), {"cells": cells}).scalars()
        lines = list(plan)
    engine.dispose()
    return (f"visible_cells of C01's leader: {len(cells):,} cells in {walk * 1000:.1f} ms\n"
            + "\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--province-url", default=BASE + "gridwatch_bench_province")
    parser.add_argument("--city-url", default=BASE + "gridwatch_bench_province_city")
    parser.add_argument("--cities", type=int, default=12)
    parser.add_argument("--grids", type=int, default=14)
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--enterprises", type=int, default=1_500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--wall-only", action="store_true",
                        help="time the wall's requests alone (figures, layers, a tile, cells)")
    args = parser.parse_args(argv)
    shape = {"grids_per_city": args.grids, "cells_per_grid": args.cells}
    if not args.reuse:
        build(args.province_url, cities=args.cities, enterprises=args.enterprises, **shape)
        build(args.city_url, cities=1, enterprises=args.enterprises // args.cities, **shape)
    for url in (args.province_url, args.city_url):
        users(url)
    requests = REQUESTS[:WALL] if args.wall_only else REQUESTS
    columns = {
        "city's leader, province": measure(args.province_url, "bench-city", args.runs,
                                           requests),
        "leader, one-city database": measure(args.city_url, "bench-province", args.runs,
                                             requests),
        "province's leader": measure(args.province_url, "bench-province", args.runs,
                                     requests),
    }
    print("| request | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for what, _path in requests:
        print(f"| {what} | " + " | ".join(f"{c[what] * 1000:,.0f} ms"
                                          for c in columns.values()) + " |")
    print()
    print(explain(args.province_url)[:2000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
