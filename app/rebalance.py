"""The grid editor's "suggest balance" (均衡建议): the fewest moves of whole villages that
bring every cell's workload near the grid's average (gis/rebalance.py, which ``grid
rebalance`` runs too). The answer is village moves the editor previews, validates and commits
as a manual edit; nothing is written here. Permission: the editor's (``open_editor`` inside the
grid); committing goes through the editor's commit."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import authorize, login_required, zone
from app.db import get_session
from app.errors import not_found
from gis import dates, rebalance, redraw, users
from gis.validation import Field, ValidationError, validate

bp = Blueprint("rebalance", __name__)

SUGGEST = {
    "tolerance": Field(kind="float", required=False, default=0.1, min=0.01, max=1),
    "max_moves": Field(kind="int", required=False, min=0, max=500),
    "keep": Field(kind="list", required=False, max_length=2000),
    "complaint_weight": Field(kind="float", required=False, default=0.0, min=0, max=100),
    "area_weight": Field(kind="float", required=False, default=0.0, min=0, max=100),
}


def warning_text(w: dict) -> str:
    """A warning of the suggestion in the user's language."""
    if w["kind"] == "open_rectification":
        return _("Village %(village)s: enterprise %(enterprise)s has an open rectification "
                 "(#%(id)s); it moves from cell %(source)s to %(target)s, to another owner.",
                 village=w["village_name"], enterprise=w["enterprise"],
                 id=w["rectification"], source=w["from"], target=w["to"])
    if w["kind"] == "tolerance_unreachable":
        return _("No suggestion within these limits brings every cell within "
                 "%(tolerance)s%% of the average: the largest deviation after it is "
                 "%(after)s%%.", tolerance=round(w["tolerance"] * 100),
                 after=round(w["max_deviation"] * 100, 1))
    if w["kind"] == "not_contiguous":
        return _("Cell %(cell)s would be in several pieces.", cell=w["cell"])
    return w["message"]


@bp.post("/api/v1/grid/<code>/rebalance")
@login_required
def suggest(code: str):
    db = get_session()
    path = users.cell_path(db, code=code)
    if not path:
        not_found("cell", code)
    authorize("open_editor", tuple(path), inside=True)
    body = validate(request.get_json(silent=True), SUGGEST)
    keep = body["keep"] or []
    if any(not isinstance(k, str) or len(k) > 32 for k in keep):
        raise ValidationError("keep", "village or cell codes", "invalid")
    limits = current_app.extensions["gridwatch_limits"]
    # The solver is CPU work of seconds: one of the user's preview slots, like a preview.
    if not redraw.claim_preview_slot(db, current_user.id, limits.preview_concurrency_per_user):
        db.rollback()
        abort(429, description=_("Your other previews are still running; try again when they "
                                 "have finished."))
    options = rebalance.Options(
        tolerance=body["tolerance"], max_moves=body["max_moves"], keep=frozenset(keep),
        complaint_weight=body["complaint_weight"], area_weight=body["area_weight"],
        time_limit=float(current_app.config["REBALANCE_TIME_LIMIT_SECONDS"]))
    try:
        suggestion = rebalance.suggest(db, code, options, dates.today(zone()))
    except rebalance.RebalanceError as exc:
        db.rollback()
        raise ValidationError("grid", str(exc), "not_rebalanceable") from None
    db.rollback()  # a suggestion writes nothing
    answer = suggestion.as_dict()
    for w in answer["warnings"]:
        w["message"] = warning_text(w)
    return jsonify(answer)
