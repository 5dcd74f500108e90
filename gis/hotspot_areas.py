"""Where 12365 complaints cluster in a place and period: Getis-Ord Gi* (gis/hotspots.py) on a
hexagon grid over the place's level-3 cells (default) or on the cells themselves. One
computation for the wall's layer (layers/hotspots.py) and the quality warnings
(gis/quality_warnings.py), so both name the same areas.

Why hexagons by default: a county has ~50 cells, and with the FDR cut over so few units only
an overwhelming cluster can be significant; 1.5 km hexagons (~250 over a county) find the
clusters leaders ask about, and every unit has the same area, which Gi* assumes."""
from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import datacache
from gis.hotspots import count_points, gi_star, hex_grid
from gis.wall import Window, cell_rows

HEX_EDGE_M = 1500
# What the hot spots of complaint counts read: the complaints and the cells' outlines.
HOTSPOT_TABLES = ("complaint", "cell", "cell_version")


def complaint_hotspots(session: Session, *, cells: list[int] | None, window: Window,
                       today: dt.date, at=None, units: str = "hexagons",
                       variable: str = "count") -> list[dict]:
    """Every unit of the place (hexagon or cell): code, name, geometry (shapely), and its
    Gi* result (``result``: klass "hot-99" … "none", z, p, count). ``variable`` "rate":
    complaints per enterprise.

    999 permutations take up to seconds: the answer is kept while the data stays the same
    (gis/datacache.py), for the wall's layer and the quality warnings alike."""
    found = datacache.memo(
        session, ("complaint_hotspots", None if cells is None else tuple(sorted(set(cells))),
                  window, today, at, units, variable),
        lambda: _complaint_hotspots(session, cells=cells, window=window, today=today, at=at,
                                    units=units, variable=variable),
        # Complaints over the cells' outlines; per enterprise, where enterprises are too (an
        # inspection recorded does not start the permutations again).
        tables=HOTSPOT_TABLES + (("enterprise", "enterprise_cell") if variable == "rate"
                                 else ()),
        size=lambda units: 2000 * len(units) + 1000)
    return list(found)


def _complaint_hotspots(session: Session, *, cells: list[int] | None, window: Window,
                        today: dt.date, at, units: str, variable: str) -> list[dict]:
    rows = cell_rows(session, cells=cells, window=window, today=today, at=at, levels=(3,))
    points = np.array(session.execute(text("""
        SELECT ST_X(geom), ST_Y(geom) FROM complaint
        WHERE (received_at AT TIME ZONE :zone)::date BETWEEN :start AND :end
          AND geom IS NOT NULL
          AND (CAST(:cells AS bigint[]) IS NULL OR cell_id = ANY(CAST(:cells AS bigint[])))
    """), {"start": window.start, "end": window.end, "zone": window.zone,
          "cells": cells}).all(),
        dtype=float).reshape(-1, 2)
    if not rows:
        return []
    frame = gpd.GeoDataFrame(
        {"code": [r["code"] for r in rows], "name": [r["name"] for r in rows],
         "enterprises": [r["enterprises"] for r in rows]},
        geometry=[shapely.from_geojson(r["geometry"]) for r in rows], crs=4326)
    if units == "cells":
        areas = frame
    else:
        areas = hex_grid(shapely.union_all(frame.geometry.values), HEX_EDGE_M)
        areas["name"] = areas["code"]
        if variable == "rate":
            areas["enterprises"] = _enterprises_per_hex(session, areas, cells)
    results = {r.code: r for r in gi_star(areas, points, variable=variable)}
    return [{"code": code, "name": name, "geometry": geom, "result": results[code]}
            for code, name, geom in zip(areas["code"], areas["name"], areas.geometry)]


def _enterprises_per_hex(session, hexes, cells) -> list[int]:
    points = np.array(session.execute(text("""
        SELECT ST_X(e.geom), ST_Y(e.geom) FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE CAST(:cells AS bigint[]) IS NULL OR ec.cell_id = ANY(CAST(:cells AS bigint[]))
    """), {"cells": cells}).all(), dtype=float).reshape(-1, 2)
    return list(count_points(hexes, points))
