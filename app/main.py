"""The landing page: what the city's grid holds now."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from app.auth import login_required
from app.db import get_session
from gis.figures import city_figures

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def index():
    return render_template("main/index.html", figures=city_figures(get_session()))


@bp.get("/healthz")
def health():
    # For load balancers and the README's smoke check: answers only when the database does.
    get_session().execute(text("SELECT 1"))
    return jsonify(status="ok")
