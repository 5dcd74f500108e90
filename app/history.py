"""Bringing the past in (docs/history-import.md): the administrator's page for a bureau's first
week (enterprises with the date they came under supervision, the previous system's inspections,
the hotline's complaints with how they were handled), and ``flask inspections import``.

Each upload calls the same domain function as its command (gis/enterprises.py
``import_enterprises``, gis/inspections_import.py, gis/complaints.py ``import_hotline``) in one
transaction with its audit entry, flagged "imported" (gis/audit.py) when what it brings in
lies in the past.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import click
from flask import Blueprint, abort, current_app, render_template, request
from flask.cli import AppGroup
from flask_login import current_user

from app.auth import record, require, zone
from app.db import get_session
from app.errors import domain_message
from gis import audit, complaints, dates
from gis.errors import GridWatchError, ImportRefused
from gis.inspections_import import COLUMNS, import_inspections
from gis.validation import Field, validate

bp = Blueprint("history", __name__, url_prefix="/admin/history")
inspections_cli = AppGroup("inspections", help="Inspections: the previous system's records.")

# What each upload's form may carry besides its file.
ENTERPRISES = {"valid_from": Field(kind="date", required=False)}
NONE: dict = {}
KINDS = ("enterprises", "inspections", "complaints")


def _page(status: int = 200, **context):
    context.setdefault("done", None)
    context.setdefault("kind", None)
    context.setdefault("summary", None)
    context.setdefault("problems", [])
    return render_template("history/import.html", columns=COLUMNS, **context), status


@bp.get("")
@require("admin")
def page():
    return _page()


def _run(kind: str, path: Path, form: dict):
    """(summary, audit action, flag) of one upload, run by its domain function."""
    db = get_session()
    limits = current_app.extensions["gridwatch_limits"]
    if kind == "enterprises":
        from gis.enterprises import import_enterprises

        when = dates.parse_datetime(form["valid_from"], zone(), "valid_from") \
            if form["valid_from"] else None
        summary = import_enterprises(db, path, valid_from=when, zone=zone(), limits=limits)
        return summary, "enterprises_imported", audit.imported_if_past(summary.dated_from)
    if kind == "inspections":
        summary = import_inspections(db, path, today=dates.today(zone()), zone=zone(),
                                     username=current_user.username, limits=limits)
        return summary, "inspections_imported", audit.IMPORTED
    summary = complaints.import_hotline(db, path, zone=zone(), username=current_user.username,
                                        limits=limits, history=True)
    return summary, "complaints_imported", audit.IMPORTED


@bp.post("/<kind>")
@require("admin")
def upload(kind: str):
    from app.people import problem_line
    from app.testing import _read_upload

    if kind not in KINDS:
        abort(404)
    db = get_session()
    try:
        form = validate(request.form, ENTERPRISES if kind == "enterprises" else NONE,
                        zone=zone())
        name, data, suffix = _read_upload()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"history.{suffix}"
            path.write_bytes(data)
            summary, action, flag = _run(kind, path, form)
    except ImportRefused as exc:
        db.rollback()
        return _page(400, kind=kind, problems=[problem_line(p) for p in exc.problems])
    except GridWatchError as exc:
        db.rollback()
        return _page(400, kind=kind, problems=[domain_message(exc)])
    except ValueError as exc:  # a CRS the enterprises' file names
        db.rollback()
        return _page(400, kind=kind, problems=[str(exc)])
    record(action, target=f"file {name}", flag=flag, inserted=summary.inserted,
           updated=summary.updated, unchanged=summary.unchanged,
           **({"valid_from": form["valid_from"]} if form.get("valid_from") else {}))
    db.commit()
    return _page(kind=kind, summary=summary, done=kind)


@inspections_cli.command("import")
@click.argument("file", type=click.Path(exists=True))
def inspections_import(file):
    """Import the previous system's inspections from XLSX or CSV (UTF-8 or GBK), Chinese or
    English headers (原系统编号, 企业管理编码 / 统一社会信用代码 / 企业名称, 检查日期, 检查人员,
    检查结果, 不符合项 or a column per checklist item, 发现问题, 整改期限, 整改完成日期): one
    inspection a row, keyed by its old number (the same number again changes nothing). Failed
    items open rectifications on the inspection's day, verified on 整改完成日期 when given. One
    transaction; every bad row is named; flagged "imported" in the audit log."""
    from app.cli import _run_import

    _run_import("inspections", lambda session: import_inspections(
        session, file, today=dates.today(zone()), zone=zone(), username="cli",
        limits=current_app.extensions["gridwatch_limits"].for_operator()),
        target=f"file {file}", flag=audit.IMPORTED)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(inspections_cli)
