"""Grid managers redraw cells: the editor page, live preview (validation + effect), commit,
revert, and a cell's history. The job itself is gis.redraw's (the CLI's ``grid redraw`` runs
the same); permission: ``edit_grid`` inside the grid, asked once per request."""
from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import shapely
from flask import (Blueprint, Response, abort, current_app, jsonify, render_template, request,
                   url_for)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text

from app import rebalance as rebalance_view
from app import redraw_level2 as city_editor
from app.auth import authorize, authorize_dated, login_required, record, zone
from app.db import get_session
from app.errors import error_json, not_found
from app.mappage import build_map, layer_query, map_parts
from gis import dates, outline, policy, redraw, users
from gis.history import cell_history, change_record, grid_changes
from gis.files import BoundaryFileError
from gis.geojson import feature_collection_sql
from gis.validation import Field, ValidationError, validate
from layers.palette import GRADE_COLORS

bp = Blueprint("redraw", __name__)
# The city's editor (the stations' grids) shares the addresses of this blueprint's editor.
bp.register_blueprint(city_editor.bp)
# "Suggest balance" (app/rebalance.py) answers at an address of the editor's.
bp.register_blueprint(rebalance_view.bp)

PROPOSAL = {
    "moves": Field(kind="dict", required=False, max_length=2000),
    "geometries": Field(kind="dict", required=False, max_length=200),
    # Outlines reshaped in the editor: the neighbours follow them (gis/outline.py).
    "outlines": Field(kind="dict", required=False, max_length=200),
    "new_cells": Field(kind="dict", required=False, max_length=50),
    "retire": Field(kind="list", required=False, max_length=50),
    "expected_versions": Field(kind="dict", required=False, max_length=500),
}
COMMIT = {**PROPOSAL,
          "comment": Field(max_length=1000, min_length=1),
          "valid_from": Field(kind="datetime", required=False),
          # Why a change reaches further into the past than the grace window (admins only).
          "backdate_reason": Field(required=False, max_length=1000),
          "confirm_warnings": Field(kind="bool", required=False, default=False)}
REVERT = {"comment": Field(max_length=1000, min_length=1)}


def _cell_path(code: str) -> tuple[int, ...]:
    path = users.cell_path(get_session(), code=code)
    if not path:
        not_found("cell", code)
    return tuple(path)


def _grid_path(code: str) -> tuple[int, ...]:
    """The path of a grid that has an editor: a province's cities are imported, not drawn
    (docs/province.md), so the province (level 0) has none."""
    path = _cell_path(code)
    if get_session().execute(text("SELECT level FROM cell WHERE code = :c"),
                             {"c": code}).scalar() == 0:
        not_found("cell", code)
    return path


def _authorize_grid(code: str, action: str = "open_editor") -> None:
    """Editing happens strictly inside the grid: a manager of ``code`` (or above) may; the
    page and previews are also open to admins, who may commit only dated corrections."""
    authorize(action, _grid_path(code), inside=True)


def finding_text(f: redraw.Finding) -> str:
    """A finding in the user's language; GEOS's own reason stays as GEOS says it."""
    area = f"{f.area_m2:,.1f}" if f.area_m2 is not None else ""
    texts = {
        "invalid": lambda: _("invalid geometry: %(reason)s", reason=f.message),
        "outside_parent": lambda: _("extends outside its parent grid: %(area)s m²", area=area),
        "overlap": lambda: _("cells overlap: %(area)s m²", area=area),
        "gap": lambda: _("part of the grid belongs to no cell: %(area)s m²", area=area),
        "multipart": lambda: _("the cell is in several separate pieces"),
        "uncovered": lambda: _("enterprise %(code)s would be in no cell", code=f.enterprise),
        "no_owner": lambda: _("new cell has no owner of its own: it falls to the grid's owner"),
        "code_taken": lambda: _("this code exists or existed; codes are never reused"),
        "no_boundary": lambda: _("a new cell needs a boundary"),
    }
    return str(texts[f.kind]()) if f.kind in texts else f.message


def _report(report: redraw.Report) -> dict:
    out = report.as_dict()
    for key in ("errors", "warnings"):
        for item, finding in zip(out[key], getattr(report, key)):
            item["message"] = finding_text(finding)
    return out


def _tolerance() -> float:
    return float(current_app.config["GRID_SLIVER_TOLERANCE_M2"])


@bp.get("/grid/<code>/edit")
@login_required
def editor(code: str):
    if city_editor.is_city(code):  # the stations' grids under the city: app/redraw_level2.py
        return city_editor.editor(code)
    _authorize_grid(code)
    args = validate(request.args, {})
    children = redraw.current_children(get_session(), code)
    # The grid outline is context only: clicks must reach the villages and cells below it.
    # SVG, not canvas: a few hundred village polygons, each a click target for selection.
    m = build_map(layer_query(args), args, layer_ids=("grids",), refresh=False,
                  interactive=False, prefer_canvas=False)
    db = get_session()
    grid = db.execute(text("SELECT name FROM cell_current WHERE code = :c"),
                      {"c": code}).scalar()
    return render_template("grid/edit.html", code=code, grid_name=grid, **map_parts(m),
                           cells=[{"code": c, "name": v["name"], "version": v["version_id"]}
                                  for c, v in children.items()],
                           changes=grid_changes(db, code, limit=5),
                           zone_label=_zone_label(), grade_colors=GRADE_COLORS,
                           snap_width=f"{2 * outline.SNAP_TOLERANCE_M:g}")


def _zone_label() -> str:
    """The bureau's zone as people read it: "Asia/Shanghai, UTC+08:00" (from the setting)."""
    now = dates.local(dt.datetime.now(dt.timezone.utc), zone())
    offset = now.strftime("%z")
    return f"{zone()}, UTC{offset[:3]}:{offset[3:]}"


def _geojson(rows_sql: str, code: str) -> Response:
    """A FeatureCollection serialised by PostGIS from ``rows_sql``, which selects ``geom``,
    ``props`` (json) and ``sort`` for the grid ``:p``."""
    body = get_session().execute(text(feature_collection_sql(rows_sql, precision=7)),
                                 {"p": code}).scalar()
    return Response(body, mimetype="application/geo+json")


@bp.get("/api/v1/grid/<code>/cells.geojson")
@login_required
def grid_cells(code: str):
    _authorize_grid(code)
    return _geojson("""
        SELECT c.geom, c.code AS sort,
               json_build_object('code', c.code, 'name', c.name, 'version', c.version_id) AS props
        FROM cell_current c JOIN cell p ON p.id = c.parent_id
        WHERE p.code = :p AND c.retired_at IS NULL""", code)


@bp.get("/api/v1/grid/<code>/enterprises.geojson")
@login_required
def grid_enterprises(code: str):
    _authorize_grid(code)
    # Each enterprise inside the grid with its grade, its cell now, and its village (a click on
    # an enterprise selects the village it is in).
    return _geojson("""
        SELECT e.geom, e.management_code AS sort,
               json_build_object('code', e.management_code, 'name', e.name, 'grade', e.grade,
                                 'cell', c.code, 'village', v.code) AS props
        FROM cell_current p
        JOIN enterprise e ON ST_Covers(p.geom, e.geom)
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        LEFT JOIN cell c ON c.id = ec.cell_id
        LEFT JOIN LATERAL (
            SELECT v.code FROM village v WHERE ST_Covers(v.geom, e.geom)
            ORDER BY v.code LIMIT 1) v ON true
        WHERE p.code = :p""", code)


@bp.get("/api/v1/grid/<code>/villages.geojson")
@login_required
def grid_villages(code: str):
    _authorize_grid(code)
    # Each village with the cell that holds it now (by a point inside it).
    return _geojson("""
        SELECT v.geom, v.code AS sort,
               json_build_object('code', v.code, 'name', v.name, 'cell', k.code) AS props
        FROM village v
        JOIN LATERAL (
            SELECT c.code FROM cell_current c JOIN cell p ON p.id = c.parent_id
            WHERE p.code = :p AND c.retired_at IS NULL
              AND ST_Covers(c.geom, ST_PointOnSurface(v.geom))
            ORDER BY c.code LIMIT 1) k ON true""", code)


@bp.post("/api/v1/grid/<code>/preview")
@login_required
def preview(code: str):
    if city_editor.is_city(code):
        return city_editor.preview(code)
    _authorize_grid(code)
    body = validate(request.get_json(silent=True), PROPOSAL)
    db = get_session()
    limits = current_app.extensions["gridwatch_limits"]
    # Snapping, validation and effect are PostGIS work proportional to the vertices sent:
    # bounded in time, and in number per user, so one person cannot stall everyone's lookups.
    if not redraw.claim_preview_slot(db, current_user.id, limits.preview_concurrency_per_user):
        db.rollback()
        abort(429, description=_("Your other previews are still running; try again when they "
                                 "have finished."))
    try:
        with redraw.statement_timeout(db, limits.preview_statement_timeout_ms):
            proposal = redraw.proposal_from_json(db, code, body, limits)
            job = redraw.Redraw(db, proposal, _tolerance())
            report = job.check()
            effect = job.effect(dates.today(zone()))
            area = outline.changed_area(db, proposal)
    except redraw.TooSlow:
        db.rollback()
        raise ValidationError("geometries", "too large to check within the time allowed; "
                              "change fewer cells at once", "preview_timeout") from None
    db.rollback()  # a preview writes nothing
    return jsonify(validation=_report(report), effect=json.loads(json.dumps(effect,
                                                                             default=str)),
                   geometries={c: json.loads(shapely.to_geojson(g))
                               for c, g in proposal.geometries.items()},
                   changed_area=json.loads(shapely.to_geojson(area)) if area else None,
                   expected_versions=proposal.expected_versions)


def file_problem_text(exc: BoundaryFileError, example: str) -> str:
    """What is wrong with a boundary file, in the user's language (``example``: a cell code
    of the grid, to show what a code looks like)."""
    p = exc.params
    kinds = {"CSV": "CSV", "Excel": "Excel", "text": _("text"), "spreadsheet": _("spreadsheet")}
    choose = _("Choose the cells' boundaries as GeoJSON (.geojson), a zipped Shapefile (.zip) "
               "or a GeoPackage (.gpkg).")
    texts = {
        "table_file": lambda: _("%(name)s is a %(kind)s table, not a boundary file.",
                                name=p["name"], kind=kinds.get(p["kind"], p["kind"]))
        + " " + choose,
        "file_type": lambda: _("%(name)s: a %(suffix)s file cannot hold cell boundaries.",
                               name=p["name"], suffix=p["suffix"]) + " " + choose,
        "not_zip": lambda: _("%(name)s is not a zip archive.", name=p["name"]) + " " + choose,
        "not_gpkg": lambda: _("%(name)s is not a GeoPackage.", name=p["name"]) + " " + choose,
        "not_json": lambda: _("%(name)s is not valid JSON (line %(line)s, column %(column)s).",
                              name=p["name"], line=p["line"], column=p["column"]),
        "not_geojson": lambda: _(
            "%(name)s is JSON but not GeoJSON features (its type is %(found)s): each cell must "
            "be a Feature with its code among its properties.", name=p["name"],
            found=p["found"]),
        "unreadable": lambda: _("%(name)s cannot be read: %(reason)s", name=p["name"],
                                reason=p["reason"]),
        "no_features": lambda: _("%(name)s holds no features.", name=p["name"]),
        "no_code_field": lambda: _(
            "The features have no “%(field)s” property, which must hold each cell's code "
            "(such as %(example)s). Their properties are: %(fields)s.", field=p["property"],
            example=example, fields=p["fields"]),
        "missing_codes": lambda: _(
            "Features %(features)s (of %(total)s) have no “%(field)s” property: each feature "
            "needs the code of its cell (such as %(example)s).", features=p["features"],
            total=p["total"], field=p["property"], example=example),
        "duplicate_codes": lambda: _("Cells given more than once: %(codes)s.",
                                     codes=p["codes"]),
        "not_polygons": lambda: _(
            "Features %(features)s are not polygons (%(kinds)s): a cell's boundary is a "
            "polygon.", features=p["features"], kinds=p["kinds"]),
        "swapped": lambda: (_(
            "The coordinates are outside %(area)s, but inside it with longitude and latitude "
            "swapped: the file has them as (latitude, longitude).", area=p["area"])
            if p["count"] == p["total"] else _(
            "Features %(features)s are outside %(area)s, but inside it with longitude and "
            "latitude swapped: the file has them as (latitude, longitude).",
            features=p["features"], area=p["area"])) + " " + _(
            "GeoJSON and Shapefiles need (longitude, latitude): export the file again in that "
            "order."),
        "outside_area": lambda: _(
            "Features %(features)s lie outside %(area)s (%(bounds)s): another place, or "
            "another coordinate system?", features=p["features"], area=p["area"],
            bounds=p["bounds"]),
        "not_in_grid": lambda: _("%(codes)s: not cells of grid %(grid)s.", codes=p["codes"],
                                 grid=p["grid"]),
        "gcj02": lambda: _(
            "The coordinates lie about %(offset)s m off the cells' boundaries, the way GCJ-02 "
            "coordinates from Chinese map apps (Amap, Tencent) do: choose “GCJ-02” under "
            "Coordinates and upload it again.", offset=p["offset"]),
        "outside_grid": lambda: _(
            "Features %(features)s (%(codes)s) lie mostly outside grid %(grid)s: boundaries "
            "of another grid, or coordinates of another system (GCJ-02 from Amap or "
            "Tencent?).", features=p["features"], codes=p["codes"], grid=p["grid"]),
    }
    return str(texts[exc.code]()) if exc.code in texts else exc.message


UPLOAD = {"crs": Field(required=False, choices=("gcj02",))}


@bp.post("/api/v1/grid/<code>/boundaries")
@login_required
def upload_boundaries(code: str):
    """Read a boundary file the editor was given: the geometries it holds for cells of the
    grid, or one message saying what is wrong with the file. Nothing is written."""
    _authorize_grid(code)
    form = validate(request.form, UPLOAD)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("file", "required (multipart/form-data)", "required")
    name = Path(upload.filename.replace("\\", "/")).name[:100] or "upload"
    db = get_session()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("upload" + Path(name).suffix.lower()[:10])
        upload.save(path)
        try:
            geometries = outline.boundaries_from_file(
                db, code, path, name=name, crs=form["crs"],
                limits=current_app.extensions["gridwatch_limits"])
        except BoundaryFileError as exc:
            db.rollback()
            example = next(iter(redraw.current_children(db, code)), code)
            return error_json(400, file_problem_text(exc, example), field="file",
                              code=exc.code)
    db.rollback()
    return jsonify(geometries={c: json.loads(shapely.to_geojson(g))
                               for c, g in geometries.items()})


@bp.post("/api/v1/grid/<code>/commit")
@login_required
def commit(code: str):
    if city_editor.is_city(code):
        return city_editor.commit(code)
    body = validate(request.get_json(silent=True), COMMIT, zone=zone())
    flag = authorize_dated("edit_grid", _grid_path(code), body["valid_from"],
                           body["backdate_reason"], inside=True)
    db = get_session()
    proposal = redraw.proposal_from_json(db, code, body,
                                         current_app.extensions["gridwatch_limits"])
    try:
        change_id = redraw.Redraw(db, proposal, _tolerance()).commit(
            username=current_user.username, comment=body["comment"],
            valid_from=body["valid_from"], confirm_warnings=body["confirm_warnings"],
            backdate_reason=body["backdate_reason"] if flag else None)
    except redraw.Conflict as exc:
        db.rollback()
        return error_json(409, str(exc), code="conflict")
    except redraw.NothingChanges:
        db.rollback()
        raise ValidationError("geometries", "nothing changes", "nothing_changes") from None
    except redraw.LaterVersion as exc:
        db.rollback()
        raise ValidationError("valid_from", str(exc), "later_version", cell=exc.code) from None
    except redraw.RedrawError:
        db.rollback()
        raise
    record("grid_changed", target=f"grid {code}", flag=flag,
           **redraw.audit_detail(change_id, proposal, body["comment"], body["valid_from"]),
           backdate_reason=body["backdate_reason"])
    db.commit()
    when = db.execute(text("SELECT valid_from FROM grid_change WHERE id = :i"),
                      {"i": change_id}).scalar()
    return jsonify(change=change_id, valid_from=dates.isoformat(when, zone()),
                   url=url_for("redraw.change", change_id=change_id),
                   message=_("Change %(id)s committed; it takes effect on %(when)s (%(zone)s).",
                             id=change_id, when=format_datetime(dates.local(when, zone()),
                                                                "short"),
                             zone=_zone_label())), 201


@bp.post("/api/v1/grid/changes/<int:change_id>/revert")
@login_required
def revert(change_id: int):
    body = validate(request.get_json(silent=True), REVERT)
    db = get_session()
    parent = db.execute(text("SELECT parent_code FROM grid_change WHERE id = :i"),
                        {"i": change_id}).scalar()
    if parent is None:
        not_found("change", change_id)
    _authorize_grid(parent, "edit_grid")
    try:
        new_id = redraw.revert(db, change_id, username=current_user.username,
                               comment=body["comment"])
    except redraw.Conflict as exc:
        db.rollback()
        return error_json(409, str(exc), code="conflict")
    except redraw.RedrawError:
        db.rollback()
        raise
    record("grid_change_reverted", target=f"change {change_id}", change=new_id,
           comment=body["comment"])
    db.commit()
    return jsonify(change=new_id), 201


def _may_edit(code: str | None) -> bool:
    """Whether the editor of grid ``code`` opens for the user (to link to it)."""
    if not code:
        return False
    return policy.can(current_user.grants, "open_editor", _cell_path(code), inside=True)


@bp.get("/cells/<code>/history")
@login_required
def history(code: str):
    authorize("view", _cell_path(code))
    data = cell_history(get_session(), code)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(json.loads(json.dumps(data, default=str)))
    return render_template("grid/history.html", history=data,
                           may_edit=_may_edit(data.get("parent_code")))


@bp.get("/grid/changes/<int:change_id>")
@login_required
def change(change_id: int):
    data = change_record(get_session(), change_id)
    if data is None:
        not_found("change", change_id)
    authorize("view", _cell_path(data["parent_code"]))
    if request.accept_mimetypes.best == "application/json":
        return jsonify(json.loads(json.dumps(data, default=str)))
    return render_template("grid/change.html", change=data,
                           may_edit=_may_edit(data["parent_code"]))
