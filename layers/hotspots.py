"""Statistically significant hot and cold spots of 12365 complaints: Getis-Ord Gi* with
permutation inference and a false-discovery-rate cut (gis/hotspot_areas.py, gis/hotspots.py),
on a hexagon grid over the user's area (default) or on the level-3 cells
(``hotspot_units=cells``). Only significant units are drawn, outlined by confidence."""
import numpy as np
import shapely

# Imported with the app, not on the first request: esda and libpysal take ~1 s to load, which
# the first leader to open the wall after a restart would otherwise wait for.
from gis.hotspot_areas import HOTSPOT_TABLES, complaint_hotspots
from layers import Layer, LayerQuery, LegendItem, N_, feature_collection, register
from layers.palette import COLD, HOT


def query(session, q: LayerQuery) -> dict:
    units = complaint_hotspots(
        session, cells=q.cells, window=q.window, today=q.today, at=q.at,
        units="cells" if q.params.get("hotspot_units") == "cells" else "hexagons",
        variable="rate" if q.params.get("hotspot_variable") == "rate" else "count")
    significant = [{"code": u["code"], "name": u["name"], "result": u["result"],
                    "geometry": shapely.to_geojson(u["geometry"])}
                   for u in units if u["result"].klass != "none"]
    return feature_collection(significant, lambda r: {
        "code": r["code"], "name": r["name"], "klass": r["result"].klass,
        "z": _finite(r["result"].z), "p": _finite(r["result"].p),
        "complaints": r["result"].count})


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
    # Complaints over the cells (per enterprise: where enterprises are), not inspections.
    depends=HOTSPOT_TABLES + ("enterprise", "enterprise_cell"),
    note=N_("Red: areas of about 1.5 km where complaints cluster, more than chance would "
            "explain; blue: clearly fewer than around them. Areas that may be chance are not "
            "drawn."),
    details=N_("Getis-Ord Gi* on complaint counts per 1.5 km hexagon, queen contiguity, 999 "
               "permutations, false-discovery-rate cut at q = 0.10. Only significant hexagons "
               "are drawn."),
))
