"""Benchmark: the point lookup API (``/api/v1/lookup``) against the real server, next to a plain
``ST_Covers`` baseline without the project's optimisations.

Run from the repository root (needs ``wrk``: ``apt-get install wrk``):

    .venv/bin/python bench/lookup.py [--database-url URL] [--duration 30] [--connections 2,4,8,16]

1. Builds the bench database (default GRIDWATCH_BENCH_LOOKUP_DATABASE_URL, else
   ``gridwatch_bench_lookup`` on the local cluster; its public schema is WIPED) with 10,000
   level-3 territorial cells (a Voronoi partition of a box around Hejian) under one level-2 and
   one level-1 cell, an owner for each cell, 20 townships, 320 villages and 20,000
   enterprises, plus a ``leader`` user. A build with the same seed and sizes is reused.
2. Starts the app under gunicorn (2 sync workers, loopback) and the baseline
   (bench/lookup_baseline.py) under the same settings.
3. Drives each with wrk and bench/wrk/lookup.lua (random points in the box, seeded, bearer
   token): a warm-up, a short run per connection count, then a sustained run at the count with
   the highest throughput and no error.
4. On the project's server, right after its sustained run: pairs of wrk runs at the same
   connection count, the lookup then ``/healthz`` (Flask, one ``SELECT 1``), interleaved, so the
   lookup's throughput is read as a share of a bare endpoint's measured under the same load.
5. On the demo city (gis.demo.build.load_demo into a second bench database, default
   GRIDWATCH_BENCH_LOOKUP_DEMO_DATABASE_URL, else ``gridwatch_bench_lookup_demo``; WIPED; reused
   while the migration head is the same): ``gw_lookup`` alone, a prepared statement over
   loopback at random points in the city, against the last whole-outline ``gw_lookup``
   (migrations/frozen/0026.sql, loaded into the bench's own schema), interleaved in rounds.
6. Prints one table: requests/s, wrk's latency, Server-Timing (app time), errors (and, with
   --access-log, gunicorn's own request time from its access log), the /healthz pairs and the
   demo city's database times; then the issues' goals as PASS/FAIL.

The exit status is 0 even when a goal fails. bench/README.md ("Lookup") explains the columns.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg2
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gis.db import make_engine, normalise_url  # noqa: E402
from gis.migrate import alembic_config  # noqa: E402

DEFAULT_URL = "postgresql://gridwatch:gridwatch@127.0.0.1:5432/gridwatch_bench_lookup"
DEFAULT_DEMO_URL = DEFAULT_URL + "_demo"
LUA = ROOT / "bench" / "wrk" / "lookup.lua"

# The same box and Voronoi cells as the assignment bench (one generator for every bench).
from bench.assignment import (  # noqa: E402,F401
    EAST, GRID, NORTH, SOUTH, WEST, make_cells, wipe_and_migrate)
VALID_FROM = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
CITY_CODE = "LOOKUP"
DISTRICT_CODE = "LOOKUP-01"
TOWNSHIP_COLS, TOWNSHIP_ROWS = 5, 4     # 20 townships in a grid over the box
VILLAGES_PER_SIDE = 4                   # 16 villages per township, 320 in all
USERNAME, PASSWORD = "bench-lookup", "bench-lookup-2026"
GOAL_P50_MS, GOAL_P99_MS, GOAL_RPS = 2.0, 10.0, 1000.0
# Issue 17: gw_lookup's database time on the demo city's detailed outlines (p50), and the
# lookup's throughput as a share of /healthz's on the same server in the same run.
GOAL_DB_MS, AIM_DB_MS = 1.0, 0.5
GOAL_SHARE, AIM_SHARE = 0.70, 0.85
# The last revision whose gw_lookup tested whole outlines: the demo city's baseline.
OUTLINES_REVISION = "0026"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

def level3_code(i: int) -> str:
    return f"{DISTRICT_CODE}-{i:05d}"


def grid_boxes(west, south, east, north, cols, rows):
    dx, dy = (east - west) / cols, (north - south) / rows
    for r in range(rows):
        for c in range(cols):
            yield shapely.set_precision(shapely.box(
                west + c * dx, south + r * dy, west + (c + 1) * dx, south + (r + 1) * dy), GRID)


def head_revision(url: str) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def existing_build(url: str) -> dict | None:
    target = make_url(normalise_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": target.database}).scalar()
    admin.dispose()
    if not exists:
        return None
    engine = create_engine(target)
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('bench_lookup.build')")).scalar() is None:
                return None
            row = conn.execute(text("""
                SELECT b.seed, b.cells, b.enterprises, b.revision,
                       (SELECT version_num FROM public.alembic_version) AS current,
                       (SELECT count(*) FROM cell WHERE level = 3) AS level3
                FROM bench_lookup.build b""")).mappings().one_or_none()
            return dict(row) if row else None
    finally:
        engine.dispose()


def build(url: str, seed: int, n_cells: int, n_enterprises: int) -> None:
    from psycopg2.extras import execute_values

    from gis.enterprises import EnterpriseRow, upsert_enterprises
    from gis.cells import CellRecord, upsert_cells
    from gis.users import create_user

    t0 = time.perf_counter()
    wipe_and_migrate(url, "bench_lookup")
    log("database wiped and migrated")
    rng = np.random.default_rng(seed)
    cells = make_cells(n_cells, rng)
    log(f"{n_cells} cells generated")
    rect = shapely.box(WEST, SOUTH, EAST, NORTH)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        raw = session.connection().connection
        cur = raw.cursor()
        # Townships and villages: rectangles (the lookup names the ones covering the point).
        townships = list(grid_boxes(WEST, SOUTH, EAST, NORTH, TOWNSHIP_COLS, TOWNSHIP_ROWS))
        execute_values(cur, "INSERT INTO township (code, name, geom) VALUES %s", [
            (f"130984{t + 1:03d}000", f"测试镇{t + 1:02d}",
             shapely.to_wkb(shapely.MultiPolygon([g]), hex=True, include_srid=False))
            for t, g in enumerate(townships)],
            template="(%s, %s, ST_SetSRID(ST_GeomFromWKB(decode(%s, 'hex')), 4326))")
        village_rows = []
        for t, tg in enumerate(townships):
            for v, g in enumerate(grid_boxes(*tg.bounds, VILLAGES_PER_SIDE, VILLAGES_PER_SIDE)):
                village_rows.append((f"130984{t + 1:03d}{v + 1:03d}", f"测试村{t + 1:02d}-{v + 1:02d}",
                                     f"130984{t + 1:03d}000",
                                     shapely.to_wkb(shapely.MultiPolygon([g]), hex=True)))
        execute_values(cur, """INSERT INTO village (code, name, township_id, geom)
            SELECT v.code, v.name, t.id, ST_SetSRID(ST_GeomFromWKB(decode(v.wkb, 'hex')), 4326)
            FROM (VALUES %s) AS v(code, name, township, wkb)
            JOIN township t ON t.code = v.township""", village_rows)
        session.execute(text("""INSERT INTO station (code, name, phone, address)
            VALUES (:c, '测试质量监督所', '0317-3600000', '测试地址')"""), {"c": DISTRICT_CODE})
        # Cells through the project's own write path (parents first, one version statement).
        records = [CellRecord(code=CITY_CODE, name="bench city", level=1,
                              geom=shapely.MultiPolygon([rect])),
                   CellRecord(code=DISTRICT_CODE, name="bench district", level=2,
                              geom=shapely.MultiPolygon([rect]), parent_code=CITY_CODE,
                              station_code=DISTRICT_CODE)]
        records += [CellRecord(code=level3_code(i), name=f"网格{i:05d}", level=3,
                               geom=shapely.MultiPolygon([g]), parent_code=DISTRICT_CODE,
                               station_code=DISTRICT_CODE) for i, g in enumerate(cells)]
        for r in records:
            r.where = f"bench cell {r.code}"
        upsert_cells(session, records, valid_from=VALID_FROM, comment="lookup bench",
                     user="bench")
        log(f"{len(records)} cells loaded")
        # People: an owner for every cell, a station chief, township leaders (bulk inserts).
        cell_ids = dict(session.execute(text("SELECT code, id FROM cell")).all())
        town_ids = dict(session.execute(text("SELECT code, id FROM township")).all())
        n_people = len(records) + 1 + len(town_ids)
        pids = session.execute(text(
            "SELECT nextval(pg_get_serial_sequence('person', 'id')) FROM generate_series(1, :n)"),
            {"n": n_people}).scalars().all()
        people, duties = [], []
        for pid, r in zip(pids, records):
            people.append((pid, f"责任人{r.code[-5:]}", f"1380317{int(rng.integers(10000)):04d}",
                           "测试质量监督所", "网格责任人"))
            duties.append((pid, "government" if r.level == 1 else "department", "owner",
                           cell_ids[r.code], None, VALID_FROM))
        chief = pids[len(records)]
        people.append((chief, "所长", "13803170000", "测试质量监督所", "所长"))
        duties.append((chief, "department", "station_chief", cell_ids[DISTRICT_CODE], None,
                       VALID_FROM))
        for pid, code in zip(pids[len(records) + 1:], sorted(town_ids)):
            people.append((pid, f"镇长{code[6:9]}", "13803171111", "测试镇人民政府", "乡镇长"))
            duties.append((pid, "government", "township_leader", None, town_ids[code],
                           VALID_FROM))
        execute_values(cur, "INSERT INTO person (id, name, phone, unit, position) VALUES %s",
                       people, page_size=5000)
        execute_values(cur, """INSERT INTO responsibility (person_id, kind, role, cell_id,
                                   township_id, valid_from) VALUES %s""", duties, page_size=5000)
        log(f"{len(people)} people and responsibilities loaded")
        # Enterprises: one upsert statement, so the assignment trigger runs once.
        xy = rng.uniform([WEST, SOUTH], [EAST, NORTH], size=(n_enterprises, 2))
        grades = rng.choice(list("ABCD"), size=n_enterprises, p=[0.15, 0.45, 0.30, 0.10])
        rows = [EnterpriseRow(f"LK{k + 1:06d}", {
            "name": f"测试企业{k + 1:06d}有限公司", "credit_code": None, "address": None,
            "industry": None, "specialty": None, "grade": str(grades[k]), "contact_name": None,
            "contact_phone": None, "products": None, "staff_count": None,
            "key_equipment": None}, round(float(x), 7), round(float(y), 7), {"synthetic": True})
            for k, (x, y) in enumerate(xy)]
        upsert_enterprises(session, rows, valid_from=VALID_FROM)
        log(f"{n_enterprises} enterprises loaded and assigned")
        create_user(session, USERNAME, PASSWORD, role="leader", place=CITY_CODE,
                    display_name="lookup bench", granted_by="bench")
        session.execute(text("CREATE SCHEMA bench_lookup"))
        session.execute(text("""CREATE TABLE bench_lookup.build (seed bigint, cells int,
            enterprises int, revision text, built_at timestamptz DEFAULT now())"""))
        session.execute(text("INSERT INTO bench_lookup.build (seed, cells, enterprises, revision)"
                             " VALUES (:s, :c, :e, :r)"),
                        {"s": seed, "c": n_cells, "e": n_enterprises, "r": head_revision(url)})
    engine.dispose()
    vacuum_analyze(url)
    log(f"bench database built in {time.perf_counter() - t0:.0f} s")


def vacuum_analyze(url: str) -> None:
    engine = create_engine(make_url(normalise_url(url)), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def ensure_database(url: str, seed: int, n_cells: int, n_enterprises: int, rebuild: bool):
    found = None if rebuild else existing_build(url)
    wanted = {"seed": seed, "cells": n_cells, "enterprises": n_enterprises}
    if (found and all(found[k] == v for k, v in wanted.items())
            and found["level3"] == n_cells and found["current"] == head_revision(url)):
        log(f"reusing the bench database ({n_cells} cells, seed {seed})")
        return
    if found:
        log(f"bench database differs ({found}); rebuilding")
    build(url, seed, n_cells, n_enterprises)


def new_token(url: str) -> str:
    from gis.users import create_token

    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        # Earlier runs' tokens are revoked: only this run's is valid.
        session.execute(text("UPDATE api_token SET revoked_at = now() WHERE revoked_at IS NULL"))
        _id, token = create_token(session, USERNAME, "lookup bench")
    engine.dispose()
    return token


# --------------------------------------------------------------------------------------------
# Servers and load
# --------------------------------------------------------------------------------------------

@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    access_log: Path | None
    error_log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(variant: str, url: str, workdir: Path, workers: int,
                 app_spec: str = "app:create_app()", access_log: bool = False) -> Server:
    port = free_port()
    error_log = workdir / f"{variant}.error.log"
    env = dict(os.environ, DATABASE_URL=normalise_url(url),
               GRIDWATCH_SECRET_KEY=secrets.token_hex(32))
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
           "--error-logfile", str(error_log)]
    # gunicorn writes no access log by default (the reverse proxy keeps one); its log costs
    # ~17 % of the throughput here, so it is measured only when asked for.
    access_path = workdir / f"{variant}.access.log" if access_log else None
    if access_path:
        cmd += ["--access-logfile", str(access_path), "--access-logformat", "%(s)s %(D)s"]
    if variant == "project":
        cmd.append(app_spec)
    else:
        env["GRIDWATCH_BASELINE_DSN"] = normalise_url(url).replace("+psycopg2", "")
        cmd += ["--pythonpath", str(ROOT / "bench"), "lookup_baseline:app"]
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    server = Server(variant, port, process, access_path, error_log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{variant} server exited; see {error_log}:\n"
                               + error_log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(server.base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    stop_server(server)
    raise RuntimeError(f"{variant} server did not answer /healthz within 60 s")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()  # the gunicorn master (our child) stops its workers
        try:
            server.process.wait(20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def lookup_once(server: Server, token: str, lon: float, lat: float) -> tuple[int, dict]:
    req = urllib.request.Request(f"{server.base}/api/v1/lookup?lon={lon:.7f}&lat={lat:.7f}",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@dataclass
class Run:
    connections: int
    seconds: float
    values: dict = field(default_factory=dict)
    access_ms: list[float] = field(default_factory=list)
    others_cores: float = float("nan")  # CPUs used by other long-lived processes
    bench_cores: float = float("nan")   # CPUs used by the server, wrk and their backends
    machine_cores: float = float("nan")  # CPUs busy on the whole machine

    @property
    def errors(self) -> int:
        v = self.values
        return int(v["non2xx"] + v["connect"] + v["read"] + v["write"] + v["timeout"])

    @property
    def rps(self) -> float:
        return float(self.values["rps"])


def process_ticks() -> dict[int, tuple[bytes, int]]:
    """pid -> (command line or process title, user + system clock ticks) of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        out[int(name)] = (cmd, int(fields[11]) + int(fields[12]))
    return out


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:8]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def cpu_split(before, after, seconds: float, port: int, database: str) -> tuple[float, float]:
    """CPUs' worth of time used during a run by (this bench: its server, wrk and the bench
    database's backends; other processes alive across the run: the other work on the machine).
    Processes that start and end within the run (the baseline's per-request backends, other
    benches' parallel workers) are in neither, only in the machine's total."""
    mine = [f"127.0.0.1:{port}".encode()] + ([f" {database} ".encode()] if database else [])
    ours = others = 0
    for pid, (cmd, t1) in after.items():
        if pid == os.getpid() or pid not in before:
            continue
        delta = max(0, t1 - before[pid][1])
        if any(m in cmd for m in mine):
            ours += delta
        else:
            others += delta
    hz = os.sysconf("SC_CLK_TCK")
    return ours / hz / seconds, others / hz / seconds


def run_wrk(server: Server, token: str, connections: int, seconds: float, threads: int,
            seed: int, database: str = "", path: str = "/api/v1/lookup") -> Run:
    threads = max(1, min(threads, connections))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
           "--timeout", "5s", "-s", str(LUA), server.base, "--", token, str(seed),
           str(WEST), str(SOUTH), str(EAST), str(NORTH), path]
    log_path = server.access_log
    offset = log_path.stat().st_size if log_path and log_path.exists() else 0
    before, busy0, t0 = process_ticks(), machine_ticks(), time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    after, busy1, elapsed = process_ticks(), machine_ticks(), time.monotonic() - t0
    line = next((ln for ln in out.splitlines() if ln.startswith("GW_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    values = {}
    for key, value in (item.split("=", 1) for item in line.split()[1:]):
        try:
            values[key] = float(value)
        except ValueError:
            values[key] = value
    run = Run(connections, seconds, values)
    run.bench_cores, run.others_cores = cpu_split(before, after, elapsed, server.port, database)
    run.machine_cores = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * os.cpu_count()
    if log_path is None:
        return run
    time.sleep(0.3)  # let the workers flush their last log lines
    with open(log_path, "rb") as f:
        f.seek(offset)
        for raw in f:
            parts = raw.split()
            if len(parts) >= 2 and parts[1].isdigit():
                run.access_ms.append(int(parts[1]) / 1000)
    return run


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def describe(run: Run) -> str:
    v = run.values
    return (f"c={run.connections}: {v['rps']:.0f} req/s, client p50 {v['client_p50_ms']:.2f} ms "
            f"p99 {v['client_p99_ms']:.2f} ms, server p50 {v['server_p50_ms']:.2f} ms "
            f"p99 {v['server_p99_ms']:.2f} ms, errors {run.errors}"
            + ("" if math.isnan(run.others_cores) else
               f"; CPUs busy {run.machine_cores:.2f}, this bench {run.bench_cores:.2f} "
               f"({run.bench_cores / max(run.rps, 1e-9) * 1000:.2f} ms a request), "
               f"other processes {run.others_cores:.2f}"))


def cpu_busy(seconds: float = 3.0) -> float:
    """Share of all CPUs busy over ``seconds`` (from /proc/stat): others' load before a run."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return idle, sum(fields)
    i0, t0 = sample()
    time.sleep(seconds)
    i1, t1 = sample()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def wait_for_quiet(threshold: float, max_wait: float) -> bool:
    deadline = time.monotonic() + max_wait
    while True:
        load1 = os.getloadavg()[0]
        if load1 < threshold:
            log(f"load average {load1:.2f} < {threshold}: measuring")
            return True
        if time.monotonic() >= deadline:
            log(f"load average still {load1:.2f} after {max_wait:.0f} s: measuring anyway")
            return False
        log(f"load average {load1:.2f} >= {threshold}; waiting")
        time.sleep(min(30, max(1, deadline - time.monotonic())))


@dataclass
class Pair:
    """A lookup run and a /healthz run right after it, on the same server and connections."""
    lookup: Run
    healthz: Run
    load_before: float
    load_after: float

    @property
    def share(self) -> float:
        return self.lookup.rps / max(self.healthz.rps, 1e-9)


def cpu_ms(run: Run) -> float:
    """CPU time a request of this bench's own processes (server, wrk, backends), in ms."""
    return run.bench_cores / max(run.rps, 1e-9) * 1000


def healthz_pairs(server: Server, token: str, connections: int, args, database: str
                  ) -> list[Pair]:
    """``args.pairs`` pairs of (lookup, /healthz) wrk runs of ``args.pair_duration`` s each,
    alternating, so both meet the same machine: the lookup's throughput as a share of a bare
    endpoint's, which other work on the machine slows alike."""
    pairs = []
    for i in range(args.pairs):
        before = os.getloadavg()[0]
        lookup = run_wrk(server, token, connections, args.pair_duration, args.wrk_threads,
                         args.seed + 100 + i, database)
        healthz = run_wrk(server, "-", connections, args.pair_duration, args.wrk_threads,
                          args.seed + 100 + i, database, path="/healthz")
        pairs.append(Pair(lookup, healthz, before, os.getloadavg()[0]))
        log(f"pair {i + 1}: lookup {lookup.rps:,.0f} req/s, /healthz {healthz.rps:,.0f} req/s: "
            f"{pairs[-1].share:.0%} (load average {before:.2f} -> {pairs[-1].load_after:.2f})")
    return pairs


def measure(variant: str, url: str, token: str, args, workdir: Path
            ) -> tuple[Run, list[Run], list[Pair]]:
    database = make_url(normalise_url(url)).database
    server = start_server(variant, url, workdir, args.workers, args.app, args.access_log)
    log(f"{variant}: gunicorn -w {args.workers} on {server.base}"
        + (" (access log on)" if args.access_log else ""))
    try:
        run_wrk(server, token, max(args.connections), args.warmup, args.wrk_threads, args.seed)
        sweep = []
        if len(args.connections) > 1:
            for c in args.connections:
                run = run_wrk(server, token, c, args.sweep_duration, args.wrk_threads,
                              args.seed + c, database)
                log(f"{variant} sweep {describe(run)}")
                sweep.append(run)
            clean = [r for r in sweep if r.errors == 0] or sweep
            best = max(clean, key=lambda r: r.rps).connections
        else:
            best = args.connections[0]
        run = run_wrk(server, token, best, args.duration, args.wrk_threads, args.seed,
                      database)
        log(f"{variant} sustained {describe(run)}")
        pairs = (healthz_pairs(server, token, best, args, database)
                 if variant == "project" and args.pairs else [])
        return run, sweep, pairs
    finally:
        stop_server(server)


# --------------------------------------------------------------------------------------------
# The demo city: gw_lookup's database time on detailed outlines
# --------------------------------------------------------------------------------------------

def ensure_demo(url: str, rebuild: bool) -> None:
    """The demo city (gis.demo.build.load_demo, default seed) in its own bench database,
    reused while the database is at the current migration head."""
    from gis.demo.build import load_demo

    target = make_url(normalise_url(url))
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": target.database}).scalar()
    engine.dispose()
    if exists and not rebuild:
        engine = create_engine(target)
        with engine.connect() as conn:
            built = conn.execute(text("SELECT to_regclass('bench_lookup.demo_build')")).scalar()
            revision = built and conn.execute(text(
                "SELECT version_num FROM public.alembic_version")).scalar()
        engine.dispose()
        if revision == head_revision(url):
            log("reusing the demo city's bench database")
            return
    t0 = time.perf_counter()
    wipe_and_migrate(url, "bench_lookup")
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        load_demo(session, echo=log)
        session.execute(text("CREATE SCHEMA bench_lookup"))
        session.execute(text("CREATE TABLE bench_lookup.demo_build (revision text, "
                             "built_at timestamptz DEFAULT now())"))
        session.execute(text("INSERT INTO bench_lookup.demo_build (revision) VALUES (:r)"),
                        {"r": head_revision(url)})
    engine.dispose()
    vacuum_analyze(url)  # as autovacuum would have by the time anyone looks up
    log(f"demo city built in {time.perf_counter() - t0:.0f} s")


def outlines_lookup_sql(schema: str) -> str:
    """gw_answer and gw_lookup as revision OUTLINES_REVISION defined them (every covering
    version tested whole), renamed into ``schema`` so they run beside today's."""
    import re

    frozen = (ROOT / "migrations" / "frozen" / f"{OUTLINES_REVISION}.sql").read_text()
    parts = []
    for name in ("gw_answer", "gw_lookup"):
        found = re.search(rf"^CREATE OR REPLACE FUNCTION public\.{name}\(.*?^\$function\$;$",
                          frozen, re.S | re.M)
        parts.append(found.group(0).replace(f"FUNCTION public.{name}(",
                                            f"FUNCTION {schema}.{name}("))
    sql = "\n\n".join(parts)
    return sql.replace(":= gw_answer(", f":= {schema}.gw_answer(")


@dataclass
class DbTimes:
    name: str
    ms: list[float] = field(default_factory=list)   # round trip of each call, loopback
    cpu_ms: float = float("nan")                     # the backend's CPU time per call

    def p(self, q: float) -> float:
        return percentile(self.ms, q)


def backend_cpu(pid: int) -> float:
    """Seconds of CPU the backend ``pid`` has run (/proc/PID/schedstat, nanoseconds); NaN when
    the server is not on this machine."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        return float("nan")


def time_demo(url: str, n_points: int, rounds: int, seed: int
              ) -> tuple[list[DbTimes], str, float]:
    """gw_lookup and the whole-outline one at the same random points in the demo city, as
    prepared statements over loopback, alternating in ``rounds``. Returns their times, how
    many answers agree, and the round trip of an empty prepared statement (the floor)."""
    conn = psycopg2.connect(normalise_url(url).replace("+psycopg2", ""))
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE SCHEMA IF NOT EXISTS bench_lookup; SET check_function_bodies = off")
    cur.execute(outlines_lookup_sql("bench_lookup"))
    cur.execute("SELECT pg_backend_pid(), ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g), g "
                "FROM (SELECT geom AS g FROM cell_current WHERE level = 1 ORDER BY code "
                "LIMIT 1) city")
    pid, west, south, east, north, city = cur.fetchone()
    rng = np.random.default_rng(seed)
    points: list[tuple[float, float]] = []
    while len(points) < n_points:
        xy = rng.uniform([west, south], [east, north], size=(1000, 2)).round(7)
        cur.execute("""SELECT x, y FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY
                       AS p(x, y, i)
                       WHERE ST_Covers(%s::geometry, ST_SetSRID(ST_MakePoint(x, y), 4326))
                       ORDER BY i""", (xy[:, 0].tolist(), xy[:, 1].tolist(), city))
        points += cur.fetchall()
    points = points[:n_points]
    statements = {"pieces": "gw_lookup", "outlines": "bench_lookup.gw_lookup"}
    for name, function in statements.items():
        cur.execute(f"PREPARE {name}(float8, float8) AS SELECT {function}($1, $2, now())::text")
    cur.execute("PREPARE floor(float8, float8) AS SELECT $1 + $2")
    same = 0
    for x, y in points[:300]:  # warm the caches and plans; the answers must agree
        answers = []
        for name in statements:
            cur.execute(f"EXECUTE {name}(%s, %s)", (x, y))
            answers.append(json.loads(cur.fetchone()[0]))
        same += answers[0] == answers[1]
    agreement = f"{same}/{min(300, len(points))} points: the same answer from both"
    times = {name: DbTimes(name) for name in (*statements, "floor")}
    cpu = {name: 0.0 for name in times}
    chunk = math.ceil(len(points) / rounds)
    for r in range(rounds):
        for name in times:
            c0 = backend_cpu(pid)
            for x, y in points[r * chunk:(r + 1) * chunk]:
                t0 = time.perf_counter()
                cur.execute(f"EXECUTE {name}(%s, %s)", (x, y))
                cur.fetchone()
                times[name].ms.append((time.perf_counter() - t0) * 1000)
            cpu[name] += backend_cpu(pid) - c0
    for name, t in times.items():
        t.cpu_ms = cpu[name] * 1000 / max(1, len(t.ms))
    floor = times.pop("floor").p(50)
    conn.close()
    return list(times.values()), agreement, floor


def check_answers(url: str, token: str, workdir: Path, args) -> str:
    """The two variants must name the same cell for the same points (off edges)."""
    rng = np.random.default_rng(args.seed)
    points = rng.uniform([WEST, SOUTH], [EAST, NORTH], size=(50, 2))
    answers = {}
    for variant in ("project", "baseline"):
        server = start_server(variant, url, workdir, 1, args.app)
        try:
            answers[variant] = [lookup_once(server, token, x, y) for x, y in points]
        finally:
            stop_server(server)
    same = sum(1 for (sa, a), (sb, b) in zip(answers["project"], answers["baseline"])
               if sa == sb == 200 and a["cell"]["code"] == b["cell"]["code"]
               and (a.get("owner") or {}).get("name") == (b.get("owner") or {}).get("name"))
    return f"{same}/{len(points)} random points: same cell and owner from both variants"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "GRIDWATCH_BENCH_LOOKUP_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--enterprises", type=int, default=20_000)
    parser.add_argument("--rebuild", action="store_true", help="rebuild even if reusable")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--variants", default="project,baseline")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--app", default="app:create_app()",
                        help="gunicorn app spec of the project variant (to time a patched app; "
                             "GUNICORN_CMD_ARGS reaches both servers)")
    parser.add_argument("--access-log", action="store_true",
                        help="gunicorn writes an access log (adds its own timing columns)")
    parser.add_argument("--connections", default="2,4,8,16",
                        help="comma list: short runs pick the best; one value: no sweep")
    parser.add_argument("--duration", type=float, default=30, help="sustained run, seconds")
    parser.add_argument("--sweep-duration", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--max-load", type=float, default=1.0,
                        help="wait for the 1-minute load average to drop below this")
    parser.add_argument("--max-wait", type=float, default=1500,
                        help="seconds to wait for --max-load before measuring anyway")
    parser.add_argument("--pairs", type=int, default=3,
                        help="(lookup, /healthz) run pairs on the project's server; 0: none")
    parser.add_argument("--pair-duration", type=float, default=10)
    parser.add_argument("--demo-database-url", default=os.environ.get(
        "GRIDWATCH_BENCH_LOOKUP_DEMO_DATABASE_URL", DEFAULT_DEMO_URL))
    parser.add_argument("--demo-points", type=int, default=2000,
                        help="random points in the demo city timed per function; 0: skip")
    parser.add_argument("--demo-rounds", type=int, default=5)
    parser.add_argument("--demo-only", action="store_true",
                        help="only the demo city's database times (no server, no wrk)")
    args = parser.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",")]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    demo = None
    if args.demo_points:
        ensure_demo(args.demo_database_url, args.rebuild)
        quiet = wait_for_quiet(args.max_load, args.max_wait)
        load1 = os.getloadavg()[0]
        demo = (*time_demo(args.demo_database_url, args.demo_points, args.demo_rounds,
                           args.seed), load1, quiet)
    if args.demo_only:
        print_demo(demo, args)
        return 0
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    url = args.database_url
    ensure_database(url, args.seed, args.cells, args.enterprises, args.rebuild)
    if args.build_only:
        return 0
    token = new_token(url)
    workdir = Path(tempfile.mkdtemp(prefix="gw-lookup-bench-"))
    agreement = check_answers(url, token, workdir, args) if len(variants) > 1 else ""
    deadline = time.monotonic() + args.max_wait
    results, contexts = {}, {}
    for variant in variants:
        # Each variant waits for a quiet machine (this bench's own load decays first).
        quiet = wait_for_quiet(args.max_load, max(0.0, deadline - time.monotonic()))
        contexts[variant] = (quiet, os.getloadavg()[0], cpu_busy())
        results[variant] = measure(variant, url, token, args, workdir)

    print(f"\n## Point lookup: {args.cells:,} level-3 cells, {args.enterprises:,} enterprises, "
          f"gunicorn -w {args.workers} (sync, access log "
          f"{'on' if args.access_log else 'off'}), wrk -t{args.wrk_threads}, "
          f"{args.duration:g} s sustained, {os.cpu_count()} CPUs"
          + ("" if args.app == "app:create_app()" else f"; project app: {args.app}"))
    for variant, (quiet, load1, busy) in contexts.items():
        print(f"{variant}: before it, load average {load1:.2f}, CPUs {busy:.0f}% busy"
              + ("" if quiet else f" (load never below {args.max_load} in time)")
              + "; during its sustained run: CPUs busy "
                f"{results[variant][0].machine_cores:.2f} of {os.cpu_count()}, this bench's "
                f"server, wrk and backends {results[variant][0].bench_cores:.2f}, other "
                f"processes {results[variant][0].others_cores:.2f}")
    if agreement:
        print(f"answers: {agreement}")
    print()
    header = ("| variant | conns | req/s | client p50 | client p99 | server p50 | server p99 "
              + ("| gunicorn p50 | gunicorn p99 " if args.access_log else "") + "| errors |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for variant, (run, _sweep, _pairs) in results.items():
        v = run.values
        errors = (f"{run.errors} (non-2xx {int(v['non2xx'])}, socket "
                  f"{int(v['connect'] + v['read'] + v['write'] + v['timeout'])})")
        print(f"| {variant} | {run.connections} | {v['rps']:,.0f} | {v['client_p50_ms']:.2f} ms "
              f"| {v['client_p99_ms']:.2f} ms | {v['server_p50_ms']:.2f} ms "
              f"| {v['server_p99_ms']:.2f} ms "
              + (f"| {percentile(run.access_ms, 50):.2f} ms "
                 f"| {percentile(run.access_ms, 99):.2f} ms " if args.access_log else "")
              + f"| {errors} |")
    for variant, (_run, sweep, _pairs) in results.items():
        if sweep:
            print(f"\n{variant} connection sweep ({args.sweep_duration:g} s each): "
                  + "; ".join(f"c={r.connections} {r.rps:,.0f} req/s, server p50 "
                              f"{r.values['server_p50_ms']:.2f} p99 "
                              f"{r.values['server_p99_ms']:.2f} ms, errors {r.errors}"
                              for r in sweep))
    if "project" in results:
        run = results["project"][0]
        v = run.values
        goals = [
            (f"server p50 <= {GOAL_P50_MS:g} ms", v["server_p50_ms"] <= GOAL_P50_MS,
             f"{v['server_p50_ms']:.2f} ms"),
            (f"server p99 <= {GOAL_P99_MS:g} ms", v["server_p99_ms"] <= GOAL_P99_MS,
             f"{v['server_p99_ms']:.2f} ms"),
            (f">= {GOAL_RPS:,.0f} lookups/s with no error",
             v["rps"] >= GOAL_RPS and run.errors == 0,
             f"{v['rps']:,.0f} req/s, {run.errors} errors"),
        ]
        print("\ngoals (project):")
        for name, ok, got in goals:
            print(f"  {'PASS' if ok else 'FAIL'}  {name}: {got}")
    pairs = results.get("project", (None, None, []))[2]
    if pairs:
        print_pairs(pairs, args)
    if demo:
        print_demo(demo, args)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def print_pairs(pairs: list[Pair], args) -> None:
    looked = sum(p.lookup.values["requests"] for p in pairs)
    bare = sum(p.healthz.values["requests"] for p in pairs)
    share = looked / max(bare, 1)
    print(f"\n## Lookup against /healthz: the project's gunicorn, c={pairs[0].lookup.connections}, "
          f"{len(pairs)} pairs of {args.pair_duration:g} s runs, lookup then /healthz")
    print("\n| pair | lookup req/s | /healthz req/s | lookup / healthz | CPU a request: lookup, "
          "/healthz | errors | load average before, after | other processes (CPUs) |")
    print("|---|---|---|---|---|---|---|---|")
    for i, p in enumerate(pairs, 1):
        print(f"| {i} | {p.lookup.rps:,.0f} | {p.healthz.rps:,.0f} | {p.share:.0%} "
              f"| {cpu_ms(p.lookup):.2f}, {cpu_ms(p.healthz):.2f} ms "
              f"| {p.lookup.errors + p.healthz.errors} | {p.load_before:.2f}, {p.load_after:.2f} "
              f"| {p.lookup.others_cores:.2f}, {p.healthz.others_cores:.2f} |")
    errors = sum(p.lookup.errors + p.healthz.errors for p in pairs)
    by_cpu = (sum(cpu_ms(p.healthz) for p in pairs) / max(sum(cpu_ms(p.lookup) for p in pairs),
                                                           1e-9))
    print(f"\nall pairs: {share:.1%} ({looked:,.0f} lookups, {bare:,.0f} /healthz); by CPU a "
          f"request, where the CPUs are the limit: {by_cpu:.0%}")
    print("goals (issue 17, throughput):")
    for label, goal in (("", GOAL_SHARE), ("aim: ", AIM_SHARE)):
        print(f"  {'PASS' if share >= goal and errors == 0 else 'FAIL'}  {label}lookup req/s "
              f">= {goal:.0%} of /healthz req/s, no error: {share:.1%}, {errors} errors")


def print_demo(demo, args) -> None:
    times, agreement, floor, load1, quiet = demo
    print(f"\n## gw_lookup on the demo city's outlines ({args.demo_points:,} random points in "
          f"the city, prepared statements over loopback, {args.demo_rounds} alternating rounds; "
          f"load average before {load1:.2f}" + ("" if quiet else ", not quiet") + ")")
    print(f"answers: {agreement}")
    print("\n| gw_lookup | p50 | p99 | mean | backend CPU a call |")
    print("|---|---|---|---|---|")
    labels = {"pieces": "today (cell_piece)",
              "outlines": f"whole outlines (revision {OUTLINES_REVISION})"}
    for t in times:
        print(f"| {labels[t.name]} | {t.p(50):.3f} ms | {t.p(99):.3f} ms "
              f"| {sum(t.ms) / len(t.ms):.3f} ms | {t.cpu_ms:.3f} ms |")
    print(f"\n(an empty prepared statement's round trip: p50 {floor:.3f} ms)")
    pieces = next(t for t in times if t.name == "pieces")
    print("goals (issue 17, database time):")
    for label, goal in (("", GOAL_DB_MS), ("aim: ", AIM_DB_MS)):
        print(f"  {'PASS' if pieces.p(50) <= goal else 'FAIL'}  {label}gw_lookup p50 <= "
              f"{goal:g} ms on the demo city: {pieces.p(50):.3f} ms")


if __name__ == "__main__":
    sys.exit(main())
