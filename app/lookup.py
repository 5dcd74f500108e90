"""Inspector lookup: ``/api/v1/lookup`` (whose cell is this spot), the responsible chain of an
enterprise, and the phone-friendly ``/lookup`` page."""
from __future__ import annotations

import datetime as dt
import time
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from flask_login import current_user

from app.auth import bearer_token, login_required, zone
from app.db import get_session, reader
from app.errors import error_body, not_found, outside_every_cell
from app.mappage import build_map, city_bounds, layer_query, map_parts
from app.security import STATIC_HEADERS
from app.ratelimit import rate_limited
from gis.crs import folium_bounds
from gis.lookup import (OutsideEveryCell, enterprise_responsible, lookup, parse_at, parse_point,
                        places_extent)
from gis.policy import visible_cells
from gis.validation import Field, ValidationError, validate

bp = Blueprint("lookup", __name__)

LOOKUP_ARGS = {"lon": Field(required=False, max_length=40),
               "lat": Field(required=False, max_length=40),
               "at": Field(required=False, max_length=40),
               "crs": Field(required=False, max_length=10)}
AT_ARGS = {"at": Field(required=False, max_length=40)}


def lookup_request(args, app: Flask | None = None
                   ) -> tuple[float, float, dt.datetime | None, dict]:
    """A lookup's WGS84 lon/lat, ``at`` and the ``query`` echoed in the answer; raises
    ValidationError naming the parameter."""
    args = validate(args, LOOKUP_ARGS)
    lon, lat, crs, typed = parse_point(args["lon"], args["lat"], args["crs"])
    at = parse_at(args["at"], zone(app))
    query = {"lon": typed[0], "lat": typed[1], "crs": crs,
             "wgs84": [round(lon, 7), round(lat, 7)], "at": at.isoformat() if at else None}
    return lon, lat, at, query


@bp.get("/api/v1/lookup")
@login_required
def api_lookup():
    lon, lat, at, query = lookup_request(request.args)
    try:
        with reader() as conn:
            document = lookup(conn, lon, lat, at, extra={"query": query})
    except OutsideEveryCell as exc:
        return jsonify(error_body(404, outside_every_cell(exc.nearest),
                                  code="outside_every_cell", nearest_cell=exc.nearest)
                       | {"query": query}), 404
    return current_app.response_class(document, mimetype="application/json")


class FastLookup:
    """WSGI in front of Flask for the inspectors' hot path.

    ``GET /api/v1/lookup`` with a bearer token this worker verified moments ago (the token
    cache, API_TOKEN_CACHE_SECONDS) and parameters the view would accept is answered here,
    without Flask's request machinery, which was half of the request's CPU: under gunicorn
    -w 2 the same lookup ran at ~1,000/s through Flask and ~1,900/s bare (bench/lookup.py).
    Everything else (a cookie, an unknown token, a parameter to refuse, a point outside every
    cell, an error) goes on to the Flask view, which answers it by its rules and formats: the
    answer here is the view's own (``lookup_request`` + ``gis.lookup.lookup``), byte for byte.
    """

    PATH = "/api/v1/lookup"

    def __init__(self, app: Flask):
        self.app = app
        self.next = app.wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "GET":
            return self.next(environ, start_response)
        started = time.perf_counter()
        try:
            body = self._answer(environ)
        except Exception:  # noqa: BLE001 - the view meets it again and answers it properly
            self.app.logger.exception("fast lookup failed; the view answers instead")
            body = None
        if body is None:
            return self.next(environ, start_response)
        elapsed = (time.perf_counter() - started) * 1000
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body))),
                                  ("Server-Timing", f'app;dur={elapsed:.3f};desc="fast"'),
                                  *STATIC_HEADERS.items()])
        return [body]

    def _answer(self, environ) -> bytes | None:
        token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
        if token is None or environ.get("HTTP_COOKIE"):
            return None
        if self.app.extensions["gridwatch_token_cache"].get(token) is None:
            return None
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        args = dict(pairs)
        if len(args) != len(pairs) or not set(args) <= set(LOOKUP_ARGS):
            return None
        try:
            lon, lat, at, query = lookup_request(args, self.app)
        except ValidationError:
            return None
        with reader(self.app) as conn:
            try:
                document = lookup(conn, lon, lat, at, extra={"query": query})
            except OutsideEveryCell:
                return None
        return document.encode()


@bp.get("/api/v1/enterprises/<path:code>/responsible")
@login_required
@rate_limited("enterprise")
def api_enterprise_responsible(code: str):
    args = validate(request.args, AT_ARGS)
    at = parse_at(args["at"], zone())
    db = get_session()
    # Outside one's area the answer is the one for a code that does not exist.
    answer = enterprise_responsible(db, code, at, cells=visible_cells(db, current_user.grants))
    if answer is None:
        not_found("enterprise", code)
    answer["query"] = {"management_code": code, "at": at.isoformat() if at else None}
    return jsonify(answer)


@bp.get("/lookup")
@login_required
def page():
    # ``enterprise``: open on that enterprise (the link on its page); its chain is fetched, and
    # checked against the user's area, like a search result's.
    args = validate(request.args, {"enterprise": Field(required=False, max_length=40)})
    # Cells are drawn for orientation only: a tap anywhere is a lookup, not a popup.
    m = build_map(layer_query({}), {}, layer_ids=("grids", "cells"), refresh=False,
                  interactive=False)
    # The first view: the places of the user's roles (an inspector's own cell), else the city;
    # always fitted, so a view remembered elsewhere never opens this page.
    home = places_extent(get_session(), [g.place_code for g in current_user.grants
                                         if g.place_code])
    return render_template("lookup/page.html",
                           home=folium_bounds(home) if home else city_bounds(),
                           enterprise=args["enterprise"], **map_parts(m))
