"""The baseline for bench/lookup.py: a point lookup with none of the project's optimisations.

A bare WSGI app (no Flask, no authentication, no pool). Per request it opens a new psycopg2
connection, runs an ad hoc (unprepared) ``ST_Covers`` query for the deepest current
territorial cell, then a second query for that cell's owner, closes the connection and answers
JSON with ``Server-Timing: app;dur=<ms>`` measured like the app's (handler start to response
ready). Served by gunicorn exactly as the app is:

    GRIDWATCH_BASELINE_DSN=postgresql://gridwatch:gridwatch@127.0.0.1:5432/gridwatch_bench_lookup \
        .venv/bin/gunicorn -w 2 -b 127.0.0.1:8001 --pythonpath bench lookup_baseline:app

The Authorization header is ignored. ``/healthz`` answers {"status": "ok"} when the database
does. Coordinates outside every cell answer 404, bad ones 400.
"""
from __future__ import annotations

import json
import os
import time
from urllib.parse import parse_qs

import psycopg2

DSN = os.environ.get("GRIDWATCH_BASELINE_DSN") or os.environ.get(
    "DATABASE_URL", "postgresql://gridwatch:gridwatch@127.0.0.1:5432/gridwatch_bench_lookup")
DSN = DSN.replace("postgresql+psycopg2://", "postgresql://")

CELL_SQL = """
    SELECT c.id, c.code, c.name FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
    WHERE ST_Covers(cv.geom, ST_SetSRID(ST_Point(%s, %s), 4326)) AND cv.valid_to IS NULL
      AND c.kind = 'territorial'
    ORDER BY c.level DESC LIMIT 1"""
OWNER_SQL = """
    SELECT p.name, p.phone FROM responsibility r JOIN person p ON p.id = r.person_id
    WHERE r.cell_id = %s AND r.role = 'owner' AND r.valid_to IS NULL LIMIT 1"""


def _answer(start_response, status: str, body: dict, started: float):
    data = json.dumps(body, ensure_ascii=False).encode()
    elapsed = (time.perf_counter() - started) * 1000
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data))),
                            ("Server-Timing", f"app;dur={elapsed:.3f}")])
    return [data]


def app(environ, start_response):
    started = time.perf_counter()
    path = environ.get("PATH_INFO", "")
    if path == "/healthz":
        conn = psycopg2.connect(DSN)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()
        return _answer(start_response, "200 OK", {"status": "ok"}, started)
    if path != "/api/v1/lookup":
        return _answer(start_response, "404 Not Found", {"error": "not found"}, started)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        lon, lat = float(query["lon"][0]), float(query["lat"][0])
    except (KeyError, ValueError):
        return _answer(start_response, "400 Bad Request", {"error": "lon and lat"}, started)
    conn = psycopg2.connect(DSN)  # no pool: a new connection (and backend) per request
    try:
        with conn.cursor() as cur:
            cur.execute(CELL_SQL, (lon, lat))
            cell = cur.fetchone()
            owner = None
            if cell is not None:
                cur.execute(OWNER_SQL, (cell[0],))
                owner = cur.fetchone()
        conn.rollback()
    finally:
        conn.close()
    if cell is None:
        return _answer(start_response, "404 Not Found", {"error": "outside every cell"},
                       started)
    return _answer(start_response, "200 OK", {
        "cell": {"code": cell[1], "name": cell[2]},
        "owner": {"name": owner[0], "phone": owner[1]} if owner else None,
    }, started)
