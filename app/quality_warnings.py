"""Quality warnings (质量预警, gis/quality_warnings.py) in people's words: the page
``/warnings`` and ``GET /api/v1/warnings`` (the user's area, or ``?place=CODE``), and
``describe`` for the map wall's panel, the cell card and the inspectors' work list, which
show the warnings of their own cells. Thresholds are edited on the reference page
(app/assessment.py ``put_warning_rule``)."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request, url_for
from flask_babel import format_date, format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from app.auth import login_required, zone
from app.db import get_session
from app.mappage import visible
from app.ratelimit import rate_limited
from gis import dates, quality_warnings
from gis.validation import Field, validate
from gis.wall import place_cells, place_name, places

bp = Blueprint("quality_warnings", __name__)

ARGS = {"place": Field(required=False, max_length=32)}


def describe(found: list[dict]) -> list[dict]:
    """Each warning with ``text`` (what is wrong, in the user's language), ``html`` (the same
    for pages: the names and codes it quotes marked as data, translate="no") and ``url``
    (the page that shows it)."""
    out = []
    for w in found:
        msgid, params = _words(w)
        out.append({**w, "text": _(msgid, **params), "url": _url(w),
                    # Our own message, escaped; the values escaped in their spans.
                    "html": Markup(escape(_(msgid))) % {
                        k: Markup('<span translate="no">%s</span>') % v
                        for k, v in params.items()}})
    return out


def _words(w: dict) -> tuple[str, dict]:
    """(message id, its values) of a warning."""
    rule = w["rule"]
    if rule == "failed_twice":
        return ("%(enterprise)s failed %(n)s spot checks in a row (the latest sampled on "
                "%(day)s)", {"enterprise": w["enterprise_name"], "n": w["value"],
                             "day": format_date(w["day"], "medium")})
    if rule == "cell_overdue_rate":
        return ("%(cell)s: %(overdue)s of %(n)s enterprises overdue for inspection "
                "(%(rate)s)", {"cell": w["cell_name"], "overdue": format_decimal(w["overdue"]),
                               "n": format_decimal(w["enterprises"]),
                               "rate": format_percent(w["value"])})
    if rule == "complaint_hotspot":
        return ("%(cell)s: complaints cluster here, more than chance would explain "
                "(confidence %(confidence)s, the last %(days)s days)",
                {"cell": w["cell_name"], "confidence": format_percent(w["value"]),
                 "days": w["days"]})
    if rule == "behind_plan":
        return ("%(person)s is behind the month plan of %(cells)s: %(done)s of %(due)s "
                "visits done, %(expected)s expected by today",
                {"person": w["person_name"], "cells": "、".join(w["cells"]),
                 "done": format_decimal(w["done"]), "due": format_decimal(w["due"]),
                 "expected": format_decimal(round(w["expected"], 1))})
    return "%(rule)s", {"rule": w["name"]}


# The messages, for extraction (describe translates them by their ids).
_MESSAGES = (
    _l("%(enterprise)s failed %(n)s spot checks in a row (the latest sampled on %(day)s)"),
    _l("%(cell)s: %(overdue)s of %(n)s enterprises overdue for inspection (%(rate)s)"),
    _l("%(cell)s: complaints cluster here, more than chance would explain (confidence "
       "%(confidence)s, the last %(days)s days)"),
    _l("%(person)s is behind the month plan of %(cells)s: %(done)s of %(due)s visits done, "
       "%(expected)s expected by today"),
)


def _url(w: dict) -> str | None:
    rule = w["rule"]
    if rule == "failed_twice":
        return url_for("enterprise.page", code=w["enterprise"])
    if rule == "cell_overdue_rate":
        return url_for("mapwall.enterprise_list", cell=w["cell"], overdue="true")
    if rule == "complaint_hotspot":
        return url_for("mapwall.wall", cell=w["cell"], days=quality_warnings.HOTSPOT_DAYS)
    if rule == "behind_plan":
        return url_for("plans.plan_page", cell_code=w["cell"])
    return None


def warnings_for(cells: list[int] | None) -> list[dict]:
    """The warnings of ``cells`` (None: the city), described."""
    return describe(quality_warnings.warnings(get_session(), cells=cells,
                                              today=dates.today(zone()), zone=zone()))


def _scope():
    args = validate({k: v for k, v in request.args.items() if v.strip()}, ARGS)
    try:
        cells = place_cells(get_session(), visible(), args["place"])
    except LookupError:
        abort(404)
    return args, cells


@bp.get("/warnings")
@login_required
@rate_limited("bulk")
def warnings_page():
    args, cells = _scope()
    db = get_session()
    return render_template("assessment/warnings.html", warnings=warnings_for(cells),
                           rules=quality_warnings.warning_rules(db, active_only=True),
                           args=args, places=places(db, visible()),
                           place=place_name(db, args["place"], visible()))


@bp.get("/api/v1/warnings")
@login_required
@rate_limited("bulk")
def warnings_api():
    _args, cells = _scope()
    out = []
    for w in warnings_for(cells):
        out.append({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                    for k, v in w.items() if k != "html"})
    return jsonify(warnings=out)


def init_app(app) -> None:
    app.register_blueprint(bp)
