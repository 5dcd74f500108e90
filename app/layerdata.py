"""The map wall's data over HTTP: each layer's GeoJSON and each vector tile is computed once per
change of the data it comes from (gis/datacache.py: versions kept in PostgreSQL, so every
process agrees), sent gzip-compressed to a client that accepts it, and carries an ETag, so a
browser holding the current data gets 304 Not Modified without anything being computed.

The same bodies go into the map page itself when they are small (``layer_body``, used by
app/mappage.py), so the page, its refreshes and other processes share one computation.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import logging
import threading
from pathlib import Path

from flask import Response, current_app, request

from app.db import get_session
from gis.datacache import READ_ONLY, SESSION_KEY
from gis import datacache
from layers import Layer, LayerQuery

# Smaller bodies go as they are (an empty tile, a tiny layer): gzip would not pay.
GZIP_ABOVE = 1024
# The page's filters that change no layer beyond what the query's cells, window, day and
# moment already say.
_NOT_DATA = ("wall", "cell", "days", "from", "to", "at")


class Body:
    """A response body as computed once: the bytes, gzip-compressed when worth it, and (a
    layer's GeoJSON) the same JSON as the page carries it (``block``: a data element of the
    page, UTF-8, ready to be spliced in: ``splice``)."""

    def __init__(self, raw: bytes, block_id: str | None = None):
        self.raw = raw
        self.gzipped = gzip.compress(raw, 6, mtime=0) if len(raw) > GZIP_ABOVE else None
        self.block = None
        if block_id is not None:
            # "<" as its JSON escape: the text cannot close the element it sits in. A data
            # block is not run, so the Content-Security-Policy has no say.
            self.block = (f'<script type="application/json" id="{block_id}">'.encode()
                          + raw.replace(b"<", b"\\u003c") + b"</script>\n")
        self.nbytes = len(raw) + len(self.block or b"") + len(self.gzipped or b"") + 200


@functools.lru_cache(maxsize=1)
def code_stamp() -> str:
    """The code that shapes the data, as a few characters of every ETag: after an upgrade, no
    browser keeps a body an older version made from the same data."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha1()
    for path in sorted([*root.glob("layers/*.py"), root / "gis" / "wall.py",
                        root / "gis" / "hotspot_areas.py", root / "gis" / "hotspots.py",
                        Path(__file__)]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _ids(cells):
    return None if cells is None else tuple(sorted(set(cells)))


def layer_key(layer: Layer, query: LayerQuery) -> tuple:
    """What a layer's GeoJSON depends on besides the data."""
    params = tuple(sorted((k, str(v)) for k, v in query.params.items()
                          if k not in _NOT_DATA and v is not None))
    return ("layer", layer.id, _ids(query.cells), query.window, query.today, query.at, params)


def tile_key(layer: Layer, query: LayerQuery, z: int, x: int, y: int) -> tuple:
    return ("tile", layer.id, z, x, y, _ids(query.cells), query.today)


class Answer:
    """One piece of data as the request finds it: the full key (what it depends on, the data's
    versions included) and the ETag made from it."""

    def __init__(self, key: tuple, tables):
        session = get_session()
        self.session = session
        self.cache = datacache.cache_of(session)
        self.key = (key, datacache.stamp(session, tables, self.cache))
        self.etag = code_stamp() + "-" + hashlib.sha1(
            repr(self.key).encode("utf-8")).hexdigest()[:20]

    def body(self, compute, block_id: str | None = None) -> Body:
        def make():
            data = compute()
            if isinstance(data, (bytes, bytearray, memoryview)):
                return Body(bytes(data))
            if not isinstance(data, str):
                data = json.dumps(data, ensure_ascii=False, default=str)
            return Body(data.encode("utf-8"), block_id)

        if self.cache is None:
            return make()
        return self.cache.get(("body",) + self.key, make, size=lambda b: b.nbytes)

    def response(self, compute, mimetype: str, block_id: str | None = None) -> Response:
        """200 with the body (gzip when the client takes it), or 304 when the client's copy
        is this one."""
        if request.if_none_match.contains_weak(self.etag):
            response = Response(status=304)
        else:
            body = self.body(compute, block_id)
            if body.gzipped is not None and "gzip" in request.accept_encodings:
                response = Response(body.gzipped, mimetype=mimetype)
                response.headers["Content-Encoding"] = "gzip"
            else:
                response = Response(body.raw, mimetype=mimetype)
        # Weak: the gzip and the plain body are the same data, not the same bytes.
        response.set_etag(self.etag, weak=True)
        # Kept by the browser, asked again each time (a 304 when nothing changed): the data
        # changes when someone writes, not after a fixed time.
        response.headers["Cache-Control"] = "private, no-cache"
        response.vary.add("Accept-Encoding")
        response.vary.add("Cookie")
        return response


def _tables(layer: Layer):
    return layer.depends if layer.depends is not None else datacache.TRACKED


def layer_answer(layer: Layer, query: LayerQuery) -> Answer:
    return Answer(layer_key(layer, query), _tables(layer))


def block_id(layer: Layer) -> str:
    """The id of the data element that carries the layer in the page (map.js reads it)."""
    return "gw-layer-" + layer.id


def layer_body(layer: Layer, query: LayerQuery) -> Body:
    """The layer's GeoJSON for the query, computed once per change of its data."""
    return layer_answer(layer, query).body(
        lambda: layer.query(get_session(), query), block_id(layer))


def layer_response(layer: Layer, query: LayerQuery) -> Response:
    return layer_answer(layer, query).response(
        lambda: layer.query(get_session(), query), "application/geo+json", block_id(layer))


def tile_response(layer: Layer, query: LayerQuery, z: int, x: int, y: int) -> Response:
    return Answer(tile_key(layer, query, z, x, y), _tables(layer)).response(
        lambda: layer.tiles(get_session(), query, z, x, y),
        "application/vnd.mapbox-vector-tile")


# Where a page's template puts the layers it carries (``map_parts``' ``map_data``); ``splice``
# puts them there as the bytes kept in memory, without making them text again.
PLACEHOLDER = "<!-- gridwatch: the layers the page carries -->"


def splice(html: str, bodies: list[Body]) -> bytes:
    """The page as UTF-8 with the layers' data elements where the template put PLACEHOLDER."""
    head, found, tail = html.partition(PLACEHOLDER)
    if not found:
        return html.encode("utf-8")
    return b"".join([head.encode("utf-8"), *(b.block for b in bodies), tail.encode("utf-8")])


def prepare(layer: Layer, query: LayerQuery) -> None:
    """Start computing what the layer's tiles are cut from (``Layer.prepare``) in a thread of
    its own, into the app's cache, while the page that will ask for them loads: after a write,
    the first tiles then wait for one computation already under way instead of starting it.
    Not under TESTING: the tests' requests share one connection."""
    app = current_app._get_current_object()
    cache = app.extensions.get("gridwatch.datacache")
    if layer.prepare is None or cache is None or app.config.get("TESTING"):
        return

    def run():
        with app.app_context():
            session = app.extensions["gridwatch.sessions"]()
            session.info[SESSION_KEY] = cache
            session.info[READ_ONLY] = True
            try:
                layer.prepare(session, query)
            except Exception:  # the tiles will compute it themselves
                logging.getLogger(__name__).exception("preparing %s's tiles", layer.id)
            finally:
                session.close()

    threading.Thread(target=run, name=f"prepare-{layer.id}", daemon=True).start()
