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


def test_the_grid_editors_layers(client, session):
    from tests.factories import login, small_world

    small_world(session)
    session.execute(text("""
        WITH t AS (INSERT INTO township (code, name, geom) VALUES ('130984100000', '一镇', ST_Multi(
            ST_MakeEnvelope(116.0, 38.4, 116.2, 38.5, 4326))) RETURNING id)
        INSERT INTO village (code, name, township_id, geom) SELECT '130984100201', '一村', t.id,
            ST_Multi(ST_MakeEnvelope(116.06, 38.41, 116.07, 38.42, 4326)) FROM t"""))
    login(client, "s1-manager")
    cells = client.get("/api/v1/grid/S1/cells.geojson")
    assert cells.mimetype == "application/geo+json"
    versions = dict(session.execute(text(
        "SELECT code, version_id FROM cell_current WHERE code LIKE 'S1-%'")).all())
    assert [f["properties"] for f in json.loads(cells.get_data())["features"]] == [
        {"code": code, "name": name, "version": versions[code]}
        for code, name in session.execute(text(
            "SELECT code, name FROM cell WHERE code LIKE 'S1-%' ORDER BY code")).all()]
    villages = json.loads(client.get("/api/v1/grid/S1/villages.geojson").get_data())
    assert [f["properties"] for f in villages["features"]] == [
        {"code": "130984100201", "name": "一村", "cell": "S1-02"}]
