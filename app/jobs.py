"""The background job queue's adapter: ``GET /api/v1/jobs/<id>``, ``flask jobs work|list``, and
the in-process worker threads of a server started with ``JOB_WORKER_THREADS`` > 0."""
from __future__ import annotations

import json
import threading

import click
from flask import Blueprint, Flask, abort, current_app, jsonify, url_for
from flask.cli import AppGroup
from flask_login import current_user

from app.auth import login_required, zone
from app.db import get_session
from gis import dates, jobs, policy
from gis.validation import ValidationError

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")
jobs_cli = AppGroup("jobs", help="The background job queue (big imports).")


def context() -> jobs.JobContext:
    return jobs.JobContext(limits=current_app.extensions["gridwatch_limits"],
                           settings=job_settings(current_app))


# Settings the jobs read (gis/urgent.py: the acknowledgement time, the message channel).
JOB_SETTING_PREFIXES = ("URGENT_", "SMS_")


def job_settings(app: Flask) -> dict:
    return {k: v for k, v in app.config.items() if k.startswith(JOB_SETTING_PREFIXES)}


def status_url(job_id: int) -> str:
    return url_for("jobs.show", job_id=job_id)


def _error_text(result: dict | None, fallback: str | None) -> str | None:
    """A failed job's error in the reader's language when it was a ValidationError."""
    detail = (result or {}).get("error") or {}
    if detail.get("code"):
        from app.errors import domain_message

        return domain_message(ValidationError(
            detail["field"], detail["message"], detail["code"], **(detail.get("params") or {})))
    return fallback


@bp.get("/<int:job_id>")
@login_required
def show(job_id: int):
    job = jobs.get(get_session(), job_id)
    # Someone else's job is answered like a missing one: ids say nothing about others' work.
    if job is None or not policy.can_see_job(current_user.grants, current_user.id,
                                             job["user_id"]):
        abort(404)
    # Times with the bureau's offset, as every date people read (gis/dates.py).
    body = {"job": job["id"], "kind": job["kind"], "status": job["status"],
            "file_name": job["file_name"],
            **{k: dates.isoformat(job[k], zone()) for k in ("created_at", "started_at",
                                                             "finished_at")},
            "attempts": job["attempts"], "progress": job["progress"]}
    if job["status"] == "done":
        body["result"] = job["result"]
    elif job["status"] == "failed":
        body["error"] = _error_text(job["result"], job["error"])
    return jsonify(body)


@jobs_cli.command("work")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Workers in this process.")
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit.")
def jobs_work(threads, once):
    """Run jobs as they are queued (until interrupted)."""
    engine = current_app.extensions["gridwatch.engine"]
    kwargs = _worker_options(current_app)
    if once:
        worker = jobs.Worker(engine, **kwargs)
        try:
            while (job_id := worker.run_once()) is not None:
                click.echo(f"job {job_id}: {jobs.get(_session(), job_id)['status']}")
        finally:
            worker.close()
        return
    workers = [jobs.Worker(engine, name=None, **kwargs) for _i in range(threads)]
    runners = [threading.Thread(target=w.run, daemon=True) for w in workers]
    for t in runners:
        t.start()
    click.echo(f"{threads} job worker(s) listening on {jobs.CHANNEL}", err=True)
    try:
        for t in runners:
            while t.is_alive():
                t.join(1.0)
    except KeyboardInterrupt:
        for w in workers:
            w.stop.set()


def _session():
    return current_app.extensions["gridwatch.sessions"]()


@jobs_cli.command("list")
@click.option("--status", type=click.Choice(["queued", "running", "done", "failed"]))
@click.option("--limit", default=50, show_default=True)
def jobs_list(status, limit):
    """The latest jobs: id, kind, status, who, file, when, attempts, result or error."""
    with _session() as session:
        for j in jobs.recent(session, limit, status):
            outcome = json.dumps(j["result"], ensure_ascii=False) if j["status"] == "done" \
                else (j["error"] or "")
            click.echo("\t".join(str(v) for v in (
                j["id"], j["kind"], j["status"], j["username"] or "", j["file_name"] or "",
                dates.local(j["created_at"], zone()).isoformat(timespec="seconds"),
                j["attempts"],
                outcome.replace("\n", " ")[:300])))


def _worker_options(app: Flask) -> dict:
    return {"context": jobs.JobContext(limits=app.extensions["gridwatch_limits"],
                                       settings=job_settings(app)),
            "poll_seconds": app.config["JOB_POLL_SECONDS"],
            "max_attempts": app.config["JOB_MAX_ATTEMPTS"]}


def init_app(app: Flask) -> None:
    app.cli.add_command(jobs_cli)
    app.register_blueprint(bp)
    count = int(app.config["JOB_WORKER_THREADS"])
    if count <= 0 or app.testing:
        return  # tests run their workers themselves (tests/test_jobs.py)
    # Started by the first request, not here: CLI commands (db upgrade, demo load) build the
    # app too and must not start workers, and under gunicorn each forked worker starts its own.
    started = threading.Lock()

    @app.before_request
    def _start_workers():
        if "gridwatch_job_workers" in app.extensions or not started.acquire(blocking=False):
            return
        app.extensions["gridwatch_job_workers"] = jobs.start_threads(
            app.extensions["gridwatch.engine"], count, **_worker_options(app))
