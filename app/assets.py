"""Folium maps that load nothing from outside the server.

Folium and branca point every page at public CDNs (Leaflet, jQuery, Bootstrap, Font Awesome,
awesome-markers, plugins, d3), and ``folium.Map()`` adds OpenStreetMap tiles. GridWatch's users
sit on intranets, so:

* ``make assets`` copies the npm packages pinned in package.json into
  ``app/static/vendor/<package>-<version>/`` and writes ``vendor/manifest.json``
  ({package: folder}); ``VENDOR`` below says which file stands in for which Folium asset.
* ``localize(m, static_url)`` rewrites a map's assets to those files just before it is
  rendered, and refuses (``UnvendoredAsset``) any external asset it has no copy of.
* ``new_map(config)`` / ``base_layers(config)`` create maps without OpenStreetMap: no base map
  by default, an intranet XYZ server, or Tianditu (which does need the internet and a key).
* ``external_urls(html)`` lists what a rendered page would still load from elsewhere; the tests
  use it to prove that nothing is.

In a view::

    m = new_map(current_app.config, location=..., zoom_start=12)
    ...  # layers, plugins
    localize(m, lambda path: url_for("static", filename=path))
    html = m.get_root().render()
"""
from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
from importlib import resources
from typing import Callable, Iterable, Iterator
from urllib.parse import quote, urlsplit

import folium
from branca.element import CssLink, Element, Figure, JavascriptLink
from markupsafe import Markup

StaticUrl = Callable[[str], str]

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
VENDOR_DIR = os.path.join(STATIC_DIR, "vendor")
MANIFEST = os.path.join(VENDOR_DIR, "manifest.json")

# Folium asset name (as in each class's default_js / default_css, or branca's header link
# name) -> (npm package in package.json, file inside that package's vendored folder).
# Versions are package.json's; folium 0.20 asks for the versions noted.
VENDOR: dict[str, tuple[str, str]] = {
    # folium.Map (every page)
    "leaflet": ("leaflet", "leaflet.js"),  # folium: 1.9.3
    "leaflet_css": ("leaflet", "leaflet.css"),
    "jquery": ("jquery", "jquery.min.js"),  # folium: 3.7.1
    "bootstrap": ("bootstrap", "js/bootstrap.bundle.min.js"),  # folium: 5.2.2
    "bootstrap_css": ("bootstrap", "css/bootstrap.min.css"),
    # Bootstrap 3's glyphicons (folium.Icon's default prefix): the glyphicon rules and fonts
    # only, without the rest of Bootstrap 3 (folium: bootstrap-glyphicons.css of 3.0.0).
    "glyphicons_css": ("glyphicons-only-bootstrap", "css/bootstrap.min.css"),
    "awesome_markers_font_css": ("@fortawesome/fontawesome-free", "css/all.min.css"),  # 6.2.0
    "awesome_markers": ("leaflet.awesome-markers", "leaflet.awesome-markers.js"),  # 2.0.2
    "awesome_markers_css": ("leaflet.awesome-markers", "leaflet.awesome-markers.css"),
    # plugins.MarkerCluster and plugins.FastMarkerCluster (folium: 1.1.0, from 2017)
    "markerclusterjs": ("leaflet.markercluster", "leaflet.markercluster.js"),
    "markerclustercss": ("leaflet.markercluster", "MarkerCluster.css"),
    "markerclusterdefaultcss": ("leaflet.markercluster", "MarkerCluster.Default.css"),
    # plugins.VectorGridProtobuf (folium: "@latest", i.e. 1.3.0)
    "vectorGrid": ("leaflet.vectorgrid", "Leaflet.VectorGrid.bundled.js"),
    # plugins.Fullscreen (folium: 3.0.0; npm has no .min.js of it). The names differ in case.
    "Control.Fullscreen.js": ("leaflet.fullscreen", "Control.FullScreen.js"),
    "Control.FullScreen.css": ("leaflet.fullscreen", "Control.FullScreen.css"),
    # branca colormaps (LinearColormap, StepColormap, e.g. a legend) add it while rendering.
    "d3": ("d3", "d3.min.js"),  # 3.5.5
}

# A fragment of the URL folium 0.20 uses for each name. Names are not unique across folium
# (plugins.BoatMarker calls its own script "markerclusterjs"), so a link is only swapped for
# the local file when its URL is recognisably the same library.
UPSTREAM: dict[str, str] = {
    "leaflet": "leaflet@", "leaflet_css": "leaflet@",
    "jquery": "jquery-3.", "bootstrap": "bootstrap@5", "bootstrap_css": "bootstrap@5",
    "glyphicons_css": "bootstrap-glyphicons",
    "awesome_markers_font_css": "fontawesome-free@6",
    "awesome_markers": "awesome-markers", "awesome_markers_css": "awesome-markers",
    "markerclusterjs": "leaflet.markercluster/", "markerclustercss": "leaflet.markercluster/",
    "markerclusterdefaultcss": "leaflet.markercluster/",
    "vectorGrid": "leaflet.vectorgrid", "Control.Fullscreen.js": "leaflet.fullscreen@3",
    "Control.FullScreen.css": "leaflet.fullscreen@3", "d3": "d3/3.",
    "leaflet-heat.js": "leaflet_heat", "awesome_rotate_css": "leaflet.awesome.rotate",
}

# Assets that are not npm packages, and what is done instead:
# - "leaflet-heat.js" (plugins.HeatMap): folium's own build of Leaflet.heat, with a fix for
#   weights (points are scaled by the largest weight on screen) and `pane` support, fetched
#   from folium's GitHub. npm's leaflet.heat 0.2.0 lacks both (every weight above 1 saturates),
#   so the copy inside the installed folium package is inlined into the page (5 kB).
# - "awesome_rotate_css": 360 `.fa-rotate-N` rules from folium's GitHub, for folium.Icon(angle=N).
#   Not in the folium package: the rules for the angles a map actually uses are inlined.
INLINE = ("leaflet-heat.js", "awesome_rotate_css")


class UnvendoredAsset(RuntimeError):
    """A page would load a script or stylesheet from outside the server."""


class _Raw(Element):
    """Markup put into the page as is (branca would read an Element's text as a template)."""

    def __init__(self, markup: str):
        super().__init__()
        self._name = "Raw"
        self.markup = markup

    def render(self, **kwargs) -> str:
        return self.markup


def _compile_once() -> None:
    """branca compiles the template text of every Element made with one (Folium's page
    style, meta tags, script links...) each time a map is built: ~20 Jinja compilations, a
    third of the map wall's build time. The texts are the same few every time, and a
    compiled Template is only ever rendered, so each is compiled once per process."""
    import branca.element

    if getattr(branca.element.Template, "cache_info", None):
        return
    branca.element.Template = functools.lru_cache(maxsize=512)(branca.element.Template)


_compile_once()


# --- the vendored files ---------------------------------------------------------------------

def load_manifest(path: str = MANIFEST) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UnvendoredAsset(
            f"{path} is missing: run `make assets` to install the front-end libraries") from None


@functools.lru_cache(maxsize=8)
def _cached_manifest(path: str, mtime: float) -> dict[str, str]:
    return load_manifest(path)


def _manifest() -> dict[str, str]:
    try:
        mtime = os.path.getmtime(MANIFEST)
    except OSError:
        return load_manifest(MANIFEST)  # raises the "run make assets" error
    return _cached_manifest(MANIFEST, mtime)


def vendor_path(name: str, manifest: dict[str, str] | None = None) -> str:
    """Path, relative to app/static, of the file serving Folium asset ``name``."""
    package, inner = VENDOR[name]
    manifest = _manifest() if manifest is None else manifest
    if package not in manifest:
        raise UnvendoredAsset(
            f"Folium asset {name!r} needs npm package {package!r}, which is not in "
            f"app/static/vendor/manifest.json: add it to package.json and run `make assets`")
    return f"vendor/{manifest[package]}/{inner}"


@functools.lru_cache(maxsize=1)
def _heat_js() -> str:
    try:
        code = resources.files("folium").joinpath("templates/leaflet_heat.min.js").read_text(
            encoding="utf-8")
    except FileNotFoundError:
        raise UnvendoredAsset("plugins.HeatMap: this folium has no templates/leaflet_heat.min.js"
                              ) from None
    # Its comments credit the authors with links; keep the credit, drop the scheme, so that the
    # page holds no URL of another host (external_urls() would rightly list them).
    code = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"https?://", "", m.group(0)), code, flags=re.S)
    return "<script>" + code.replace("</", "<\\/") + "</script>"


def _rotate_css(angles: Iterable[int]) -> str:
    rules = "".join(f".fa-rotate-{a}{{transform:rotate({a}deg)}}" for a in sorted(set(angles)))
    return f"<style>{rules}</style>" if rules else ""


# --- rewriting a map ------------------------------------------------------------------------

def is_external(url: str) -> bool:
    """A URL with a scheme and host (https://..., file://...) or protocol-relative (//host)."""
    return bool(re.match(r"(?i)^\s*(?:[a-z][a-z0-9+.-]*:)?//", url))


def walk(element: Element) -> Iterator[Element]:
    """``element`` and everything under it, including Figure/Div header, html and script."""
    stack, seen = [element], set()
    while stack:
        el = stack.pop()
        if id(el) in seen:
            continue
        seen.add(id(el))
        yield el
        children = list(getattr(el, "_children", {}).values())
        for part in ("header", "html", "script"):
            sub = getattr(el, part, None)
            if isinstance(sub, Element):
                children.append(sub)
        stack.extend(reversed(children))


def _local(name: str, url: str, owner: str, static_url: StaticUrl,
           manifest: dict[str, str] | None) -> str:
    if not is_external(url):
        return url
    if name in VENDOR and UPSTREAM[name].lower() in url.lower():
        return static_url(vendor_path(name, manifest))
    raise UnvendoredAsset(
        f"{owner} loads {name!r} from {url}, and GridWatch has no local copy of it: add its npm "
        f"package to package.json and scripts/vendor-assets.sh, and the name to "
        f"app.assets.VENDOR (pages must not load anything from outside the server)")


def localize(element: Element, static_url: StaticUrl,
             manifest: dict[str, str] | None = None) -> Figure:
    """Make the page of ``element`` (a Map, or anything in a Figure) load only local files.

    Every element with ``default_js``/``default_css`` gets instance copies of those lists with
    each CDN URL replaced by ``static_url("vendor/<folder>/<file>")``; the two folium-only
    assets are inlined instead (see ``INLINE``). Links that branca adds while rendering (d3 for
    colormaps) are rewritten when the page header is rendered. An external asset without a
    local copy raises ``UnvendoredAsset``, here or at render time. Call it after the last layer
    is added: elements added later are only checked at render time. Returns the root Figure.
    """
    figure = element.get_root()
    if not isinstance(figure, Figure):
        raise TypeError("localize() needs an element inside a Figure, e.g. a folium.Map")
    manifest = _manifest() if manifest is None else manifest
    angles: set[int] = set()
    inline: dict[str, str] = {}
    for el in walk(figure):
        owner = type(el).__name__
        if isinstance(el, folium.Icon):
            extra = el.options.get("extra_classes", el.options.get("extraClasses", ""))
            match = re.fullmatch(r"fa-rotate-(-?\d+)", str(extra))
            if match and int(match.group(1)) % 360:
                angles.add(int(match.group(1)))
        for attr in ("default_js", "default_css"):
            links = el.__dict__.get(attr, getattr(type(el), attr, None))
            if not links:
                continue
            kept = []
            for name, url in links:
                if name in INLINE and is_external(url) and UPSTREAM[name].lower() in url.lower():
                    inline[name] = _heat_js() if name == "leaflet-heat.js" else ""
                    continue
                kept.append((name, _local(name, url, owner, static_url, manifest)))
            setattr(el, attr, kept)  # an instance copy: folium's class lists stay untouched
    if "awesome_rotate_css" in inline:
        inline["awesome_rotate_css"] = _rotate_css(angles)
    _hook_header(figure, static_url, manifest, inline)
    return figure


def _hook_header(figure: Figure, static_url: StaticUrl, manifest: dict[str, str],
                 inline: dict[str, str]) -> None:
    header = figure.header
    state = header.__dict__.setdefault("_gridwatch_localize", {})
    state.update(static_url=static_url, manifest=manifest)
    state.setdefault("inline", {}).update(inline)
    if "render" in header.__dict__:
        return  # already hooked: localize() called again

    original = type(header).render

    def render(**kwargs) -> str:
        # Runs after every element has rendered (the Figure's template renders the header
        # last), so links that branca/folium added during rendering are here too.
        for name, child in list(header._children.items()):
            if isinstance(child, (JavascriptLink, CssLink)) and is_external(child.url):
                local = _local(name, child.url, "page header", state["static_url"],
                               state["manifest"])
                header._children[name] = type(child)(local, download=False)
        for name, markup in state["inline"].items():
            if markup and f"gridwatch-inline:{name}" not in header._children:
                header.add_child(_Raw(markup), name=f"gridwatch-inline:{name}")
        return original(header, **kwargs)

    header.render = render  # on this instance only


# --- checking a page ------------------------------------------------------------------------

_NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml",
               "http://www.w3.org/1999/xlink", "http://www.w3.org/1998/Math/MathML",
               "http://www.w3.org/XML/1998/namespace", "http://www.w3.org/2000/xmlns/")
# An absolute URL anywhere (also JSON-escaped: https:\/\/host), or a protocol-relative one
# where a URL can start: after a quote (also &quot; &#34; &#39;), "(" of url(, or "=" of an
# unquoted attribute. A bare "//" elsewhere is a JavaScript comment, not a URL.
_URL = re.compile(
    r"""(?ix)
    (?: \b(?:https?|wss?|ftp):\\?/\\?/
      | (?:(?<=["'`(=])|(?<=&quot;)|(?<=&\#34;)|(?<=&\#39;)|(?<=&\#x27;)) \s* \\?/\\?/ )
    (?P<host>[a-z0-9{}\[\]_.%:-]*[a-z0-9{}\]])
    [^\s"'`<>)\\]*(?:\\/[^\s"'`<>)\\]*)*
    """)


def _host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    host = host.lower()
    bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    for pattern in allowed_hosts:
        pattern = pattern.lower()
        if fnmatch.fnmatchcase(host, pattern) or fnmatch.fnmatchcase(bare, pattern):
            return True
    return False


def external_urls(html: str, allowed_hosts: Iterable[str] = ()) -> list[str]:
    """Every URL in a rendered page that points to another host, in page order, once each.

    Looks at src=/href= attributes, CSS url(...)/@import, and strings in inline scripts and
    JSON: absolute http(s)/ws(s)/ftp URLs anywhere, protocol-relative ``//host`` URLs where a
    URL starts. XML namespace names (http://www.w3.org/2000/svg ...) are not loads and are
    skipped. ``allowed_hosts`` are host names or fnmatch patterns ("*.tianditu.gov.cn") that
    are fine. It scans the page itself; what its stylesheets load is the caller's to check.
    """
    allowed = tuple(allowed_hosts)
    found: list[str] = []
    for match in _URL.finditer(html):
        url = match.group(0).strip().replace("\\/", "/")
        url = re.split(r"&(?:quot|#34|#39|#x27|lt|gt);", url)[0]  # the end of an escaped URL
        if url.rstrip("/").lower() in {ns.rstrip("/").lower() for ns in _NAMESPACES}:
            continue
        if _host_allowed(match.group("host"), allowed):
            continue
        if url not in found:
            found.append(url)
    return found


# --- base maps ------------------------------------------------------------------------------

BASEMAPS = ("none", "tianditu", "xyz")
TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}")
TIANDITU_ATTRIBUTION = "&copy; 天地图 Tianditu"


def base_layers(config) -> list[folium.TileLayer]:
    """The base map tile layers configured by ``config`` (the app's config or any mapping).

    BASEMAP: "none" (default: no tiles, nothing leaves the server), "xyz" (BASEMAP_URL, an
    intranet tile server such as ``http://tiles.intranet/{z}/{x}/{y}.png``, credited with
    BASEMAP_ATTRIBUTION or its host name) or "tianditu" (vector base map and its labels from
    the internet service, with TIANDITU_KEY; BASEMAP_ATTRIBUTION overrides the credit).
    """
    mode = str(config.get("BASEMAP") or "none").strip().lower()
    attribution = config.get("BASEMAP_ATTRIBUTION") or ""
    if mode == "none":
        return []
    if mode == "xyz":
        url = (config.get("BASEMAP_URL") or "").strip()
        if not url:
            raise ValueError("BASEMAP is 'xyz' but BASEMAP_URL is not set")
        return [folium.TileLayer(tiles=url, attr=attribution or urlsplit(url).netloc or url,
                                 name="Base map", overlay=False, control=True)]
    if mode == "tianditu":
        key = (config.get("TIANDITU_KEY") or "").strip()
        if not key:
            raise ValueError("BASEMAP is 'tianditu' but TIANDITU_KEY is not set")
        key = quote(key, safe="")
        common = dict(attr=attribution or TIANDITU_ATTRIBUTION, subdomains="01234567",
                      max_zoom=18, max_native_zoom=18)
        return [
            folium.TileLayer(tiles=TIANDITU_URL.replace("{layer}", "vec").replace("{key}", key),
                             name="Tianditu", overlay=False, control=True, **common),
            folium.TileLayer(tiles=TIANDITU_URL.replace("{layer}", "cva").replace("{key}", key),
                             name="Tianditu labels", overlay=True, control=True, **common),
        ]
    raise ValueError(f"BASEMAP must be one of {', '.join(BASEMAPS)}, not {mode!r}")


def new_map(config, max_zoom: int = 18, min_zoom: int | None = None, **kwargs) -> folium.Map:
    """A folium.Map without OpenStreetMap, with the configured base map layers (if any).

    The zoom limits are set on the map itself: folium only passes them to the tile layer it
    creates, and without one the map has no maxZoom, which MarkerCluster refuses
    ("Map has no maxZoom specified").
    """
    if kwargs.get("tiles") is not None:
        raise ValueError("new_map() sets the tiles from the config (BASEMAP)")
    kwargs["tiles"] = None
    m = folium.Map(**kwargs)
    m.options["max_zoom"] = max_zoom
    if min_zoom is not None:
        m.options["min_zoom"] = min_zoom
    for layer in base_layers(config):
        layer.add_to(m)
    return m


# npm packages our own templates load directly (not through Folium), with the files they use.
TEMPLATE_ASSETS = {
    "@geoman-io/leaflet-geoman-free": ("leaflet-geoman.js", "leaflet-geoman.css"),
    # The statistics pages' charts (templates/statistics/).
    "echarts": ("echarts.common.min.js",),
}


def vendor_file(package: str, inner: str, manifest: dict[str, str] | None = None) -> str:
    """Path under app/static of a file of a vendored npm package (for our own templates)."""
    manifest = _manifest() if manifest is None else manifest
    if package not in manifest:
        raise UnvendoredAsset(f"npm package {package!r} is not vendored: add it to "
                              "package.json and run `make assets`")
    return f"vendor/{manifest[package]}/{inner}"


def static_text(*names: str) -> Markup:
    """Files of app/static as one text, for a page that carries its own small stylesheets or
    script instead of asking for each (a request less each, on every load: the app sends its
    static files with ``no-cache``, so even a browser that has them asks again). Read again
    when a file changes."""
    return Markup("\n".join(_static_text(name, os.path.getmtime(os.path.join(STATIC_DIR, name)))
                             for name in names))


@functools.lru_cache(maxsize=32)
def _static_text(name: str, mtime: float) -> str:
    with open(os.path.join(STATIC_DIR, name), encoding="utf-8") as f:
        text = f.read()
    # Inside <style> or <script>: nothing may close the element early.
    if re.search(r"</(style|script)", text, re.IGNORECASE):
        raise ValueError(f"{name} cannot be put inside the page")
    return text
