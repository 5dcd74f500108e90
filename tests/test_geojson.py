"""One way to build a FeatureCollection (gis/geojson.py): in SQL for rows in the database, in
Python for rows computed there, the same document either way."""
import json

import shapely
from sqlalchemy import text

from gis.geojson import feature_collection, feature_collection_sql


def test_sql_and_python_build_the_same_document(session):
    rows_sql = """
        SELECT ST_SetSRID(ST_Point(116.1234567, 38.7654321), 4326) AS geom, 2 AS sort,
               json_build_object('code', 'b') AS props
        UNION ALL
        SELECT ST_SetSRID(ST_Point(116.0, 38.5), 4326), 1, json_build_object('code', 'a')"""
    from_sql = json.loads(session.execute(text(feature_collection_sql(rows_sql))).scalar())
    from_python = feature_collection(
        [{"geometry": shapely.to_geojson(shapely.Point(116.0, 38.5)), "code": "a"},
         {"geometry": shapely.to_geojson(shapely.Point(116.123457, 38.765432)), "code": "b"}],
        lambda r: {"code": r["code"]})
    assert from_sql == from_python


def test_no_rows_is_an_empty_collection_and_precision_is_a_parameter(session):
    empty = session.execute(text(feature_collection_sql(
        "SELECT NULL::geometry AS geom, 1 AS sort, NULL::json AS props WHERE false"))).scalar()
    assert json.loads(empty) == {"type": "FeatureCollection", "features": []}
    seven = json.loads(session.execute(text(feature_collection_sql(
        "SELECT ST_SetSRID(ST_Point(116.12345678, 38.5), 4326) AS geom, 1 AS sort, "
        "'{}'::json AS props", precision=7))).scalar())
    assert seven["features"][0]["geometry"]["coordinates"] == [116.1234568, 38.5]
