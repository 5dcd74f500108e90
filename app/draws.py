"""The double-random draw (双随机一公开, gis/draws.py): the API that draws and re-checks, and
the published result (a page and a CSV anyone may open: 一公开)."""
from __future__ import annotations

import csv
import io
import secrets

from flask import Blueprint, Response, jsonify, render_template
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from app.auth import authorize, login_required, record
from app.db import get_session
from app.errors import not_found
from app.api import json_body
from gis import draws, fieldwork
from gis.tables import spreadsheet_text
from gis.models import GRADES, SPECIALTIES
from gis.validation import Field, ValidationError, validate

api = Blueprint("draws_api", __name__, url_prefix="/api/v1/draws")
bp = Blueprint("draws", __name__, url_prefix="/draws")

DRAW = {"place": Field(max_length=32, min_length=1),
        "enterprises": Field(kind="int", min=1, max=1000),
        # Unsigned 64-bit, as numpy's PCG64 takes it; JSON numbers that large stay exact in
        # Python, strings of digits are taken too.
        "seed": Field(kind="int", min=0, max=2 ** 64 - 1, required=False),
        "roster": Field(kind="list", max_length=500, required=False),
        "industries": Field(kind="list", max_length=100, required=False),
        "grades": Field(kind="list", max_length=4, required=False),
        "specialty": Field(choices=SPECIALTIES, required=False)}


def _texts(values, field: str, max_length: int = 100) -> list[str] | None:
    if values is None:
        return None
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise ValidationError(field, "expected text", "expected_text")
        if len(v) > max_length:
            raise ValidationError(field, f"at most {max_length} characters", "max_length",
                                  n=max_length)
    return sorted(set(values))


@api.post("")
@login_required
def create():
    body = json_body()
    body = validate(body, DRAW)
    db = get_session()
    try:
        _place_id, path = fieldwork.cell_target(db, body["place"])
    except fieldwork.NotFound:
        raise ValidationError("place", f"there is no cell {body['place']}", "no_such_cell",
                              cell=body["place"]) from None
    authorize("draw", path)
    grades = _texts(body["grades"], "grades", 1)
    if grades and set(grades) - set(GRADES):
        raise ValidationError("grades", "one of A, B, C, D", "choices", choices="A, B, C, D")
    seed = body["seed"] if body["seed"] is not None else secrets.randbits(64)
    result = draws.draw(db, body["place"], body["enterprises"], seed,
                        usernames=_texts(body["roster"], "roster", 64),
                        industries=_texts(body["industries"], "industries"), grades=grades,
                        specialty=body["specialty"], username=current_user.username)
    record("draw_made", target=f"draw {result['id']}", place=body["place"],
           enterprises=body["enterprises"], seed=str(seed))
    db.commit()
    return jsonify(result), 201


def _get(draw_id: int) -> dict:
    try:
        return draws.get(get_session(), draw_id)
    except draws.NotFound:
        not_found("draw", draw_id)


@api.get("/<int:draw_id>")
@login_required
def show(draw_id: int):
    return jsonify(_get(draw_id))


@api.get("/<int:draw_id>/verify")
@login_required
def verify(draw_id: int):
    _get(draw_id)
    return jsonify(match=draws.verify(get_session(), draw_id))


def _published(draw_id: int) -> tuple[dict, list[dict]]:
    """The record and its pairs with the enterprises' and inspectors' names."""
    db = get_session()
    try:
        r = draws.load(db, draw_id)
    except draws.NotFound:
        not_found("draw", draw_id)
    codes = [p["enterprise"] for p in r["pairs"]]
    users = sorted({u for p in r["pairs"] for u in p["inspectors"]})
    names = dict(db.execute(text(
        "SELECT management_code, name FROM enterprise WHERE management_code = ANY(:c)"),
        {"c": codes}).all())
    people = dict(db.execute(text("""
        SELECT u.username, coalesce(p.name, u.display_name, u.username) FROM app_user u
        LEFT JOIN person p ON p.id = u.person_id WHERE u.username = ANY(:u)"""),
        {"u": users}).all())
    rows = [{"enterprise": p["enterprise"], "name": names.get(p["enterprise"], ""),
             "inspectors": [people.get(u, u) for u in p["inspectors"]]} for p in r["pairs"]]
    return r, rows


@bp.get("/<int:draw_id>")
def page(draw_id: int):
    r, rows = _published(draw_id)
    return render_template("draws/draw.html", r=r, rows=rows)


@bp.get("/<int:draw_id>.csv")
def page_csv(draw_id: int):
    _r, rows = _published(draw_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Enterprise management code"), _("Enterprise"), _("Inspector"),
                     _("Second inspector")])
    for row in rows:
        writer.writerow([spreadsheet_text(row["enterprise"]), spreadsheet_text(row["name"]),
                         spreadsheet_text(row["inspectors"][0]),
                         spreadsheet_text(row["inspectors"][1])])
    return Response(out.getvalue().encode("utf-8-sig"), mimetype="text/csv",
                    headers={"Content-Disposition":
                             f"attachment; filename=draw-{draw_id}.csv"})


def init_app(app) -> None:
    app.register_blueprint(api)
    app.register_blueprint(bp)
