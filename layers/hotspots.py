"""Statistically significant hot and cold spots of 12365 complaints: Getis-Ord Gi* with
permutation inference and a false-discovery-rate cut (gis/hotspots.py), on a hexagon grid
over the user's area (default) or on the level-3 cells (``hotspot_units=cells``). Only
significant units are drawn, outlined by confidence.

Why hexagons by default: a county has ~50 cells, and with the FDR cut over so few units only
an overwhelming cluster can be significant; 1.5 km hexagons (~250 over a county) find the
clusters leaders ask about, and every unit has the same area, which Gi* assumes."""
import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text

# Imported with the app, not on the first request: esda and libpysal take ~1 s to load, which
# the first leader to open the wall after a restart would otherwise wait for.
from gis.hotspots import count_points, gi_star, hex_grid
from gis.wall import cell_rows
from layers import Layer, LayerQuery, LegendItem, N_, feature_collection, register
from layers.palette import COLD, HOT


def query(session, q: LayerQuery) -> dict:

    rows = cell_rows(session, cells=q.cells, window=q.window, today=q.today, at=q.at,
                     levels=(3,))
    points = np.array(session.execute(text("""
        SELECT ST_X(geom), ST_Y(geom) FROM complaint
        WHERE (received_at AT TIME ZONE :zone)::date BETWEEN :start AND :end
          AND geom IS NOT NULL
          AND (CAST(:cells AS bigint[]) IS NULL OR cell_id = ANY(CAST(:cells AS bigint[])))
    """), {"start": q.window.start, "end": q.window.end, "zone": q.window.zone,
          "cells": q.cells}).all(),
        dtype=float).reshape(-1, 2)
    if not rows:
        return feature_collection([], dict)
    cells = gpd.GeoDataFrame(
        {"code": [r["code"] for r in rows], "name": [r["name"] for r in rows],
         "enterprises": [r["enterprises"] for r in rows]},
        geometry=[shapely.from_geojson(r["geometry"]) for r in rows], crs=4326)
    variable = "rate" if q.params.get("hotspot_variable") == "rate" else "count"
    if q.params.get("hotspot_units") == "cells":
        areas = cells
    else:
        areas = hex_grid(shapely.union_all(cells.geometry.values), HEX_EDGE_M)
        areas["name"] = areas["code"]
        if variable == "rate":
            areas["enterprises"] = _enterprises_per_hex(session, areas, q)
    results = {r.code: r for r in gi_star(areas, points, variable=variable)}
    significant = [{"code": code, "name": name, "geometry": shapely.to_geojson(geom)}
                   for code, name, geom in zip(areas["code"], areas["name"], areas.geometry)
                   if results[code].klass != "none"]
    return feature_collection(significant, lambda r: {
        "code": r["code"], "name": r["name"], "klass": results[r["code"]].klass,
        "z": _finite(results[r["code"]].z), "p": _finite(results[r["code"]].p),
        "complaints": results[r["code"]].count})


HEX_EDGE_M = 1500


def _enterprises_per_hex(session, hexes, q: LayerQuery) -> list[int]:
    points = np.array(session.execute(text("""
        SELECT ST_X(e.geom), ST_Y(e.geom) FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE CAST(:cells AS bigint[]) IS NULL OR ec.cell_id = ANY(CAST(:cells AS bigint[]))
    """), {"cells": q.cells}).all(), dtype=float).reshape(-1, 2)
    return list(count_points(hexes, points))


def _finite(value):
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


LAYER = register(Layer(
    id="hotspots",
    title=N_("Where complaints cluster"),
    render="polygons",
    query=query,
    legend=(LegendItem(N_("Complaints cluster here (confidence 99%)"), HOT["hot-99"], "square"),
            LegendItem(N_("Complaints cluster here (confidence 95%)"), HOT["hot-95"], "square"),
            LegendItem(N_("Complaints cluster here (confidence 90%)"), HOT["hot-90"], "square"),
            LegendItem(N_("Fewer complaints than around (confidence 90%)"), COLD["cold-90"],
                       "square"),
            LegendItem(N_("Fewer complaints than around (confidence 95%)"), COLD["cold-95"],
                       "square"),
            LegendItem(N_("Fewer complaints than around (confidence 99%)"), COLD["cold-99"],
                       "square")),
    # Not a click target: a click in a hot spot reaches the cell below and opens its card.
    style={"colorBy": "klass", "colors": {**HOT, **COLD}, "weight": 3, "fillOpacity": 0.35,
           "interactive": False},
    note=N_("Red: areas of about 1.5 km where complaints cluster, more than chance would "
            "explain; blue: clearly fewer than around them. Areas that may be chance are not "
            "drawn."),
    details=N_("Getis-Ord Gi* on complaint counts per 1.5 km hexagon, queen contiguity, 999 "
               "permutations, false-discovery-rate cut at q = 0.10. Only significant hexagons "
               "are drawn."),
))
