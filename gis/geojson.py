"""GeoJSON FeatureCollections, built in one place: every layer and API that answers GeoJSON
gets it from here, so a feature always has the same shape (type, geometry, properties).

Rows that live in the database are serialised by PostGIS (``feature_collection_sql``:
json_agg over ST_AsGeoJSON; at 100k points several times faster than building the document
in Python). Rows whose properties are computed in Python (class breaks, Gi* results) use
``feature_collection``.
"""
from __future__ import annotations

import json
from typing import Callable, Iterable


def feature_collection_sql(rows_sql: str, precision: int = 6) -> str:
    """SQL answering one FeatureCollection as text, from ``rows_sql``: a query (it may have its
    own WITH, or use the caller's) selecting ``geom`` (EPSG:4326), ``props`` (json, the
    feature's properties) and ``sort`` (the features' order). ``precision``: decimal places
    of the coordinates (6 is ~0.1 m)."""
    return f"""
        SELECT json_build_object('type', 'FeatureCollection', 'features',
               coalesce(json_agg(json_build_object('type', 'Feature',
                 'geometry', ST_AsGeoJSON(r.geom, {int(precision)})::json,
                 'properties', r.props)
                 ORDER BY r.sort), '[]'::json))::text
        FROM ({rows_sql}) r"""


def feature_collection(rows: Iterable, properties: Callable[[dict], dict]) -> dict:
    """A FeatureCollection from rows whose ``geometry`` is GeoJSON text (ST_AsGeoJSON or
    shapely.to_geojson: kept as text until the end, since parsing 100k geometries in Python only
    to re-serialise them is waste)."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": json.loads(r["geometry"]), "properties": properties(r)}
        for r in rows]}
