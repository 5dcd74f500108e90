"""The OpenAPI document (app/openapi.py) cannot drift from the code: every JSON endpoint of the
URL map is in it, it names no route that does not exist, and every error of the API has the
one documented shape."""
from __future__ import annotations

import datetime as dt

import pytest

from app.openapi import document, json_endpoints, openapi_path, operations
from gis.users import create_token
from tests.factories import login, small_world

UTC = dt.timezone.utc


@pytest.fixture
def admin(client, session):
    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=UTC))
    login(client, "admin")
    return client


def test_every_json_endpoint_is_in_the_document(app):
    documented = set(operations())
    missing = json_endpoints(app) - documented
    assert not missing, f"JSON endpoints missing from app/openapi.py: {sorted(missing)}"


def test_the_document_names_no_route_that_does_not_exist(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert not set(operations()) - endpoints
    doc = document(app)
    rules = {(openapi_path(r.rule)[0], m.lower()) for r in app.url_map.iter_rules()
             for m in r.methods - {"HEAD", "OPTIONS"}}
    named = {(path, method) for path, methods in doc["paths"].items() for method in methods}
    assert named <= rules
    # Each endpoint with each of its methods.
    assert len(named) == sum(len(r.methods - {"HEAD", "OPTIONS"})
                             for r in app.url_map.iter_rules() if r.endpoint in operations())


def test_the_document_is_valid_openapi(app):
    import schemathesis

    schema = schemathesis.openapi.from_dict(document(app))
    assert len(list(schema.get_all_operations())) == sum(
        len(methods) for methods in document(app)["paths"].values())
    for result in schema.get_all_operations():
        result.ok()  # raises on an operation schemathesis cannot read


def test_the_document_and_its_page_are_served(admin):
    doc = admin.get("/api/v1/openapi.json")
    assert doc.status_code == 200 and doc.get_json()["openapi"].startswith("3.")
    assert "/api/v1/lookup" in doc.get_json()["paths"]
    page = admin.get("/api-docs")
    assert page.status_code == 200 and "/api/v1/lookup" in page.get_data(as_text=True)
    assert "http://" not in page.get_data(as_text=True).replace(
        "http://localhost", "")  # nothing loads from outside the server


def test_the_document_needs_a_login(client):
    assert client.get("/api/v1/openapi.json").status_code == 401


def test_errors_have_one_shape(client, session):
    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=UTC))
    token = create_token(session, "c1-inspector", "phone")[1]
    headers = {"Authorization": f"Bearer {token}"}
    refused = client.get("/api/v1/enterprises?limit=9", headers=headers)
    assert refused.status_code == 400
    assert refused.get_json()["error"] | {"message": ""} == {
        "status": 400, "code": "required", "field": "q", "message": ""}
    absent = client.get("/api/v1/cases/NOPE", headers=headers)
    assert absent.status_code == 404 and absent.get_json()["error"]["code"] == "not_found"
    anonymous = client.get("/api/v1/me")
    assert anonymous.get_json()["error"]["code"] == "unauthorized"
    forbidden = client.put("/api/v1/reference/grade-intervals", json={"A": 5}, headers=headers)
    assert forbidden.status_code == 403 and forbidden.get_json()["error"]["code"] == "forbidden"
    # Open311 keeps the GeoReport v2 shape.
    o311 = client.get("/open311/v2/services/nope.json", headers=headers)
    assert o311.status_code == 404 and set(o311.get_json()[0]) == {"code", "description"}
