"""The Folium map page that the map wall, the point lookup and the grid editor share: remote
layers from the registry, the page's filters handed to map.js, the city's extent.

A layer's data stays with the map wall's endpoints (``mapwall.layer_geojson``, tiles,
figures, the cell card); this module only builds the page that fetches them.
"""
from __future__ import annotations

import datetime as dt

import folium
from branca.element import MacroElement
from flask import current_app, g, url_for
from flask_babel import gettext as _
from flask_login import current_user
from folium.elements import JSCSSMixin
from folium.plugins import HeatMap, VectorGridProtobuf
from jinja2 import Template
from markupsafe import Markup
from sqlalchemy import text

from app.auth import zone
from app.db import get_session
from app.errors import not_found
from gis import policy
from gis.dates import parse_datetime, today
from gis.wall import Window, place_cells
from gis.validation import ValidationError
from layers import REGISTRY, Layer, LayerQuery

DEFAULT_DAYS = 365
# Vector tiles are drawn this many pixels wide: a standard 256-px tile of zoom z - 1 fills a
# 512-px tile of zoom z.
TILE_PIXELS = 512
# What a bare map keeps of Folium's stylesheets: Leaflet's, and Bootstrap's, whose base rules
# (fonts, [hidden]) the pages were drawn with.
BARE_CSS = ("leaflet_css", "bootstrap_css")


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


def _window(args: dict) -> Window:
    if args.get("from") or args.get("to"):
        start = args.get("from") or dt.date(2000, 1, 1)
        end = args.get("to") or today(zone())
        if end < start:
            raise ValidationError("to", "before from", "before", other="from")
        return Window(start, end, zone())
    return Window.last(args.get("days") or DEFAULT_DAYS, zone=zone())


def visible() -> list[int] | None:
    """Cells this user may see; None for everything (the rule: gis.policy.readable_places).
    Asked once per request: the wall's layers, figures and filters all need it."""
    if "visible_cells" not in g:
        g.visible_cells = policy.visible_cells(get_session(), current_user.grants)
    return g.visible_cells


def map_parts(m: folium.Map) -> dict:
    """The Folium page split for embedding in our templates; ``map_data``: where the template
    puts the layers the page carries itself (``build_map(inline=True)``), before the script;
    the view sends the page through ``app.layerdata.splice(html, map_bodies)``, which puts
    them there (without them map.js fetches every layer)."""
    root = m.get_root()
    root.render()
    from app.layerdata import PLACEHOLDER

    return {"map_header": root.header.render(), "map_html": root.html.render(),
            "map_script": root.script.render(), "map_data": Markup(PLACEHOLDER),
            "map_bodies": getattr(m, "gridwatch_inline", [])}


def layer_query(args: dict) -> LayerQuery:
    """The layers' and figures' query for the page's filters: the period, the boundaries'
    date, and the place (``cell``: a cell or grid code, its subtree within what the user
    reads)."""
    at = None
    if args.get("at"):
        # As everywhere (gis/dates.py): the end of that day in the bureau's zone.
        at = parse_datetime(args["at"].isoformat(), zone(), "at", day_end=True)
    try:
        cells = place_cells(get_session(), visible(), args.get("cell"))
    except LookupError:
        not_found("cell", args.get("cell"))
    return LayerQuery(cells=cells, window=_window(args), today=today(zone()), at=at,
                      params={k: v for k, v in args.items() if v is not None})


def layer_spec(layer: Layer, query: LayerQuery) -> dict:
    """What map.js needs to draw one layer, with the user's language applied."""
    spec = {
        "id": layer.id, "title": _(layer.title), "render": layer.render,
        "url": url_for("mapwall.layer_geojson", layer_id=layer.id),
        "style": layer.style, "label": layer.label, "card": layer.card, "show": layer.show,
        "popup": [{"label": _(f.label), "prop": f.prop, "kind": f.kind} for f in layer.popup],
    }
    threshold = current_app.config["VECTOR_TILE_THRESHOLD"]
    if layer.tiles is not None and layer.count is not None:
        count = layer.count(get_session(), query)
        if count > threshold:
            spec["tileUrl"] = url_for("mapwall.layer_tile", layer_id=layer.id, z=0, x=0,
                                      y=0).replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
            spec["count"] = count
            # Shown 512 px wide (a quarter of the requests; gis/wall.py aggregates for that
            # size), and only where the layer has points: tiles elsewhere are not asked for.
            spec["tileSize"] = TILE_PIXELS
            if layer.extent is not None:
                spec["tileBounds"] = layer.extent(get_session(), query)
            from app.layerdata import prepare

            prepare(layer, query)
    return spec


def city_bounds(place: str | None = None) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the cell ``place``; without one, of the user's city
    (the cities their roles lie in), or of the root (the city, or the province above
    several: docs/province.md) for whoever reads everything."""
    places = policy.readable_places(current_user.grants) if current_user.is_authenticated \
        else None
    row = get_session().execute(text("""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
            SELECT ST_Extent(geom) AS e FROM cell_current c
            WHERE CASE WHEN CAST(:place AS text) IS NOT NULL THEN c.code = :place
                       WHEN CAST(:places AS bigint[]) IS NULL THEN c.parent_id IS NULL
                       ELSE c.level = 1 AND EXISTS (
                           SELECT 1 FROM unnest(CAST(:places AS bigint[])) p(id)
                           WHERE c.id = ANY(gw_cell_path(p.id))) END) b"""),
        {"place": place, "places": list(places) if places else None}).one()
    if row[0] is None:
        return None
    from gis.crs import folium_bounds

    return folium_bounds((row[0], row[1], row[2], row[3]))


class MetricScale(MacroElement):
    """A metric-only scale bar (Folium's control_scale adds miles too)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({imperial: false, maxWidth: 160}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "MetricScale"


def build_map(query: LayerQuery, filters: dict, layer_ids: tuple[str, ...] | None = None,
              refresh: bool = True, interactive: bool = True,
              prefer_canvas: bool = True, refresh_seconds: int | None = None,
              zoom_snap: float = 1, inline: bool = False, bare: bool = False) -> folium.Map:
    """The map page's Folium map. ``refresh_seconds``: how often map.js re-fetches the data
    (default MAP_REFRESH_SECONDS; nothing without ``refresh``); ``zoom_snap`` below 1 lets the
    first view fit the place more closely; ``inline``: the layers shown at first whose GeoJSON
    comes to MAP_INLINE_BYTES in all travel in the page (``map_parts``' ``map_data``), the
    others are fetched; ``bare``: without the scripts and icon fonts Folium adds to every map
    (jQuery, Bootstrap's script, awesome-markers, Font Awesome, glyphicons: seven requests
    that map.js does not need)."""
    from app.assets import localize, new_map
    from app.layerdata import block_id, layer_body

    budget = current_app.config["MAP_INLINE_BYTES"] if inline else 0
    carried = []

    bounds = city_bounds(filters.get("cell"))
    m = new_map(current_app.config, location=None, zoom_start=10, control_scale=False,
                prefer_canvas=prefer_canvas, width="100%", height="100%", zoom_snap=zoom_snap)
    if bare:
        m.default_js = [js for js in m.default_js if js[0] == "leaflet"]
        m.default_css = [css for css in m.default_css if css[0] in BARE_CSS]
    MetricScale().add_to(m)
    if refresh_seconds is None:
        refresh_seconds = current_app.config["MAP_REFRESH_SECONDS"]
    Configure({
        "filters": {k: str(v) for k, v in filters.items() if v is not None},
        "refreshSeconds": refresh_seconds if refresh else 0,
        "figuresUrl": url_for("mapwall.figures_json"),
        "cardUrl": url_for("mapwall.cell_card", code="__CODE__"),
        "recordUrl": url_for("enterprise.page", code="__CODE__"),
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
            # A point layer's size is known from its count before it is computed (~600 bytes
            # an enterprise); a layer computed here is kept for the fetch if it does not fit.
            if (budget and layer.show and "tileUrl" not in spec
                    and (layer.count is None
                         or layer.count(get_session(), query) * 600 <= budget)):
                body = layer_body(layer, query)
                if len(body.raw) <= budget:
                    budget -= len(body.raw)
                    carried.append(body)
                    spec["inline"] = block_id(layer)
            RemoteLayer(spec, name=_(layer.title), show=layer.show).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    localize(m.get_root(), lambda path: url_for("static", filename=path))
    m.gridwatch_inline = carried
    # Names in the order the map was built instead of random ones: the same page renders to
    # the same text, which branca then compiles once per process (app.assets).
    for n, element in enumerate(_elements(m)):
        element._id = f"{n:02d}"
    return m


def _elements(element):
    yield element
    for child in element._children.values():
        yield from _elements(child)
