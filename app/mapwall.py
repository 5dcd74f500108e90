"""The map wall (/map), its data endpoints (GeoJSON per layer, vector tiles, figures), the
cell card and the enterprise lists behind the figures.

The page is a Folium map (app/mappage.py) whose layers are ``RemoteLayer`` elements: each
fetches its data from ``/api/v1/layers/<id>.geojson`` (or tiles) with the page's filters, so
the HTML stays a few tens of kilobytes whatever the number of enterprises, and a refresh
re-fetches data in place without touching the view.
"""
from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import format_date, format_time
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from app import layerdata
from app.assets import static_text
from app.auth import login_required, zone
from app.errors import not_found
from app.db import get_session
from app.mappage import DEFAULT_DAYS, build_map, layer_query, layer_spec, map_parts, visible
from app.people import owner_link
from app.ratelimit import rate_limited
from gis import policy
from gis import statistics
from gis.users import cell_path
from gis.wall import (RECORD_KINDS, cell_rows, enterprise_rows, map_figures, place_name,
                      places, record_rows)
from gis.validation import Field, validate
from layers import REGISTRY

bp = Blueprint("mapwall", __name__)

FILTERS = {
    "days": Field(kind="int", required=False, min=1, max=3660),
    "from": Field(kind="date", required=False),
    "to": Field(kind="date", required=False),
    "at": Field(kind="date", required=False),
    "figure": Field(required=False, choices=("enterprises", "overdue_rate",
                                             "complaints_per_enterprise", "pass_rate")),
    "hotspot_variable": Field(required=False, choices=("count", "rate")),
    "hotspot_units": Field(required=False, choices=("hex", "cells")),
    # The place: a cell or grid code; the wall, its figures and lists cover its subtree.
    "cell": Field(required=False, max_length=32),
    # The big-screen wall: no site chrome, refreshes itself every WALL_REFRESH_SECONDS.
    "wall": Field(kind="bool", required=False),
}
PAGE = {"page": Field(kind="int", required=False, min=1, max=100000, default=1)}
LIST_FILTERS = {**FILTERS, **PAGE,
                "grade": Field(required=False, choices=("A", "B", "C", "D")),
                "overdue": Field(kind="bool", required=False),
                "q": Field(required=False, max_length=100)}
# The lists behind the activity figures take the figure's period and place, nothing else; the
# statistics' (gis/statistics.py) also their level and unit (a cell or township code; none: every
# unit of the level in the place), counted as at the end of ``to``, and a grade.
RECORD_FILTERS = {k: FILTERS[k] for k in ("days", "from", "to", "cell")} | PAGE | {
    "level": Field(required=False, choices=statistics.LEVELS),
    "unit": Field(required=False, max_length=32),
    "grade": Field(required=False, choices=("A", "B", "C", "D"))}
PAGE_SIZE = 50
WALL_WARNINGS = 8  # quality warnings in the wall's panel (the link lists them all)


def _filters(schema=FILTERS) -> dict:
    return validate(request.args, schema)


@bp.get("/map")
@login_required
def wall():
    args = _filters()
    query = layer_query(args)
    session = get_session()
    wall_mode = bool(args["wall"])
    refresh = current_app.config["WALL_REFRESH_SECONDS" if wall_mode else "MAP_REFRESH_SECONDS"]
    # A quarter zoom step: a county fits a phone or a command-room screen without a margin
    # of half the screen.
    parts = map_parts(build_map(query, args, refresh_seconds=refresh, zoom_snap=0.25,
                                inline=True, bare=True))
    figures = map_figures(session, cells=query.cells, window=query.window, today=query.today)
    # A date before the first boundaries draws nothing: say why instead of an empty map.
    no_cells_then = bool(query.at) and not session.execute(text("""
        SELECT 1 FROM cell_version WHERE valid_from <= :at LIMIT 1"""), {"at": query.at}).scalar()
    choices = places(session, visible())
    from app.quality_warnings import describe
    from gis import quality_warnings

    # Quality warnings (gis/quality_warnings.py) of the wall's place, today's: the panel shows
    # the first eight, in words, and how many there are.
    warned = quality_warnings.warnings(session, cells=query.cells, today=query.today,
                                       zone=zone())
    page = render_template(
        "map/wall.html", **parts, figures=figures, legends=legends(), no_cells_then=no_cells_then,
        quality_warnings=describe(warned[:WALL_WARNINGS]), warning_count=len(warned),
        wall_css=static_text("map.css", "wall.css", "assessment.css"),
        wall_js=static_text("map.js"),
        args=args, window=query.window, wall_mode=wall_mode, refresh_seconds=refresh,
        place=place_name(session, args["cell"], visible()), places=choices,
        editors=editable_grids(choices),
        drill={k: args[k] for k in ("days", "from", "to", "cell") if args.get(k)},
        # The filters the big-screen link and its way back keep.
        kept={k: args[k] for k in ("days", "from", "to", "at", "figure", "cell") if args.get(k)},
        # Flask-Babel shows it in the bureau's zone.
        now_time=format_time(dt.datetime.now(dt.timezone.utc), "short"),
        days=args.get("days") or (None if args.get("from") or args.get("to") else DEFAULT_DAYS))
    # The layers the page carries go in as the bytes kept in memory (app/layerdata.py).
    return Response(layerdata.splice(page, parts["map_bodies"]), mimetype="text/html")


def editable_grids(choices: list[dict]) -> list[dict]:
    """The grids whose editor this user may open (gis.policy: ``open_editor`` inside the
    grid), among the places they read: the wall links to each."""
    # The province (level 0) has no editor: its cities are redrawn one by one.
    return [c for c in choices if 0 < c["level"] < 3
            and policy.can(current_user.grants, "open_editor", c["path"], inside=True)]


def editor_link(code: str) -> str | None:
    """The editor that redraws the cell ``code`` (its parent grid's), when this user may open
    it; None otherwise."""
    path = cell_path(get_session(), code=code)
    if len(path) < 2 or not policy.can(current_user.grants, "open_editor", path[:-1],
                                       inside=True):
        return None
    parent = get_session().execute(text("SELECT code FROM cell WHERE id = :i AND level > 0"),
                                   {"i": path[-2]}).scalar()
    return url_for("redraw.editor", code=parent) if parent else None


def legend_items(layer) -> list[dict]:
    return [{"label": _(i.label), "color": i.color, "shape": i.shape, "mark": i.mark}
            for i in layer.legend]


def legends() -> list[dict]:
    """Legend texts translated here, in Python: Jinja's gettext would %-format them, and
    legends say "99 % confidence"."""
    return [{"id": layer.id, "title": _(layer.title), "items": legend_items(layer),
             "note": _(layer.note) if layer.note else None,
             "details": _(layer.details) if layer.details else None}
            for layer in REGISTRY.values()]


@bp.get("/api/v1/layers")
@login_required
def layer_list():
    query = layer_query(_filters())
    return {"layers": [{**layer_spec(layer, query), "legend": legend_items(layer),
                        "note": _(layer.note) if layer.note else None,
                        "details": _(layer.details) if layer.details else None}
                       for layer in REGISTRY.values()]}


@bp.get("/api/v1/layers/<layer_id>.geojson")
@login_required
@rate_limited("bulk")
def layer_geojson(layer_id: str):
    layer = REGISTRY.get(layer_id) or abort(404)
    # Computed once per change of its data, gzip, ETag (app/layerdata.py).
    return layerdata.layer_response(layer, layer_query(_filters()))


# QGIS and other clients: the two main layers under stable names.
@bp.get("/api/v1/cells.geojson")
@login_required
def cells_geojson():
    return layer_geojson("cells")


@bp.get("/api/v1/enterprises.geojson")
@login_required
def enterprises_geojson():
    return layer_geojson("enterprises")


@bp.get("/tiles/<layer_id>/<int:z>/<int:x>/<int:y>.pbf")
@login_required
def layer_tile(layer_id: str, z: int, x: int, y: int):
    layer = REGISTRY.get(layer_id)
    if layer is None or layer.tiles is None or not 0 <= z <= 22 or not (
            0 <= x < 2 ** z and 0 <= y < 2 ** z):
        abort(404)
    return layerdata.tile_response(layer, layer_query(_filters()), z, x, y)


@bp.get("/api/v1/figures")
@login_required
def figures_json():
    query = layer_query(_filters())
    values = map_figures(get_session(), cells=query.cells, window=query.window,
                         today=query.today)
    # The period label follows the filters (map.js shows it as the server formats it).
    start, end = (format_date(d, "medium") for d in (query.window.start, query.window.end))
    period = f"{start} – {end}"
    return {"values": json.loads(json.dumps(values, default=str)), "period": period}


@bp.get("/cells/<code>/card")
@login_required
@rate_limited("bulk")
def cell_card(code: str):
    args = _filters()
    query = layer_query(args)
    rows = cell_rows(get_session(), cells=query.cells, window=query.window, today=query.today,
                     at=query.at, levels=(1, 2, 3), kind=None, code=code)
    if not rows:
        abort(404)
    cell = rows[0]
    townships = get_session().execute(text("""
        SELECT DISTINCT t.name FROM township t JOIN cell_current cv ON cv.id = :c
             AND ST_Intersects(t.geom, cv.geom)
             AND ST_Area(ST_Intersection(t.geom, cv.geom)) > 1e-9
        ORDER BY t.name"""), {"c": cell["id"]}).scalars().all()
    _total, enterprises = enterprise_rows(get_session(), cells=query.cells,
                                          today=query.today, cell_code=code, limit=200)
    drill = {k: args[k] for k in ("days", "from", "to") if args.get(k)}
    from app.quality_warnings import warnings_for
    from gis.wall import place_cells

    return render_template("map/card.html", cell=cell, townships=townships,
                           # The quality warnings of the cell and the cells inside it.
                           quality_warnings=warnings_for(place_cells(get_session(),
                                                                     query.cells, code)),
                           enterprises=enterprises, drill={**drill, "cell": code},
                           # The editor redraws territorial grids (professional ones are
                           # imported): a link only to what it can do.
                           editor=editor_link(code) if cell["kind"] == "territorial" else None,
                           owner_form=owner_link(code, cell_path(get_session(), cell["id"])))


@bp.get("/enterprises")
@login_required
@rate_limited("bulk")
def enterprise_list():
    args = _filters(LIST_FILTERS)
    query = layer_query(args)
    total, rows = enterprise_rows(
        get_session(), cells=query.cells, today=query.today, grade=args["grade"],
        overdue=args["overdue"], query=args["q"], limit=PAGE_SIZE,
        offset=(args["page"] - 1) * PAGE_SIZE)
    return render_template("map/enterprises.html", rows=rows, total=total, args=args,
                           place=place_name(get_session(), args["cell"], visible()),
                           pages=(total + PAGE_SIZE - 1) // PAGE_SIZE)


@bp.get("/records/<kind>")
@login_required
@rate_limited("bulk")
def records(kind: str):
    """The rows behind one activity figure of the wall or the overview (inspections, problems,
    spot checks, periodic testing, cases, complaints), for the figure's period and place."""
    if kind not in RECORD_KINDS:
        abort(404)
    args = _filters(RECORD_FILTERS)
    query = layer_query(args)
    scope, place = None, place_name(get_session(), args["cell"], visible())
    if args["level"]:
        scope, place = statistics_scope(args, query)
    totals, rows = record_rows(get_session(), kind, cells=query.cells, window=query.window,
                               today=query.today, limit=PAGE_SIZE,
                               offset=(args["page"] - 1) * PAGE_SIZE, scope=scope,
                               grade=args["grade"])
    return render_template("map/records.html", kind=kind, rows=rows, totals=totals, args=args,
                           window=query.window, places=places(get_session(), visible()),
                           place=place, pages=(totals["rows"] + PAGE_SIZE - 1) // PAGE_SIZE)


def statistics_scope(args: dict, query) -> tuple:
    """(Scope, what to call it) of a statistics unit's list: its members as at the end of
    ``to`` (gis.statistics.record_scope), the unit one of the level's in the place the user
    reads (else 404); no unit: all of them (the table's total)."""
    db = get_session()
    period = statistics.Period("custom", query.window.start, query.window.end, query.today)
    now = dt.datetime.now(dt.timezone.utc)
    cells = query.cells
    shown = statistics.units(db, args["level"], cells, visible(), period.as_of(zone(), now))
    if args["unit"]:
        shown = [u for u in shown if u.code == args["unit"]]
        if not shown:
            not_found("township" if args["level"] == "township" else "cell", args["unit"])
    scope = statistics.record_scope(db, level=args["level"], units=[u.id for u in shown],
                                    period=period, cells=cells, zone=zone(), now=now)
    if args["unit"]:
        return scope, shown[0].name
    return scope, place_name(db, args["cell"], visible())
