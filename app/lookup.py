"""Inspector lookup: ``/api/v1/lookup`` (whose cell is this spot), the responsible chain of an
enterprise, and the phone-friendly ``/lookup`` page."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from app.auth import login_required
from app.db import get_session, reader
from gis.lookup import OutsideEveryCell, enterprise_responsible, lookup, parse_at, parse_point
from gis.validation import Field, validate

bp = Blueprint("lookup", __name__)

LOOKUP_ARGS = {"lon": Field(required=False, max_length=40),
               "lat": Field(required=False, max_length=40),
               "at": Field(required=False, max_length=40),
               "crs": Field(required=False, max_length=10)}
AT_ARGS = {"at": Field(required=False, max_length=40)}


def _zone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


@bp.get("/api/v1/lookup")
@login_required
def api_lookup():
    args = validate(request.args, LOOKUP_ARGS)
    lon, lat, crs = parse_point(args["lon"], args["lat"], args["crs"])
    at = parse_at(args["at"], _zone())
    query = {"lon": float(args["lon"]), "lat": float(args["lat"]), "crs": crs,
             "wgs84": [round(lon, 7), round(lat, 7)], "at": at.isoformat() if at else None}
    try:
        with reader() as conn:
            document = lookup(conn, lon, lat, at, extra={"query": query})
    except OutsideEveryCell as exc:
        return jsonify(error={"status": 404, "message": str(exc), "nearest_cell": exc.nearest},
                       query=query), 404
    return current_app.response_class(document, mimetype="application/json")


@bp.get("/api/v1/enterprises/<code>/responsible")
@login_required
def api_enterprise_responsible(code: str):
    args = validate(request.args, AT_ARGS)
    at = parse_at(args["at"], _zone())
    answer = enterprise_responsible(get_session(), code, at)
    if answer is None:
        abort(404, description=f"enterprise {code!r} does not exist")
    answer["query"] = {"management_code": code, "at": at.isoformat() if at else None}
    return jsonify(answer)


@bp.get("/lookup")
@login_required
def page():
    from app.mapwall import _layer_query, build_map, map_parts

    args = validate(request.args, {})
    # Cells are drawn for orientation only: a tap anywhere is a lookup, not a popup.
    m = build_map(_layer_query(args), args, layer_ids=("grids", "cells"), refresh=False,
                  interactive=False)
    return render_template("lookup/page.html", **map_parts(m))
