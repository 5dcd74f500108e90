"""Inspections read back (gis/inspections_read.py): an enterprise's and a cell's.

``GET /api/v1/enterprises/<code>/inspections`` answers whoever may ``view`` the enterprise
(elsewhere 404, word for word as for a code that does not exist: docs/security.md);
``GET /api/v1/cells/<code>/inspections`` whoever may ``view`` the cell, retired cells
included (the inspections of the enterprises that were in it then). Both take ``from`` and
``to`` (dates, inclusive), ``limit`` and ``offset``.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask_login import current_user

from app.auth import authorize, login_required, zone
from app.db import get_session
from app.errors import not_found
from app.ratelimit import rate_limited
from gis import dates, fieldwork, inspections_read, policy
from gis.validation import Field, ValidationError, validate

bp = Blueprint("inspections_read", __name__, url_prefix="/api/v1")

PAGE = {"from": Field(kind="date", required=False),
        "to": Field(kind="date", required=False),
        "limit": Field(kind="int", min=1, max=200, required=False, default=50),
        "offset": Field(kind="int", min=0, max=1_000_000, required=False, default=0)}


def _page(**where) -> dict:
    args = validate(request.args, PAGE)
    if args["from"] and args["to"] and args["to"] < args["from"]:
        raise ValidationError("to", "before the start date", "before", other="from")
    answer = inspections_read.inspections(
        get_session(), zone=zone(), today=dates.today(zone()), start=args["from"],
        end=args["to"], limit=args["limit"], offset=args["offset"], **where)
    for inspection in answer["inspections"]:
        for p in inspection["photos"] + [p for r in inspection["problems"]
                                         for p in r["photos"]]:
            p["url"] = url_for("photos.show", photo_id=p["id"])
    answer.update(limit=args["limit"], offset=args["offset"])
    return answer


@bp.get("/enterprises/<path:code>/inspections")
@login_required
@rate_limited("enterprise")
def enterprise_inspections(code: str):
    db = get_session()
    try:
        enterprise_id, path = fieldwork.enterprise_target(db, code)
    except fieldwork.NotFound:
        not_found("enterprise", code)
    if not policy.can(current_user.grants, "view", path):
        not_found("enterprise", code)
    return jsonify(enterprise=code, **_page(enterprise_id=enterprise_id))


@bp.get("/cells/<code>/inspections")
@login_required
@rate_limited("bulk")
def cell_inspections(code: str):
    db = get_session()
    try:
        cell_id, path = inspections_read.cell_id(db, code)
    except fieldwork.NotFound:
        not_found("cell", code)
    authorize("view", path)
    return jsonify(cell=code, **_page(cell_id=cell_id))
