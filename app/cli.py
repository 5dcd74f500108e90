"""Flask CLI commands: ``flask --app app db|grid|enterprises|demo …``.

Group and command names and their options are a contract users' scripts rely on: options may
be added, none renamed. Each import or load is one transaction: on any problem nothing is
written and the exit status is 1.
"""
from __future__ import annotations

import datetime as dt

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.auth import zone
from gis import migrate
from gis.db import DatabaseError, check_database, transaction
from gis.errors import GridWatchError

db_cli = AppGroup("db", help="Create and migrate the database.")
grid_cli = AppGroup("grid", help="Import and export grid cells (boundaries).")
enterprises_cli = AppGroup("enterprises", help="Import and export enterprises.")
demo_cli = AppGroup("demo", help="The demo city.")
users_cli = AppGroup("users", help="Users, roles and API tokens.")
people_cli = AppGroup("people", help="The roster: people and what they answer for.")
cells_cli = AppGroup("cells", help="Cells' owners.")


def _url() -> str:
    return current_app.config["DATABASE_URL"]


def _sessions():
    return current_app.extensions["gridwatch.sessions"]


def _require_database() -> None:
    try:
        check_database(current_app.extensions["gridwatch.engine"])
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from exc


def _progress(label: str):
    state = {"last": -1}

    def report(done: int, total: int) -> None:
        # One line per ~10 %: readable in logs, not a flood at 1M rows.
        step = max(total // 10, 1)
        if done == total or done // step != state["last"]:
            state["last"] = done // step
            click.echo(f"{label}: {done:,} of {total:,}", err=True)

    return report


def _run_import(label: str, work, target: str | None = None, flag=None, **detail) -> None:
    """Run ``work`` (an import) in one transaction with its audit entry. ``flag``: the entry's
    flag, or a function of the import's summary giving it."""
    from gis import audit

    _require_database()
    try:
        with transaction(_sessions()) as session:
            summary = work(session)
            audit.record(session, f"{label}_imported", target=target, username="cli",
                         remote_addr="localhost", via="cli",
                         flag=flag(summary) if callable(flag) else flag, detail={
                             "inserted": summary.inserted, "updated": summary.updated,
                             "unchanged": summary.unchanged, "refused": summary.refused,
                             **detail})
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:  # CRS and option errors
        raise click.ClickException(str(exc)) from exc
    for note in summary.notes:
        click.echo(note)
    for problem in summary.problems:
        click.echo(f"refused {problem}", err=True)
    click.echo(f"{label}: {summary.line()}")


def _today():
    """The bureau's today (a date), as the pages count it."""
    from gis import dates
    return dates.today(zone())


def _parse_when(value: str | None, *, as_of: bool = False) -> dt.datetime | None:
    """gis.dates' rules, in the bureau's zone: a bare date given for when a change takes
    effect (--valid-from) is the start of that day; one asked about (``as_of``: --at) is the
    end of it, as /map?at= and the lookup read it."""
    from gis import dates
    from gis.validation import ValidationError

    if not value:
        return None
    try:
        return dates.as_of(value, zone()) if as_of else dates.parse_datetime(value, zone())
    except ValidationError as exc:
        raise click.BadParameter(f"{value!r}: {exc.message}") from exc


HISTORY_HELP = ("Records of before, brought in (a bureau's first week): the audit entry is "
                "flagged 'imported' instead of 'backdated'.")


def _dated(when: dt.datetime | None, reason: str | None, grants=None,
           path: tuple[int, ...] = ()) -> str | None:
    """May a change inside the grid at ``path`` take effect at ``when``? Returns the audit
    flag ("backdated") or None. ``grants``: the --user's roles; None is the server's operator,
    who may date a change into the past like an administrator: with a reason."""
    from gis import policy

    operator = grants is None
    decision = policy.dated_change(
        (policy.Grant("admin"),) if operator else grants, "edit_grid", path, when,
        dt.datetime.now(dt.timezone.utc),
        dt.timedelta(hours=current_app.config["BACKDATE_GRACE_HOURS"]), reason, inside=True)
    if operator and decision.flag is None:
        return None
    if decision.allowed:
        return decision.flag
    if decision.needs_reason:
        raise click.UsageError("--reason is required for a change dated in the past "
                               f"({when:%Y-%m-%d %H:%M %Z})")
    raise click.UsageError(
        f"a change may be dated at most {current_app.config['BACKDATE_GRACE_HOURS']} hours in "
        "the past; an administrator (--user with the admin role) may date it further back "
        "with --reason")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database named by DATABASE_URL to REVISION (default: head)."""
    try:
        migrate.upgrade(_url(), revision)
    except Exception as exc:  # noqa: BLE001 - report, don't dump a traceback on users
        raise click.ClickException(f"migration failed: {exc}") from exc
    click.echo(f"database at {revision}")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION ("base" drops every table)."""
    migrate.downgrade(_url(), revision)


@db_cli.command("freeze-sql")
@click.argument("revision")
def db_freeze_sql(revision: str) -> None:
    """Copy gis/sql/ to migrations/frozen/REVISION.sql, for the migration REVISION that loads it
    (docs/sql.md)."""
    from gis.sqlsource import freeze

    click.echo(f"wrote {freeze(revision)}")


@db_cli.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    migrate.current(_url())


@db_cli.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
def db_backup(file: str) -> None:
    """Write the whole database to FILE (pg_dump, custom format): one consistent snapshot,
    taken while people work (docs/operations.md)."""
    from gis.backup import BackupError, backup

    try:
        size = backup(_url(), file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {file} ({size:,} bytes)")


@db_cli.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database's data.")
def db_restore(file: str, yes: bool) -> None:
    """Replace the database's data with the backup FILE (pg_restore, one transaction: on any
    error nothing changes). Meant for an empty database or one of the same version."""
    from sqlalchemy.engine import make_url

    from gis.backup import BackupError, restore

    target = make_url(_url()).render_as_string(hide_password=True)
    if not yes:
        click.confirm(f"Replace everything in {target} with {file}?", abort=True)
    try:
        restore(_url(), file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {file} into {target}")


@db_cli.command("check")
def db_check() -> None:
    """Exit 1 with the reason when the database is missing or lacks PostGIS."""
    _require_database()
    click.echo("database reachable, PostGIS "
               + check_database(current_app.extensions["gridwatch.engine"]))


CRS_HELP = "CRS of coordinates without one: EPSG:4326, another EPSG code, or gcj02."


@grid_cli.command("import")
@click.argument("file", type=click.Path(exists=True))
@click.option("--level", type=click.IntRange(0, 3), required=True,
              help="Grid level 1-3; 0 for the province above several cities (docs/province.md).")
@click.option("--parent", help="Code of the parent cell (levels 2-3, unless a parent_code field; "
                               "a city's is the province, which it gets by itself).")
@click.option("--kind", type=click.Choice(["territorial", "professional"]), default="territorial")
@click.option("--specialty", type=click.Choice(["food", "special_equipment", "metrology"]),
              help="Specialty of professional cells (or a specialty field).")
@click.option("--code-field", default="code", show_default=True)
@click.option("--name-field", default="name", show_default=True)
@click.option("--crs", help=CRS_HELP)
@click.option("--make-valid", is_flag=True, help="Repair invalid polygons and report them.")
@click.option("--skip-invalid", is_flag=True, help="Write the good features, report the rest.")
@click.option("--valid-from", help="When the boundaries take effect (ISO date); default now.")
@click.option("--comment", help="Why (kept with each new boundary version).")
@click.option("--reason", help="Why the boundaries take effect in the past (required with a "
                               "past --valid-from; the import is flagged in the audit log).")
@click.option("--confirm", is_flag=True, help="Import even though changed boundaries open gaps "
                                              "in their grid or leave enterprises without a "
                                              "level-3 cell (listed first).")
@click.option("--history", is_flag=True, help=HISTORY_HELP)
def grid_import(file, level, parent, kind, specialty, code_field, name_field, crs, make_valid,
                skip_invalid, valid_from, comment, reason, confirm, history):
    """Import cells from GeoJSON, Shapefile (folder or zip) or GeoPackage; upsert by code.
    Boundaries of the years before: oldest first, each with its --valid-from (a boundary
    starts after the current one of its cell), with --history and --reason."""
    from gis.audit import IMPORTED
    from gis.cells import import_cells

    when = _parse_when(valid_from)
    flag = _dated(when, reason)
    if history:
        flag = IMPORTED
    _run_import("cells", lambda s: import_cells(
        s, file, level=level, parent=parent, kind=kind, specialty=specialty,
        code_field=code_field, name_field=name_field, crs=crs, make_valid=make_valid,
        skip_invalid=skip_invalid, valid_from=when,
        comment=comment or f"import {file}", user="cli", progress=_progress("cells"),
        limits=current_app.extensions["gridwatch_limits"].for_operator(), confirm=confirm,
        tolerance_m2=current_app.config["GRID_SLIVER_TOLERANCE_M2"],
    ), target=str(file), flag=flag, valid_from=when, reason=reason)


@grid_cli.command("export")
@click.argument("file", type=click.Path())
@click.option("--at", help="Boundaries as of this date (ISO; a bare date means the end of "
                           "that day in the bureau's time zone); default now.")
def grid_export(file, at):
    """Export cells to .geojson or .gpkg (code, name, level, kind, parent_code, …)."""
    from gis.cells import export_cells

    _require_database()
    try:
        with transaction(_sessions()) as session:
            n = export_cells(session, file, _parse_when(at, as_of=True), zone())
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"exported {n:,} cells to {file}")


def _pairs(_ctx, param, values) -> dict[str, str]:
    """CODE=CELL options as a dict (a code given twice: the last one counts)."""
    pairs = {}
    for value in values:
        code, sep, cell = value.partition("=")
        if not sep or not code.strip() or not cell.strip():
            raise click.BadParameter(f"{value!r}: expected CODE=CELL", param=param)
        pairs[code.strip()] = cell.strip()
    return pairs


@grid_cli.command("redraw")
@click.argument("file", type=click.Path(exists=True), required=False)
@click.option("--comment", required=True, help="Why (kept with the change; required).")
@click.option("--user", "username", help="Check the change against this user's roles and "
                                         "record it under their name.")
@click.option("--code-field", default="code", show_default=True)
@click.option("--valid-from", help="When the new boundaries take effect (ISO); default now.")
@click.option("--crs", help=CRS_HELP)
@click.option("--make-valid", is_flag=True, help="Repair invalid polygons and report them.")
@click.option("--confirm-warnings", is_flag=True, help="Commit despite warnings "
                                                       "(multipart cells, cells without owner).")
@click.option("--dry-run", is_flag=True, help="Validate and list the enterprises that would "
                                               "move; write nothing.")
@click.option("--reason", help="Why the change takes effect in the past (required with a past "
                               "--valid-from; the change is flagged in the audit log).")
@click.option("--move-village", "move_villages", multiple=True, metavar="VILLAGE=CELL",
              callback=_pairs, help="Move a whole village (12-digit code) to a level-3 cell; "
              "also the target cell of a village FILE's new second-level edge hands to another "
              "grid. Repeatable.")
@click.option("--move-township", "move_townships", multiple=True, metavar="TOWNSHIP=CELL",
              callback=_pairs, help="Move all villages of a township to a level-3 cell. "
              "Repeatable.")
def grid_redraw(file, comment, username, code_field, valid_from, crs, make_valid,
                confirm_warnings, dry_run, reason, move_villages, move_townships):
    """Replace the boundaries of the cells FILE names, or move whole villages and townships
    (one transaction; history kept). Second-level grids (station boundaries) are redrawn under
    the city: by FILE, which may also name level-3 cells, or by moves."""
    from gis import audit, policy, redraw, redraw_level2, users

    _require_database()
    tolerance = current_app.config["GRID_SLIVER_TOLERANCE_M2"]
    when = _parse_when(valid_from)
    failed = False
    if not file and not move_villages and not move_townships:
        raise click.UsageError("give FILE, --move-village or --move-township")
    try:
        with transaction(_sessions()) as session:
            proposals = redraw.proposals_from_file(
                session, file, code_field=code_field, crs=crs, make_valid=make_valid,
                limits=current_app.extensions["gridwatch_limits"].for_operator()) if file else []
            # Each grid staged once, for its report, its effect and its commit.
            jobs = redraw_level2.jobs_for(session, proposals, villages=move_villages,
                                          townships=move_townships, tolerance_m2=tolerance)
            who = username or "cli"
            ident = users.identity(session, users.user_id(session, username)) \
                if username else None
            flags = {}
            for p in (job.proposal for job in jobs):  # one grid each: asked once
                if not username:
                    flags[p.parent_code] = _dated(when, reason)
                    continue
                path = users.cell_path(session, code=p.parent_code)
                if ident is None or not policy.can(ident.grants, "edit_grid", path, inside=True) \
                        and not policy.has_role(ident.grants, "admin"):
                    raise click.ClickException(
                        f"user {username} is not allowed to edit grid {p.parent_code}")
                flags[p.parent_code] = _dated(when, reason, ident.grants, path)
            for job in jobs:
                p = job.proposal
                report = job.check()
                if isinstance(job, redraw_level2.CityRedraw):
                    _echo_city_change(job, report)
                    failed = failed or bool(report.errors)
                    continue
                effect = job.effect(_today())
                click.echo(f"grid {p.parent_code}: {len(p.geometries)} cell(s), "
                           f"{len(effect['moves'])} enterprise(s) move")
                for f in report.findings:
                    place = f" at ({f.lon:.6f}, {f.lat:.6f})" if f.lon is not None else ""
                    click.echo(f"  {f.level}: {f.kind} {f.cell or ''} {f.message}{place}")
                for m in effect["moves"]:
                    click.echo(f"  {m['management_code']}: {m['from_cell']} -> {m['to_cell']}")
                for c in effect["cells"]:
                    if c["workload_change"]:
                        click.echo(f"  workload {c['code']}: {c['workload_before']} -> "
                                   f"{c['workload_after']} inspections a year")
                failed = failed or bool(report.errors)
            if failed:
                raise click.ClickException("validation failed: nothing written")
            if dry_run:
                click.echo("dry run: nothing written")
                return
            for job in jobs:
                p = job.proposal
                flag = flags[p.parent_code]
                change = job.commit(username=who, comment=comment, valid_from=when,
                                    confirm_warnings=confirm_warnings,
                                    backdate_reason=reason if flag else None)
                detail = job.audit_detail(change, comment, when) \
                    if isinstance(job, redraw_level2.CityRedraw) \
                    else redraw.audit_detail(change, p, comment, when)
                audit.record(session, "grid_changed", target=f"grid {p.parent_code}",
                             username=who, remote_addr="localhost", via="cli", flag=flag,
                             detail={**detail, "reason": reason})
                click.echo(f"committed change {change} in grid {p.parent_code}")
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc


def _codes(_ctx, _param, values) -> frozenset[str]:
    """--keep given several times and/or as a list separated by commas or spaces."""
    return frozenset(c for v in values for c in v.replace(",", " ").split())


@grid_cli.command("rebalance")
@click.argument("grid_code")
@click.option("--tolerance", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Largest |workload - average| / average allowed for a cell.")
@click.option("--max-moves", type=click.IntRange(0), help="Move at most this many villages.")
@click.option("--keep", multiple=True, callback=_codes, metavar="CODE…",
              help="Villages that must not move, or cells none of whose villages moves "
                   "(repeatable; or several separated by commas).")
@click.option("--complaint-weight", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Inspections a year one complaint of the last 365 days counts for.")
@click.option("--area-weight", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Inspections a year one km² counts for.")
@click.option("--method", type=click.Choice(["mip", "local"]), default="mip",
              show_default=True, help="The MIP (PuLP/CBC) or the greedy local search alone.")
@click.option("--time-limit", type=click.FloatRange(1), default=20.0, show_default=True,
              help="Seconds the solver may take for each solve.")
@click.option("--json", "as_json", is_flag=True, help="Print the suggestion as JSON.")
@click.option("--commit", "do_commit", is_flag=True,
              help="Commit the suggestion (default: a dry run that writes nothing).")
@click.option("--comment", help="Why (required with --commit; kept with the change).")
@click.option("--user", "username", help="Check the commit against this user's roles and "
                                         "record it under their name.")
@click.option("--valid-from", help="When the new boundaries take effect (ISO); default now.")
@click.option("--reason", help="Why the change takes effect in the past.")
@click.option("--confirm-warnings", is_flag=True,
              help="Commit despite warnings (open rectifications handed to another owner, a "
                   "tolerance out of reach, cells in pieces).")
def grid_rebalance(grid_code, tolerance, max_moves, keep, complaint_weight, area_weight,
                   method, time_limit, as_json, do_commit, comment, username, valid_from,
                   reason, confirm_warnings):
    """Suggest the fewest moves of whole villages between the cells of a second-level grid
    (or of each of a city's) that bring every cell's workload within the tolerance of the
    grid's average, keeping every cell contiguous (docs/rebalance.md). A dry run unless
    --commit, which commits it like `grid redraw --move-village`."""
    import json

    from gis import audit, policy, rebalance, redraw, users

    _require_database()
    if do_commit and not (comment or "").strip():
        raise click.UsageError("--commit needs --comment")
    when = _parse_when(valid_from)
    options = rebalance.Options(tolerance=tolerance, max_moves=max_moves, keep=keep,
                                complaint_weight=complaint_weight, area_weight=area_weight,
                                method=method, time_limit=time_limit)
    try:
        with transaction(_sessions()) as session:
            suggestions = rebalance.suggest_all(session, grid_code, options, _today())
            answers = [s.as_dict() for s in suggestions]
            if not as_json:
                for a in answers:
                    _echo_rebalance(a)
            if do_commit:
                who = username or "cli"
                ident = users.identity(session, users.user_id(session, username)) \
                    if username else None
                for s, answer in zip(suggestions, answers):
                    if not s.moves:
                        continue
                    path = users.cell_path(session, code=s.grid)
                    if username and (ident is None or not policy.can(
                            ident.grants, "edit_grid", path, inside=True)
                            and not policy.has_role(ident.grants, "admin")):
                        raise click.ClickException(
                            f"user {username} is not allowed to edit grid {s.grid}")
                    flag = _dated(when, reason, ident.grants if ident else None, path)
                    if answer["warnings"] and not confirm_warnings:
                        raise click.ClickException(
                            "confirm the warnings first (--confirm-warnings): "
                            + "; ".join(w["message"] for w in answer["warnings"][:5]))
                    proposal = rebalance.proposal(session, s)
                    job = redraw.Redraw(session, proposal,
                                        current_app.config["GRID_SLIVER_TOLERANCE_M2"])
                    change = job.commit(username=who, comment=comment, valid_from=when,
                                        confirm_warnings=confirm_warnings,
                                        backdate_reason=reason if flag else None)
                    detail = redraw.audit_detail(change, proposal, comment, when)
                    detail["rebalance"] = {
                        "villages": {m["village"]: m["to"] for m in answer["moves"]},
                        "tolerance": tolerance,
                        "max_deviation": [answer["before"]["max_deviation"],
                                          answer["after"]["max_deviation"]]}
                    audit.record(session, "grid_changed", target=f"grid {s.grid}",
                                 username=who, remote_addr="localhost", via="cli", flag=flag,
                                 detail={**detail, "reason": reason})
                    answer["change"] = change
                    if not as_json:
                        click.echo(f"committed change {change} in grid {s.grid}")
            elif not as_json:
                click.echo("dry run: nothing written (--commit --comment TEXT to apply)")
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        body = answers[0] if len(answers) == 1 and grid_code == answers[0]["grid"] \
            else {"grids": answers}
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))


def _echo_rebalance(answer: dict) -> None:
    before, after = answer["before"], answer["after"]
    click.echo(f"grid {answer['grid']}: {len(answer['moves'])} village(s) move, "
               f"{answer['enterprises_moved']} enterprise(s); largest deviation "
               f"{before['max_deviation']:.1%} -> {after['max_deviation']:.1%} "
               f"(tolerance {answer['tolerance']:.0%}; {answer['method']}, "
               f"{answer['status']}, {answer['seconds']:.1f} s)")
    for m in answer["moves"]:
        click.echo(f"  village {m['village']} {m['name']}: {m['from']} -> {m['to']} "
                   f"({m['enterprises']} enterprise(s), {m['workload']:g} a year)")
    for cell, load in before["workloads"].items():
        click.echo(f"  workload {cell}: {load:g} -> {after['workloads'][cell]:g} "
                   f"(average {after['average']:g})")
    for w in answer["warnings"]:
        click.echo(f"  warning: {w['message']}")


def _echo_city_change(job, report) -> None:
    """A change of the stations' grids as the terminal shows it: findings, the villages that
    change cell, the enterprises that change station, and per grid and owner the workload."""
    effect = job.effect(_today()) if not report.errors else None
    grids = sorted(c for c, level in job.plan.levels.items() if level == 2)
    click.echo(f"city {job.proposal.city_code}: second-level grid(s) {', '.join(grids) or '-'}, "
               f"{len(job.plan.geometries) - len(grids)} level-3 cell(s)")
    for f in report.findings:
        place = f" at ({f.lon:.6f}, {f.lat:.6f})" if f.lon is not None else ""
        click.echo(f"  {f.level}: {f.kind} {f.cell or ''} {f.message}{place}")
    if effect is None:
        return
    for v in effect["villages"]:
        click.echo(f"  village {v['code']} {v['name']}: {v['from_cell']} -> {v['to_cell']}"
                   f" ({v['enterprises']} enterprise(s))")
    for m in effect["moves"]:
        click.echo(f"  {m['management_code']}: {m['from_cell']} -> {m['to_cell']}")
    for g in effect["grids"]:
        if g["changed"] or g["workload_change"]:
            click.echo(f"  grid {g['code']}: {g['enterprises_before']} -> "
                       f"{g['enterprises_after']} enterprises, {g['workload_before']} -> "
                       f"{g['workload_after']} inspections a year")
    for o in effect["owners"]:
        if o["workload_change"]:
            click.echo(f"  owner {o['name']}: {o['enterprises_before']} -> "
                       f"{o['enterprises_after']} enterprises, {o['workload_before']} -> "
                       f"{o['workload_after']} inspections a year")


@enterprises_cli.command("import")
@click.argument("file", type=click.Path(exists=True))
@click.option("--crs", help=CRS_HELP + " Default EPSG:4326.")
@click.option("--skip-invalid", is_flag=True, help="Write the good rows, report the rest.")
@click.option("--valid-from", help="When the enterprises came under supervision (ISO date or "
                                   "date-time in the bureau's time zone), unless a row's "
                                   "纳入监管日期 / supervised_from says; default now. A date in "
                                   "the past brings history in (flagged 'imported').")
def enterprises_import(file, crs, skip_invalid, valid_from):
    """Import enterprises from CSV (UTF-8 or GBK) or XLSX; upsert by management code. Each is
    assigned to the cell that covered it when it came under supervision, and follows the
    boundary changes since."""
    from gis.audit import imported_if_past
    from gis.enterprises import import_enterprises

    when = _parse_when(valid_from)
    _run_import("enterprises", lambda s: import_enterprises(
        s, file, crs=crs, skip_invalid=skip_invalid, progress=_progress("enterprises"),
        valid_from=when, zone=zone(),
        limits=current_app.extensions["gridwatch_limits"].for_operator()), target=str(file),
        flag=lambda summary: imported_if_past(summary.dated_from),
        **({"valid_from": when} if when else {}))


@enterprises_cli.command("export")
@click.argument("file", type=click.Path())
def enterprises_export(file):
    """Export enterprises to .geojson or .gpkg, each with its current cell_code."""
    from gis.enterprises import export_enterprises

    _require_database()
    try:
        with transaction(_sessions()) as session:
            n = export_enterprises(session, file)
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"exported {n:,} enterprises to {file}")


@enterprises_cli.command("outside")
def enterprises_outside():
    """List enterprises that no cell covers (exit 0; an empty list prints nothing)."""
    from gis.enterprises import outside_cells

    _require_database()
    with transaction(_sessions()) as session:
        for row in outside_cells(session):
            click.echo("\t".join([row["management_code"], row["name"],
                                  f"{row['lon']:.6f}", f"{row['lat']:.6f}"]))


@demo_cli.command("load")
@click.option("--seed", default=2009, show_default=True, help="Random seed (same seed, same city).")
@click.option("--enterprises", "n_enterprises", default=1203, show_default=True,
              help="Enterprises in each city.")
@click.option("--cities", type=click.IntRange(1, 14), default=1, show_default=True,
              help="Above 1: a province holding that many cities side by side, the demo city "
                   "and copies of it with their own codes (docs/province.md).")
def demo_load(seed, n_enterprises, cities):
    """Replace all data with the deterministic Hejian-like demo city (or a province of them)."""
    from gis.demo.build import load_demo

    _require_database()
    with transaction(_sessions()) as session:
        counts = load_demo(session, seed=seed, n_enterprises=n_enterprises, cities=cities,
                           echo=lambda m: click.echo(m, err=True))
    for name, value in counts.items():
        click.echo(f"{name}: {value:,}")


def _user_command(work, audit_action: str, target: str, **detail) -> None:
    """Run a user-management change in one transaction, audited as done from the CLI."""
    from app.auth import forget_tokens
    from gis import audit
    from gis.users import UserError

    _require_database()
    try:
        with transaction(_sessions()) as session:
            result = work(session)
            audit.record(session, audit_action, target=target, detail=detail, username="cli",
                         remote_addr="localhost", via="cli")
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    # Only this process's memory: running servers honour API_TOKEN_CACHE_SECONDS.
    forget_tokens()
    return result


ROLE_CHOICE = click.Choice(["leader", "grid_manager", "inspector", "admin", "hotline"])


@users_cli.command("create")
@click.argument("username")
@click.option("--password", required=True, help="At least 8 characters, not only letters.")
@click.option("--role", type=ROLE_CHOICE, required=True)
@click.option("--place", help="Cell code the role is bound to (all roles but admin).")
@click.option("--name", "display_name", help="Display name.")
@click.option("--person", "person_code", help="Code (人员编号) of the person this account is.")
def users_create(username, password, role, place, display_name, person_code):
    """Create a user with one role at a place."""
    from gis.people import PersonError, person_id
    from gis.users import UserError, create_user

    def work(session):
        pid = None
        if person_code:
            try:
                pid = person_id(session, person_code)
            except GridWatchError:
                raise UserError(f"person {person_code!r}: no such person") from None
        create_user(session, username, password, role=role, place=place,
                    display_name=display_name, person_id=pid, granted_by="cli")

    try:
        _user_command(work, "user_created", f"user {username}", role=role, place=place,
                      person=person_code)
    except PersonError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {username} ({role}{'@' + place if place else ''})"
               + (f", person {person_code}" if person_code else ""))


@users_cli.command("link")
@click.argument("username")
@click.argument("person_code", required=False)
@click.option("--unlink", is_flag=True, help="The account is no person (PERSON_CODE omitted).")
def users_link(username, person_code, unlink):
    """Link the account USERNAME to the person PERSON_CODE (人员编号)."""
    from gis.people import link_account

    if bool(person_code) == unlink:
        raise click.UsageError("give PERSON_CODE, or --unlink")
    _people_command(lambda s: link_account(s, username, person_code),
                    "account_unlinked" if unlink else "account_linked", username, person_code)
    click.echo(f"{username}: " + (f"person {person_code}" if person_code else "no person"))


@users_cli.command("add-role")
@click.argument("username")
@click.argument("role", type=ROLE_CHOICE)
@click.option("--place", help="Cell code the role is bound to (all roles but admin).")
def users_add_role(username, role, place):
    """Give a user another role at a place."""
    from gis.users import add_role

    _user_command(lambda s: add_role(s, username, role, place, granted_by="cli"),
                  "role_added", f"user {username}", role=role, place=place)
    click.echo(f"{username}: +{role}{'@' + place if place else ''}")


@users_cli.command("reset-password")
@click.argument("username")
@click.option("--password", required=True)
def users_reset_password(username, password):
    """Set a new password; ends the user's sessions and clears failed-login delays."""
    from gis.users import set_password

    _user_command(lambda s: set_password(s, username, password), "password_reset",
                  f"user {username}")
    click.echo(f"password of {username} reset")


@users_cli.command("list")
def users_list():
    """Users with their roles and places."""
    from gis.users import list_users

    _require_database()
    with transaction(_sessions()) as session:
        for u in list_users(session):
            click.echo(f"{u['username']}\t{u['display_name'] or ''}\t{u['roles']}")


@users_cli.command("token")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
def users_token(username, name):
    """Create an API token; it is printed once, on the last line."""
    from gis.users import create_token

    token_id, token = _user_command(lambda s: create_token(s, username, name),
                                    "token_created", f"user {username}", name=name)
    click.echo(f"token {token_id} for {username} (shown once; store it safely):")
    click.echo(token)


@users_cli.command("revoke-token")
@click.argument("token_id", type=int)
def users_revoke_token(token_id):
    """Revoke an API token by its number (shown by `users token` and the account page)."""
    from gis.users import UserError, revoke_token

    def work(session):
        if not revoke_token(session, token_id):
            raise UserError(f"token {token_id}: no such token, or already revoked")

    _user_command(work, "token_revoked", f"token {token_id}")
    click.echo(f"token {token_id} revoked; servers stop accepting it within "
               f"{current_app.config['API_TOKEN_CACHE_SECONDS']} s")


def _operator():
    """The server's operator, judged as an administrator (their changes dated in the past need
    a reason, as an admin's do)."""
    from gis import policy

    return (policy.Grant("admin"),)


def _grace() -> dt.timedelta:
    return dt.timedelta(hours=current_app.config["BACKDATE_GRACE_HOURS"])


def _people_command(work, action: str, username: str, person_code: str | None):
    """An account link change, in one transaction, audited as done from the CLI."""
    from gis import audit

    _require_database()
    try:
        with transaction(_sessions()) as session:
            result = work(session)
            if action == "account_linked":
                audit.record(session, "account_linked", target=f"user {username}",
                             detail={"person": person_code}, username="cli",
                             remote_addr="localhost", via="cli")
            else:
                audit.record(session, "account_unlinked", target=f"user {username}",
                             username="cli", remote_addr="localhost", via="cli")
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    return result


@people_cli.command("import")
@click.argument("file", type=click.Path(exists=True))
@click.option("--skip-invalid", is_flag=True, help="Write the good rows, report the rest.")
@click.option("--reason", help="Why owners start in the past (required when a row's from "
                               "date lies further back than BACKDATE_GRACE_HOURS; the import "
                               "is flagged in the audit log).")
@click.option("--history", is_flag=True, help=HISTORY_HELP)
def people_import(file, skip_invalid, reason, history):
    """Import a roster from XLSX or CSV (UTF-8 or GBK), Chinese or English headers: upsert by
    person code (人员编号), link accounts (用户名), make owners of cells (负责网格) from a
    date (起始日期). One transaction; re-importing the same file changes nothing."""
    from gis import audit
    from gis.people import import_roster

    _require_database()
    try:
        with transaction(_sessions()) as session:
            summary = import_roster(
                session, file, zone=zone(), grants=_operator(), grace=_grace(), reason=reason,
                skip_invalid=skip_invalid, username="cli",
                limits=current_app.extensions["gridwatch_limits"].for_operator())
            flag = audit.IMPORTED if history else summary.flag
            audit.record(session, "people_imported", target=f"file {file}", username="cli",
                         remote_addr="localhost", via="cli", flag=flag, detail={
                             "inserted": summary.inserted, "updated": summary.updated,
                             "unchanged": summary.unchanged, "refused": summary.refused,
                             "linked": summary.linked, "assigned": summary.assigned,
                             "reason": reason})
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    for problem in summary.problems:
        click.echo(f"refused {problem}", err=True)
    click.echo(f"people: {summary.line()}")


@people_cli.command("export")
@click.argument("file", type=click.Path())
@click.option("--english", is_flag=True, help="English headers (default: Chinese, as the "
                                              "bureau's spreadsheets have them).")
def people_export(file, english):
    """Export the roster (the bureau's and governments' staff) to FILE, .xlsx or .csv, in the
    columns `people import` reads."""
    from gis.people import export_roster

    _require_database()
    with transaction(_sessions()) as session:
        _data, n = export_roster(session, file, zone(), chinese=not english)
    click.echo(f"exported {n:,} people to {file}")


@people_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of people.")
@click.option("--search", "query", help="Only people whose code, name, unit, position, "
                                         "phone or account contains this.")
@click.option("--all", "everyone", is_flag=True, help="Enterprises' principals too.")
def people_list(as_json, query, everyone):
    """People with code, name, unit, phone, username and the cells they own now."""
    import json

    from gis.people import search

    _require_database()
    with transaction(_sessions()) as session:
        _total, rows = search(session, query, side="all" if everyone else "staff", limit=None,
                              zone=zone())
    if as_json:
        click.echo(json.dumps([{"code": r["code"], "name": r["name"], "unit": r["unit"],
                                "position": r["position"], "phone": r["phone"],
                                "username": r["usernames"][0] if r["usernames"] else None,
                                "usernames": r["usernames"], "cells": r["cells"],
                                "roles": r["roles"]} for r in rows],
                              ensure_ascii=False, indent=1))
        return
    for r in rows:
        click.echo("\t".join([r["code"], r["name"], r["unit"] or "", r["phone"] or "",
                              ",".join(r["usernames"]), ",".join(r["cells"])]))


@people_cli.command("handover")
@click.argument("from_code")
@click.argument("to_code")
@click.option("--from", "valid_from", help="From when (ISO date or date-time in the bureau's "
                                           "time zone); default now.")
@click.option("--comment", required=True, help="Why (kept with the handover; required).")
@click.option("--reason", help="Why the handover takes effect in the past (required with a "
                               "past --from; flagged in the audit log).")
def people_handover(from_code, to_code, valid_from, comment, reason):
    """Hand everything FROM_CODE answers for to TO_CODE from a date, in one step; prints the
    responsibility plates (明示牌) to reprint."""
    from gis import audit, people

    when = _parse_when(valid_from)
    flag = _dated(when, reason)
    _require_database()
    try:
        with transaction(_sessions()) as session:
            at = when or people.db_now(session)
            plan = people.plan_handover(session, people.person_id(session, from_code),
                                        people.person_id(session, to_code), at)
            result = people.hand_over(session, plan, comment, username="cli", zone=zone())
            audit.record(session, "handover", target=f"handover {result['id']}",
                         username="cli", remote_addr="localhost", via="cli", flag=flag,
                         detail={"person": from_code, "successor": to_code,
                                 "valid_from": at, "comment": comment,
                                 "backdate_reason": reason, "moved": len(result["moved"]),
                                 "plates": len(result["plates"])})
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"handover {result['id']}: {from_code} -> {to_code}, "
               f"{len(result['moved'])} responsibilities")
    for m in result["moved"]:
        click.echo(f"  {m['role']} {m['code']} {m['name']}")
    for later in result["later"]:
        click.echo(f"  not handed over (begins later): {later['role']} {later['code']}")
    click.echo(f"plates to reprint: {len(result['plates'])}")
    for p in result["plates"]:
        click.echo("\t".join([p["management_code"], p["name"], p["address"] or "",
                              p["cell_code"] or "", ",".join(p["roles"])]))


@people_cli.command("gaps")
def people_gaps():
    """Gaps in the roster today: cells without an owner of their own (and whom they fall to),
    people who answer for nothing, people who left but still answer for something, accounts
    that are no person."""
    from gis.people import gaps

    _require_database()
    with transaction(_sessions()) as session:
        found = gaps(session, zone=zone())
    click.echo(f"cells without an owner of their own: {len(found['cells_without_owner'])}")
    for c in found["cells_without_owner"]:
        falls = f"falls to {c['falls_to_name']} ({c['falls_to_cell']})" \
            if c["falls_to_code"] else "falls to no one"
        click.echo(f"  {c['code']} {c['name']}: {falls}")
    click.echo(f"people who answer for nothing: {len(found['people_without_responsibility'])}")
    for r in found["people_without_responsibility"]:
        click.echo(f"  {r['code']} {r['name']}")
    click.echo(f"people who left but answer for something: {len(found['left_but_responsible'])}")
    for r in found["left_but_responsible"]:
        click.echo(f"  {r['code']} {r['name']}")
    click.echo(f"accounts that are no person: {len(found['accounts_without_person'])}")
    for u in found["accounts_without_person"]:
        click.echo(f"  {u['username']} {u['roles']}")


@cells_cli.command("set-owner")
@click.argument("cell_code")
@click.argument("person_code")
@click.option("--from", "valid_from", help="From when (ISO date or date-time in the bureau's "
                                           "time zone); default now.")
@click.option("--reason", help="Why the change takes effect in the past (required with a "
                               "past --from; flagged in the audit log).")
@click.option("--comment", help="Why (kept with the responsibility).")
@click.option("--history", is_flag=True, help=HISTORY_HELP)
def cells_set_owner(cell_code, person_code, valid_from, reason, comment, history):
    """Make PERSON_CODE the owner (网格责任人) of CELL_CODE from --from: the owner before is
    closed there, never overwritten."""
    from gis import audit, people

    when = _parse_when(valid_from)
    _require_database()
    try:
        with transaction(_sessions()) as session:
            tgt = people.target(session, "owner", cell_code)
            pid = people.person_id(session, person_code)
            decision = people.authorize_dated(_operator(), tgt, when,
                                              dt.datetime.now(dt.timezone.utc), _grace(),
                                              reason)
            if not decision.allowed:
                raise click.UsageError("--reason is required for an owner dated in the past "
                                       f"({when:%Y-%m-%d %H:%M %Z})")
            changed = people.assign(session, tgt, pid, when, comment=comment,
                                    created_by="cli", zone=zone())
            flag = audit.IMPORTED if history else decision.flag
            if changed:
                audit.record(session, "cell_owner_set", target=f"cell {cell_code}",
                             username="cli", remote_addr="localhost", via="cli",
                             flag=flag, detail={
                                 "person": person_code, "person_id": pid, "valid_from": when,
                                 "backdate_reason": reason, "comment": comment})
    except GridWatchError as exc:
        raise click.ClickException(str(exc)) from exc
    if not changed:
        click.echo(f"{cell_code}: {person_code} owns it already; nothing changed")
        return
    click.echo(f"{cell_code}: owner {person_code} from "
               + (when.isoformat() if when else "now")
               + (f" ({flag}: flagged in the audit log)" if flag else ""))


@click.command("lookup")
@with_appcontext
@click.argument("lon")
@click.argument("lat")
@click.option("--at", help="As of this date or date-time (a bare date means the end of that "
                           "day in the bureau's time zone); default now.")
@click.option("--crs", type=click.Choice(["wgs84", "gcj02"]), default="wgs84",
              show_default=True, help="gcj02: coordinates copied from Amap or Tencent.")
@click.option("--json", "as_json", is_flag=True,
              help="The whole answer, as GET /api/v1/lookup gives it.")
def lookup_command(lon, lat, at, crs, as_json):
    """Whose cell is the spot LON LAT: the cell, its second-level grid and station, and the
    owner, at --at (the answer of /api/v1/lookup, from the same query)."""
    import json

    from app.db import reader
    from app.lookup import lookup_request
    from gis.lookup import OutsideEveryCell, lookup
    from gis.validation import ValidationError

    _require_database()
    try:
        lon, lat, when, query = lookup_request({"lon": lon, "lat": lat, "at": at, "crs": crs})
        with reader() as conn:
            document = lookup(conn, lon, lat, when, extra={"query": query})
    except ValidationError as exc:
        raise click.BadParameter(exc.message, param_hint=exc.field) from exc
    except OutsideEveryCell as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(document)
        return
    answer = json.loads(document)
    cell = answer["cell"]
    click.echo(f"cell {cell['code']} {cell['name']} (level {cell['level']})")
    for up in answer.get("ancestors") or []:
        station = f", station {up['station']['name']}" if up.get("station") else ""
        click.echo(f"  in {up['code']} {up['name']} (level {up['level']}{station})")
    owner = answer.get("owner")
    if owner:
        inherited = f" (owner of {owner['cell_code']})" if owner.get("inherited") else ""
        click.echo(f"owner {owner['name']} ({owner.get('code')}) {owner.get('phone') or ''}"
                   f"{inherited}".rstrip())


def init_app(app: Flask) -> None:
    for group in (db_cli, grid_cli, enterprises_cli, demo_cli, users_cli, people_cli,
                  cells_cli):
        app.cli.add_command(group)
    app.cli.add_command(lookup_command)
