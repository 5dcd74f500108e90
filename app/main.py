"""The landing page: what the city's grid holds now."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from app.auth import login_required, zone
from app.db import get_session
from app.mappage import visible
from gis.figures import city_figures
from gis.wall import place_name

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def index():
    # The user's area, as on the wall: the figures drill down to lists that show only it.
    cells = visible()
    figures = city_figures(get_session(), cells, zone=zone())
    return render_template("main/index.html", figures=figures,
                           place=place_name(get_session(), None, cells))


@bp.get("/healthz")
def health():
    # For load balancers and the README's smoke check: answers only when the database does.
    get_session().execute(text("SELECT 1"))
    return jsonify(status="ok")
