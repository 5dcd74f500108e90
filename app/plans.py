"""The month plan of inspections (月度巡查计划, gis/plans.py) of a cell: the page
``/plans/<cell code>?month=YYYY-MM``, its XLSX file ``/plans/<cell code>.xlsx?month=…`` and
``flask plan month CELL --month YYYY-MM --out FILE.xlsx``, all from ``gis.plans.month_plan``.
Whoever may read the cell (``view``) may read its plan."""
from __future__ import annotations

import click
from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.cli import AppGroup
from flask_login import current_user
from sqlalchemy import text

from app.auth import authorize, login_required, zone
from app.db import get_session
from app.errors import not_found
from app.mappage import visible
from app.ratelimit import rate_limited
from gis import dates, plans
from gis.fieldwork import NotFound, cell_target
from gis.validation import Field, validate
from gis.wall import places

bp = Blueprint("plans", __name__)
plan_cli = AppGroup("plan", help="Month plans of inspections (月度巡查计划).")

ARGS = {"month": Field(required=False, max_length=7)}


def _month(value: str | None):
    return plans.parse_month(value) if value else dates.today(zone()).replace(day=1)


def _plan(cell_code: str):
    """(cell row, month, rows) for the request; 404 for no such cell, 403 outside one's area."""
    args = validate(request.args, ARGS)
    month = _month(args["month"])
    db = get_session()
    try:
        cell_id, path = cell_target(db, cell_code)
    except NotFound:
        not_found("cell", cell_code)
    authorize("view", path)
    cell = db.execute(text("SELECT id, code, name, level FROM cell WHERE id = :c"),
                      {"c": cell_id}).one()
    return cell, month, plans.month_plan(db, cell_id, month, dates.today(zone()))


@bp.get("/plans")
@login_required
def own_plan():
    """The plan of the user's own place (their first role's), else of the whole city."""
    codes = [g.place_code for g in current_user.grants if g.place_code]
    if not codes:
        city = get_session().execute(text(
            "SELECT code FROM cell WHERE level = 1 AND retired_at IS NULL ORDER BY id LIMIT 1"
        )).scalar()
        if city is None:
            not_found("cell", "")
        codes = [city]
    return redirect(url_for("plans.plan_page", cell_code=codes[0]))


@bp.get("/plans/<cell_code>")
@login_required
@rate_limited("bulk")
def plan_page(cell_code: str):
    cell, month, rows = _plan(cell_code)
    return render_template("plans/month.html", cell=cell, month=month, rows=rows,
                           places=places(get_session(), visible()),
                           overdue=sum(1 for r in rows if r["overdue_at_start"]),
                           done=sum(1 for r in rows if r["inspected_in_month"]))


@bp.get("/plans/<cell_code>.xlsx")
@login_required
@rate_limited("bulk")
def plan_xlsx(cell_code: str):
    cell, month, rows = _plan(cell_code)
    data = plans.plan_xlsx(rows, cell_code=cell.code, cell_name=cell.name, month=month)
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument."
                                    "spreadsheetml.sheet",
                    headers={"Content-Disposition":
                             f"attachment; filename=plan-{cell.code}-{month:%Y-%m}.xlsx"})


@plan_cli.command("month")
@click.argument("cell_code")
@click.option("--month", help="YYYY-MM; default this month (the bureau's).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The XLSX file to write.")
def plan_month(cell_code, month, out):
    """Write the month plan of CELL_CODE (its enterprises due for inspection in the month or
    overdue at its start) to --out, as /plans/<cell>.xlsx gives it."""
    from app.cli import _require_database, _sessions
    from gis.db import transaction
    from gis.errors import GridWatchError

    try:
        first = _month(month)
    except GridWatchError as exc:
        raise click.BadParameter(f"{month!r}: {exc}", param_hint="--month") from exc
    _require_database()
    try:
        with transaction(_sessions()) as session:
            cell_id, _path = cell_target(session, cell_code)
            name = session.execute(text("SELECT name FROM cell WHERE id = :c"),
                                   {"c": cell_id}).scalar()
            rows = plans.month_plan(session, cell_id, first, dates.today(zone()))
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    with open(out, "wb") as f:
        f.write(plans.plan_xlsx(rows, cell_code=cell_code, cell_name=name, month=first))
    overdue = sum(1 for r in rows if r["overdue_at_start"])
    click.echo(f"{cell_code} {first:%Y-%m}: {len(rows)} enterprises to inspect "
               f"({overdue} overdue at the month's start) -> {out}")


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(plan_cli)
