"""The API's contract: an OpenAPI 3.1 document built from the application itself, served at
``GET /api/v1/openapi.json`` and as a page at ``/api-docs``.

The paths and their parameters come from the URL map (so a route cannot be renamed without
the document following), the query and body fields from the very ``Field`` schemas the views
validate with (``gis.validation``), and only what the code cannot say is written here: one
``Op`` per JSON endpoint with its summary, where its input is, and what it answers.
tests/test_openapi.py fails when a JSON endpoint has no ``Op`` or an ``Op`` names no route, and
tests/test_api_fuzz.py (schemathesis) checks every answer against the document.

Every error of the JSON API has one shape, ``Error`` (app/errors.py builds it); Open311 keeps
the GeoReport v2 standard's own (a list of ``{code, description}``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Blueprint, Flask, current_app, jsonify, render_template
from flask_babel import gettext as _

from app.auth import login_required
from gis.validation import Field
# Summaries are marked for the catalogue: the page translates them, the document keeps them
# in English (a program reads it).
from layers import N_

bp = Blueprint("openapi", __name__)

JSON = "application/json"
GEOJSON = "application/geo+json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XML = "text/xml"

# Answers every operation may give besides its own: a refused field (400), no login (401),
# not allowed here (403), nothing there (404), too many requests (429).
COMMON_ERRORS = (400, 401, 403, 404, 429)


@dataclass(frozen=True)
class Op:
    """What the code cannot say about one endpoint (its view's ``endpoint`` name)."""
    summary: str
    tag: str
    # The query string's fields (a ``validate`` schema, or a callable returning one).
    query: Any = None
    # The body: JSON (``body``) or a multipart form (``form`` fields and ``files``).
    body: Any = None
    form: Any = None
    files: tuple = ()
    # Success: the status and its media types with their schemas.
    status: int = 200
    content: dict = field(default_factory=lambda: {JSON: {"type": "object"}})
    # Errors besides COMMON_ERRORS.
    errors: tuple = ()
    # Open311: errors in the standard's shape, JSON or XML as the path's format says.
    open311: bool = False
    # An answer the document describes for the API's clients, though the route also serves
    # pages (content negotiation): only the JSON answer is documented.
    negotiated: bool = False
    # Examples of parameters (path or query), as the demo city or tests/factories.py have
    # them: schemathesis' examples phase sends them, its coverage phase starts from them.
    examples: dict = field(default_factory=dict)


def _schemas() -> dict[str, Any]:
    """The views' own field schemas, imported when the document is built (not at import time,
    so this module has no cycle with the views)."""
    from app import (api, assessment, cases, draws, gaps, inspections_read, lookup, mapwall,
                     people, quality_warnings, rebalance, rectifications, redraw, redraw_level2,
                     testing, urgent)
    from app import open311 as o311

    def only(keys, *, required: bool | None = None) -> dict:
        return {k: Field(required=False) if required is False else Field() for k in keys}

    return {
        "api": api, "assessment": assessment, "cases": cases, "draws": draws, "gaps": gaps,
        "inspections_read": inspections_read, "lookup": lookup, "mapwall": mapwall,
        "rebalance": rebalance,
        "people": people, "quality_warnings": quality_warnings,
        "rectifications": rectifications, "redraw": redraw, "level2": redraw_level2,
        "testing": testing, "urgent": urgent, "open311": o311, "only": only,
    }


FEATURES = {"type": "object", "required": ["type", "features"],
            "properties": {"type": {"const": "FeatureCollection"},
                           "features": {"type": "array", "items": {"type": "object"}}}}
LIST = {"type": "array", "items": {"type": "object"}}
OPEN311_ERRORS = {"type": "array", "items": {
    "type": "object", "required": ["code", "description"],
    "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}


def operations() -> dict[str, Op]:
    """One ``Op`` per JSON endpoint, keyed by the view's endpoint name."""
    s = _schemas()
    api, asm, cases, urg, ppl = s["api"], s["assessment"], s["cases"], s["urgent"], s["people"]
    rect, rd, l2 = s["rectifications"], s["redraw"], s["level2"]
    point = {"lon": Field(kind="float"), "lat": Field(kind="float")}
    at = s["lookup"].AT_ARGS
    empty: dict = {}
    xlsx_or_json = {JSON: {"type": "object"}, XLSX: {"type": "string", "format": "binary"}}
    photo = {t: {"type": "string", "format": "binary"}
             for t in ("image/jpeg", "image/png", "image/webp")}
    o311 = s["open311"]
    o311_get = {k: Field(required=False, max_length=200) for k in sorted(o311.GET_FIELDS)}
    o311_post = {k: Field(required=False, max_length=4000) for k in sorted(
        o311.POST_FIELDS - {"csrf_token"})}
    return {
        # The document itself and the health check.
        "openapi.document_json": Op(N_("This document"), "api", query=empty),
        "main.health": Op(N_("Health check: the server answers"), "api", query=empty),
        # The account.
        "api.me": Op(N_("The signed-in user, their roles and places"), "account", query=empty),
        # Enterprises and the lookup.
        "api.search_enterprises": Op(N_("Search enterprises by name or code"), "enterprises",
                                     query=api.SEARCH, examples={"q": "enterprise"}),
        "lookup.api_lookup": Op(N_("Whose cell is this spot, at a date: cell, grid, station, "
                                "owner"), "lookup", query=s["lookup"].LOOKUP_ARGS,
                                examples={"lon": "116.02", "lat": "38.45"}),
        "lookup.api_enterprise_responsible": Op(N_("Who answers for an enterprise, at a date"),
                                                "lookup", query=at,
                                                examples={"code": "E1"}),
        "inspections_read.enterprise_inspections": Op(
            N_("An enterprise's inspections"), "inspections", query=s["inspections_read"].PAGE,
            examples={"code": "E1"}),
        "inspections_read.cell_inspections": Op(
            N_("A cell's inspections (and those of the cells inside it)"), "inspections",
            query=s["inspections_read"].PAGE, examples={"code": "S1-01"}),
        # Field work.
        "api_work.work_data": Op(N_("The phone's field-work data: enterprises, checklist, cells"),
                                 "inspections", query=empty),
        "api.create_inspection": Op(N_("Record an inspection (idempotent by client_id)"),
                                    "inspections", body=api.INSPECTION, status=201,
                                    errors=(409,)),
        "photos.add_to_inspection": Op(N_("Attach photos to an inspection"), "inspections",
                                       form=empty, files=("file",), status=201,
                                       errors=(413, 415)),
        "photos.add_to_rectification": Op(N_("Attach photos to a rectification"),
                                          "rectifications", form=empty, files=("file",),
                                          status=201, errors=(413, 415)),
        "photos.show": Op(N_("A photo's bytes"), "inspections", query=empty, content=photo),
        "rectifications_api.list_api": Op(N_("Rectifications of the user's area"), "rectifications",
                                          query=rect.LIST),
        "rectifications_api.show_api": Op(N_("One rectification with its steps"), "rectifications",
                                          query=empty),
        "rectifications_api.rectify_api": Op(N_("Record the correction"), "rectifications",
                                             body=rect.RECTIFY, errors=(409,)),
        "rectifications_api.verify_api": Op(N_("Verify the correction (accept or send back)"),
                                            "rectifications", body=rect.VERIFY, errors=(409,)),
        # Complaints and Open311.
        "api.update_complaint": Op(N_("Move a complaint on one step"), "complaints",
                                   body=api.COMPLAINT, errors=(409,),
                                   examples={"number": "K1"}),
        "open311.service_list": Op(N_("Open311: the matters (services)"), "open311",
                                   query=o311_get, content={JSON: LIST, XML: {}},
                                   open311=True),
        "open311.service_definition": Op(N_("Open311: a matter's attributes"), "open311",
                                         query=o311_get, content={JSON: {"type": "object"},
                                                                  XML: {}}, open311=True),
        "open311.request_list": Op(N_("Open311: complaints (at most 90 days)"), "open311",
                                   query=o311_get, content={JSON: LIST, XML: {}},
                                   open311=True),
        "open311.request_one": Op(N_("Open311: one complaint"), "open311", query=o311_get,
                                  examples={"rid": "K1", "fmt": "json"},
                                  content={JSON: LIST, XML: {}}, open311=True),
        "open311.create_request": Op(N_("Open311: take a complaint in"), "open311",
                                     form=o311_post, content={JSON: LIST, XML: {}},
                                     open311=True),
        # Owners, people, reference data.
        "api.set_owner": Op(N_("Set a cell's owner from a date"), "people", body=api.OWNER,
                            examples={"code": "S1-02"}),
        "people_api.api_people": Op(N_("Search the roster"), "people", query=ppl.SEARCH),
        "people_api.api_create_person": Op(N_("Add a person to the roster"), "people",
                                           body=ppl.PERSON, status=201),
        "people_api.api_person": Op(N_("A person and what they answer for"), "people",
                                    query=empty, examples={"code": "RY1"}),
        "people_api.api_update_person": Op(N_("Edit a person"), "people",
                                           body={k: Field(kind=f.kind, required=False,
                                                          max_length=f.max_length)
                                                 for k, f in ppl.PERSON.items()}),
        "people_api.api_assign": Op(N_("Make a person answer for a cell, township or enterprise"),
                                    "people", body=ppl.ASSIGN, status=201),
        "people_api.api_handover": Op(N_("Hand everything a person answers for to another"),
                                      "people", body=ppl.HANDOVER, status=201),
        "people_api.api_gaps": Op(N_("Gaps in the roster"), "people", query=empty),
        "api.put_grade_intervals": Op(N_("Inspection intervals of the grades (days)"), "reference",
                                      body=api.INTERVALS),
        "api.post_checklist_item": Op(N_("Add a checklist item"), "reference",
                                      body=api.CHECKLIST_ITEM, status=201, errors=(409,)),
        "assessment.put_rule": Op(N_("An assessment rule's weight and target"), "reference",
                                  body=asm.RULE),
        "assessment.put_warning_rule": Op(N_("A quality warning's threshold"), "reference",
                                          body=asm.WARNING_RULE),
        "api.import_enterprises": Op(N_("Import enterprises from CSV or XLSX"), "enterprises",
                                     form={"crs": Field(required=False, max_length=20),
                                           "skip_invalid": Field(kind="bool", required=False),
                                           "valid_from": Field(kind="datetime",
                                                               required=False)},
                                     files=("file",), errors=(413, 415),
                                     content={JSON: {"type": "object"}}),
        # The map.
        "mapwall.layer_list": Op(N_("The map's layers"), "map", query=empty),
        "mapwall.layer_geojson": Op(N_("A layer's features"), "map", query=s["mapwall"].FILTERS,
                                    examples={"layer_id": "cells"},
                                    content={GEOJSON: FEATURES, JSON: FEATURES}),
        "mapwall.cells_geojson": Op(N_("The cells (as at a date)"), "map",
                                    query=s["mapwall"].FILTERS,
                                    content={GEOJSON: FEATURES, JSON: FEATURES}),
        "mapwall.enterprises_geojson": Op(N_("The enterprises"), "map",
                                          query=s["mapwall"].FILTERS,
                                          content={GEOJSON: FEATURES, JSON: FEATURES}),
        "mapwall.figures_json": Op(N_("The overview's figures"), "map",
                                   query=s["mapwall"].FILTERS),
        "mapwall.layer_tile": Op(N_("A layer's vector tile"), "map", query=s["mapwall"].FILTERS,
                                 content={"application/x-protobuf": {
                                     "type": "string", "format": "binary"}}),
        # The grid editor.
        "redraw.grid_cells": Op(N_("A grid's cells, to edit"), "grid", query=empty,
                                examples={"code": "S1"},
                                content={GEOJSON: FEATURES}),
        "redraw.grid_enterprises": Op(N_("A grid's enterprises, to edit"), "grid", query=empty,
                                      examples={"code": "S1"},
                                      content={GEOJSON: FEATURES}),
        "redraw.grid_villages": Op(N_("A grid's villages, to edit"), "grid", query=empty,
                                   content={GEOJSON: FEATURES}),
        "redraw.redraw_level2.layer": Op(N_("A city's second-level grids, townships or villages, "
                                         "to edit"), "grid", query=empty,
                                         content={GEOJSON: FEATURES}),
        "redraw.preview": Op(N_("Check a change of boundaries without writing it"), "grid",
                             body=rd.PROPOSAL | l2.PROPOSAL, errors=(409,)),
        "redraw.upload_boundaries": Op(N_("Read boundaries from a file, to preview"), "grid",
                                       form=rd.UPLOAD, files=("file",), errors=(413, 415)),
        "redraw.commit": Op(N_("Commit a change of boundaries"), "grid",
                            body=rd.COMMIT | l2.COMMIT, status=201, errors=(409,)),
        "redraw.revert": Op(N_("Revert a change of boundaries"), "grid", body=rd.REVERT,
                            status=201, errors=(409,)),
        "redraw.rebalance.suggest": Op(N_("Suggest the fewest village moves that balance the "
                                       "cells' workload"), "grid",
                                       body=s["rebalance"].SUGGEST),
        "redraw.history": Op(N_("A cell's boundary and owner history (Accept: application/json)"),
                             "grid", query=empty, negotiated=True),
        "redraw.change": Op(N_("One change of boundaries (Accept: application/json)"), "grid",
                            query=empty, negotiated=True),
        # Double-random draws.
        "draws_api.create": Op(N_("Draw enterprises and inspectors (双随机)"), "draws",
                               body=s["draws"].DRAW, status=201),
        "draws_api.show": Op(N_("A draw"), "draws", query=empty),
        "draws_api.verify": Op(N_("Redo a draw from its seed and compare"), "draws", query=empty),
        # Testing and cases.
        "testing_api.api_batch": Op(N_("Record one sampled batch"), "testing",
                                    body=s["testing"].BATCH, status=201),
        "testing_api.api_import": Op(N_("Import the laboratory's results"), "testing", form=empty,
                                     files=("file",), errors=(413, 415)),
        "cases_api.api_open": Op(N_("Open an enforcement case"), "cases", body=cases.NEW_CASE,
                                 status=201, errors=(409,)),
        "cases_api.api_case": Op(N_("An enforcement case"), "cases", query=empty),
        "cases_api.api_status": Op(N_("Move a case on one step"), "cases", body=cases.STEP,
                                   errors=(409,)),
        # Urgent events.
        "urgent_api.api_raise": Op(N_("Raise an urgent event and alert who answers for the spot"),
                                   "urgent", body=urg.RAISE | point, status=201),
        "urgent_api.api_list": Op(N_("Urgent events"), "urgent", query=urg.LIST),
        "urgent_api.api_event": Op(N_("An urgent event"), "urgent", query=empty),
        "urgent_api.api_acknowledge": Op(N_("Acknowledge an urgent event"), "urgent",
                                         errors=(409,)),
        "urgent_api.api_on_site": Op(N_("Arrived on site (with the device's location)"), "urgent",
                                     body=urg.ON_SITE | {k: Field(kind="float", required=False)
                                                         for k in point}, errors=(409,)),
        "urgent_api.api_close": Op(N_("Close an urgent event"), "urgent", body=urg.CLOSE,
                                   errors=(409,)),
        # Reports, assessment, warnings, jobs.
        "gaps.gaps_api": Op(N_("The gap report (问责依据)"), "reports", query=s["gaps"].ARGS,
                            examples={"from": "2026-01-01", "to": "2026-03-01"},
                            content={JSON: {"type": "object"}, XLSX: {"type": "string",
                                                                      "format": "binary"},
                                     "text/csv": {"type": "string"}}, errors=(202,)),
        "gaps.prepare_api": Op(N_("Prepare the gap report in the background"), "reports",
                               body={k: v for k, v in s["gaps"].ARGS.items() if k != "format"},
                               status=202),
        "assessment.assessment_api": Op(N_("The assessment (考核) of a level for a period"),
                                        "reports", query=asm.ARGS | {"level": Field(
                                            required=False, max_length=40)},
                                        content=xlsx_or_json),
        "assessment.letters_api": Op(N_("Responsibility letters"), "reports",
                                     query=asm.LETTER_FILTER),
        "assessment.letter_api": Op(N_("A responsibility letter"), "reports", query=empty),
        "assessment.create_letter_api": Op(N_("Record a responsibility letter"), "reports",
                                           body=asm.LETTER, status=201, errors=(413, 415)),
        "quality_warnings.warnings_api": Op(N_("Quality warnings of the user's area"), "reports",
                                            query=s["quality_warnings"].ARGS),
        "jobs.show": Op(N_("A background job"), "jobs", query=empty),
        "statistics.job_status": Op(N_("A statistics export being prepared"), "jobs",
                                    query=empty),
    }


# --- building the document ---------------------------------------------------------------

ERROR = {
    "type": "object", "required": ["error"], "additionalProperties": True,
    "properties": {"error": {
        "type": "object", "required": ["status", "code", "message"],
        "additionalProperties": True,
        "properties": {
            "status": {"type": "integer", "description": "The HTTP status, again."},
            "code": {"type": "string", "description": "What is wrong, for programs: "
                     "the field's problem (required, max_length, choices…) or the status's "
                     "name (not_found, forbidden…)."},
            "message": {"type": "string", "description": "What is wrong, in the request's "
                        "language, naming the field as people call it."},
            "field": {"type": "string", "description": "The field at fault, as the request "
                      "names it (a query or body field, `body`, `file`)."},
            "current": {"type": "string", "description": "409: the record's current status."},
            "next": {"type": "array", "items": {"type": "string"},
                     "description": "409: the statuses it may move to."},
            "nearest_cell": {"type": ["object", "null"],
                             "description": "Lookup 404: the nearest cell."},
        }}},
}

_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def field_schema(spec: Field, *, in_query: bool = False) -> dict:
    """A ``gis.validation.Field`` as JSON Schema (what ``validate`` accepts, strictly typed)."""
    kind = spec.kind
    if kind == "str":
        out: dict = {"type": "string"}
        if spec.max_length is not None:
            out["maxLength"] = spec.max_length
        if spec.min_length:
            out["minLength"] = spec.min_length
        if spec.pattern:
            out["pattern"] = f"^(?:{spec.pattern})$"
    elif kind in ("int", "float"):
        out = {"type": "integer" if kind == "int" else "number"}
        if spec.min is not None:
            out["minimum"] = spec.min if kind == "float" else int(spec.min)
        if spec.max is not None:
            out["maximum"] = spec.max if kind == "float" else int(spec.max)
    elif kind == "bool":
        out = {"type": "boolean"}
    elif kind == "date":
        out = {"type": "string", "format": "date"}
    elif kind == "datetime":
        out = {"type": "string", "format": "date-time"}
    elif kind == "dict":
        out = {"type": "object"}
        if spec.max_length is not None:
            out["maxProperties"] = spec.max_length
    elif kind == "list":
        out = {"type": "array"}
        if spec.max_length is not None:
            out["maxItems"] = spec.max_length
    else:  # pragma: no cover - a programming error
        raise ValueError(kind)
    if spec.choices is not None:
        out["enum"] = [c for c in spec.choices]
    return out


def object_schema(fields: dict[str, Field]) -> dict:
    required = sorted(k for k, f in fields.items() if f.required)
    out: dict = {"type": "object", "additionalProperties": False,
                 "properties": {k: field_schema(f) for k, f in fields.items()}}
    if required:
        out["required"] = required
    return out


def openapi_path(rule: str) -> tuple[str, list[dict]]:
    """A werkzeug rule as an OpenAPI path and its path parameters."""
    params = []

    def sub(m: re.Match) -> str:
        conv, args, name = m["conv"] or "default", m["args"], m["name"]
        if conv == "int":
            schema: dict = {"type": "integer", "minimum": 0}
        elif conv == "any":
            schema = {"type": "string",
                      "enum": [a.strip().strip("'\"") for a in args.split(",")]}
        elif conv == "path":
            schema = {"type": "string", "minLength": 1}
        else:
            schema = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _CONVERTER.sub(sub, rule), params


def _query_params(fields: dict[str, Field]) -> list[dict]:
    return [{"name": k, "in": "query", "required": f.required,
             "schema": field_schema(f, in_query=True)} for k, f in fields.items()]


# Where a bearer token is accepted (app.auth.TOKEN_PATHS) and errors are always JSON.
API_PATHS = ("/api/", "/open311/", "/tiles/")


def _error_content(op: Op, path: str) -> dict:
    if op.open311:
        return {JSON: {"schema": OPEN311_ERRORS}, XML: {"schema": {}}}
    content = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
    if not path.startswith(API_PATHS):
        # A page's address: its errors are pages unless the client asks for JSON.
        content["text/html"] = {"schema": {}}
    return content


STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted: prepared in the background",
               400: "A field is refused (the error names it)", 401: "Not logged in",
               403: "Not allowed here", 404: "Not found", 409: "Refused in the record's "
               "current state", 413: "Too large", 415: "Unsupported file type",
               429: "Too many requests"}


def operation(rule, op: Op, method: str) -> dict:
    path, params = openapi_path(rule.rule)
    out: dict = {"operationId": rule.endpoint.replace(".", "_") + (
        "" if method == "get" else "_" + method), "summary": op.summary, "tags": [op.tag]}
    if not path.startswith(API_PATHS):
        out["security"] = [{"session": []}, {}]  # tokens are for the API's paths only
    query = op.query() if callable(op.query) else op.query
    params = params + _query_params(query or {})
    for param in params:
        if param["name"] in op.examples:
            param["example"] = op.examples[param["name"]]
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {
            JSON: {"schema": object_schema(op.body)}}}
    elif op.form is not None:
        schema = object_schema(op.form)
        for name in op.files:
            schema["properties"][name] = {"type": "string", "format": "binary"}
            schema.setdefault("required", []).append(name)
        media = "multipart/form-data" if op.files else "application/x-www-form-urlencoded"
        out["requestBody"] = {"required": bool(op.files), "content": {
            media: {"schema": schema}}}
    responses = {str(op.status): {
        "description": STATUS_TEXT.get(op.status, "OK"),
        "content": {media: {"schema": schema} for media, schema in op.content.items()}}}
    for status in sorted(set(COMMON_ERRORS) | set(op.errors)):
        if str(status) in responses:
            continue
        if status < 400:
            responses[str(status)] = {"description": STATUS_TEXT[status], "content": {
                JSON: {"schema": {"type": "object"}}}}
            continue
        responses[str(status)] = {"description": STATUS_TEXT[status],
                                  "content": _error_content(op, path)}
    out["responses"] = responses
    return out


def document(app: Flask) -> dict:
    """The OpenAPI document of ``app``'s JSON endpoints."""
    ops = operations()
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = ops.get(rule.endpoint)
        if op is None:
            continue
        path, _params = openapi_path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = operation(rule, op, method.lower())
    return {
        "openapi": "3.1.0",
        "info": {"title": "GridWatch API", "version": "1",
                 "description": "The JSON API of GridWatch (网格通). Authenticate with a "
                 "session cookie or `Authorization: Bearer <token>` (`users token`). Every "
                 "error is `{\"error\": {\"status\", \"code\", \"message\", \"field\"}}`; "
                 "Open311 answers errors as the GeoReport v2 standard says."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API token (`users token`, the account page)."},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"}}},
    }


def json_endpoints(app: Flask) -> set[str]:
    """The endpoints that answer JSON: everything under /api/ and /open311/, and the routes
    whose view builds JSON itself (``jsonify``, ``application/json``, ``….json``)."""
    import inspect

    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view: Callable = app.view_functions[rule.endpoint]
        source = inspect.getsource(inspect.unwrap(view))
        if (rule.rule.startswith(("/api/", "/open311/")) or rule.rule.endswith(".json")
                or "jsonify" in source or "application/json" in source):
            found.add(rule.endpoint)
    return found


@bp.get("/api/v1/openapi.json")
@login_required
def document_json():
    cached = current_app.extensions.get("gridwatch.openapi")
    if cached is None:
        cached = current_app.extensions["gridwatch.openapi"] = document(current_app)
    return jsonify(cached)


@bp.get("/api-docs")
@login_required
def page():
    doc = current_app.extensions.get("gridwatch.openapi") or document(current_app)
    rows = [{"method": method.upper(), "path": path, "op": o}
            for path, methods in doc["paths"].items() for method, o in methods.items()]
    return render_template("openapi/page.html", rows=rows, doc=doc,
                           title=_("API reference"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
