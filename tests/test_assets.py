"""Folium pages load nothing from outside the server (app/assets.py).

Needs the vendored libraries of `make assets` (app/static/vendor/); no database. The browser
test serves a rendered page and app/static from a throwaway HTTP server to headless Chromium
with every other host blocked.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import folium
import pytest
from branca.colormap import LinearColormap
from folium import plugins

from app import assets
from app.assets import (INLINE, UPSTREAM, VENDOR, UnvendoredAsset, base_layers, external_urls,
                        localize, new_map)

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "app" / "static"
CENTER = [38.44, 116.09]


def static_url(path: str) -> str:
    return "/static/" + path


def _missing(message: str):
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def manifest() -> dict[str, str]:
    if not Path(assets.MANIFEST).exists():
        _missing("app/static/vendor/manifest.json missing: run `make assets`")
    return json.loads(Path(assets.MANIFEST).read_text())


def full_map() -> folium.Map:
    """A map with every Folium feature GridWatch uses."""
    m = new_map({}, location=CENTER, zoom_start=13)
    plugins.HeatMap([[38.44, 116.09, 3], [38.45, 116.10, 1]], name="Heat").add_to(m)
    cluster = plugins.MarkerCluster(name="Cluster").add_to(m)
    folium.Marker([38.43, 116.08], icon=folium.Icon()).add_to(cluster)
    plugins.FastMarkerCluster([[38.44, 116.09], [38.441, 116.091]], name="Fast").add_to(m)
    plugins.VectorGridProtobuf("/tiles/{z}/{x}/{y}.pbf", "Cells").add_to(m)
    plugins.Fullscreen().add_to(m)
    # Outside clusters, so their fonts are used: glyphicons (the default) and Font Awesome.
    folium.Marker([38.445, 116.085], icon=folium.Icon()).add_to(m)
    folium.Marker([38.435, 116.095], icon=folium.Icon(prefix="fa", icon="bolt", angle=30)).add_to(m)
    cells = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"code": "G-001", "name": "网格一"},
        "geometry": {"type": "Polygon", "coordinates": [[
            [116.08, 38.43], [116.10, 38.43], [116.10, 38.45], [116.08, 38.45], [116.08, 38.43]]]},
    }]}
    folium.GeoJson(cells, name="Grid",
                   tooltip=folium.GeoJsonTooltip(["code", "name"]),
                   popup=folium.GeoJsonPopup(["code", "name"])).add_to(m)
    LinearColormap(["#ffffcc", "#bd0026"], vmin=0, vmax=10, caption="Load").add_to(m)
    folium.LayerControl().add_to(m)
    return m


@pytest.fixture(scope="module")
def page(manifest) -> str:
    m = full_map()
    localize(m, static_url)
    return m.get_root().render()


def _asset_links(html: str) -> list[str]:
    return re.findall(r"<(?:script|link)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", html)


def _file(url: str) -> Path:
    assert url.startswith("/static/"), url
    return STATIC / url[len("/static/"):]


# --- the vendored files ---------------------------------------------------------------------

def test_manifest_lists_every_package_json_dependency(manifest):
    deps = json.loads((ROOT / "package.json").read_text())["dependencies"]
    assert sorted(manifest) == sorted(deps)
    for package, folder in manifest.items():
        assert folder == f"{package}-{deps[package]}"
        assert (STATIC / "vendor" / folder).is_dir(), folder


def test_every_vendor_entry_is_a_file_and_every_package_is_used(manifest):
    for name in VENDOR:
        assert (STATIC / assets.vendor_path(name, manifest)).is_file(), name
    for package, files in assets.TEMPLATE_ASSETS.items():
        for inner in files:
            assert (STATIC / assets.vendor_file(package, inner, manifest)).is_file(), inner
    deps = json.loads((ROOT / "package.json").read_text())["dependencies"]
    assert {package for package, _ in VENDOR.values()} | set(assets.TEMPLATE_ASSETS) == set(deps)


def test_vendor_names_are_folium_names():
    """Every name GridWatch maps is one Folium 0.20 (or branca) really uses, and vice versa."""
    classes = [folium.Map, plugins.HeatMap, plugins.MarkerCluster, plugins.FastMarkerCluster,
               plugins.VectorGridProtobuf, plugins.Fullscreen, folium.LayerControl,
               folium.GeoJson, folium.GeoJsonTooltip, folium.GeoJsonPopup]
    links = {name: url for cls in classes
             for name, url in getattr(cls, "default_js", []) + getattr(cls, "default_css", [])}
    links["d3"] = "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js"  # branca colormaps
    assert set(links) == set(VENDOR) | set(INLINE)
    for name, url in links.items():
        assert UPSTREAM[name].lower() in url.lower(), (name, url)


# --- a localized page -----------------------------------------------------------------------

def test_folium_alone_loads_from_cdns_and_every_cdn_link_is_known():
    m = full_map()
    html = m.get_root().render()
    urls = external_urls(html)
    assert any("leaflet@" in u for u in urls) and any("d3.min.js" in u for u in urls)
    for url in urls:
        assert any(frag.lower() in url.lower() for frag in UPSTREAM.values()), url


def test_localized_page_references_nothing_external(page):
    assert external_urls(page) == []
    assert "openstreetmap" not in page.lower()


def test_every_local_asset_exists(page):
    links = _asset_links(page)
    assert any(link.endswith("/leaflet.js") for link in links)
    assert len(links) >= 15
    for url in links:
        assert _file(url).is_file(), url


def test_vendored_stylesheets_load_only_local_files(page):
    stylesheets = [url for url in _asset_links(page) if url.endswith(".css")]
    checked = 0
    for url in stylesheets:
        css_file = _file(url)
        css = css_file.read_text(encoding="utf-8")
        targets = re.findall(r"url\(\s*['\"]?([^'\")]+?)['\"]?\s*\)", css)
        targets += re.findall(r"@import\s+['\"]([^'\"]+)['\"]", css)
        for target in targets:
            if target.startswith(("data:", "#")):  # inline, or IE's behavior:url(#default#VML)
                continue
            assert not assets.is_external(target), (url, target)
            path = (css_file.parent / re.split(r"[?#]", target)[0]).resolve()
            assert path.is_file(), (url, target)
            assert STATIC.resolve() in path.parents, (url, target)
            checked += 1
    assert checked >= 10  # fonts and images of Leaflet, Font Awesome, glyphicons, markers


def test_heatmap_script_is_folium_own_build_inlined(page):
    assert "L.HeatLayer=" in page
    assert "leaflet-heat" not in " ".join(_asset_links(page))
    assert "Includes patch to fix weights issue" in page


def test_rotation_rules_only_for_angles_used(page, manifest):
    assert ".fa-rotate-30{transform:rotate(30deg)}" in page
    assert ".fa-rotate-1{" not in page
    m = folium.Map(tiles=None)
    folium.Marker(CENTER, icon=folium.Icon()).add_to(m)
    localize(m, static_url, manifest)
    html = m.get_root().render()
    assert "fa-rotate-" not in html.split("<body>")[0] and external_urls(html) == []


def test_localize_leaves_folium_classes_alone(manifest):
    before = list(folium.Map.default_js)
    localize(folium.Map(tiles=None), static_url, manifest)
    assert folium.Map.default_js == before
    assert folium.Map.default_js[0][1].startswith("https://")


def test_localize_twice_and_render_twice(manifest):
    m = full_map()
    localize(m, static_url, manifest)
    localize(m, static_url, manifest)
    first = m.get_root().render()
    second = m.get_root().render()
    assert external_urls(first) == [] and external_urls(second) == []
    assert second.count("L.HeatLayer=") == 1


def test_unknown_plugin_is_refused_with_its_asset_name(manifest):
    m = folium.Map(tiles=None)
    plugins.Draw().add_to(m)
    with pytest.raises(UnvendoredAsset, match="leaflet_draw_js"):
        localize(m, static_url, manifest)


def test_same_name_different_library_is_refused(manifest):
    """BoatMarker calls its script "markerclusterjs"; it must not get MarkerCluster's file."""
    m = folium.Map(tiles=None)
    plugins.BoatMarker(CENTER).add_to(m)
    with pytest.raises(UnvendoredAsset, match="boatmarker"):
        localize(m, static_url, manifest)


def test_layer_added_after_localize_is_checked_at_render(manifest):
    m = folium.Map(tiles=None)
    localize(m, static_url, manifest)
    plugins.MarkerCluster().add_to(m)  # known: rewritten when the header renders
    html = m.get_root().render()
    assert external_urls(html) == [] and "leaflet.markercluster-1.5.3" in html
    m = folium.Map(tiles=None)
    localize(m, static_url, manifest)
    plugins.MiniMap().add_to(m)
    with pytest.raises(UnvendoredAsset, match="Control_MiniMap"):
        m.get_root().render()


def test_missing_package_in_manifest_names_it():
    m = folium.Map(tiles=None)
    with pytest.raises(UnvendoredAsset, match="leaflet"):
        localize(m, static_url, manifest={})


# --- external_urls --------------------------------------------------------------------------

def test_external_urls_finds_every_kind_of_reference():
    html = """<!DOCTYPE html><html><head>
    <script src="https://cdn.example.com/a.js"></script>
    <link rel="stylesheet" href='//cdn.example.com/b.css'/>
    <link rel=icon href=//icons.example.com/c.ico>
    <style>@import "//fonts.example.com/d.css"; .x{background:url(http://img.example.com/e.png)}
      .y{background:url( //img.example.com/f.png )}</style>
    </head><body><iframe srcdoc="&lt;img src=&quot;//frame.example.com/g.png&quot;&gt;"></iframe>
    <script>
      var tiles = L.tileLayer("https://{s}.tile.example.org/{z}/{x}/{y}.png");
      var data = {"u": "https:\\/\\/json.example.com\\/h.json"};
      fetch('//api.example.com/i');
      // a comment, not a URL: //not.a.url
      var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    </script></body></html>"""
    assert external_urls(html) == [
        "https://cdn.example.com/a.js", "//cdn.example.com/b.css", "//icons.example.com/c.ico",
        "//fonts.example.com/d.css", "http://img.example.com/e.png", "//img.example.com/f.png",
        "//frame.example.com/g.png", "https://{s}.tile.example.org/{z}/{x}/{y}.png",
        "https://json.example.com/h.json", "//api.example.com/i",
    ]


def test_external_urls_ignores_local_and_allowed():
    html = """<script src="/static/vendor/leaflet-1.9.4/leaflet.js"></script>
    <link href="vendor/x.css"><img src="data:image/png;base64,AAAA">
    <svg xmlns="http://www.w3.org/2000/svg"></svg>
    <script>var x = 1; // comment
      L.tileLayer("http://tiles.intranet:8080/{z}/{x}/{y}.png");
      L.tileLayer("https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=k");</script>"""
    assert external_urls(html, allowed_hosts=["tiles.intranet", "*.tianditu.gov.cn"]) == []
    assert external_urls(html) == ["http://tiles.intranet:8080/{z}/{x}/{y}.png",
                                   "https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=k"]


# --- base maps ------------------------------------------------------------------------------

def _tile_layers(m: folium.Map) -> list[folium.TileLayer]:
    return [c for c in m._children.values() if isinstance(c, folium.TileLayer)]


@pytest.mark.parametrize("config", [{}, {"BASEMAP": "none"}, {"BASEMAP": None}])
def test_no_basemap_means_no_tiles_at_all(config, manifest):
    assert base_layers(config) == []
    m = new_map(config, location=CENTER, zoom_start=12)
    assert _tile_layers(m) == []
    localize(m, static_url, manifest)
    html = m.get_root().render()
    assert "openstreetmap" not in html.lower() and "tileLayer" not in html
    assert external_urls(html) == []


def test_folium_default_would_add_openstreetmap():
    assert "openstreetmap" in folium.Map().get_root().render().lower()


def test_xyz_basemap_from_intranet(manifest):
    config = {"BASEMAP": "xyz", "BASEMAP_URL": "http://tiles.intranet/{z}/{x}/{y}.png",
              "BASEMAP_ATTRIBUTION": "© 市测绘院"}
    m = new_map(config, location=CENTER)
    [layer] = _tile_layers(m)
    assert layer.tiles == config["BASEMAP_URL"]
    localize(m, static_url, manifest)
    html = m.get_root().render()
    assert layer.options["attribution"] == "© 市测绘院"
    assert "openstreetmap" not in html.lower()
    assert external_urls(html, allowed_hosts=["tiles.intranet"]) == []
    assert external_urls(html) == [config["BASEMAP_URL"]]
    # Without an attribution the tile server's host is credited.
    [layer] = base_layers({"BASEMAP": "xyz", "BASEMAP_URL": config["BASEMAP_URL"]})
    assert "tiles.intranet" in layer.options.get("attribution", "")


def test_tianditu_basemap_has_vector_and_labels(manifest):
    config = {"BASEMAP": "tianditu", "TIANDITU_KEY": "abc123"}
    vec, cva = base_layers(config)
    assert "/vec_w/wmts?" in vec.tiles and "LAYER=vec&" in vec.tiles
    assert "/cva_w/wmts?" in cva.tiles and "LAYER=cva&" in cva.tiles
    for layer in (vec, cva):
        assert layer.tiles.startswith("https://t{s}.tianditu.gov.cn/")
        assert "TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=abc123" in layer.tiles
        assert layer.options["subdomains"] == "01234567"
    assert vec.overlay is False and cva.overlay is True
    m = new_map(config, location=CENTER)
    localize(m, static_url, manifest)
    html = m.get_root().render()
    assert "openstreetmap" not in html.lower()
    assert external_urls(html, allowed_hosts=["*.tianditu.gov.cn"]) == []


@pytest.mark.parametrize("config, message", [
    ({"BASEMAP": "xyz"}, "BASEMAP_URL"),
    ({"BASEMAP": "tianditu"}, "TIANDITU_KEY"),
    ({"BASEMAP": "osm"}, "none, tianditu, xyz"),
])
def test_basemap_misconfiguration_is_explained(config, message):
    with pytest.raises(ValueError, match=message):
        base_layers(config)


def test_new_map_sets_zoom_limits_on_the_map():
    """Folium gives max_zoom only to its own tile layer; MarkerCluster needs it on the map."""
    assert new_map({}).options["max_zoom"] == 18
    m = new_map({}, max_zoom=16, min_zoom=8)
    assert (m.options["max_zoom"], m.options["min_zoom"]) == (16, 8)
    assert '"maxZoom": 16' in m.get_root().render()


def test_new_map_refuses_its_own_tiles():
    with pytest.raises(ValueError, match="BASEMAP"):
        new_map({}, tiles="OpenStreetMap")


# --- in a real browser ----------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.browser
def test_page_works_offline_in_chromium(tmp_path, manifest, browser):
    m = full_map()
    localize(m, static_url)
    (tmp_path / "index.html").write_text(m.get_root().render(), encoding="utf-8")
    (tmp_path / "static").symlink_to(STATIC, target_is_directory=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"

    blocked, failed, errors, loaded = [], [], [], []

    def route(r):
        url = r.request.url
        if not url.startswith(origin + "/"):
            blocked.append(url)
            return r.abort()
        if urlsplit(url).path.startswith("/tiles/"):  # the vector tiles: empty ones
            return r.fulfill(status=200, body=b"", content_type="application/x-protobuf")
        return r.continue_()

    try:
        page = browser.new_page()
        try:
            page.route("**/*", route)
            page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda req: failed.append(req.url))
            page.on("response", lambda res: (failed if res.status >= 400 else loaded)
                    .append(res.url))
            page.goto(origin + "/index.html", wait_until="networkidle")
            page.evaluate("document.fonts.ready.then(() => null)")
            result = page.evaluate("""() => ({
                L: typeof L !== 'undefined' && L.version,
                plugins: [typeof L.heatLayer, typeof L.markerClusterGroup,
                          typeof L.vectorGrid, typeof L.control.fullscreen,
                          typeof L.AwesomeMarkers.icon, typeof jQuery, typeof bootstrap.Tooltip,
                          typeof d3.scale.linear],
                markers: document.querySelectorAll('.awesome-marker').length,
                clusters: document.querySelectorAll('.marker-cluster').length,
                heat: document.querySelectorAll('canvas.leaflet-heatmap-layer').length,
                glyph: document.fonts.check('12px "Glyphicons Halflings"'),
                fa: document.fonts.check('900 12px "Font Awesome 6 Free"'),
            })""")
        finally:
            page.close()
    finally:
        server.shutdown()
        server.server_close()

    assert blocked == [] and failed == [] and errors == []
    assert result["L"] == "1.9.4"
    assert result["plugins"] == ["function"] * 8
    assert result["markers"] >= 2 and result["clusters"] >= 1 and result["heat"] == 1
    assert result["glyph"] and result["fa"]
    fonts = [u for u in loaded if re.search(r"\.(woff2?|ttf)$", u)]
    assert any("glyphicons" in u for u in fonts) and any("fa-solid" in u for u in fonts)
