"""The map wall computes what only changes when the data does once per change (gis/datacache.py,
app/layerdata.py): every write is seen at once, by every process, on the page and in its data;
unchanged data costs a 304; low zooms' tiles count enterprises instead of listing them."""
import datetime as dt
import gzip
import json
import re

import pytest
import shapely
from sqlalchemy import text

from gis import datacache
from tests.factories import add_cells, add_enterprises, login, small_world

TODAY = dt.date.today()


@pytest.fixture
def admin(client, session):
    # Boundaries from two days ago: a new version can be committed from an hour ago.
    small_world(session, valid_from=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    session.execute(text("UPDATE enterprise SET valid_from = now() - interval '400 days'"))
    login(client, "admin")
    return client


def layer(client, layer_id, **params):
    response = client.get(f"/api/v1/layers/{layer_id}.geojson", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data(as_text=True))


def codes(collection):
    return sorted(f["properties"]["code"] for f in collection["features"])


def inline_layer(page: str, layer_id: str) -> dict:
    """A layer as the map page carries it."""
    found = re.search(rf'<script type="application/json" id="gw-layer-{layer_id}">(.*?)</script>',
                      page, re.S)
    assert found, f"{layer_id} is not in the page"
    return json.loads(found.group(1))


def test_a_write_moves_its_tables_version_at_once(session):
    small_world(session)
    before = datacache.versions(session)
    session.execute(text("UPDATE enterprise SET name = name || '!' WHERE false"))
    session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on)
        SELECT id, CAST(:d AS date) FROM enterprise WHERE management_code = 'E1'"""),
        {"d": TODAY})
    after = datacache.versions(session)
    assert after["inspection"] != before.get("inspection")
    assert after["enterprise"] != before["enterprise"]  # every statement counts, even a no-op
    assert after["cell"] == before["cell"] and after["complaint"] == before["complaint"]
    # Folding the log keeps every version's number.
    folded = datacache.compact(session)
    assert folded > 0 and session.execute(text("SELECT count(*) FROM data_change")).scalar() == 0
    assert {t: v[0] for t, v in datacache.versions(session).items()} == {
        t: v[0] for t, v in after.items()}


def test_every_kind_of_write_shows_on_the_wall_at_once(admin, session):
    """One cache per app, warmed, then a new enterprise, an inspection, a complaint and a new
    boundary: each shows in the layer data and in the page that carries it."""
    assert codes(layer(admin, "enterprises")) == ["E1", "E2"]
    assert codes(layer(admin, "overdue")) == ["E1", "E2"]
    complaints = len(layer(admin, "complaints")["features"])
    page = admin.get("/map").get_data(as_text=True)
    assert codes(inline_layer(page, "enterprises")) == ["E1", "E2"]
    # Asked again, nothing changed: from memory.
    cache = admin.application.extensions["gridwatch.datacache"]
    hits = cache.hits
    assert codes(layer(admin, "enterprises")) == ["E1", "E2"] and cache.hits > hits

    add_enterprises(session, ("E3", 116.16, 38.46))
    assert codes(layer(admin, "enterprises")) == ["E1", "E2", "E3"]
    assert codes(inline_layer(admin.get("/map").get_data(as_text=True), "enterprises")) == [
        "E1", "E2", "E3"]

    session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on)
        SELECT id, CAST(:d AS date) FROM enterprise WHERE management_code = 'E1'"""),
        {"d": TODAY})
    assert "E1" not in codes(layer(admin, "overdue"))
    cells = {f["properties"]["code"]: f["properties"] for f in layer(admin, "cells")["features"]}
    assert cells["S1-01"]["overdue"] == 0  # E1 inspected

    session.execute(text("""
        INSERT INTO complaint (number, received_at, geom, text, status, cell_id)
        SELECT 'K2', now(), ST_SetSRID(ST_Point(116.12, 38.45), 4326), '投诉', 'received', id
        FROM cell WHERE code = 'S2-01'"""))
    assert len(layer(admin, "complaints")["features"]) == complaints + 1
    assert admin.get("/api/v1/figures").get_json()["values"]["complaints"] == complaints + 1

    # A boundary committed: S1-01 shrinks to its western third, and E1 falls in S1-02.
    old = shapely.geometry.shape(
        next(f for f in layer(admin, "cells")["features"]
             if f["properties"]["code"] == "S1-01")["geometry"])
    add_cells(session, ("S1-01", 3, shapely.box(116.0, 38.4, 116.015, 38.5), "S1"),
              ("S1-02", 3, shapely.box(116.015, 38.4, 116.1, 38.5), "S1"),
              valid_from=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    new = {f["properties"]["code"]: f for f in layer(admin, "cells")["features"]}
    assert shapely.geometry.shape(new["S1-01"]["geometry"]).area < old.area * 0.4
    assert new["S1-02"]["properties"]["enterprises"] == 1  # E1
    page = admin.get("/map").get_data(as_text=True)
    carried = {f["properties"]["code"]: f for f in inline_layer(page, "cells")["features"]}
    assert carried["S1-02"]["properties"]["enterprises"] == 1
    assert {f["properties"]["code"]: f["properties"]["cell_code"]
            for f in inline_layer(page, "enterprises")["features"]}["E1"] == "S1-02"


def test_a_write_elsewhere_does_not_recompute_a_layer_that_does_not_read_it(admin, session):
    def etags():
        return {layer_id: admin.get(f"/api/v1/layers/{layer_id}.geojson").headers["ETag"]
                for layer_id in ("grids", "cells", "hotspots", "complaints", "enterprises")}

    before = etags()
    session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on)
        SELECT id, CAST(:d AS date) FROM enterprise WHERE management_code = 'E1'"""),
        {"d": TODAY})
    after = etags()
    # An inspection: the cells' overdue counts and the enterprises' status, not the outlines,
    # the complaints or their hot spots.
    assert [k for k in before if before[k] != after[k]] == ["cells", "enterprises"]
    session.execute(text("""
        INSERT INTO complaint (number, received_at, geom, text, status, cell_id)
        SELECT 'K2', now(), ST_SetSRID(ST_Point(116.12, 38.45), 4326), '投诉', 'received', id
        FROM cell WHERE code = 'S2-01'"""))
    last = etags()
    assert [k for k in after if after[k] != last[k]] == ["cells", "hotspots", "complaints"]


def test_unchanged_data_is_a_304_and_bodies_are_gzip(admin, session, monkeypatch):
    from app import layerdata

    monkeypatch.setattr(layerdata, "GZIP_ABOVE", 100)  # the small world's layers are small
    first = admin.get("/api/v1/layers/enterprises.geojson",
                      headers={"Accept-Encoding": "gzip"})
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and first.headers["Cache-Control"] == "private, no-cache"
    assert first.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(first.data))["type"] == "FeatureCollection"
    plain = admin.get("/api/v1/layers/enterprises.geojson")
    assert "Content-Encoding" not in plain.headers and plain.headers["ETag"] == etag
    again = admin.get("/api/v1/layers/enterprises.geojson", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    # Another place is other data; a write is a new ETag.
    assert admin.get("/api/v1/layers/enterprises.geojson", query_string={"cell": "S2"},
                     headers={"If-None-Match": etag}).status_code == 200
    add_enterprises(session, ("E3", 116.03, 38.46))
    assert admin.get("/api/v1/layers/enterprises.geojson",
                     headers={"If-None-Match": etag}).status_code == 200
    # Tiles too.
    x, y = _tile_xy(116.02, 38.45, 14)
    tile = admin.get(f"/tiles/enterprises/14/{x}/{y}.pbf")
    assert tile.status_code == 200 and tile.headers["ETag"]
    assert admin.get(f"/tiles/enterprises/14/{x}/{y}.pbf",
                     headers={"If-None-Match": tile.headers["ETag"]}).status_code == 304


def test_without_a_cache_everything_is_computed_each_time(app, admin):
    app.extensions["gridwatch.datacache"] = None
    assert codes(layer(admin, "enterprises")) == ["E1", "E2"]
    assert admin.get("/map").status_code == 200


def _tile_xy(lon, lat, z):
    import math

    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message: enough of MVT for a test."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        else:
            raise AssertionError(f"wire type {wire}")
        yield number, wire, value


def mvt_features(tile: bytes) -> list[dict]:
    """The properties of every feature of a vector tile (one layer)."""
    out = []
    for number, _, layer_bytes in _fields(tile):
        assert number == 3  # Tile.layers
        keys, values, features = [], [], []
        for field, _, value in _fields(layer_bytes):
            if field == 3:
                keys.append(value.decode())
            elif field == 4:
                (kind, _, v), = list(_fields(value))
                values.append(v.decode() if kind == 1 else v)  # string or uint/int
            elif field == 2:
                features.append(value)
        for feature in features:
            tags = next(v for f, _, v in _fields(feature) if f == 2)
            ids, i = [], 0
            while i < len(tags):
                v, i = _varint(tags, i)
                ids.append(v)
            out.append({keys[k]: values[v] for k, v in zip(ids[::2], ids[1::2])})
    return out


def test_low_zoom_tiles_count_enterprises_under_each_marker(admin, session):
    # Three enterprises within metres of each other, one D: one marker at zoom 10, grade D.
    add_enterprises(session, ("E3", 116.0201, 38.4501))
    add_enterprises(session, ("E4", 116.0202, 38.4502), grade="D")
    x, y = _tile_xy(116.02, 38.45, 10)
    features = mvt_features(admin.get(f"/tiles/enterprises/10/{x}/{y}.pbf").data)
    assert sum(f["n"] for f in features) == 4  # every enterprise counted once
    crowded = next(f for f in features if f["n"] == 3)
    assert crowded["grade"] == "D" and crowded["overdue"] == 1  # E1; E3 and E4 are new
    assert not any("code" in f for f in features)
    overdue = mvt_features(admin.get(f"/tiles/overdue/10/{x}/{y}.pbf").data)
    assert sum(f["n"] for f in overdue) == 2  # E1 and E2
    # From zoom 14, each enterprise with its code.
    x, y = _tile_xy(116.02, 38.45, 14)
    close = mvt_features(admin.get(f"/tiles/enterprises/14/{x}/{y}.pbf").data)
    assert sorted(f["code"] for f in close) == ["E1", "E3", "E4"]


def test_the_horizon_is_the_next_dated_change(session):
    small_world(session)
    cache = datacache.DataCache()
    assert cache.horizon(session, "responsibility", None) is None
    soon = session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
        SELECT p.id, 'department', 'owner', c.id, now() + interval '1 day'
        FROM person p, cell c WHERE c.code = 'S1-01' LIMIT 1 RETURNING valid_from""")).scalar()
    version = datacache.versions(session)["responsibility"]
    assert cache.horizon(session, "responsibility", version) == soon
    stamp = datacache.stamp(session, ["responsibility"], cache)
    assert ("responsibility@", soon.isoformat()) in stamp


@pytest.fixture
def committed(database_url):
    """A database of its own with the small world committed, and two apps on it: two server
    processes, each with its own memory."""
    from app import create_app
    from gis.db import make_engine, make_session_factory, transaction
    from tests.conftest import TEST_SECRET_KEY, migrated_database

    db_url = migrated_database("_cache")
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        small_world(session)
    apps = [create_app({"TESTING": True, "DATABASE_URL": db_url, "SECRET_KEY": TEST_SECRET_KEY,
                        "WTF_CSRF_ENABLED": False}) for _ in range(2)]
    clients = [a.test_client() for a in apps]
    for c in clients:
        login(c, "admin")
    yield clients, sessions
    for a in apps:
        a.extensions["gridwatch.engine"].dispose()
    engine.dispose()


def test_a_commit_by_another_process_shows_in_every_process(committed):
    from gis.db import transaction

    (one, two), sessions = committed
    for c in (one, two):
        assert codes(layer(c, "enterprises")) == ["E1", "E2"]
    etag = one.get("/api/v1/layers/enterprises.geojson").headers["ETag"]
    assert two.get("/api/v1/layers/enterprises.geojson").headers["ETag"] == etag  # agree
    # Written and committed elsewhere (the CLI, another server): both see it.
    with transaction(sessions) as session:
        add_enterprises(session, ("E3", 116.03, 38.46))
    for c in (one, two):
        assert codes(layer(c, "enterprises")) == ["E1", "E2", "E3"]
        assert codes(inline_layer(c.get("/map").get_data(as_text=True), "enterprises")) == [
            "E1", "E2", "E3"]
    # Not before the commit: a transaction still open changes nothing anyone sees.
    session = sessions()
    try:
        add_enterprises(session, ("E4", 116.04, 38.46))
        session.flush()
        assert codes(layer(one, "enterprises")) == ["E1", "E2", "E3"]
        session.rollback()
    finally:
        session.close()
    assert codes(layer(two, "enterprises")) == ["E1", "E2", "E3"]
