"""The gap report (问责依据, gis/gaps.py): ``GET /api/v1/reports/gaps`` (JSON, or the same as a
workbook with ``format=xlsx``, or CSV with ``format=csv``), the page ``/reports/gaps`` (the same
filters, the gaps grouped by person) and ``flask report gaps``, all from ``gis.gaps.gaps``.

A workbook of more enterprises than ``GAP_REPORT_BACKGROUND_ENTERPRISES`` is offered from the
page as a background job (``POST /reports/gaps/prepare``, or ``POST /api/v1/reports/gaps/jobs``:
202 with the job), with a progress bar at ``/reports/gaps/jobs/<id>`` and the file at
``/reports/gaps/jobs/<id>.xlsx`` when done; ``GET …&format=xlsx`` always makes it while the
caller waits.

Who may read it: leaders, grid managers and admins (gis/policy.py ``report_gaps``), each within
the area they lead or manage (``policy.report_cells``); an inspector may not."""
from __future__ import annotations

import datetime as dt

import click
from flask import (Blueprint, Response, abort, current_app, jsonify, redirect, render_template,
                   request, url_for)
from flask.cli import AppGroup
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.auth import login_required, record, zone
from app.db import get_session
from app.errors import not_found
from app.ratelimit import rate_limited
from app.api import json_body
from gis import dates, gaps, jobs, policy
from gis.validation import Field, ValidationError, validate
from gis.wall import place_cells, places

bp = Blueprint("gaps", __name__)
report_cli = AppGroup("report", help="Reports (问责依据: the gap report).")

ARGS = {"from": Field(kind="date"), "to": Field(kind="date"),
        "place": Field(required=False, max_length=32),
        "kind": Field(required=False, max_length=200),
        "format": Field(required=False, choices=("json", "xlsx", "csv"), default="json")}
PAGE_ARGS = {**{k: v for k, v in ARGS.items() if k != "format"},
             "from": Field(kind="date", required=False),
             "to": Field(kind="date", required=False),
             "role": Field(required=False, choices=gaps.ROLES, default="owner")}
# The page opens on the last 30 days, and shows at most this many rows (every person's totals
# count them all; the workbook has them all).
DEFAULT_DAYS = 30
PAGE_ROWS = 3000

KIND_LABELS = {"overdue_inspection": _l("Overdue for inspection"),
               "late_rectification": _l("Rectification late"),
               "late_complaint": _l("Complaint late")}
ROLE_LABELS = {"owner": _l("Cell owner"), "station_chief": _l("Station chief"),
               "township_leader": _l("Township leader")}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _args(schema: dict, source=None) -> dict:
    # A filter form sends its empty fields too: an empty one is no filter. ``kind`` may be
    # repeated (check boxes) or comma-separated.
    source = request.args if source is None else source
    data = {k: v for k, v in source.items() if v.strip()}
    kinds = [v for v in source.getlist("kind") if v.strip()]
    if kinds:
        data["kind"] = ",".join(kinds)
    return validate(data, schema)


def _may_report() -> None:
    if not current_user.is_authenticated:
        abort(401)
    if not policy.can_somewhere(current_user.grants, "report_gaps"):
        abort(403)


def _report(start: dt.date, end: dt.date, place: str | None, kinds) -> dict:
    db = get_session()
    cells = policy.report_cells(db, current_user.grants)
    return gaps.gaps(db, start, end, place=place, kinds=kinds, zone=zone(), cells=cells)


def _file_name(result: dict, ext: str) -> str:
    return gaps.file_name(result["from"], result["to"], result.get("place"), ext)


def _background(place: str | None) -> bool:
    """Is the workbook big enough for the job queue (more enterprises in the place than
    GAP_REPORT_BACKGROUND_ENTERPRISES)?"""
    db = get_session()
    try:
        cells = place_cells(db, policy.report_cells(db, current_user.grants), place)
    except LookupError:
        raise ValidationError("place", f"there is no cell {place}", "no_such_cell",
                              cell=place) from None
    return gaps.scope_size(db, cells) > current_app.config["GAP_REPORT_BACKGROUND_ENTERPRISES"]


@bp.get("/api/v1/reports/gaps")
@login_required
@rate_limited("bulk")
def gaps_api():
    _may_report()
    args = _args(ARGS)
    result = _report(args["from"], args["to"], args["place"], args["kind"])
    if args["format"] == "xlsx":
        return Response(gaps.xlsx(result, zone()), mimetype=XLSX, headers={
            "Content-Disposition": f"attachment; filename={_file_name(result, 'xlsx')}"})
    if args["format"] == "csv":
        return Response(gaps.csv_bytes(result, zone()), mimetype="text/csv", headers={
            "Content-Disposition": f"attachment; filename={_file_name(result, 'csv')}"})
    return jsonify(gaps.as_json(result, zone()))


@bp.get("/reports/gaps")
@login_required
@rate_limited("bulk")
def gaps_page():
    _may_report()
    args = _args(PAGE_ARGS)
    today = dates.today(zone())
    end = args["to"] or today
    start = args["from"] or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    args["from"], args["to"] = start, end
    result = _report(start, end, args["place"], args["kind"])
    db = get_session()
    return render_template(
        "reports/gaps.html", args=args, result=result,
        groups=gaps.by_person(result, args["role"]), total_days=sum(
            g["days"] for g in result["gaps"]),
        kinds=KIND_LABELS, roles=ROLE_LABELS, chosen_kinds=result["kinds"],
        places=places(db, policy.report_cells(db, current_user.grants)),
        xlsx_args={"from": start.isoformat(), "to": end.isoformat(),
                   "place": args["place"] or "", "kind": ",".join(result["kinds"])},
        background=_background(args["place"]), page_rows=PAGE_ROWS)


def _queue(args: dict) -> int:
    """Queue the workbook of ``args`` (as the user may read it) and audit; returns the job."""
    db = get_session()
    gaps.expire_jobs(db)
    cells = policy.report_cells(db, current_user.grants)
    payload = gaps.job_payload(args["from"], args["to"], place=args["place"],
                               kinds=args["kind"], cells=cells, zone=zone())
    if args["place"]:
        _known(args["place"])
    job_id = jobs.enqueue(db, gaps.JOB_KIND, payload, file_name=payload["file_name"],
                          user_id=current_user.id, username=current_user.username,
                          remote_addr=request.remote_addr)
    record("gap_report_queued", target=f"cell {args['place']}" if args["place"] else None,
           job=job_id, period=f"{args['from']}/{args['to']}", gap_kinds=payload["kinds"])
    db.commit()
    return job_id


def _known(place: str) -> None:
    """ValidationError for a place that is no cell (the job would fail on it later)."""
    try:
        place_cells(get_session(), None, place)
    except LookupError:
        raise ValidationError("place", f"there is no cell {place}", "no_such_cell",
                              cell=place) from None


@bp.post("/reports/gaps/prepare")
@login_required
def prepare():
    """The page's big workbook, made by the job workers: answer with the job's page."""
    _may_report()
    job_id = _queue(_args({k: v for k, v in ARGS.items() if k != "format"}, request.form))
    return redirect(url_for("gaps.job_page", job_id=job_id))


@bp.post("/api/v1/reports/gaps/jobs")
@login_required
def prepare_api():
    """The same for programs: 202 with the job, its status and, when done, its file."""
    _may_report()
    body = json_body()
    if isinstance(body.get("kind"), list):
        body = {**body, "kind": ",".join(str(k) for k in body["kind"])}
    job_id = _queue(validate(body, {k: v for k, v in ARGS.items() if k != "format"}))
    return jsonify(job=job_id, status_url=url_for("jobs.show", job_id=job_id),
                   page=url_for("gaps.job_page", job_id=job_id),
                   file=url_for("gaps.job_xlsx", job_id=job_id)), 202


def _own_job(job_id: int) -> dict:
    job = jobs.get(get_session(), job_id)
    if job is None or job["kind"] != gaps.JOB_KIND or not policy.can_see_job(
            current_user.grants, current_user.id, job["user_id"]):
        not_found("job", job_id)
    return job


@bp.get("/reports/gaps/jobs/<int:job_id>")
@login_required
def job_page(job_id: int):
    validate(request.args, {})
    job = _own_job(job_id)
    ready = job["status"] == "done" and "xlsx" in (job["result"] or {})
    return render_template("reports/gap_job.html", job=job, ready=ready,
                           progress=100 if job["status"] == "done" else job.get("progress") or 0)


@bp.get("/reports/gaps/jobs/<int:job_id>.xlsx")
@login_required
def job_xlsx(job_id: int):
    validate(request.args, {})
    job = _own_job(job_id)
    data = gaps.job_file(get_session(), job)
    if data is None:
        not_found("job", job_id)
    return Response(data, mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename={job['result']['file_name']}"})


@report_cli.command("gaps")
@click.option("--from", "start", required=True, help="First day, YYYY-MM-DD (the bureau's).")
@click.option("--to", "end", required=True, help="Last day, YYYY-MM-DD (included).")
@click.option("--place", help="A cell or grid code: its gaps and those of the cells inside it.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(gaps.KINDS),
              help="Only this kind of gap (repeatable); default all.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The file to write: .xlsx or .csv (UTF-8 with a BOM).")
def report_gaps(start, end, place, kinds, out):
    """Write the gap report (问责依据) of the whole city, or of --place, for the days --from
    to --to: every interval an enterprise was overdue for inspection, a rectification was late
    or a complaint was late, with who answered for it then, as /api/v1/reports/gaps gives it."""
    from app.cli import _require_database, _sessions
    from gis.db import transaction
    from gis.errors import GridWatchError

    ext = out.rsplit(".", 1)[-1].lower() if "." in out else ""
    if ext not in ("xlsx", "csv"):
        raise click.BadParameter("the file name ends in .xlsx or .csv", param_hint="--out")
    try:
        first = dates.parse_date(start, "from")
        last = dates.parse_date(end, "to")
    except GridWatchError as exc:
        raise click.BadParameter(str(exc), param_hint="--from/--to") from exc
    _require_database()
    try:
        with transaction(_sessions()) as session:
            result = gaps.gaps(session, first, last, place=place, kinds=kinds or None,
                               zone=zone())
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    data = gaps.xlsx(result, zone()) if ext == "xlsx" else gaps.csv_bytes(result, zone())
    with open(out, "wb") as f:
        f.write(data)
    days = sum(g["days"] for g in result["gaps"])
    click.echo(f"{first} to {last}{' ' + place if place else ''}: {len(result['gaps'])} gaps, "
               f"{days} days -> {out}")


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(report_cli)
    jobs.RUNNERS[gaps.JOB_KIND] = gaps.run_job
