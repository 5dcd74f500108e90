"""The gap report (问责依据, gis/gaps.py): ``GET /api/v1/reports/gaps`` (JSON, or the same as a
workbook with ``format=xlsx``, or CSV with ``format=csv``), the page ``/reports/gaps`` (the same
filters, the gaps grouped by person) and ``flask report gaps``, all from ``gis.gaps.gaps``.

Who may read it: leaders, grid managers and admins (gis/policy.py ``report_gaps``), each within
the area they lead or manage (``policy.report_cells``); an inspector may not."""
from __future__ import annotations

import datetime as dt

import click
from flask import Blueprint, Response, abort, jsonify, render_template, request
from flask.cli import AppGroup
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.auth import login_required, zone
from app.db import get_session
from app.ratelimit import rate_limited
from gis import dates, gaps, policy
from gis.validation import Field, validate
from gis.wall import places

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
# The page opens on the last 30 days.
DEFAULT_DAYS = 30

KIND_LABELS = {"overdue_inspection": _l("Overdue for inspection"),
               "late_rectification": _l("Rectification late"),
               "late_complaint": _l("Complaint late")}
ROLE_LABELS = {"owner": _l("Cell owner"), "station_chief": _l("Station chief"),
               "township_leader": _l("Township leader")}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _args(schema: dict) -> dict:
    # A filter form sends its empty fields too: an empty one is no filter. ``kind`` may be
    # repeated (check boxes) or comma-separated.
    data = {k: v for k, v in request.args.items() if v.strip()}
    kinds = [v for v in request.args.getlist("kind") if v.strip()]
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
    place = f"-{result['place']}" if result.get("place") else ""
    return f"gaps{place}-{result['from']:%Y%m%d}-{result['to']:%Y%m%d}.{ext}"


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
    kept = {k: v for k, v in request.args.items(multi=True) if v.strip() and k != "role"}
    db = get_session()
    return render_template(
        "reports/gaps.html", args=args, result=result,
        groups=gaps.by_person(result, args["role"]), total_days=sum(
            g["days"] for g in result["gaps"]),
        kinds=KIND_LABELS, roles=ROLE_LABELS, chosen_kinds=result["kinds"],
        places=places(db, policy.report_cells(db, current_user.grants)),
        xlsx_args={**{k: v for k, v in request.args.items() if v.strip() and k != "role"},
                   "from": start.isoformat(), "to": end.isoformat()},
        kept=kept)


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
