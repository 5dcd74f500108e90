"""The map wall (/map), its data endpoints (GeoJSON per layer, vector tiles, figures), the
cell card and the enterprise lists behind the figures.

The page is a Folium map whose layers are ``RemoteLayer`` elements: each fetches its data
from ``/api/v1/layers/<id>.geojson`` (or tiles) with the page's filters, so the HTML stays a
few tens of kilobytes whatever the number of enterprises, and a refresh re-fetches data in
place without touching the view.
"""
from __future__ import annotations

import datetime as dt
import json

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import HeatMap, VectorGridProtobuf
from flask import (Blueprint, Response, abort, current_app, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user
from jinja2 import Template
from sqlalchemy import text

from app.auth import login_required
from app.db import get_session
from app.ratelimit import rate_limited
from gis import policy
from gis.supervision import Window, cell_rows, enterprise_rows, map_figures
from gis.validation import Field, ValidationError, validate
from layers import REGISTRY, Layer, LayerQuery

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
}
LIST_FILTERS = {**FILTERS,
                "grade": Field(required=False, choices=("A", "B", "C", "D")),
                "overdue": Field(kind="bool", required=False),
                "cell": Field(required=False, max_length=32),
                "q": Field(required=False, max_length=100),
                "page": Field(kind="int", required=False, min=1, max=100000, default=1)}
DEFAULT_DAYS = 365
PAGE_SIZE = 50


class RemoteLayer(JSCSSMixin, folium.map.Layer):
    """A Folium layer whose features come from the app at run time (see map.js). It asks for
    the same plugin scripts as Folium's own HeatMap and VectorGridProtobuf, so
    ``app.assets.localize`` serves them from the app."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        {%- if this.show %}
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {%- endif %}
        GridWatchMap.register({{ this.get_name() }}, {{ this.spec|tojson }},
                              {{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, spec: dict, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "RemoteLayer"
        self.spec = spec
        self.default_js = []
        if spec["render"] == "heat":
            self.default_js += HeatMap.default_js
        if spec.get("tileUrl"):
            self.default_js += VectorGridProtobuf.default_js


class Configure(MacroElement):
    """Hands the page's filters and texts to map.js before any layer registers."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        GridWatchMap.configure({{ this.config|tojson }});
        {% endmacro %}
    """)

    def __init__(self, config: dict):
        super().__init__()
        self._name = "Configure"
        self.config = config


def _filters(schema=FILTERS) -> dict:
    return validate(request.args, schema)


def _window(args: dict) -> Window:
    if args.get("from") or args.get("to"):
        start = args.get("from") or dt.date(2000, 1, 1)
        end = args.get("to") or dt.date.today()
        if end < start:
            raise ValidationError("to", "before from", "invalid")
        return Window(start, end)
    return Window.last(args.get("days") or DEFAULT_DAYS)


def _visible() -> list[int] | None:
    """Cells this user may see; None for everything (the rule: gis.policy.readable_places)."""
    return policy.visible_cells(get_session(), current_user.grants)


def map_parts(m: folium.Map) -> dict:
    """The Folium page split for embedding in our templates."""
    root = m.get_root()
    root.render()
    return {"map_header": root.header.render(), "map_html": root.html.render(),
            "map_script": root.script.render()}


def _layer_query(args: dict) -> LayerQuery:
    at = None
    if args.get("at"):
        at = dt.datetime.combine(args["at"], dt.time.max, tzinfo=dt.timezone.utc)
    return LayerQuery(cells=_visible(), window=_window(args), today=dt.date.today(), at=at,
                      params={k: v for k, v in args.items() if v is not None})


def layer_spec(layer: Layer, query: LayerQuery) -> dict:
    """What map.js needs to draw one layer, with the user's language applied."""
    spec = {
        "id": layer.id, "title": _(layer.title), "render": layer.render,
        "url": url_for("mapwall.layer_geojson", layer_id=layer.id),
        "style": layer.style, "label": layer.label,
        "popup": [{"label": _(f.label), "prop": f.prop, "kind": f.kind} for f in layer.popup],
    }
    threshold = current_app.config["VECTOR_TILE_THRESHOLD"]
    if layer.tiles is not None and layer.count is not None:
        count = layer.count(get_session(), query)
        if count > threshold:
            spec["tileUrl"] = url_for("mapwall.layer_tile", layer_id=layer.id, z=0, x=0,
                                      y=0).replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
            spec["count"] = count
    return spec


def city_bounds() -> list[list[float]] | None:
    row = get_session().execute(text("""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
            SELECT ST_Extent(cv.geom) AS e FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
            WHERE c.level = 1 AND cv.valid_to IS NULL) b""")).one()
    if row[0] is None:
        return None
    from gis.coords import folium_bounds

    return folium_bounds((row[0], row[1], row[2], row[3]))


def build_map(query: LayerQuery, filters: dict, layer_ids: tuple[str, ...] | None = None,
              refresh: bool = True, interactive: bool = True,
              prefer_canvas: bool = True) -> folium.Map:
    from app.assets import localize, new_map

    bounds = city_bounds()
    m = new_map(current_app.config, location=None, zoom_start=10, control_scale=True,
                prefer_canvas=prefer_canvas, width="100%", height="100%")
    Configure({
        "filters": {k: str(v) for k, v in filters.items() if v is not None},
        "refreshSeconds": current_app.config["MAP_REFRESH_SECONDS"] if refresh else 0,
        "figuresUrl": url_for("mapwall.figures_json"),
        "cardUrl": url_for("mapwall.cell_card", code="__CODE__"),
        "i18n": {"loadFailed": _("A layer could not be loaded.")},
    }).add_to(m)
    if bounds:
        # Before the layers: a tile layer starts loading the view it is added in, and until
        # fitBounds that is folium's default view, the whole world at zoom 1.
        m.fit_bounds(bounds)
    for layer in REGISTRY.values():
        if layer_ids is None or layer.id in layer_ids:
            spec = layer_spec(layer, query)
            if not interactive:
                spec["style"] = {**spec["style"], "interactive": False}
            RemoteLayer(spec, name=_(layer.title), show=layer.show).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    localize(m.get_root(), lambda path: url_for("static", filename=path))
    return m


@bp.get("/map")
@login_required
def wall():
    args = _filters()
    query = _layer_query(args)
    parts = map_parts(build_map(query, args))
    figures = map_figures(get_session(), cells=query.cells, window=query.window,
                          today=query.today)
    return render_template(
        "map/wall.html", **parts, figures=figures, legends=legends(),
        args=args, window=query.window, days=args.get("days") or (
            None if args.get("from") or args.get("to") else DEFAULT_DAYS))


def legends() -> list[dict]:
    """Legend texts translated here, in Python: Jinja's gettext would %-format them, and
    legends say "99 % confidence"."""
    return [{"title": _(layer.title), "note": _(layer.note) if layer.note else None,
             "items": [{"label": _(i.label), "color": i.color, "shape": i.shape}
                       for i in layer.legend]}
            for layer in REGISTRY.values()]


@bp.get("/api/v1/layers")
@login_required
def layer_list():
    query = _layer_query(_filters())
    return {"layers": [{**layer_spec(layer, query),
                        "legend": [{"label": _(i.label), "color": i.color, "shape": i.shape}
                                   for i in layer.legend],
                        "note": _(layer.note) if layer.note else None}
                       for layer in REGISTRY.values()]}


@bp.get("/api/v1/layers/<layer_id>.geojson")
@login_required
@rate_limited("bulk")
def layer_geojson(layer_id: str):
    layer = REGISTRY.get(layer_id) or abort(404)
    data = layer.query(get_session(), _layer_query(_filters()))
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False,
                                                         default=str)
    return Response(body, mimetype="application/geo+json")


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
    tile = layer.tiles(get_session(), _layer_query(_filters()), z, x, y)
    return Response(tile, mimetype="application/vnd.mapbox-vector-tile",
                    headers={"Cache-Control": "private, max-age=60"})


@bp.get("/api/v1/figures")
@login_required
def figures_json():
    query = _layer_query(_filters())
    values = map_figures(get_session(), cells=query.cells, window=query.window,
                         today=query.today)
    return {"values": json.loads(json.dumps(values, default=str))}


@bp.get("/cells/<code>/card")
@login_required
@rate_limited("bulk")
def cell_card(code: str):
    args = _filters()
    query = _layer_query(args)
    rows = cell_rows(get_session(), cells=query.cells, window=query.window, today=query.today,
                     at=query.at, levels=(1, 2, 3), code=code)
    if not rows:
        abort(404)
    cell = rows[0]
    townships = get_session().execute(text("""
        SELECT DISTINCT t.name FROM township t JOIN cell_version cv ON cv.cell_id = :c
             AND cv.valid_to IS NULL AND ST_Intersects(t.geom, cv.geom)
             AND ST_Area(ST_Intersection(t.geom, cv.geom)) > 1e-9
        ORDER BY t.name"""), {"c": cell["id"]}).scalars().all()
    _total, enterprises = enterprise_rows(get_session(), cells=query.cells,
                                          today=query.today, cell_code=code, limit=200)
    return render_template("map/card.html", cell=cell, townships=townships,
                           enterprises=enterprises)


@bp.get("/enterprises")
@login_required
@rate_limited("bulk")
def enterprise_list():
    args = _filters(LIST_FILTERS)
    query = _layer_query(args)
    total, rows = enterprise_rows(
        get_session(), cells=query.cells, today=query.today, grade=args["grade"],
        overdue=args["overdue"], cell_code=args["cell"], query=args["q"], limit=PAGE_SIZE,
        offset=(args["page"] - 1) * PAGE_SIZE)
    return render_template("map/enterprises.html", rows=rows, total=total, args=args,
                           pages=(total + PAGE_SIZE - 1) // PAGE_SIZE)
