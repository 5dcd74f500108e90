"""Product testing (gis/testing.py): the laboratory's results uploaded, or one batch entered by
hand, by administrators and grid managers (each batch judged at its enterprise's cell:
``record_testing``); the same through the API; ``flask testing import FILE``."""
from __future__ import annotations

import tempfile
from pathlib import Path

import click
from flask import Blueprint, abort, current_app, jsonify, render_template, request
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import authorize, login_required, record, zone
from app.db import get_session
from app.errors import domain_message, error_json
from app.people import problem_line
from app.api import json_body
from gis import dates, policy, testing
from gis.errors import GridWatchError, ImportRefused
from gis.validation import Field, ValidationError, validate

bp = Blueprint("testing", __name__, url_prefix="/testing")
api = Blueprint("testing_api", __name__, url_prefix="/api/v1/testing")
testing_cli = AppGroup("testing", help="Product testing: sampled batches as laboratories "
                                       "report them.")

# One batch by hand: COLUMNS' fields, as text (gis/testing.py checks them).
BATCH = {name: Field(required=False, max_length=testing.MAX_LENGTH.get(name, 40))
         for name in testing.COLUMNS}


def _may_record() -> None:
    if not current_user.is_authenticated:
        abort(401)
    if not policy.can_somewhere(current_user.grants, "record_testing"):
        abort(403)


def _options() -> dict:
    return {"today": dates.today(zone()), "username": current_user.username,
            "deadline_days": current_app.config["FAILED_BATCH_RECTIFICATION_DAYS"]}


def _read_upload() -> tuple[str, bytes, str]:
    """(file name, bytes, 'xlsx' or 'csv'), judged by content (app.api.sniff_table)."""
    from app.api import sniff_table

    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("file", "required", "required")
    data = upload.read()
    kind = sniff_table(data[:8192])
    if kind is None:
        raise ValidationError("file", "not a CSV or XLSX file", "binary")
    return upload.filename[:100], data, kind


def _import(data: bytes, kind: str) -> testing.TestingSummary:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"results.{kind}"
        path.write_bytes(data)
        return testing.import_batches(get_session(), path, grants=current_user.grants,
                                      limits=current_app.extensions["gridwatch_limits"],
                                      **_options())


def _refused_status(exc: ImportRefused) -> int:
    """403 when any row names an enterprise the user may not record testing for (the upload
    as a whole is not theirs to make), else 400."""
    codes = {getattr(p.error, "code", None) for p in exc.problems}
    return 403 if "testing_not_allowed" in codes else 400


def _audit_import(name: str, summary: testing.TestingSummary) -> None:
    record("testing_imported", target=f"file {name}", inserted=summary.inserted,
           updated=summary.updated, unchanged=summary.unchanged, failed=len(summary.failed),
           rectifications=summary.rectifications)


def _save_one(values: dict) -> testing.Outcome:
    """Check one batch, authorize it at its enterprise, save and audit it."""
    db = get_session()
    batch, errors = testing.check_batch(db, values, today=dates.today(zone()))
    if errors:
        raise errors[0]
    authorize("record_testing", batch.path)
    opts = _options()
    outcome = testing.save_batch(db, batch, username=opts["username"],
                                 deadline_days=opts["deadline_days"])
    record("testing_recorded", target=f"report {outcome.report_number}",
           enterprise=outcome.management_code, result="pass" if outcome.passed else "fail",
           fields=outcome.changed or None)
    return outcome


def _outcome_json(o: testing.Outcome) -> dict:
    return {"id": o.id, "report_number": o.report_number, "enterprise": o.management_code,
            "kind": o.kind, "passed": o.passed, "status": o.status, "changed": o.changed,
            "rectification": o.rectification_id, "rectification_opened": o.rectification_opened}


# --- pages ------------------------------------------------------------------------------------

def _page(status: int = 200, **context):
    context.setdefault("summary", None)
    context.setdefault("problems", [])
    context.setdefault("typed", {})
    context.setdefault("outcome", None)
    return render_template("testing/import.html", **context), status


@bp.get("/import")
@login_required
def import_form():
    _may_record()
    return _page()


@bp.post("/import")
@login_required
def import_file():
    _may_record()
    db = get_session()
    try:
        validate(request.form, {})
        name, data, kind = _read_upload()
        summary = _import(data, kind)
    except ImportRefused as exc:
        db.rollback()
        return _page(_refused_status(exc), problems=[problem_line(p) for p in exc.problems])
    except GridWatchError as exc:
        db.rollback()
        return _page(400, problems=[domain_message(exc)])
    _audit_import(name, summary)
    db.commit()
    return _page(summary=summary)


@bp.post("/batches")
@login_required
def enter_batch():
    _may_record()
    db = get_session()
    try:
        values = {k: v for k, v in validate(request.form, BATCH).items() if v}
        outcome = _save_one(values)
    except ValidationError as exc:
        db.rollback()
        return _page(400, problems=[domain_message(exc)], typed=request.form)
    db.commit()
    return _page(outcome=outcome)


# --- API --------------------------------------------------------------------------------------

@api.post("/batches")
@login_required
def api_batch():
    _may_record()
    body = json_body()
    unknown = sorted(set(body) - set(testing.COLUMNS))
    if unknown:
        raise ValidationError(unknown[0], "unknown field", "unknown_field")
    values = {k: v for k, v in body.items() if v is not None}
    for k, v in values.items():
        if not isinstance(v, str):
            raise ValidationError(k, "expected text", "expected_text")
    outcome = _save_one(values)
    get_session().commit()
    return jsonify(_outcome_json(outcome)), 201 if outcome.status == "inserted" else 200


@api.post("/imports")
@login_required
def api_import():
    _may_record()
    db = get_session()
    unknown = sorted(set(request.form) - {"csrf_token", "lang"})
    if unknown:
        raise ValidationError(unknown[0], "unknown field", "unknown_field")
    name, data, kind = _read_upload()
    try:
        summary = _import(data, kind)
    except ImportRefused as exc:
        db.rollback()
        status = _refused_status(exc)
        return error_json(status, _("Nothing was imported."), code="import_refused",
                          problems=[{"row": p.row, "field": getattr(p.error, "field", None),
                                     "message": problem_line(p)} for p in exc.problems])
    _audit_import(name, summary)
    db.commit()
    return jsonify(inserted=summary.inserted, updated=summary.updated,
                   unchanged=summary.unchanged, rectifications=summary.rectifications,
                   batches=[_outcome_json(o) for o in summary.batches], notes=summary.notes)


# --- the command line -------------------------------------------------------------------------

@testing_cli.command("import")
@click.argument("file", type=click.Path(exists=True))
def testing_import(file):
    """Import the laboratory's results from XLSX or CSV (UTF-8 or GBK), Chinese or English
    headers (报告编号, 企业管理编码 / 统一社会信用代码 / 企业名称, 产品名称, 批号, 抽样日期,
    检验类别, 抽查级别, 检验机构, 检验结论, 不合格项目): one batch a row, keyed by report
    number (the same report again changes nothing). One transaction; a failed batch opens a
    rectification."""
    from app.cli import _run_import

    _run_import("testing", lambda session: testing.import_batches(
        session, file, today=dates.today(zone()), username="cli",
        deadline_days=current_app.config["FAILED_BATCH_RECTIFICATION_DAYS"],
        limits=current_app.extensions["gridwatch_limits"].for_operator()),
        target=f"file {file}")


def init_app(app) -> None:
    from app.errors import field_label

    app.register_blueprint(bp)
    app.register_blueprint(api)
    app.cli.add_command(testing_cli)
    app.jinja_env.filters["field_label"] = field_label
