"""An enterprise's page (企业档案): ``/enterprises/<management code>``, reached from the search,
the lookup's and the map's cards and the lists. The record is gis.enterprise_record's; who may
read it is gis.policy's ("view" at the enterprise's current cell)."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import login_required, zone
from app.db import get_session
from app.ratelimit import rate_limited
from gis import dates, policy
from gis.enterprise_record import enterprise_record
from gis.fieldwork import NotFound, enterprise_target
from gis.validation import validate

bp = Blueprint("enterprise", __name__)


def _absent(code: str) -> None:
    # One answer for a code that does not exist and one outside the user's area, so codes
    # cannot be probed (docs/security.md); it says both, so neither misleads.
    abort(404, description=_("No enterprise %(code)s in your area: the code does not exist, "
                             "or the enterprise is outside the area you may see.",
                             code=code[:100]))


@bp.get("/enterprises/<path:code>")
@login_required
@rate_limited("enterprise")
def page(code: str):
    validate(request.args, {})
    db = get_session()
    try:
        _id, path = enterprise_target(db, code)
    except NotFound:
        _absent(code)
    if not policy.can(current_user.grants, "view", path):
        _absent(code)
    record = enterprise_record(db, code, today=dates.today(zone()))
    return render_template("enterprise/page.html", e=record, can_inspect=policy.can(
        current_user.grants, "record_inspection", path))
