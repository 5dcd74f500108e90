"""Benchmark: the statistics (gis/statistics.py) and their XLSX at the demo city and at 100,000
enterprises, to decide what runs while the reader waits and what goes to the job queue.

Run from the repository root:

    .venv/bin/python bench/stats.py [--sizes 1203,100000] [--database-url URL]
                                         [--runs 3] [--json PATH]

For each size the target database (default GRIDWATCH_BENCH_STATS_DATABASE_URL, else
``gridwatch_bench_stats`` on the local cluster; its name must contain "bench") is WIPED,
migrated and loaded with the demo city (seed 2009) holding that many enterprises. The demo
keeps the pilot city's activity whatever its size (2,124 inspections...), so above 1,203
enterprises the bench adds two years of activity in proportion, in SQL with a fixed seed: an
inspection per enterprise every 1.2 grade intervals, 1.6 sampled batches (监督抽查) and 0.25
periodic ones a year, 0.35 cases and 0.27 complaints (routed to the enterprise's cell, due in
72 hours, most closed within 2–15 days). Then ANALYZE, and for each level and period (this
month so far, the last full quarter, this year so far: a year-long city report) the median of
``--runs`` calls of ``statistics()`` (the period, 同比 and 环比: three statements), and of
``xlsx_bytes`` for the cells' year. Times are printed as a table; bench/README.md explains it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics as stats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.map_wall import load_city, log, prepare_database  # noqa: E402
from gis import statistics as st  # noqa: E402
from gis.db import make_engine, make_session_factory, transaction  # noqa: E402

DEFAULT_URL = "postgresql://gridwatch:gridwatch@127.0.0.1:5432/gridwatch_bench_stats"
ZONE = "Asia/Shanghai"

# Two years of activity in proportion to the enterprises (see the module's docstring).
SCALE_SQL = [
    "SELECT setseed(0.2009)",
    """INSERT INTO inspection (enterprise_id, inspected_on, problems_found, problems,
                               rectification_deadline, rectification_status, rectified_on)
       SELECT e.id, d.day, p.n, CASE WHEN p.n > 0 THEN '台账不全' END,
              CASE WHEN p.n > 0 THEN d.day + 30 END,
              CASE WHEN p.n = 0 THEN 'none' WHEN random() < 0.85 THEN 'done' ELSE 'open' END,
              NULL
       FROM enterprise e JOIN grade_interval gi ON gi.grade = e.grade
       CROSS JOIN LATERAL (
           SELECT CAST(:today AS date) - CAST(k * gi.interval_days * 1.2
                                              + random() * gi.interval_days AS int) AS day
           FROM generate_series(0, CAST(730 / (gi.interval_days * 1.2) AS int)) k) d
       CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.1 THEN 1 + (random() * 2)::int
                                       ELSE 0 END AS n) p
       WHERE d.day > CAST(:today AS date) - 730""",
    """UPDATE inspection SET rectified_on = inspected_on + (3 + random() * 40)::int
       WHERE rectification_status = 'done' AND rectified_on IS NULL""",
    """INSERT INTO spot_check (enterprise_id, checked_on, kind, level, batches, passed)
       SELECT e.id, CAST(:today AS date) - (random() * 729)::int, k.kind, 'city', 1,
              CASE WHEN random() < k.rate THEN 1 ELSE 0 END
       FROM enterprise e
       CROSS JOIN (VALUES ('spot_check', 3.2, 0.863), ('periodic', 0.5, 0.965)) k(kind, n, rate)
       CROSS JOIN LATERAL generate_series(1, 3) g
       WHERE random() < k.n / 3""",
    """INSERT INTO enforcement_case (number, enterprise_id, opened_on, closed_on, status)
       SELECT 'BENCH-' || e.id || '-' || g, e.id, o.day,
              CASE WHEN o.day + 40 < CAST(:today AS date) THEN o.day + 40 END,
              CASE WHEN o.day + 40 < CAST(:today AS date) THEN 'closed' ELSE 'open' END
       FROM enterprise e CROSS JOIN generate_series(1, 2) g
       CROSS JOIN LATERAL (SELECT CAST(:today AS date) - (random() * 729)::int AS day) o
       WHERE random() < 0.35""",
    """INSERT INTO complaint (number, received_at, geom, text, status, enterprise_id, cell_id,
                              closed_at, due_at, source, location_source)
       SELECT 'BENCH-' || e.id || '-' || g, t.at, e.geom, '产品质量问题投诉',
              CASE WHEN t.at + t.took < now() THEN 'closed' ELSE 'assigned' END, e.id,
              ec.cell_id, CASE WHEN t.at + t.took < now() THEN t.at + t.took END,
              t.at + interval '72 hours', 'hotline', 'point'
       FROM enterprise e
       JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
       CROSS JOIN generate_series(1, 2) g
       CROSS JOIN LATERAL (
           SELECT now() - random() * interval '729 days' AS at,
                  (2 + random() * 13) * interval '1 day' AS took) t
       WHERE random() < 0.27""",
]


def scale(url: str, today: dt.date) -> dict:
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        for sql in SCALE_SQL:
            session.execute(text(sql), {"today": today})
        counts = dict(session.execute(text("""
            SELECT 'inspections', count(*) FROM inspection UNION ALL
            SELECT 'batches', sum(batches) FROM spot_check UNION ALL
            SELECT 'cases', count(*) FROM enforcement_case UNION ALL
            SELECT 'complaints', count(*) FROM complaint""")).all())
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return {k: int(v) for k, v in counts.items()}


def held(url: str) -> int | None:
    """How many enterprises the database holds (None: no such database or schema)."""
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM enterprise")).scalar()
    except Exception:  # noqa: BLE001 - anything means "load it"
        return None


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _i in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return stats.median(times), out


def measure(url: str, runs: int, today: dt.date) -> list[dict]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    quarter = st.Period.of("quarter", today, today)
    periods = {"month so far": st.Period.of("month", today, today),
               "last quarter": st.Period.of("quarter", quarter.start - dt.timedelta(days=1),
                                            today),
               "year so far": st.Period.of("year", today, today)}
    out = []
    with sessions() as session:
        for level in st.LEVELS:
            for name, period in periods.items():
                seconds, result = timed(lambda: st.statistics(
                    session, level=level, period=period, visible=None, zone=ZONE), runs)
                out.append({"level": level, "period": name, "units": len(result["units"]),
                            "seconds": round(seconds, 3)})
                log(f"{level:12} {name:12} {len(result['units']):5} units {seconds:7.2f} s")
        result = st.statistics(session, level="cell", period=periods["year so far"],
                               visible=None, zone=ZONE)
        seconds, data = timed(lambda: st.xlsx_bytes(result, title="bench"), runs)
        out.append({"level": "cell", "period": "year so far (XLSX only)",
                    "units": len(result["units"]), "seconds": round(seconds, 3),
                    "bytes": len(data)})
        session.rollback()
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1203,100000")
    parser.add_argument("--database-url", default=os.environ.get(
        "GRIDWATCH_BENCH_STATS_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="Also write the results to this file.")
    parser.add_argument("--reuse", action="store_true",
                        help="Keep the database as it is when it already holds that many "
                             "enterprises (a previous run's), rather than load it again.")
    args = parser.parse_args()
    today = dt.date.today()
    report = []
    for n in (int(s) for s in args.sizes.split(",")):
        if args.reuse and held(args.database_url) == n:
            log(f"{n} enterprises: reusing the database as it is")
            counts = {}
        else:
            log(f"{n} enterprises: loading the demo city")
            prepare_database(args.database_url)
            loaded = load_city(args.database_url, n)
            counts = scale(args.database_url, today) if n > 1203 else {}
            log(f"loaded in {loaded['load_s']:.0f} s; activity {counts or 'as the demo has it'}")
        rows = measure(args.database_url, args.runs, today)
        report.append({"enterprises": n, "activity": counts, "timings": rows})
    print(f"{'enterprises':>11} {'level':12} {'period':24} {'units':>6} {'seconds':>8}")
    for size in report:
        for r in size["timings"]:
            print(f"{size['enterprises']:>11} {r['level']:12} {r['period']:24} {r['units']:>6} "
                  f"{r['seconds']:>8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
