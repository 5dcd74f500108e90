"""Statistics (统计, gis/statistics.py): ``/statistics`` (per level and period, sortable, every
number a link to its rows on ``/records/<kind>``, a chart), its CSV and XLSX files, the printable
report ``/statistics/report?month=YYYY-MM`` (or ``year=YYYY``), and the same work on the job
queue when it is big (``/statistics/jobs/<id>``, with a progress bar and the file when done);
``flask statistics export`` writes the files from the command line.

What a user sees is what they read (gis.policy's ``visible_cells``): a station's leader sees
their station. Files and reports are in Chinese, as officials file them.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path

import click
from flask import (Blueprint, Flask, Response, current_app, redirect, render_template, request,
                   url_for)
from flask.cli import AppGroup
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import text

from app.auth import login_required, record, zone
from app.db import get_session
from app.errors import not_found
from app.mappage import visible
from app.ratelimit import rate_limited
from gis import dates, jobs, policy
from gis import statistics as st
from gis.plans import parse_month
from gis.tree import has_province, top_level
from gis.validation import Field, ValidationError, validate
from gis.wall import place_name, places

bp = Blueprint("statistics", __name__)
statistics_cli = AppGroup("statistics", help="Statistics (统计): files of the figures.")

ARGS = {
    "level": Field(required=False, choices=st.LEVELS),
    "period": Field(required=False, choices=st.PERIODS, default="month"),
    # A day of the period (month, quarter, year: the one holding it); a custom range's start.
    "from": Field(kind="date", required=False),
    "to": Field(kind="date", required=False),
    "place": Field(required=False, max_length=32),
    # What the table sets beside each number: 同比 or 环比.
    "compare": Field(required=False, choices=("yoy", "pop"), default="yoy"),
}
REPORT_ARGS = {"month": Field(required=False, max_length=7),
               "year": Field(kind="int", required=False, min=1900, max=2199),
               "place": Field(required=False, max_length=32)}
JOB_KIND = "statistics"
# Days a file made in the background is kept (a PostgreSQL large object) for download.
KEEP_DAYS = 7
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

LEVEL_LABELS = {"city": _l("The whole city"), "station": _l("Station grids"),
                "township": _l("Townships"), "cell": _l("Level-3 cells"),
                "professional": _l("Professional grids")}
PERIOD_LABELS = {"month": _l("Month"), "quarter": _l("Quarter"), "year": _l("Year"),
                 "custom": _l("Custom range")}
FIGURE_LABELS = {
    "enterprises": _l("Enterprises"), "grade_a": _l("Grade A"), "grade_b": _l("Grade B"),
    "grade_c": _l("Grade C"), "grade_d": _l("Grade D"),
    "inspections_required": _l("Inspections required"),
    "inspections": _l("Inspections done"),
    "inspection_rate": _l("Inspection completion rate"),
    "problems_found": _l("Problems found"), "problems_rectified": _l("Problems rectified"),
    "problems_judged": _l("Problems due"), "problems_on_time": _l("Rectified on time"),
    "rectification_rate": _l("On-time rectification rate"),
    "spot_check_batches": _l("Spot-check batches"),
    "spot_check_passed": _l("Spot-check batches passed"),
    "spot_check_pass_rate": _l("Spot-check pass rate"),
    "periodic_batches": _l("Periodic testing batches"),
    "periodic_passed": _l("Periodic testing batches passed"),
    "periodic_pass_rate": _l("Periodic testing pass rate"),
    "cases_opened": _l("Cases opened"), "cases_closed": _l("Cases closed"),
    "complaints": _l("Complaints received"), "complaints_closed": _l("Complaints closed"),
    "complaints_judged": _l("Complaints due"), "complaints_on_time": _l("Closed on time"),
    "complaint_rate": _l("On-time closure rate"),
    "close_days_mean": _l("Mean days to close"), "close_days_median": _l("Median days to close"),
}
# The page's table: groups of columns (the files hold every figure).
GROUPS = (
    (_l("Enterprises (at the period's end)"),
     ("enterprises", "grade_a", "grade_b", "grade_c", "grade_d")),
    (_l("Inspections"), ("inspections_required", "inspections", "inspection_rate")),
    (_l("Problems and rectification"),
     ("problems_found", "problems_rectified", "problems_on_time", "rectification_rate")),
    (_l("Spot checks (监督抽查)"), ("spot_check_batches", "spot_check_pass_rate")),
    (_l("Periodic supervisory testing (定期监督检验)"), ("periodic_batches", "periodic_pass_rate")),
    (_l("Enforcement cases"), ("cases_opened", "cases_closed")),
    (_l("12365 complaints"), ("complaints", "complaints_closed", "complaint_rate",
                              "close_days_mean", "close_days_median")),
)
# What a rate's list shows as its total (gis.wall.record_rows).
RATE_TOTALS = {"inspection_rate": None, "rectification_rate": "rectification_rate",
               "complaint_rate": "on_time_rate"}
RATE_RECORDS = {"inspection_rate": "inspections", "rectification_rate": "problems",
                "complaint_rate": "complaints"}
# What the chart may show, per unit.
CHART_FIGURES = ("inspection_rate", "inspections", "rectification_rate", "spot_check_pass_rate",
                 "periodic_pass_rate", "cases_opened", "complaints", "complaint_rate",
                 "close_days_mean", "enterprises")


# --- the request ---------------------------------------------------------------------------------

def _today() -> dt.date:
    return dates.today(zone())


# The table a place opens on, by the level of the place: a province's cities side by side, a
# city's stations, the cells of anything smaller.
LEVEL_BELOW = {0: "city", 1: "station"}


def default_level() -> str:
    """The cities for whoever reads a province, the stations for whoever reads a whole city;
    the cells of their place for the rest."""
    return LEVEL_BELOW.get(top_level(get_session(), visible()), "cell")


def request_period(args: dict) -> st.Period:
    """The period asked: the month, quarter or year holding ``from`` (``to`` is a custom
    range's end only), today's by default."""
    today = _today()
    end = args["to"] if args["period"] == "custom" else None
    return st.Period.of(args["period"], args["from"] or today, today, end=end)


def validated(values, schema) -> dict:
    """``validate``, naming the statistics' ``level`` as such: FIELD_LABELS' "level" is the
    spot checks' (抽查级别)."""
    try:
        return validate(values, schema)
    except ValidationError as exc:
        if exc.field != "level":
            raise
        raise ValidationError("statistics_level", exc.message, exc.code,
                              **exc.params) from None


def compute(level: str, period: st.Period, place: str | None, progress=None) -> dict:
    try:
        return st.statistics(get_session(), level=level, period=period, visible=visible(),
                             place=place, zone=zone(), progress=progress)
    except LookupError:
        not_found("cell", place)


def period_label(period: st.Period) -> str:
    """The period in the reader's language (files use ``gis.statistics.period_label_zh``)."""
    if period.kind == "month":
        label = _("%(year)s-%(month)s", year=period.start.year, month=period.start.month)
    elif period.kind == "quarter":
        label = _("Q%(quarter)s %(year)s", quarter=(period.start.month - 1) // 3 + 1,
                  year=period.start.year)
    elif period.kind == "year":
        label = _("Year %(year)s", year=period.start.year)
    else:
        label = _("%(start)s to %(end)s", start=period.start.isoformat(),
                  end=period.end.isoformat())
    if period.running:
        return _("%(period)s (%(start)s to date)", period=label, start=period.start.isoformat())
    if period.kind != "custom" and period.end != st.Period.of(period.kind, period.start,
                                                              period.today).end:
        return _("%(period)s (%(start)s to %(end)s)", period=label,
                 start=period.start.isoformat(), end=period.end.isoformat())
    return label


def figure_link(result: dict, key: str, unit: str | None) -> str | None:
    """The rows behind one number: ``/records/<kind>`` for the same days, place and unit
    (None: the table's total)."""
    figure = st.FIGURE[key]
    kind = figure.records or RATE_RECORDS.get(key)
    if kind is None:
        return None
    period = result["period"]
    return url_for("mapwall.records", kind=kind, **{"from": period.start.isoformat()},
                   to=period.last.isoformat(), level=result["level"], unit=unit,
                   cell=result["place"], **dict(figure.filters))


def record_total(key: str) -> str | None:
    """The total on the rows' page that equals the number (None: the count of rows)."""
    if key in RATE_TOTALS:
        return RATE_TOTALS[key]
    return st.FIGURE[key].total


def chart_data(result: dict) -> dict:
    """What statistics.js draws: per unit the chart's figures, and their labels and kinds."""
    return {"units": [u["name"] for u in result["units"]],
            "figures": {k: {"label": str(FIGURE_LABELS[k]), "kind": st.FIGURE[k].kind,
                            "values": [u["figures"][k] for u in result["units"]]}
                        for k in CHART_FIGURES},
            "spot": [u["figures"]["spot_check_pass_rate"] for u in result["units"]],
            "periodic": [u["figures"]["periodic_pass_rate"] for u in result["units"]],
            "labels": {"spot": str(FIGURE_LABELS["spot_check_pass_rate"]),
                       "periodic": str(FIGURE_LABELS["periodic_pass_rate"]),
                       "rate": str(FIGURE_LABELS["inspection_rate"])}}


def change_words(key: str, value, basis: str) -> str:
    """A change as officials say it: 同比增长 5.0%, 环比下降 1.2 个百分点, 同比持平."""
    figure = st.FIGURE[key]
    if value is None:
        return (_("no figure for the same period last year") if basis == "yoy"
                else _("no figure for the period before"))
    if figure.kind == "rate":
        amount = _("%(points)s percentage points", points=f"{abs(value) * 100:.1f}")
    else:
        amount = f"{abs(value) * 100:.1f}%"
    if round(value * 1000) == 0:
        return _("level with the same period last year") if basis == "yoy" else _(
            "level with the period before")
    if value > 0:
        return (_("up %(amount)s on the same period last year", amount=amount) if basis == "yoy"
                else _("up %(amount)s on the period before", amount=amount))
    return (_("down %(amount)s on the same period last year", amount=amount) if basis == "yoy"
            else _("down %(amount)s on the period before", amount=amount))


def level_labels() -> dict:
    """``LEVEL_LABELS``; in a province's deployment the city level is its cities side by side
    (docs/province.md)."""
    if has_province(get_session()):
        return LEVEL_LABELS | {"city": _("Cities")}
    return LEVEL_LABELS


def _page_context(result: dict, args: dict) -> dict:
    return {"result": result, "args": args, "groups": GROUPS, "labels": FIGURE_LABELS,
            "level_labels": level_labels(), "period_labels": PERIOD_LABELS,
            "figures": st.FIGURE, "link": functools.partial(figure_link, result),
            "record_total": record_total, "change_words": change_words,
            "period_label": period_label, "chart": chart_data(result),
            "definitions": st.DEFINITIONS,
            "place_label": place_name(get_session(), result["place"], visible())}


# --- the page and its files ----------------------------------------------------------------------

def _args():
    args = validated(request.args, ARGS)
    args["level"] = args["level"] or default_level()
    return args, request_period(args)


def _background(period: st.Period, place: str | None) -> bool:
    """Big enough for the job queue: a period longer than a quarter over more enterprises than
    ``STATISTICS_BACKGROUND_ENTERPRISES`` (bench/stats.py measured it)."""
    if period.days <= 92:
        return False
    try:
        cells = st.scope_cells(get_session(), visible(), place)
    except LookupError:
        not_found("cell", place)
    count = get_session().execute(text("""
        SELECT count(*) FROM enterprise_cell_current
        WHERE cell_id IS NOT NULL
          AND (CAST(:cells AS bigint[]) IS NULL OR cell_id = ANY(CAST(:cells AS bigint[])))"""),
        {"cells": cells}).scalar()
    return count > int(current_app.config["STATISTICS_BACKGROUND_ENTERPRISES"])


@bp.get("/statistics")
@login_required
@rate_limited("bulk")
def page():
    args, period = _args()
    result = compute(args["level"], period, args["place"])
    choices = st.recent_periods(args["period"], _today()) if args["period"] != "custom" else []
    return render_template("statistics/page.html", **_page_context(result, args),
                           choices=choices, places=places(get_session(), visible()),
                           background=_background(period, args["place"]))


def file_name(result: dict, suffix: str) -> str:
    period = result["period"]
    place = result["place"] or "all"
    return (f"statistics-{result['level']}-{place}-{period.start:%Y%m%d}-{period.last:%Y%m%d}"
            f".{suffix}")


def file_title(result: dict) -> str:
    """The heading of a file: place, level and period, in Chinese."""
    place = place_name(get_session(), result["place"], visible()) or ""
    return (f"{place}产品质量网格化监管统计（{st.LEVEL_HEADERS[result['level']]}）"
            f" {st.period_label_zh(result['period'])}")


@bp.get("/statistics.csv")
@login_required
@rate_limited("bulk")
def csv_file():
    args, period = _args()
    result = compute(args["level"], period, args["place"])
    return Response(st.csv_bytes(result), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={file_name(result, 'csv')}"})


@bp.get("/statistics.xlsx")
@login_required
@rate_limited("bulk")
def xlsx_file():
    args, period = _args()
    if _background(period, args["place"]):
        # Too long for one request: the page offers to make it in the background.
        return redirect(url_for("statistics.page", **request.args), 303)
    result = compute(args["level"], period, args["place"])
    return Response(st.xlsx_bytes(result, title=file_title(result)), mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename={file_name(result, 'xlsx')}"})


# --- the printable report ------------------------------------------------------------------------

def _report_request(values) -> tuple[st.Period, str | None, str]:
    """(period, place, level) of a report request: a month (default this one) or a year."""
    args = validate(values, REPORT_ARGS)
    today = _today()
    if args["year"] is not None and args["month"]:
        raise ValidationError("year", "give a month or a year, not both", "choices",
                              choices="month, year")
    if args["year"] is not None:
        period = st.Period.of("year", dt.date(args["year"], 1, 1), today)
    else:
        first = parse_month(args["month"]) if args["month"] else today.replace(day=1)
        period = st.Period.of("month", first, today)
    return period, args["place"], report_level(args["place"])


def report_level(place: str | None) -> str:
    """The cities' table for the province, the stations' for a city; a station's (or cell's)
    cells below it."""
    if not place:
        return default_level()
    level = get_session().execute(text("SELECT level FROM cell WHERE code = :c"),
                                  {"c": place}).scalar()
    return LEVEL_BELOW.get(level, "cell")


@bp.get("/statistics/report")
@login_required
@rate_limited("bulk")
def report():
    period, place, level = _report_request(request.args)
    if _background(period, place):
        return render_template("statistics/report_prepare.html", period=period, place=place,
                               period_label=period_label)
    result = compute(level, period, place)
    return render_template("statistics/report.html", **report_context(result))


def report_context(result: dict) -> dict:
    context = _page_context(result, {"level": result["level"]})
    context["today"] = _today()
    return context


# --- the job queue -------------------------------------------------------------------------------

@bp.post("/statistics/prepare")
@login_required
def prepare():
    """Queue a big XLSX (``what=xlsx``, the page's filters) or report (``what=report``,
    ``month`` or ``year``); answer with the job's page."""
    what = request.form.get("what")
    form = {k: v for k, v in request.form.items() if k not in ("what", "csrf_token")}
    if what == "xlsx":
        args = validated(form, ARGS)
        args["level"] = args["level"] or default_level()
        period, place, level = request_period(args), args["place"], args["level"]
    elif what == "report":
        period, place, level = _report_request(form)
    else:
        raise ValidationError("what", "one of xlsx, report", "choices", choices="xlsx, report")
    try:
        st.scope_cells(get_session(), visible(), place)
    except LookupError:
        not_found("cell", place)
    db = get_session()
    _expire(db)
    payload = {"what": what, "level": level, "place": place, "visible": visible(),
               "period": {"kind": period.kind, "start": period.start.isoformat(),
                          "end": period.end.isoformat(), "today": period.today.isoformat()},
               "zone": zone(), "locale": str(get_locale())}
    result_stub = {"level": level, "place": place, "period": period}
    payload["title"] = file_title(result_stub)
    payload["file_name"] = file_name(result_stub, "xlsx" if what == "xlsx" else "json")
    job_id = jobs.enqueue(db, JOB_KIND, payload, file_name=payload["file_name"],
                          user_id=current_user.id, username=current_user.username,
                          remote_addr=request.remote_addr)
    record("statistics_queued", target=place, job=job_id, level=level,
           period_from=period.start, period_to=period.last, file_name=payload["file_name"])
    db.commit()
    return redirect(url_for("statistics.job_page", job_id=job_id))


def _expire(db) -> None:
    """Drop the files of jobs finished more than KEEP_DAYS ago (their jobs say "expired")."""
    db.execute(text(f"""
        WITH old AS (
            SELECT id, lo_unlink(CAST(result ->> 'data' AS oid)) FROM job
            WHERE kind = '{JOB_KIND}' AND status = 'done' AND result ? 'data'
              AND finished_at < now() - interval '{KEEP_DAYS} days'
        )
        UPDATE job SET result = (result - 'data') || '{{"expired": true}}'
        WHERE id IN (SELECT id FROM old)"""))


def _json_default(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, st.Period):
        return {"kind": value.kind, "start": value.start, "end": value.end,
                "today": value.today}
    raise TypeError(type(value))


def _period(data: dict) -> st.Period:
    return st.Period(data["kind"], *(dt.date.fromisoformat(data[k])
                                     for k in ("start", "end", "today")))


def dump_result(result: dict) -> bytes:
    return json.dumps(result, default=_json_default, ensure_ascii=False).encode("utf-8")


def load_result(data: bytes) -> dict:
    result = json.loads(data)
    for key in ("period", "yoy", "pop"):
        result[key] = _period(result[key])
    return result


def run_job(session, job: dict, context: jobs.JobContext) -> dict:
    """The job: the statistics as the user who queued it reads them, then the XLSX (or the
    report's figures), kept as a large object whose oid is in the result. ``context.progress``
    moves the page's bar: the three periods to 90 %, the sheets to 100 %."""
    payload = job["payload"]
    period = _period(payload["period"])
    context.progress(1)
    result = st.statistics(session, level=payload["level"], period=period,
                           visible=payload["visible"], place=payload["place"],
                           zone=payload["zone"], progress=context.progress)
    if payload["what"] == "xlsx":
        data = st.xlsx_bytes(result, title=payload["title"], progress=context.progress)
    else:
        data = dump_result(result)
    context.progress(100)
    oid = session.execute(text("SELECT lo_from_bytea(0, :d)"), {"d": data}).scalar()
    return {"data": oid, "bytes": len(data), "file_name": payload["file_name"],
            "what": payload["what"], "units": len(result["units"])}


def _own_job(job_id: int) -> dict:
    job = jobs.get(get_session(), job_id)
    if job is None or job["kind"] != JOB_KIND or not policy.can_see_job(
            current_user.grants, current_user.id, job["user_id"]):
        not_found("job", job_id)
    return job


def _ready(job: dict) -> bool:
    return job["status"] == "done" and "data" in (job["result"] or {})


@bp.get("/statistics/jobs/<int:job_id>")
@login_required
def job_page(job_id: int):
    validate(request.args, {})
    job = _own_job(job_id)
    return render_template("statistics/job.html", job=job, ready=_ready(job),
                           progress=100 if job["status"] == "done" else job["progress"] or 0)


@bp.get("/statistics/jobs/<int:job_id>.json")
@login_required
def job_status(job_id: int):
    validate(request.args, {})
    job = _own_job(job_id)
    ready = _ready(job)
    body = {"job": job["id"], "status": job["status"],
            "progress": 100 if job["status"] == "done" else job["progress"] or 0,
            "ready": ready, "error": job["error"] if job["status"] == "failed" else None}
    if ready:
        body["url"] = url_for("statistics.job_file", job_id=job_id)
    return body


def _job_data(job: dict) -> bytes:
    if not _ready(job):
        not_found("job", job["id"])
    return bytes(get_session().execute(text("SELECT lo_get(CAST(:o AS oid))"),
                                       {"o": job["result"]["data"]}).scalar())


@bp.get("/statistics/jobs/<int:job_id>/file")
@login_required
def job_file(job_id: int):
    """The job's XLSX as a download; its report as the report's page."""
    validate(request.args, {})
    job = _own_job(job_id)
    data = _job_data(job)
    if job["result"]["what"] == "report":
        result = load_result(data)
        return render_template("statistics/report.html", **report_context(result))
    return Response(data, mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename={job['result']['file_name']}"})


# --- command line --------------------------------------------------------------------------------

@statistics_cli.command("export")
@click.option("--level", type=click.Choice(st.LEVELS), default="station", show_default=True)
@click.option("--period", type=click.Choice(st.PERIODS), default="month", show_default=True)
@click.option("--from", "start", help="A day of the period (a custom range's first); "
              "default today (the bureau's).")
@click.option("--to", "end", help="A custom range's last day.")
@click.option("--place", help="A territorial cell code: its subtree only (default: all).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The file to write: .xlsx or .csv.")
def statistics_export(level, period, start, end, place, out):
    """Write the statistics of every unit of --level for the period to --out (XLSX: the
    period, the same period last year, the period before, 同比, 环比 and the definitions;
    CSV: the period), as /statistics.xlsx gives them."""
    from app.cli import _require_database, _sessions
    from gis.db import transaction
    from gis.errors import GridWatchError

    if not out.lower().endswith((".xlsx", ".csv")):
        raise click.BadParameter("give a .xlsx or .csv file", param_hint="--out")
    today = dates.today(zone())
    try:
        first = dates.parse_date(start, "from") if start else today
        last = dates.parse_date(end, "to") if end else None
        chosen = st.Period.of(period, first, today, end=last)
    except GridWatchError as exc:
        raise click.BadParameter(str(exc)) from exc
    _require_database()
    with transaction(_sessions()) as session:
        try:
            result = st.statistics(session, level=level, period=chosen, visible=None,
                                   place=place, zone=zone())
        except LookupError:
            raise click.ClickException(f"no cell {place}") from None
        title = (f"{place_name(session, place, None)}产品质量网格化监管统计"
                 f"（{st.LEVEL_HEADERS[level]}） {st.period_label_zh(chosen)}")
    data = st.csv_bytes(result) if out.lower().endswith(".csv") else st.xlsx_bytes(
        result, title=title)
    Path(out).write_bytes(data)
    click.echo(f"{len(result['units'])} units, {st.period_label_zh(chosen)} -> {out}")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(statistics_cli)
    jobs.RUNNERS[JOB_KIND] = run_job
