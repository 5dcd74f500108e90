"""Mixed load and faults: gunicorn on the demo city in a throwaway PostgreSQL, over loopback.

    .venv/bin/python bench/faults.py [--phases mixed,restart,kill,conflict]
                                     [--concurrency 8] [--duration 20] [--workers 2]
                                     [--enterprises 1203] [--rounds 15] [--restarts 2]
                                     [--no-preload]

Never touches the machine's shared PostgreSQL: it starts its own cluster (bench/pgcluster.py:
initdb into a temporary folder, a free 127.0.0.1 port), migrates it, loads the demo city, runs
``gunicorn -w WORKERS 'app:create_app()'`` on another free loopback port, and removes both at
the end (also on Ctrl-C). Every phase is bounded by --duration (or --rounds).

The clients (``--concurrency`` threads, one keep-alive connection each) mix, by weight:
lookups (40), vector tiles (15), GeoJSON layers (10), inspection uploads (15, each with its
``client_id``), complaint intake over Open311 (15) and owner changes (5); one editor thread
commits a boundary change (a village moved between two cells and back) every ~0.5 s. They
behave as the app asks real clients to: on 503 they wait ``Retry-After`` and send the same
request again (an inspection with the same client_id), up to 5 times; a read or an
idempotent write whose connection broke is sent again. A complaint is never sent twice (Open311
has no key to recognise a resend).

Phases:
- ``mixed``: the load alone.
- ``restart``: the load; --restarts times (2: a third in and two thirds in) the cluster
  restarts, in turn ``pg_ctl restart -m fast`` (every connection cut) and ``-m immediate``
  (as after a crash: recovery from the WAL).
- ``kill``: the load; a third in, a worker gets SIGTERM (gunicorn's graceful stop: it finishes
  its request); two thirds in, another gets SIGKILL in the middle of whatever it was doing.
- ``conflict``: --rounds rounds of two editors committing the same change on the same
  versions at the same instant (expected: one 201, one 409 each round), while four clients
  send inspections of the enterprises in the moving village and complaints from inside it.

After each phase, from the database: acknowledged writes missing (must be 0), rows without
their audit entry (partial writes; must be 0), and for ``conflict`` every complaint's stamped
boundary version (none superseded: docs/reliability.md) and every enterprise's cell history
checked against the boundaries.
Prints one table per phase and a summary; exit status 1 when a must-be-0 figure is not 0 or a
500 was answered.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pgcluster import Cluster, free_port  # noqa: E402

GRID = "130984-Z01"
WEIGHTS = {"lookup": 40, "tile": 15, "geojson": 10, "inspection": 15, "complaint": 15,
           "owner": 5}
READS = ("lookup", "tile", "geojson")
MAX_RESENDS = 5


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The world: cluster, demo city, tokens, gunicorn
# --------------------------------------------------------------------------------------------

@dataclass
class World:
    cluster: Cluster
    url: str
    tokens: dict[str, str]
    points: list[tuple[float, float]]            # enterprises of the city, lon/lat
    grid_enterprises: list[str]                  # management codes in GRID
    checklist: list[str]
    service: str
    owners: dict[str, list[str]]                 # cell code -> two person codes to alternate
    move: dict = field(default_factory=dict)     # village, cells a and b, its enterprises


def build_world(n_enterprises: int) -> World:
    from gis.db import make_engine, make_session_factory, transaction
    from gis.demo.build import load_demo
    from gis.migrate import upgrade
    from gis.users import add_role, create_token

    cluster = Cluster.create()
    try:
        url = cluster.create_database("gridwatch")
        started = time.monotonic()
        upgrade(url)
        engine = make_engine(url)
        with transaction(make_session_factory(engine)) as session:
            load_demo(session, seed=2009, n_enterprises=n_enterprises)
            # The demo inspector inspects the whole station's grid here, so that the load
            # reaches the cells the editor moves a village between.
            add_role(session, "inspector", "inspector", GRID, granted_by="bench")
            tokens = {u: create_token(session, u, "bench")[1]
                      for u in ("leader", "inspector", "hotline", "manager")}
        engine.dispose()
        log(f"cluster on port {cluster.port}: migrated and demo loaded in "
            f"{time.monotonic() - started:.1f} s")
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("SELECT ST_X(geom), ST_Y(geom) FROM enterprise")
            points = cur.fetchall()
            cur.execute("""SELECT e.management_code FROM enterprise_cell_current ec
                           JOIN enterprise e ON e.id = ec.enterprise_id
                           JOIN cell c ON c.id = ec.cell_id JOIN cell p ON p.id = c.parent_id
                           WHERE p.code = %s ORDER BY 1""", (GRID,))
            grid_enterprises = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT code FROM checklist_item WHERE active ORDER BY sort_order "
                        "LIMIT 4")
            checklist = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT code FROM complaint_service WHERE code = 'quality' "
                        "UNION ALL (SELECT code FROM complaint_service ORDER BY code LIMIT 1)")
            service = cur.fetchone()[0]
            cur.execute("""SELECT c.code, array_agg(DISTINCT p.code) FROM cell c
                           JOIN cell g ON g.id = c.parent_id
                           JOIN responsibility r ON r.role = 'owner' AND r.cell_id IN
                                (SELECT id FROM cell WHERE parent_id = g.id)
                           JOIN person p ON p.id = r.person_id
                           WHERE g.code = %s GROUP BY c.code ORDER BY c.code LIMIT 2""",
                        (GRID,))
            owners = {code: sorted(people)[:2] for code, people in cur.fetchall()}
        conn.close()
        return World(cluster, url, tokens, points, grid_enterprises, checklist, service,
                     owners)
    except BaseException:
        cluster.destroy()
        raise


def move_candidates(world: World) -> list[dict]:
    """Villages of GRID's cells that share an edge with another cell of it, the most
    enterprises first: moving one there and back is a boundary commit each time."""
    conn = psycopg2.connect(world.url)
    with conn.cursor() as cur:
        cur.execute("""
            WITH cells AS (SELECT c.code, c.geom FROM cell_current c JOIN cell p
                             ON p.id = c.parent_id WHERE p.code = %s AND c.retired_at IS NULL),
                 villages AS (SELECT v.code, v.geom, (SELECT code FROM cells
                                  WHERE ST_Covers(cells.geom, ST_PointOnSurface(v.geom))
                                  ORDER BY code LIMIT 1) AS cell
                              FROM village v)
            SELECT v.code, v.cell, b.code,
                   (SELECT array_agg(e.management_code) FROM enterprise e
                    WHERE ST_Covers(v.geom, e.geom)) AS enterprises,
                   ST_X(ST_PointOnSurface(v.geom)), ST_Y(ST_PointOnSurface(v.geom))
            FROM villages v JOIN cells b ON b.code <> v.cell
             AND ST_Length(ST_Intersection(ST_Boundary(v.geom), ST_Boundary(b.geom))) > 0.002
            WHERE v.cell IS NOT NULL
            ORDER BY cardinality(coalesce((SELECT array_agg(e.id) FROM enterprise e
                                          WHERE ST_Covers(v.geom, e.geom)), '{}')) DESC,
                     v.code LIMIT 12""", (GRID,))
        rows = cur.fetchall()
    conn.close()
    return [{"village": v, "a": a, "b": b, "enterprises": list(ents or []),
             "point": (x, y)} for v, a, b, ents, x, y in rows]


class Server:
    def __init__(self, url: str, workers: int, logfile: Path, preload: bool = False):
        self.port = free_port()
        env = dict(os.environ, DATABASE_URL=url,
                   GRIDWATCH_SECRET_KEY=secrets.token_hex(32),
                   GRIDWATCH_JOB_WORKER_THREADS="0",
                   GRIDWATCH_READ_LIMIT_BULK_BURST="0",
                   GRIDWATCH_READ_LIMIT_ENTERPRISE_BURST="0")
        env.pop("GRIDWATCH_ENV", None)
        self.log = open(logfile, "w")
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(workers), "-b",
             f"127.0.0.1:{self.port}", "--graceful-timeout", "20", "--timeout", "60",
             *(["--preload"] if preload else []), "app:create_app()"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not start")

    def workers(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    op: str
    status: int            # the final HTTP status; 0: the connection broke and was not resent
    seconds: float         # first send to final answer
    sends: int = 1
    first_status: int = 0
    statuses: list = field(default_factory=list)


class Http:
    def __init__(self, port: int):
        self.port = port
        self.conn = None

    def send(self, method, path, body=None, headers=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
            return response.status, dict(response.getheaders()), data
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return 0, {}, b""


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.acked = defaultdict(list)     # what the server acknowledged, per kind
        self.events: list[str] = []

    def add(self, outcome: Outcome, ack=None, kind=None):
        with self.lock:
            self.outcomes.append(outcome)
            if ack is not None:
                self.acked[kind].append(ack)


def deliver(http_: Http, op: str, method: str, path: str, body=None, headers=None, *,
            resend_on_break: bool) -> tuple[Outcome, dict, bytes]:
    """Send as a good client does: 503 → wait Retry-After and resend; a broken connection →
    resend when the request is safe to resend."""
    started = time.perf_counter()
    statuses = []
    for attempt in range(MAX_RESENDS + 1):
        status, hdrs, data = http_.send(method, path, body, headers)
        statuses.append(status)
        if status == 503 and attempt < MAX_RESENDS:
            time.sleep(min(float(hdrs.get("Retry-After", "1")), 3.0))
            continue
        if status == 0 and resend_on_break and attempt < MAX_RESENDS:
            time.sleep(0.2)
            continue
        break
    return (Outcome(op, status, time.perf_counter() - started, len(statuses), statuses[0],
                    statuses), hdrs, data)


def tile_path(lon: float, lat: float, z: int) -> str:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"/tiles/enterprises/{z}/{x}/{y}.pbf"


def one_request(world: World, http_: Http, rec: Recorder, rng: random.Random, op: str,
                enterprises=None, point=None) -> None:
    bearer = lambda user: {"Authorization": f"Bearer {world.tokens[user]}"}  # noqa: E731
    if op == "lookup":
        lon, lat = rng.choice(world.points)
        lon, lat = lon + rng.uniform(-0.002, 0.002), lat + rng.uniform(-0.002, 0.002)
        out, _h, _d = deliver(http_, op, "GET", f"/api/v1/lookup?lon={lon:.6f}&lat={lat:.6f}",
                              headers=bearer("leader"), resend_on_break=True)
        rec.add(out)
    elif op == "tile":
        lon, lat = rng.choice(world.points)
        out, _h, _d = deliver(http_, op, "GET", tile_path(lon, lat, rng.choice((11, 12, 13))),
                              headers=bearer("leader"), resend_on_break=True)
        rec.add(out)
    elif op == "geojson":
        path = rng.choice(("/api/v1/cells.geojson", "/api/v1/enterprises.geojson"))
        out, _h, _d = deliver(http_, op, "GET", path, headers=bearer("leader"),
                              resend_on_break=True)
        rec.add(out)
    elif op == "inspection":
        client_id = str(uuid.uuid4())
        body = json.dumps({
            "enterprise": rng.choice(enterprises or world.grid_enterprises),
            "inspected_on": dt.date.today().isoformat(),
            "results": {code: "pass" for code in world.checklist}, "client_id": client_id})
        out, _h, data = deliver(http_, op, "POST", "/api/v1/inspections", body, {
            **bearer("inspector"), "Content-Type": "application/json"}, resend_on_break=True)
        ack = None
        if out.status in (200, 201):
            ack = (client_id, json.loads(data)["id"])
        rec.add(out, ack, "inspection")
    elif op == "complaint":
        lon, lat = point or rng.choice(world.points)
        lon, lat = lon + rng.uniform(-0.0005, 0.0005), lat + rng.uniform(-0.0005, 0.0005)
        body = urlencode({"api_key": world.tokens["hotline"], "service_code": world.service,
                          "long": f"{lon:.6f}", "lat": f"{lat:.6f}",
                          "description": f"负载测试 {uuid.uuid4().hex[:8]}"})
        out, _h, data = deliver(http_, op, "POST", "/open311/v2/requests.json", body, {
            "Content-Type": "application/x-www-form-urlencoded"}, resend_on_break=False)
        ack = None
        if out.status in (200, 201):
            ack = json.loads(data)[0]["service_request_id"]
        rec.add(out, ack, "complaint")
    elif op == "owner":
        cell = rng.choice(sorted(world.owners))
        person = rng.choice(world.owners[cell])
        body = json.dumps({"person": person, "comment": "负载测试"})
        out, _h, data = deliver(http_, op, "PUT", f"/api/v1/cells/{cell}/owner", body, {
            **bearer("manager"), "Content-Type": "application/json"}, resend_on_break=True)
        ack = None
        if out.status == 200 and not json.loads(data).get("unchanged"):
            ack = (cell, person)
        rec.add(out, ack, "owner")


def current_versions(world: World, cells) -> dict[str, int]:
    conn = psycopg2.connect(world.url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT code, version_id FROM cell_current WHERE code = ANY(%s)",
                        (list(cells),))
            return dict(cur.fetchall())
    finally:
        conn.close()


def village_cell(world: World) -> str:
    move = world.move
    conn = psycopg2.connect(world.url)
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT c.code FROM cell_current c, village v WHERE v.code = %s
                           AND c.code IN (%s, %s)
                           AND ST_Covers(c.geom, ST_PointOnSurface(v.geom))""",
                        (move["village"], move["a"], move["b"]))
            return cur.fetchone()[0]
    finally:
        conn.close()


def commit_move(world: World, http_: Http, to_cell: str, versions: dict, label: str,
                resend_on_break: bool = False):
    move = world.move
    body = json.dumps({"moves": {move["village"]: to_cell}, "expected_versions": versions,
                       "comment": f"负载测试 {label}", "confirm_warnings": True})
    return deliver(http_, "commit", "POST", f"/api/v1/grid/{GRID}/commit", body, {
        "Authorization": f"Bearer {world.tokens['manager']}",
        "Content-Type": "application/json"}, resend_on_break=resend_on_break)


def pick_move(world: World, port: int) -> None:
    http_ = Http(port)
    for candidate in move_candidates(world):
        world.move = candidate
        versions = current_versions(world, (candidate["a"], candidate["b"]))
        there, _h, data = commit_move(world, http_, candidate["b"], versions, "setup")
        if there.status != 201:
            continue
        versions = current_versions(world, (candidate["a"], candidate["b"]))
        back, _h, data = commit_move(world, http_, candidate["a"], versions, "setup")
        if back.status == 201:
            log(f"editor moves village {candidate['village']} ({len(candidate['enterprises'])} "
                f"enterprises) between {candidate['a']} and {candidate['b']}")
            return
    raise RuntimeError("no village of the grid can be moved there and back")


# --------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------

def run_load(world: World, server: Server, rec: Recorder, duration: float, concurrency: int,
             seed: int, fault=None) -> float:
    stop = threading.Event()
    ops, weights = zip(*WEIGHTS.items())

    def client(i: int):
        rng = random.Random(seed * 1000 + i)
        http_ = Http(server.port)
        while not stop.is_set():
            one_request(world, http_, rec, rng, rng.choices(ops, weights)[0])

    def editor():
        http_ = Http(server.port)
        n = 0
        while not stop.is_set():
            try:
                here = village_cell(world)
                versions = current_versions(world, (world.move["a"], world.move["b"]))
            except psycopg2.OperationalError:  # the database restarting: ask again
                stop.wait(0.3)
                continue
            to = world.move["b"] if here == world.move["a"] else world.move["a"]
            # Safe to resend: the versions it started from make a second commit a 409.
            out, _h, data = commit_move(world, http_, to, versions, f"load {n}",
                                        resend_on_break=True)
            out.op = "commit"
            rec.add(out, json.loads(data)["change"] if out.status == 201 else None, "commit")
            n += 1
            stop.wait(0.5)

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(concurrency)] + [threading.Thread(target=editor, daemon=True)]
    started = time.monotonic()
    for t in threads:
        t.start()
    if fault:
        fault(started, duration, rec)
    remaining = duration - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return time.monotonic() - started


def restart_fault(world: World, restarts: int = 2):
    def fault(started, duration, rec: Recorder):
        for i in range(restarts):
            share, mode = (i + 1) / (restarts + 1), ("fast", "immediate")[i % 2]
            time.sleep(max(0.0, started + duration * share - time.monotonic()))
            away = world.cluster.restart(mode)
            rec.events.append(f"PostgreSQL restarted ({mode}) at "
                              f"{time.monotonic() - started:.1f} s: away {away:.2f} s")
            log(rec.events[-1])
    return fault


def kill_fault(server: Server):
    def fault(started, duration, rec: Recorder):
        for share, sig in ((1 / 3, signal.SIGTERM), (2 / 3, signal.SIGKILL)):
            time.sleep(max(0.0, started + duration * share - time.monotonic()))
            pid = server.workers()[0]
            os.kill(pid, sig)
            rec.events.append(f"worker {pid} sent {sig.name} at "
                              f"{time.monotonic() - started:.1f} s")
            log(rec.events[-1])
    return fault


def run_conflicts(world: World, server: Server, rec: Recorder, rounds: int, seed: int
                  ) -> Counter:
    """Two editors, the same change on the same versions at once; meanwhile inspections of
    the village's enterprises and complaints from inside it."""
    results = Counter()
    stop = threading.Event()
    move = world.move

    def writer(i: int):
        rng = random.Random(seed * 7 + i)
        http_ = Http(server.port)
        while not stop.is_set():
            if i % 2 and move["enterprises"]:
                one_request(world, http_, rec, rng, "inspection",
                            enterprises=move["enterprises"])
            else:
                one_request(world, http_, rec, rng, "complaint", point=move["point"])

    writers = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
    for t in writers:
        t.start()
    editors = [Http(server.port), Http(server.port)]
    for n in range(rounds):
        here = village_cell(world)
        to = move["b"] if here == move["a"] else move["a"]
        versions = current_versions(world, (move["a"], move["b"]))
        barrier = threading.Barrier(2)
        answers = [None, None]

        def edit(k: int):
            barrier.wait()
            out, _h, data = commit_move(world, editors[k], to, versions, f"round {n}.{k}")
            answers[k] = out
            if out.status not in (201, 409):
                rec.events.append(f"round {n}: commit answered {out.status}: "
                                  f"{data.decode(errors='replace')[:300]}")
            rec.add(out, json.loads(data)["change"] if out.status == 201 else None, "commit")

        pair = [threading.Thread(target=edit, args=(k,)) for k in (0, 1)]
        for t in pair:
            t.start()
        for t in pair:
            t.join()
        results[tuple(sorted(a.status for a in answers))] += 1
        time.sleep(0.2)
    stop.set()
    for t in writers:
        t.join(timeout=60)
    return results


# --------------------------------------------------------------------------------------------
# What the database holds afterwards
# --------------------------------------------------------------------------------------------

def check(world: World, rec: Recorder, since: dt.datetime, boundaries: bool) -> dict:
    conn = psycopg2.connect(world.url)
    out = {}
    with conn.cursor() as cur:
        ids = [i for _c, i in rec.acked["inspection"]]
        cur.execute("SELECT count(*) FROM inspection WHERE id = ANY(%s)", (ids,))
        missing = len(set(ids)) - cur.fetchone()[0]
        numbers = rec.acked["complaint"]
        cur.execute("SELECT count(*) FROM complaint WHERE number = ANY(%s)", (numbers,))
        missing += len(set(numbers)) - cur.fetchone()[0]
        changes = rec.acked["commit"]
        cur.execute("SELECT count(*) FROM grid_change WHERE id = ANY(%s)", (changes,))
        missing += len(set(changes)) - cur.fetchone()[0]
        owners = Counter(rec.acked["owner"])
        for (cell, person), n in owners.items():
            cur.execute("""SELECT count(*) FROM responsibility r JOIN cell c ON c.id = r.cell_id
                           JOIN person p ON p.id = r.person_id
                           WHERE c.code = %s AND p.code = %s AND r.role = 'owner'
                             AND r.created_at >= %s""", (cell, person, since))
            missing += max(0, n - cur.fetchone()[0])
        out["acknowledged"] = (len(ids) + len(numbers) + len(changes)
                               + sum(owners.values()))
        out["lost"] = missing
        # One row per client_id, whatever was resent.
        client_ids = [c for c, _i in rec.acked["inspection"]]
        cur.execute("SELECT count(*) FROM inspection WHERE client_id::text = ANY(%s)",
                    (client_ids,))
        out["duplicates"] = cur.fetchone()[0] - len(set(client_ids))
        # Partial writes: a row of this phase without its audit entry, or the reverse.
        cur.execute("""
            SELECT
             (SELECT count(*) FROM inspection i WHERE i.recorded_at >= %(t)s AND NOT EXISTS (
                SELECT 1 FROM audit_log a WHERE a.action = 'inspection_recorded'
                  AND (a.detail->>'inspection')::bigint = i.id))
           + (SELECT count(*) FROM audit_log a WHERE a.at >= %(t)s
                AND a.action = 'inspection_recorded' AND NOT EXISTS (
                SELECT 1 FROM inspection i WHERE i.id = (a.detail->>'inspection')::bigint))
           + (SELECT count(*) FROM complaint k WHERE k.received_at >= %(t)s AND NOT EXISTS (
                SELECT 1 FROM audit_log a WHERE a.action = 'complaint_received'
                  AND a.target = 'complaint ' || k.number))
           + (SELECT count(*) FROM grid_change g WHERE g.at >= %(t)s AND (NOT EXISTS (
                SELECT 1 FROM audit_log a WHERE a.action = 'grid_changed'
                  AND (a.detail->>'change')::bigint = g.id) OR NOT EXISTS (
                SELECT 1 FROM cell_version v WHERE v.change_id = g.id)))""", {"t": since})
        out["partial"] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM complaint WHERE received_at >= %s", (since,))
        out["complaints_stored"] = cur.fetchone()[0]
        if boundaries:
            # Every complaint of the phase stamped with one version of its cell that began
            # before it came in and covers the spot, of a cell not retired then. "Superseded":
            # stamped with a version that ended before it came in, as a boundary commit running
            # at the same moment once closed it (must be 0 since gis/boundary_lock.py;
            # docs/reliability.md).
            cur.execute("""
                SELECT count(*) FILTER (WHERE k.cell_version_id IS NULL),
                       count(*) FILTER (WHERE v.id IS NOT NULL AND NOT (
                           v.valid_from <= k.received_at AND ST_Covers(v.geom, k.geom)
                           AND v.cell_id = k.cell_id
                           AND (c.retired_at IS NULL OR c.retired_at > k.received_at))),
                       count(*) FILTER (WHERE v.valid_to <= k.received_at),
                       coalesce(max(extract(epoch FROM k.received_at - v.valid_to) * 1000)
                                FILTER (WHERE v.valid_to <= k.received_at), 0)
                FROM complaint k LEFT JOIN cell_version v ON v.id = k.cell_version_id
                LEFT JOIN cell c ON c.id = k.cell_id
                WHERE k.received_at >= %s AND NOT k.outside_grid""", (since,))
            unstamped, wrong, superseded, superseded_ms = cur.fetchone()
            out["superseded"], out["superseded_ms"] = superseded, float(superseded_ms)
            # The village's enterprises: their cell history has no gap and no overlap since
            # the phase began, and each period's cell had a live version covering them then.
            cur.execute("""
                WITH h AS (
                  SELECT ec.enterprise_id, ec.cell_id, ec.valid_from, ec.valid_to,
                         lead(ec.valid_from) OVER (PARTITION BY ec.enterprise_id
                                                   ORDER BY ec.valid_from) AS next_from
                  FROM enterprise_cell ec JOIN enterprise e ON e.id = ec.enterprise_id
                  WHERE e.management_code = ANY(%(e)s)
                    AND (ec.valid_to IS NULL OR ec.valid_to > %(t)s))
                SELECT count(*) FILTER (WHERE next_from IS NOT NULL
                                          AND next_from IS DISTINCT FROM valid_to),
                       count(*) FILTER (WHERE NOT EXISTS (
                           SELECT 1 FROM cell_version v JOIN enterprise e
                             ON e.id = h.enterprise_id
                           WHERE v.cell_id = h.cell_id AND v.valid @> h.valid_from
                             AND ST_Covers(v.geom, e.geom))),
                       count(*)
                FROM h""", {"e": world.move["enterprises"], "t": since})
            seams, uncovered, periods = cur.fetchone()
            out["unstamped"], out["wrong_version"] = unstamped, wrong
            out["history_seams"], out["history_uncovered"] = seams, uncovered
            out["history_periods"] = periods
    conn.close()
    return out


def report(name: str, rec: Recorder, elapsed: float, db: dict, concurrency: int,
           extra: Counter | None = None) -> dict:
    outs = rec.outcomes
    by_op = defaultdict(list)
    for o in outs:
        by_op[o.op].append(o)
    print(f"\n== {name}: {len(outs):,} requests in {elapsed:.1f} s at concurrency "
          f"{concurrency} (+1 editor) ==")
    for event in rec.events:
        print(f"   {event}")
    print(f"{'op':<11}{'n':>7}{'ok':>7}{'p50 ms':>9}{'p99 ms':>9}{'500':>5}{'503 seen':>9}"
          f"{'resent':>7}{'failed':>7}")
    totals = Counter()
    for op in list(WEIGHTS) + ["commit"]:
        rows = by_op.get(op, [])
        if not rows:
            continue
        ok = [o for o in rows if 200 <= o.status < 300 or (op == "commit" and o.status == 409)
              or (op == "lookup" and o.status == 404)]  # a spot outside every cell
        lat = sorted(o.seconds * 1000 for o in ok) or [0.0]
        fives = sum(s == 500 for o in rows for s in o.statuses)
        seen503 = sum(s == 503 for o in rows for s in o.statuses)
        resent = sum(o.sends > 1 for o in rows)
        failed = len(rows) - len(ok)
        totals.update(n=len(rows), ok=len(ok), fives=fives, seen503=seen503, failed=failed,
                      resent=resent, read_failed=failed if op in READS else 0,
                      broken=sum(o.status == 0 for o in rows))
        print(f"{op:<11}{len(rows):>7}{len(ok):>7}{percentile(lat, 50):>9.1f}"
              f"{percentile(lat, 99):>9.1f}{fives:>5}{seen503:>9}{resent:>7}{failed:>7}")
    bad = Counter((o.op, o.status) for o in outs if not (
        200 <= o.status < 300 or (o.op == "commit" and o.status == 409)
        or (o.op == "lookup" and o.status == 404)))
    if bad:
        print("failed in the end: " + ", ".join(f"{op} {status or 'connection broken'} × {n}"
                                               for (op, status), n in sorted(bad.items())))
    every = sorted(o.seconds * 1000 for o in outs)
    print(f"throughput {len(outs) / elapsed:,.0f} requests/s; p50 {percentile(every, 50):.1f} ms, "
          f"p99 {percentile(every, 99):.1f} ms (first send to final answer, resends included)")
    print(f"HTTP 500: {totals['fives']}; 503 answered (then resent): {totals['seen503']}; "
          f"reads that failed in the end: {totals['read_failed']}; requests failed in the end: "
          f"{totals['failed']} (of which connection broken, not resent: {totals['broken']})")
    print(f"acknowledged writes: {db['acknowledged']:,}; missing afterwards: {db['lost']}; "
          f"duplicate inspections: {db['duplicates']}; partial rows: {db['partial']}")
    if extra is not None:
        print("concurrent commits of the same change: " + ", ".join(
            f"{n} × {'+'.join(map(str, k))}" for k, n in sorted(extra.items())))
        print(f"complaints in the moving village: {db['complaints_stored']} stored, "
              f"{db['unstamped']} unstamped, {db['wrong_version']} stamped with a version not "
              f"covering them, of another cell or begun after them; {db['superseded']} stamped "
              f"with the version a commit running then closed up to "
              f"{db['superseded_ms']:.0f} ms before they came in; its enterprises' cell "
              f"history: "
              f"{db['history_periods']} periods, {db['history_seams']} gaps or overlaps, "
              f"{db['history_uncovered']} in a cell not covering them")
    return {"totals": totals, "db": db}


def percentile(values, p):
    if not values:
        return 0.0
    k = min(len(values) - 1, max(0, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phases", default="mixed,restart,kill,conflict")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--enterprises", type=int, default=1203)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--restarts", type=int, default=2,
                    help="restarts in the restart phase, evenly spaced, fast and immediate "
                         "in turn")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--no-preload", dest="preload", action="store_false",
                    help="without gunicorn --preload (docs/deployment.md): a replaced worker "
                         "imports the app itself, seconds during which it serves nothing")
    args = ap.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - {"mixed", "restart", "kill", "conflict"}
    if unknown:
        ap.error(f"unknown phase {sorted(unknown)[0]}")
    print(f"bench/faults.py {dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.1f}; gunicorn -w {args.workers} (sync"
          f"{', --preload' if args.preload else ''}); "
          f"{args.enterprises} enterprises")
    world = build_world(args.enterprises)
    server = None
    failures = 0
    tmp = Path(tempfile.mkdtemp(prefix="gridwatch-faults-"))
    try:
        server = Server(world.url, args.workers, tmp / "gunicorn.log", args.preload)
        pick_move(world, server.port)
        for name in phases:
            rec = Recorder()
            conn = psycopg2.connect(world.url)
            with conn.cursor() as cur:
                cur.execute("SELECT now()")
                since = cur.fetchone()[0]
            conn.close()
            extra = None
            log(f"phase {name}")
            if name == "conflict":
                started = time.monotonic()
                extra = run_conflicts(world, server, rec, args.rounds, args.seed)
                elapsed = time.monotonic() - started
            else:
                fault = {"mixed": None, "restart": restart_fault(world, args.restarts),
                         "kill": kill_fault(server)}[name]
                elapsed = run_load(world, server, rec, args.duration, args.concurrency,
                                   args.seed, fault)
            db = check(world, rec, since, boundaries=name == "conflict")
            result = report(name, rec, elapsed, db, args.concurrency, extra)
            bad = (result["totals"]["fives"] + db["lost"] + db["partial"] + db["duplicates"]
                   + db.get("unstamped", 0) + db.get("wrong_version", 0)
                   + db.get("superseded", 0)
                   + db.get("history_seams", 0) + db.get("history_uncovered", 0))
            if name in ("mixed", "restart"):
                bad += result["totals"]["read_failed"]
            if extra is not None:
                bad += sum(n for k, n in extra.items() if k != (201, 409))
            failures += bad
        text = (tmp / "gunicorn.log").read_text()
        print(f"\nserver log: {text.count('running it again')} reads run again, "
              f"{text.count('answered 503')} answered 503, "
              f"{text.count('unhandled error')} unhandled errors")
    finally:
        if server is not None:
            server.stop()
        world.cluster.destroy()
        if failures == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"gunicorn's log: {tmp / 'gunicorn.log'}")
    print("RESULT: " + ("every must-be-0 figure is 0" if failures == 0
                        else f"{failures} must-be-0 figures are not 0"))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
