"""The layer registry, its GeoJSON and tile endpoints, figures, overdue logic and area scoping.
Every test iterates the registry where it can, so a new layer is tested by being added."""
import datetime as dt
import json

import pytest
from sqlalchemy import text

from layers import REGISTRY
from tests.factories import login, small_world

TODAY = dt.date.today()


@pytest.fixture
def world(session):
    person = small_world(session)
    # E1 inspected recently (B: 180 days), E2 never inspected and under supervision for a year.
    session.execute(text("""
        UPDATE enterprise SET valid_from = now() - interval '400 days'"""))
    session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on, inspector_id)
        SELECT id, CAST(:d AS date), :p FROM enterprise WHERE management_code = 'E1'"""),
        {"d": TODAY - dt.timedelta(days=10), "p": person})
    return person


@pytest.fixture
def admin(client, world):
    login(client, "admin")
    return client


def geojson(client, layer_id, **params):
    response = client.get(f"/api/v1/layers/{layer_id}.geojson", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/geo+json"
    return json.loads(response.get_data(as_text=True))


def test_registry_has_the_wall_layers():
    assert {"cells", "enterprises", "overdue", "complaints", "hotspots"} <= set(REGISTRY)
    for layer in REGISTRY.values():
        assert layer.legend, layer.id
        assert layer.render in ("polygons", "points", "heat")


@pytest.mark.parametrize("layer_id", sorted(REGISTRY))
def test_every_layer_serves_geojson_with_its_popup_properties(admin, layer_id):
    data = geojson(admin, layer_id)
    assert data["type"] == "FeatureCollection"
    layer = REGISTRY[layer_id]
    for feature in data["features"]:
        assert feature["type"] == "Feature" and feature["geometry"]["type"]
        lon, lat = _first_coordinate(feature["geometry"]["coordinates"])
        assert 115 < lon < 118 and 38 < lat < 39  # lon/lat order, EPSG:4326
        for field in layer.popup:
            assert field.prop in feature["properties"], (layer_id, field.prop)


def _first_coordinate(coords):
    while isinstance(coords[0], list):
        coords = coords[0]
    return coords


def test_enterprises_carry_grade_cell_and_owner(admin):
    features = {f["properties"]["code"]: f["properties"]
                for f in geojson(admin, "enterprises")["features"]}
    assert features["E1"]["grade"] == "B" and features["E1"]["cell_code"] == "S1-01"
    assert features["E1"]["owner_name"] is None  # no owner in the small world: falls through


def test_overdue_follows_the_grade_interval(admin, session):
    overdue = {f["properties"]["code"] for f in geojson(admin, "overdue")["features"]}
    assert overdue == {"E2"}
    session.execute(text("UPDATE grade_interval SET interval_days = 5 WHERE grade = 'B'"))
    overdue = {f["properties"]["code"] for f in geojson(admin, "overdue")["features"]}
    assert overdue == {"E1", "E2"}


def test_cells_choropleth_has_classes_and_a_colour_per_cell(admin):
    data = geojson(admin, "cells", figure="enterprises")
    assert data["classes"]["figure"] == "enterprises" and data["classes"]["breaks"]
    assert all("fill" in f["properties"] for f in data["features"])
    plain = geojson(admin, "cells")
    assert all("fill" not in f["properties"] for f in plain["features"])


def test_complaints_follow_the_time_window(admin, session):
    session.execute(text("UPDATE complaint SET received_at = now() - interval '200 days'"))
    assert len(geojson(admin, "complaints", days=365)["features"]) == 1
    assert len(geojson(admin, "complaints", days=90)["features"]) == 0
    since = (TODAY - dt.timedelta(days=210)).isoformat()
    until = (TODAY - dt.timedelta(days=190)).isoformat()
    assert len(geojson(admin, "complaints", **{"from": since, "to": until})["features"]) == 1


@pytest.mark.parametrize("params, field", [
    ({"days": "many"}, "days"), ({"days": 0}, "days"), ({"from": "yesterday"}, "from"),
    ({"figure": "colour"}, "figure"), ({"bogus": 1}, "bogus"),
])
def test_bad_filters_are_400_naming_the_parameter(admin, params, field):
    response = admin.get("/api/v1/layers/cells.geojson", query_string=params)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == field


@pytest.mark.parametrize("layer_id", sorted(REGISTRY))
def test_station_leader_sees_only_their_station(client, world, layer_id):
    login(client, "s1-leader")
    data = geojson(client, layer_id)
    codes = {f["properties"].get("cell_code") or f["properties"].get("code")
             for f in data["features"]}
    assert "E2" not in codes and "S2-01" not in codes and "S2" not in codes


def test_unknown_layer_is_404(admin):
    assert admin.get("/api/v1/layers/nope.geojson").status_code == 404


def test_qgis_endpoints(admin):
    cells = json.loads(admin.get("/api/v1/cells.geojson").get_data(as_text=True))
    assert {f["properties"]["code"] for f in cells["features"]} == {"S1-01", "S1-02", "S2-01"}
    enterprises = json.loads(admin.get("/api/v1/enterprises.geojson").get_data(as_text=True))
    assert {f["properties"]["code"] for f in enterprises["features"]} == {"E1", "E2"}


def test_layer_endpoints_need_a_login(client, world):
    assert client.get("/api/v1/layers/cells.geojson").status_code == 401


def _tile_xy(lon, lat, z):
    import math

    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_vector_tile_of_an_enterprise_is_not_empty_and_elsewhere_is(admin):
    # Zoom 14: every enterprise with its code (below zoom 13 tiles count them,
    # tests/test_map_cache.py).
    x, y = _tile_xy(116.02, 38.45, 14)
    tile = admin.get(f"/tiles/enterprises/14/{x}/{y}.pbf")
    assert tile.status_code == 200 and tile.mimetype == "application/vnd.mapbox-vector-tile"
    assert len(tile.data) > 20 and b"enterprises" in tile.data and b"E1" in tile.data
    far = admin.get("/tiles/enterprises/12/0/0.pbf")
    assert far.status_code == 200 and far.data == b""
    assert admin.get("/tiles/enterprises/3/9/0.pbf").status_code == 404
    assert admin.get("/tiles/cells/3/1/1.pbf").status_code == 404  # cells are not tiled


def test_points_switch_to_tiles_above_the_threshold(app, admin):
    app.config["VECTOR_TILE_THRESHOLD"] = 1
    specs = {s["id"]: s for s in admin.get("/api/v1/layers").get_json()["layers"]}
    assert "tileUrl" in specs["enterprises"] and "{z}/{x}/{y}.pbf" in specs["enterprises"][
        "tileUrl"]
    app.config["VECTOR_TILE_THRESHOLD"] = 1000
    specs = {s["id"]: s for s in admin.get("/api/v1/layers").get_json()["layers"]}
    assert "tileUrl" not in specs["enterprises"]


def test_figures_count_the_users_area(client, world):
    login(client, "city-leader")
    city = client.get("/api/v1/figures").get_json()["values"]
    client.post("/logout")
    login(client, "s1-leader")
    station = client.get("/api/v1/figures").get_json()["values"]
    assert (city["enterprises"], station["enterprises"]) == (2, 1)
    assert city["overdue"] == 1 and station["overdue"] == 0
    assert city["inspections"] == 1 and city["grades"] == {"B": 2}


def test_cell_card_shows_owner_station_and_enterprises(admin, session, world):
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id)
        SELECT :p, 'department', 'owner', id FROM cell WHERE code = 'S1-01'"""), {"p": world})
    html = admin.get("/cells/S1-01/card").get_data(as_text=True)
    assert "巡查员甲" in html and 'href="tel:13800000000"' in html and "enterprise E1" in html
    assert admin.get("/cells/NOPE/card").status_code == 404


def test_enterprise_list_behind_the_figures(admin):
    html = admin.get("/enterprises?overdue=true").get_data(as_text=True)
    assert "E2" in html and ">E1<" not in html
    html = admin.get("/enterprises?grade=B&q=E1").get_data(as_text=True)
    assert ">E1<" in html and ">E2<" not in html


def test_map_page_is_small_and_declares_every_layer(admin):
    page = admin.get("/map")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert len(page.data) < 200_000
    for layer_id in REGISTRY:
        assert f'"id": "{layer_id}"' in html


def test_a_date_before_the_first_boundaries_says_so(admin):
    page = admin.get("/map?at=2000-01-01").get_data(as_text=True)
    assert 'id="no-cells-then"' in page
    assert 'id="no-cells-then"' not in admin.get("/map").get_data(as_text=True)


def test_every_current_cell_of_every_kind_is_in_some_layer(admin, session):
    from tests.factories import add_cells

    import shapely

    # A professional grid over the whole city, cut in two cells: under the territorial grid,
    # drawn on layers of its own.
    add_cells(session, ("SP", 2, shapely.box(116.0, 38.4, 116.2, 38.5), "C"),
              ("SP-01", 3, shapely.box(116.0, 38.4, 116.1, 38.5), "SP"),
              ("SP-02", 3, shapely.box(116.1, 38.4, 116.2, 38.5), "SP"))
    session.execute(text("""
        UPDATE cell SET kind = 'professional', specialty = 'food'
        WHERE code IN ('SP', 'SP-01', 'SP-02')"""))
    current = set(session.execute(text(
        "SELECT c.code FROM cell_current cc JOIN cell c ON c.id = cc.id")).scalars())
    served = {f["properties"]["code"] for layer in REGISTRY.values()
              if layer.render == "polygons" and layer.id != "hotspots"
              for f in geojson(admin, layer.id)["features"]}
    assert served == current
    food = geojson(admin, "professional_food")["features"]
    assert {f["properties"]["code"] for f in food} == {"SP", "SP-01", "SP-02"}
    assert geojson(admin, "professional_metrology")["features"] == []
    # A professional cell opens its card like a territorial one.
    assert admin.get("/cells/SP-01/card").status_code == 200


def test_the_wall_says_its_place_and_explains_its_marks(admin):
    html = admin.get("/map?lang=zh_Hans_CN").get_data(as_text=True)
    assert 'id="wall-title"' in html and "cell C" in html
    assert "⚠3：网格内有 3 家企业逾期未巡查" in html
    assert "imperial: false" in html
    html = admin.get("/map?cell=S1&lang=zh_Hans_CN").get_data(as_text=True)
    assert '<span class="place" translate="no">cell S1</span>' in html


def test_cell_labels_are_names_with_the_overdue_mark(admin):
    labels = {f["properties"]["code"]: f["properties"]["label"]
              for f in geojson(admin, "cells")["features"]}
    assert labels["S2-01"] == "cell S2-01 ⚠1" and labels["S1-01"] == "cell S1-01"


def test_choropleth_of_a_rate_says_its_classes_are_percent(admin):
    assert geojson(admin, "cells", figure="overdue_rate")["classes"]["format"] == "percent"
    assert geojson(admin, "cells", figure="enterprises")["classes"]["format"] == "number"


def test_editor_links_only_where_the_policy_allows(client, world):
    login(client, "s1-manager")
    html = client.get("/map").get_data(as_text=True)
    assert 'href="/grid/S1/edit"' in html and "/grid/S2/edit" not in html
    assert 'href="/grid/S1/edit"' in client.get("/cells/S1-01/card").get_data(as_text=True)
    client.post("/logout")
    login(client, "s1-leader")
    assert "/grid/S1/edit" not in client.get("/map").get_data(as_text=True)
    assert "/grid/" not in client.get("/cells/S1-01/card").get_data(as_text=True)
