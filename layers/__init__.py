"""Map layers: one declarative module per layer, collected in ``REGISTRY``.

The map page, the GeoJSON API and the tests iterate over the registry, so a new layer is one
new module here (plus its name in ``_MODULES``). A layer says what it is (id, title, legend,
popup fields), how to get its features (``query``: SQL through SQLAlchemy, returning a GeoJSON
FeatureCollection in lon/lat EPSG:4326) and how the browser draws it (``render`` and
``style``, interpreted by app/static/map.js). Titles and labels are message ids, translated by
the app.
"""
from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from gis.geojson import feature_collection  # noqa: F401 (the layers' one way to build it)
from gis.wall import Window


def N_(message: str) -> str:
    """Mark a message id for extraction; the app translates it at render time."""
    return message


@dataclass(frozen=True)
class LegendItem:
    label: str
    color: str
    shape: str = "circle"  # circle | triangle | square | ring | line | dashed | mark
    # For shape "mark": the sign drawn (e.g. "⚠"); for "dashed": nothing.
    mark: str | None = None


@dataclass(frozen=True)
class PopupField:
    label: str
    prop: str
    kind: str = "text"  # text | tel | date | number | percent | record (links the page)


@dataclass
class LayerQuery:
    """What a layer's query may depend on."""

    cells: list[int] | None  # visible cell ids (None: all)
    window: Window
    today: dt.date
    at: dt.datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Layer:
    id: str
    title: str
    render: str  # polygons | points | heat
    query: Callable[[Any, LayerQuery], dict]
    legend: tuple[LegendItem, ...] = ()
    popup: tuple[PopupField, ...] = ()
    style: dict = field(default_factory=dict)
    show: bool = True
    # Under the legend: ``note`` in plain words for everyone; ``details`` (the method, for who
    # asks) folded away under it.
    note: str | None = None
    details: str | None = None
    # Points layers above the app's VECTOR_TILE_THRESHOLD are served as vector tiles.
    tiles: Callable[[Any, LayerQuery, int, int, int], bytes] | None = None
    count: Callable[[Any, LayerQuery], int] | None = None
    # [[south, west], [north, east]] of a tiled layer's points (None: none): no tile outside
    # it is asked for.
    extent: Callable[[Any, LayerQuery], list | None] | None = None
    # What its tiles are cut from, computed ahead in the background when a page shows the
    # layer as tiles (app/layerdata.py ``prepare``): ready, or on its way, when they are asked.
    prepare: Callable[[Any, LayerQuery], Any] | None = None
    label: str | None = None  # property shown as a permanent label on polygons
    card: bool = False  # a click on a feature opens the cell card (features carry ``code``)
    # The tables whose writes change the layer (gis/datacache.py caches it until one does);
    # None: every table the wall reads.
    depends: tuple[str, ...] | None = None


REGISTRY: dict[str, Layer] = {}
# Drawing order, bottom to top: areas first, points last so they stay clickable.
_MODULES = ("grids", "cells", "professional", "hotspots", "complaints", "enterprises",
            "overdue")


def register(layer: Layer) -> Layer:
    if layer.id in REGISTRY:
        raise ValueError(f"layer id {layer.id!r} registered twice")
    REGISTRY[layer.id] = layer
    return layer


def load() -> dict[str, Layer]:
    for name in _MODULES:
        importlib.import_module(f"layers.{name}")
    return REGISTRY


load()
