"""A job queue in PostgreSQL itself (table ``job``): no broker to install, run or back up.

Queueing is an INSERT and a ``NOTIFY gridwatch_jobs`` (delivered when the caller commits).
A worker keeps one connection of its own: it LISTENs there (and polls, in case a notification
was missed) and *claims* a job on it with ``SELECT … FOR UPDATE SKIP LOCKED`` plus a
session-level advisory lock on the job's id, held until the job is finished. Then it runs the
job in a transaction of its own, which also records the result (or, after a rollback, the
error) — so an import and its "done" stand or fall together.

Why an advisory lock rather than a lease: a worker that dies (killed, its host lost) loses its
connection, and PostgreSQL drops its locks at once; the job, still "running", is free to be
claimed again, with no timeout to tune against the longest import. A live worker's lock is
never free, so no two workers run the same job. Should a worker's claiming connection be cut
while it still runs the job, the finishing UPDATE checks the claim (``attempts``) and the whole
transaction is rolled back if another worker has claimed it meanwhile. A job claimed
``max_attempts`` times (its workers kept dying) is marked failed.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import select
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gis.errors import GridWatchError
from gis.limits import Limits
from gis.validation import ValidationError

CHANNEL = "gridwatch_jobs"
# First key of the two-key advisory lock: "job" in ASCII, so no other lock collides.
LOCK_CLASS = 0x6A6F62

log = logging.getLogger("gridwatch.jobs")


@dataclass(frozen=True)
class JobContext:
    """What a job may need beyond its row: the bounds, the sliver tolerance and so on."""

    limits: Limits = field(default_factory=Limits)
    # The app's settings a job needs (the urgent events' acknowledgement time and message
    # channel: gis/urgent.py), read by the factory and handed in; empty outside an app.
    settings: dict = field(default_factory=dict)
    # Tells the job's row how far it has got (0–100, ``job.progress``) at once, outside the
    # job's own transaction, so a page polling the job sees its bar move; the worker sets it
    # for each job it runs (a no-op elsewhere).
    progress: Callable[[int], None] = field(default=lambda _percent: None)


Runner = Callable[[Session, dict, JobContext], dict]


def enqueue(session: Session, kind: str, payload: dict, *, file: bytes | None = None,
            file_name: str | None = None, user_id: int | None = None,
            username: str | None = None, remote_addr: str | None = None,
            run_after=None) -> int:
    """Queue a job in the caller's transaction; workers hear of it when that commits.
    ``run_after`` (an aware datetime): no worker claims it before then (workers poll every
    JOB_POLL_SECONDS, so it runs within that much after)."""
    if kind not in RUNNERS:
        raise ValueError(f"unknown job kind {kind!r}")
    job_id = session.execute(text("""
        INSERT INTO job (kind, payload, file, file_name, user_id, username, remote_addr,
                         run_after)
        VALUES (:k, CAST(:p AS jsonb), :f, :n, :u, :un, :ip, :after) RETURNING id"""), {
        "k": kind, "p": json.dumps(payload, ensure_ascii=False), "f": file,
        "n": (file_name or "")[:200] or None, "u": user_id, "un": username,
        "ip": remote_addr, "after": run_after}).scalar_one()
    session.execute(text("SELECT pg_notify(:c, :id)"), {"c": CHANNEL, "id": str(job_id)})
    return job_id


JOB_COLUMNS = ("id, kind, status, payload, file_name, user_id, username, created_at, "
               "started_at, finished_at, attempts, worker, result, error, progress")


def get(session: Session, job_id: int) -> dict | None:
    row = session.execute(text(f"SELECT {JOB_COLUMNS} FROM job WHERE id = :i"),
                          {"i": job_id}).one_or_none()
    return dict(row._mapping) if row else None


def recent(session: Session, limit: int = 50, status: str | None = None) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(text(f"""
        SELECT {JOB_COLUMNS} FROM job
        WHERE (CAST(:s AS text) IS NULL OR status = :s)
        ORDER BY id DESC LIMIT :l"""), {"s": status, "l": limit})]


def error_detail(exc: Exception) -> dict:
    """How a failure is kept: the message, plus field/code/params of a ValidationError so the
    web layer can say it in the reader's language later."""
    detail = {"message": str(exc)}
    if isinstance(exc, ValidationError):
        detail.update(field=exc.field, code=exc.code,
                      params=json.loads(json.dumps(exc.params, default=str)))
    return detail


# --- runners ------------------------------------------------------------------------------

def _enterprise_import(session: Session, job: dict, context: JobContext) -> dict:
    from gis import audit
    from gis.enterprises import import_enterprises

    payload = job["payload"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload.{payload.get('kind', 'csv')}"
        path.write_bytes(bytes(job["file"]))
        try:
            since = payload.get("valid_from")
            summary = import_enterprises(session, path, crs=payload.get("crs"),
                                         skip_invalid=bool(payload.get("skip_invalid")),
                                         limits=context.limits,
                                         valid_from=dt.datetime.fromisoformat(since)
                                         if since else None,
                                         zone=payload.get("zone") or "Asia/Shanghai")
        except ValueError as exc:
            if isinstance(exc, GridWatchError):
                raise
            raise ValidationError("crs", str(exc), "crs") from None  # a bad CRS option
    result = {"inserted": summary.inserted, "updated": summary.updated,
              "unchanged": summary.unchanged, "refused": summary.refused,
              "problems": [str(p) for p in summary.problems[:1000]]}
    # Audited as the user who queued it, from where they queued it.
    audit.record(session, "enterprises_imported", target=job["file_name"],
                 user_id=job["user_id"], username=job["username"],
                 remote_addr=job["remote_addr"], via=payload.get("via", "web"),
                 flag=audit.imported_if_past(summary.dated_from),
                 detail={k: result[k] for k in ("inserted", "updated", "unchanged", "refused")}
                 | {"job": job["id"]} | ({"valid_from": since} if since else {}))
    return result


def _urgent_escalate(session: Session, job: dict, context: JobContext) -> dict:
    from gis import urgent

    return urgent.run_escalation_job(session, job["payload"], context.settings)


def _urgent_messages(session: Session, job: dict, context: JobContext) -> dict:
    from gis import urgent

    return urgent.run_message_job(session, job["payload"], context.settings)


RUNNERS: dict[str, Runner] = {"enterprise_import": _enterprise_import,
                              "urgent_escalate": _urgent_escalate,
                              "urgent_messages": _urgent_messages}


# --- the worker ---------------------------------------------------------------------------

class Worker:
    """Claims and runs jobs until ``stop`` is set. One per thread or process."""

    def __init__(self, engine: Engine, *, context: JobContext | None = None,
                 name: str | None = None, poll_seconds: float = 5.0, max_attempts: int = 3):
        self.engine = engine
        self.sessions = sessionmaker(bind=engine, expire_on_commit=False)
        self.context = context or JobContext()
        self.name = (name or f"{socket.gethostname()}:{os.getpid()}:"
                     f"{threading.current_thread().name}")[:64]
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.stop = threading.Event()
        self._conn = self._pooled = None  # the claiming and listening connection

    # The claiming connection lives as long as the worker: its advisory locks are the claims.
    def _connection(self):
        if self._conn is None or self._conn.closed:
            # Held (the pool's proxy kept) for the worker's life and never handed back: it is
            # in autocommit and LISTENing, and dropping the proxy would return it to the pool.
            self._pooled = self.engine.raw_connection()
            self._conn = self._pooled.driver_connection
            self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
        return self._conn

    def close(self) -> None:
        """Drop the claiming connection (its advisory locks go with it)."""
        if self._conn is not None:
            self._pooled.invalidate()  # closed, not pooled: nobody inherits its state
        self._conn = self._pooled = None

    def claim(self) -> tuple[int, int] | None:
        """(job id, attempt) of a job this worker now holds, or None."""
        conn = self._connection()
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                cur.execute("""
                    SELECT id, attempts FROM job WHERE status IN ('queued', 'running')
                      AND (run_after IS NULL OR run_after <= now())
                    ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 20""")
                for job_id, attempts in cur.fetchall():
                    cur.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                (LOCK_CLASS, job_id % 2**31))
                    if not cur.fetchone()[0]:
                        continue  # a live worker runs it
                    if attempts >= self.max_attempts:
                        cur.execute("""
                            UPDATE job SET status = 'failed', finished_at = now(), file = NULL,
                                   error = %s WHERE id = %s""",
                                    (f"gave up after {attempts} attempts: the workers running "
                                     "it stopped before it finished", job_id))
                        cur.execute("SELECT pg_advisory_unlock(%s, %s)",
                                    (LOCK_CLASS, job_id % 2**31))
                        continue
                    cur.execute("""
                        UPDATE job SET status = 'running', attempts = attempts + 1,
                               started_at = now(), worker = %s, progress = NULL
                        WHERE id = %s RETURNING attempts""", (self.name, job_id))
                    attempt = cur.fetchone()[0]
                    conn.commit()
                    return job_id, attempt
            conn.commit()
            return None
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.autocommit = True

    def _release(self, job_id: int) -> None:
        with self._connection().cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, job_id % 2**31))

    def _progress(self, job_id: int, percent: int) -> None:
        """``job.progress`` on the claiming connection (autocommit): seen at once. The job's
        own transaction does not touch its row until it finishes, so this never waits."""
        with self._connection().cursor() as cur:
            cur.execute("UPDATE job SET progress = %s WHERE id = %s AND status = 'running'",
                        (max(0, min(100, int(percent))), job_id))

    def execute(self, job_id: int, attempt: int) -> str:
        """Run a claimed job in its own transaction; returns its final status."""
        status = "failed"
        context = replace(self.context, progress=functools.partial(self._progress, job_id))
        try:
            with self.sessions() as session:
                job = dict(session.execute(text(
                    "SELECT * FROM job WHERE id = :i"), {"i": job_id}).one()._mapping)
                try:
                    result = RUNNERS[job["kind"]](session, job, context)
                    status = "done"
                    finish = {"status": "done", "result": json.dumps(result, default=str),
                              "error": None}
                except Exception as exc:  # noqa: BLE001 - every failure is the job's result
                    session.rollback()
                    if not isinstance(exc, GridWatchError):
                        log.exception("job %s (%s) crashed", job_id, job["kind"])
                    message = str(exc) if isinstance(exc, GridWatchError) else \
                        "internal error; the details are in the worker's log"
                    detail = error_detail(exc) if isinstance(exc, GridWatchError) else \
                        {"message": message}
                    finish = {"status": "failed", "result": json.dumps({"error": detail}),
                              "error": message}
                done = session.execute(text("""
                    UPDATE job SET status = :status, result = CAST(:result AS jsonb),
                           error = :error, finished_at = now(), file = NULL,
                           progress = CASE WHEN :status = 'done' THEN 100 ELSE progress END
                    WHERE id = :i AND status = 'running' AND attempts = :a AND worker = :w"""),
                    finish | {"i": job_id, "a": attempt, "w": self.name}).rowcount
                if done != 1:
                    # Another worker claimed it after our claiming connection was cut.
                    session.rollback()
                    return "lost"
                session.commit()
        finally:
            try:
                self._release(job_id)
            except Exception:  # noqa: BLE001 - a lost connection released it already
                self.close()
        return status

    def run_once(self) -> int | None:
        """Claim and run one job; its id, or None when there was nothing to do."""
        claimed = self.claim()
        if claimed is None:
            return None
        self.execute(*claimed)
        return claimed[0]

    def _wait(self) -> None:
        conn = self._connection()
        deadline = time.monotonic() + self.poll_seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if select.select([conn], [], [], min(left, 0.5))[0]:
                conn.poll()
                if conn.notifies:
                    conn.notifies.clear()
                    return

    def run(self) -> None:
        """Work until ``stop`` is set; a lost database is retried, never fatal."""
        while not self.stop.is_set():
            try:
                while not self.stop.is_set() and self.run_once() is not None:
                    pass
                self._wait()
            except Exception:  # noqa: BLE001 - keep the worker alive across outages
                log.exception("job worker %s: database error; retrying", self.name)
                self.close()
                self.stop.wait(min(self.poll_seconds, 5.0))
        self.close()


def start_threads(engine: Engine, count: int, **kwargs) -> list[Worker]:
    """``count`` workers on daemon threads (the dev server's in-process queue)."""
    workers = []
    for i in range(count):
        worker = Worker(engine, name=f"{socket.gethostname()}:{os.getpid()}:thread-{i}", **kwargs)
        threading.Thread(target=worker.run, name=f"gridwatch-job-{i}", daemon=True).start()
        workers.append(worker)
    return workers


__all__ = ["enqueue", "get", "recent", "Worker", "JobContext", "RUNNERS", "start_threads",
           "CHANNEL"]
