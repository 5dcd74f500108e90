"""The city's grid editor: a grid manager at the city redraws the second-level grids (station
boundaries) by moving whole villages or townships to a level-3 cell they pick, by reshaping a
grid's outline or by uploading boundaries; admins open it too, for corrections dated in the
past. ``/grid/<city>/edit``, its preview and its commit are app/redraw.py's addresses, which
hand a level-1 grid here; the job is gis.redraw_level2's, as ``grid redraw``'s is.
Permission: ``open_editor`` and ``edit_grid`` inside the city (gis/policy.py)."""
from __future__ import annotations

import json

import shapely
from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, \
    url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.auth import authorize, authorize_dated, login_required, record, zone
from app.db import get_session
from app.errors import error_json, error_response, not_found
from app.mappage import build_map, layer_query, map_parts
from gis import dates, policy, redraw, users
from gis import redraw_level2 as level2
from gis.geojson import feature_collection_sql
from gis.validation import Field, ValidationError, validate

bp = Blueprint("redraw_level2", __name__)

PROPOSAL = {
    "moves": Field(kind="dict", required=False, max_length=2000),  # village -> level-3 cell
    "townships": Field(kind="dict", required=False, max_length=200),  # township -> cell
    "geometries": Field(kind="dict", required=False, max_length=200),  # from a file
    "outlines": Field(kind="dict", required=False, max_length=200),  # reshaped on the map
    "expected_versions": Field(kind="dict", required=False, max_length=2000),
}
COMMIT = {**PROPOSAL,
          "comment": Field(max_length=1000, min_length=1),
          "valid_from": Field(kind="datetime", required=False),
          "backdate_reason": Field(required=False, max_length=1000),
          "confirm_warnings": Field(kind="bool", required=False, default=False)}


def is_city(code: str) -> bool:
    return level2.is_city(get_session(), code)


def _path(code: str) -> tuple[int, ...]:
    path = users.cell_path(get_session(), code=code)
    if not path:
        not_found("cell", code)
    return tuple(path)


def _tolerance() -> float:
    return float(current_app.config["GRID_SLIVER_TOLERANCE_M2"])


def finding_text(f) -> str:
    """A finding of the city's checks in the user's language (the level-3 editor's texts for
    the kinds both share)."""
    from app.redraw import finding_text as cell_finding_text

    p = getattr(f, "params", {}) or {}
    area = f"{f.area_m2:,.1f}" if f.area_m2 is not None else ""
    texts = {
        "cut": lambda: _("cell %(code)s %(name)s would be cut by the new edge of grid "
                         "%(grid)s: redraw it in the same change (%(area)s m²)", code=f.cell,
                         name=p.get("name") or "", grid=p.get("grid"), area=area),
        "village_needs_cell": lambda: _(
            "village %(village)s %(name)s goes from grid %(from_grid)s to grid %(to_grid)s: "
            "choose the level-3 cell of its new grid it joins", village=p["village"],
            name=p["name"], from_grid=p["from_grid"], to_grid=p["to_grid"]),
        "empty": lambda: _("nothing of the cell would be left: move fewer villages out of it"),
        "gap": lambda: _("part of %(grid)s belongs to no cell: %(area)s m²",
                         grid=p.get("grid"), area=area),
    }
    return str(texts[f.kind]()) if f.kind in texts else cell_finding_text(f)


def error_text(exc: level2.Level2Error) -> str:
    p = exc.params
    texts = {
        "no_grid": lambda: _("Grid %(grid)s does not exist.", grid=p["grid"]),
        "not_city": lambda: _("Grid %(grid)s is not the city.", grid=p["grid"]),
        "not_in_city": lambda: _("%(cell)s is not a second-level grid or level-3 cell of the "
                                 "stations' grids of %(city)s.", cell=p["cell"], city=p["city"]),
        "not_a_target": lambda: _("%(cell)s is not a level-3 cell of the stations' grids of "
                                  "%(city)s: villages move to a level-3 cell.", cell=p["cell"],
                                  city=p["city"]),
        "no_village": lambda: _("Village %(village)s does not exist.", village=p["village"]),
        "no_township": lambda: _("Township %(township)s does not exist or has no villages.",
                                 township=p["township"]),
        "village_outside": lambda: _("Village %(village)s %(name)s is in no level-3 cell of "
                                     "%(city)s.", village=p["village"], name=p["name"],
                                     city=p["city"]),
    }
    return str(texts[exc.code]()) if exc.code in texts else str(exc)


def _report(report: redraw.Report) -> dict:
    out = report.as_dict()
    for key in ("errors", "warnings"):
        for item, finding in zip(out[key], getattr(report, key)):
            item["message"] = finding_text(finding)
    return out


def _refused(exc: level2.Level2Error):
    get_session().rollback()
    return error_response(400, _("%(field)s: %(problem)s", field=exc.field,
                                 problem=error_text(exc)), field=exc.field)


def editor(code: str):
    """The city's editor page (``/grid/<city>/edit``)."""
    authorize("open_editor", _path(code), inside=True)
    args = validate(request.args, {})
    db = get_session()
    grids = [dict(r._mapping) for r in db.execute(text("""
        SELECT g.code, g.name, s.name AS station, g.version_id AS version
        FROM cell_current g JOIN cell city ON city.id = g.parent_id
        LEFT JOIN station s ON s.id = g.station_id
        WHERE city.code = :c AND g.kind = 'territorial' AND g.retired_at IS NULL
        ORDER BY g.code"""), {"c": code})]
    cells = [dict(r._mapping) for r in db.execute(text("""
        SELECT c.code, c.name, g.code AS grid, c.version_id AS version
        FROM cell_current c JOIN cell g ON g.id = c.parent_id
        JOIN cell city ON city.id = g.parent_id
        WHERE city.code = :c AND c.kind = 'territorial' AND c.level = 3
          AND c.retired_at IS NULL
        ORDER BY c.code"""), {"c": code})]
    for g in grids:
        g["cells"] = [c for c in cells if c["grid"] == g["code"]]
    # The wall's grid outlines as context (they make the map, and the layer control); the
    # editor draws the grids, cells and villages itself (SVG, each village a click target).
    m = build_map(layer_query(args), args, layer_ids=("grids",), refresh=False,
                  interactive=False, prefer_canvas=False)
    return render_template("grid/edit_city.html", code=code, grids=grids, cells=cells,
                           **map_parts(m))


@bp.get("/api/v1/grid/<code>/level2/<layer>.geojson")
@login_required
def layer(code: str, layer: str):
    """The city editor's layers: ``grids`` (second-level, territorial), ``cells`` (their
    level-3 cells) and ``villages`` (each with the cell and grid that hold it now)."""
    if layer not in ("grids", "cells", "villages"):
        abort(404)
    authorize("open_editor", _path(code), inside=True)
    rows = {
        "grids": """
            SELECT g.geom, g.code AS sort, json_build_object(
                       'code', g.code, 'name', g.name, 'station', s.name,
                       'version', g.version_id) AS props
            FROM cell_current g JOIN cell city ON city.id = g.parent_id
            LEFT JOIN station s ON s.id = g.station_id
            WHERE city.code = :p AND g.kind = 'territorial' AND g.retired_at IS NULL""",
        "cells": """
            SELECT c.geom, c.code AS sort, json_build_object(
                       'code', c.code, 'name', c.name, 'grid', g.code,
                       'version', c.version_id) AS props
            FROM cell_current c JOIN cell g ON g.id = c.parent_id
            JOIN cell city ON city.id = g.parent_id
            WHERE city.code = :p AND c.kind = 'territorial' AND c.level = 3
              AND c.retired_at IS NULL""",
        "villages": """
            SELECT v.geom, v.code AS sort, json_build_object(
                       'code', v.code, 'name', v.name, 'township', t.code,
                       'township_name', t.name, 'cell', k.code, 'grid', k.grid) AS props
            FROM village v JOIN township t ON t.id = v.township_id
            JOIN LATERAL (
                SELECT c.code, g.code AS grid FROM cell_current c
                JOIN cell g ON g.id = c.parent_id JOIN cell city ON city.id = g.parent_id
                WHERE city.code = :p AND c.kind = 'territorial' AND c.level = 3
                  AND c.retired_at IS NULL AND ST_Covers(c.geom, ST_PointOnSurface(v.geom))
                ORDER BY c.code LIMIT 1) k ON true""",
    }[layer]
    body = get_session().execute(text(feature_collection_sql(rows, precision=7)),
                                 {"p": code}).scalar()
    return Response(body, mimetype="application/geo+json")


def preview(code: str):
    """Validation and effect of a change of the stations' grids; writes nothing."""
    authorize("open_editor", _path(code), inside=True)
    body = validate(request.get_json(silent=True), PROPOSAL)
    db = get_session()
    limits = current_app.extensions["gridwatch_limits"]
    try:
        proposal = level2.proposal_from_json(db, code, body, limits)
    except level2.Level2Error as exc:
        return _refused(exc)
    # As the level-3 editor's preview: bounded in time and in number per user.
    if not redraw.claim_preview_slot(db, current_user.id, limits.preview_concurrency_per_user):
        db.rollback()
        abort(429, description=_("Your other previews are still running; try again when they "
                                 "have finished."))
    try:
        with redraw.statement_timeout(db, limits.preview_statement_timeout_ms):
            job = level2.CityRedraw(db, proposal, _tolerance())
            report = job.check()
            effect = job.effect(dates.today(zone()))
    except level2.Level2Error as exc:
        return _refused(exc)
    except redraw.TooSlow:
        db.rollback()
        raise ValidationError("geometries", "too large to check within the time allowed; "
                              "change fewer cells at once", "preview_timeout") from None
    plan = job.plan
    db.rollback()  # a preview writes nothing
    return jsonify(validation=_report(report),
                   effect=json.loads(json.dumps(effect, default=str)),
                   geometries={c: json.loads(shapely.to_geojson(g))
                               for c, g in plan.geometries.items()},
                   levels=plan.levels, expected_versions=plan.versions)


def commit(code: str):
    """Commit a change of the stations' grids, dated and audited."""
    body = validate(request.get_json(silent=True), COMMIT, zone=zone())
    flag = authorize_dated("edit_grid", _path(code), body["valid_from"],
                           body["backdate_reason"], inside=True)
    db = get_session()
    try:
        proposal = level2.proposal_from_json(db, code, body,
                                             current_app.extensions["gridwatch_limits"])
        job = level2.CityRedraw(db, proposal, _tolerance())
        change_id = job.commit(
            username=current_user.username, comment=body["comment"],
            valid_from=body["valid_from"], confirm_warnings=body["confirm_warnings"],
            backdate_reason=body["backdate_reason"] if flag else None)
    except level2.Level2Error as exc:
        return _refused(exc)
    except level2.CellConflict as exc:
        db.rollback()
        return error_json(409, _(
            "Cell %(code)s was changed by someone else since you started editing; reload to "
            "see their change, then redo yours.", code=exc.cell), code="conflict")
    except redraw.NothingChanges:
        db.rollback()
        raise ValidationError("geometries", "nothing changes", "nothing_changes") from None
    except redraw.LaterVersion as exc:
        db.rollback()
        raise ValidationError("valid_from", str(exc), "later_version", cell=exc.code) from None
    except level2.NotValid as exc:
        db.rollback()
        found = exc.report.warnings if exc.warnings_only else exc.report.errors
        intro = (_("Confirm the warnings first") if exc.warnings_only
                 else _("The change is not valid"))
        problems = "；".join(f"{f.cell} {finding_text(f)}" if f.cell else finding_text(f)
                            for f in found[:10])
        return error_response(400, _("%(intro)s: %(problems)s", intro=intro,
                                     problems=problems), field="geometries")
    record("grid_changed", target=f"grid {code}", flag=flag,
           **job.audit_detail(change_id, body["comment"], body["valid_from"]),
           backdate_reason=body["backdate_reason"])
    db.commit()
    return jsonify(change=change_id, message=_("Change %(id)s committed.", id=change_id),
                   cells=[{"code": c, "history": url_for("redraw.history", code=c)}
                          for c in job.written]), 201


@bp.app_context_processor
def _editor_links():
    """``grid_editors()`` for the menu: the grids the user may redraw, as gis/policy.py
    decides (a grid manager's own; the city's for one at the city, and for an admin)."""

    def grid_editors() -> list[dict]:
        if not current_user.is_authenticated:
            return []
        grants = current_user.grants
        places = [(g.place_code, g.place_path,
                   len(g.place_path) if g.place_level is None else g.place_level)
                  for g in grants
                  if g.role == "grid_manager" and g.place_code and g.place_level != 0]
        if policy.has_role(grants, "admin") or any(
                g.role == "grid_manager" and g.place_level == 0 for g in grants):
            # Cities are redrawn one by one (there is no editor of a province's cities).
            try:
                places += [(code, tuple(path), 1) for code, path in get_session().execute(text(
                    "SELECT code, gw_cell_path(id) FROM cell WHERE level = 1 "
                    "AND retired_at IS NULL ORDER BY code")).all()]
            except SQLAlchemyError:
                pass  # an error page after a failed statement: the menu goes without it
        out = []
        for code, path, level in {p[0]: p for p in places}.values():
            if level in (1, 2) and policy.can(grants, "open_editor", path, inside=True):
                out.append({"code": code, "level": level,
                            "url": url_for("redraw.editor", code=code)})
        return out

    return {"grid_editors": grid_editors}
