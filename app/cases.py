"""Enforcement cases (gis/cases.py): the list (by year, status, source), a case with its
steps, opening one (from a rectification, a failed batch or a complaint: /cases/new?...) and
moving it along; the same through the API. Reading follows what the user may read of the
enterprise; writing is ``handle_case`` at the enterprise's cell."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from app.auth import authorize, login_required, record, zone
from app.db import get_session
from app.errors import domain_message, error_json, form_step, not_found
from app.mappage import visible
from app.ratelimit import rate_limited
from app.api import json_body
from gis import cases, dates, policy
from gis.errors import GridWatchError
from gis.fieldwork import NotFound
from gis.models import CASE_STATUSES
from gis.validation import Field, ValidationError, validate

bp = Blueprint("cases", __name__, url_prefix="/cases")
api = Blueprint("cases_api", __name__, url_prefix="/api/v1/cases")

PAGE_SIZE = 50
LIST_FILTERS = {"year": Field(kind="int", min=1900, max=2199, required=False),
                "status": Field(choices=CASE_STATUSES, required=False),
                "source": Field(choices=cases.SOURCES + ("none",), required=False),
                "q": Field(max_length=100, required=False),
                "page": Field(kind="int", min=1, max=100000, required=False, default=1)}
# Where a new case comes from: at most one of these (a complaint by its number).
SOURCE_FIELDS = {"rectification": Field(kind="int", min=1, required=False),
                 "spot_check": Field(kind="int", min=1, required=False),
                 "complaint": Field(max_length=40, required=False)}
NEW_CASE = {**SOURCE_FIELDS,
            "enterprise": Field(max_length=40, required=False),
            "cause": Field(max_length=cases.MAX_TEXT, required=False),
            "number": Field(max_length=40, required=False),
            "opened_on": Field(kind="date", required=False)}
STEP = {"status": Field(choices=CASE_STATUSES),
        "note": Field(max_length=cases.MAX_TEXT, required=False),
        "result": Field(max_length=cases.MAX_TEXT, required=False),
        "closed_on": Field(kind="date", required=False)}


def _source(values: dict) -> tuple[str | None, object]:
    given = [k for k in SOURCE_FIELDS if values.get(k) not in (None, "")]
    if len(given) > 1:
        raise ValidationError(given[1], "give one source: a rectification, a failed batch or "
                              "a complaint", "one_source")
    return (given[0], values[given[0]]) if given else (None, None)


def _target(number: str) -> tuple[int, tuple[int, ...]]:
    try:
        return cases.case_target(get_session(), number)
    except NotFound:
        not_found("case", number)


def _open(values: dict) -> dict:
    """Resolve, authorize (handle_case at the enterprise), open and audit a case."""
    db = get_session()
    source, ref = _source(values)
    try:
        target = cases.resolve(db, source=source, ref=ref, enterprise=values.get("enterprise"))
    except NotFound as exc:
        raise ValidationError(source, f"there is no {exc.kind} {exc.name}", "no_such_target",
                              kind=exc.kind, name=exc.name) from None
    authorize("handle_case", target["path"])
    opened = cases.open_case(db, cause=values.get("cause"), today=dates.today(zone()),
                             source=source, ref=ref, enterprise=target["management_code"],
                             number=values.get("number"), opened_on=values.get("opened_on"),
                             username=current_user.username)
    record("case_opened", target=f"case {opened['number']}", enterprise=target["management_code"],
           source=source, source_ref=None if ref is None else str(ref))
    return opened


def _advance(number: str, values: dict) -> dict:
    _case_id, path = _target(number)
    authorize("handle_case", path)
    done = cases.advance(get_session(), number, values["status"], values.get("note"),
                         result=values.get("result"), closed_on=values.get("closed_on"),
                         today=dates.today(zone()), username=current_user.username)
    record("case_status_changed", target=f"case {number}", status=done["status"],
           previous=done["previous"], note=values.get("note") or None,
           result=values.get("result") or None)
    return done


def refusal(exc: cases.CaseRefused) -> str:
    """A refused step in words: where the case is and what may come next."""
    from flask_babel import gettext as _

    words = status_words()
    if exc.reason == "closed":
        return _("The case is closed; it takes no more steps.")
    return _("The case is %(status)s: its next step is %(next)s, not %(wanted)s.",
             status=words[exc.status], next=words[exc.next], wanted=words[exc.wanted])


def status_words() -> dict:
    from flask_babel import gettext as _

    return {"open": _("opened"), "investigating": _("under investigation"),
            "decided": _("decided"), "closed": _("closed")}


# --- pages ------------------------------------------------------------------------------------

@bp.get("")
@login_required
@rate_limited("bulk")
def case_list():
    args = validate(request.args, LIST_FILTERS)
    db = get_session()
    total, rows = cases.search(db, cells=visible(), year=args["year"], status=args["status"],
                               source=args["source"], query=args["q"], limit=PAGE_SIZE,
                               offset=(args["page"] - 1) * PAGE_SIZE)
    return render_template("cases/list.html", rows=rows, total=total, args=args,
                           years=cases.years(db), statuses=status_words(),
                           pages=(total + PAGE_SIZE - 1) // PAGE_SIZE,
                           may_open=policy.can_somewhere(current_user.grants, "handle_case"),
                           may_test=policy.can_somewhere(current_user.grants, "record_testing"))


def _new_page(values: dict, problems: list[str], status: int = 200):
    """The form, filled from its source when there is one (the cause suggested)."""
    source, ref = None, None
    target = None
    try:
        source, ref = _source(values)
        if source is not None:
            target = cases.resolve(get_session(), source=source, ref=ref,
                                   enterprise=values.get("enterprise"))
    except NotFound:
        not_found(source, ref)
    except GridWatchError as exc:
        if status == 200:
            problems = problems + [domain_message(exc)]
            status = 400
    if target is not None:
        authorize("handle_case", target["path"])
    elif not policy.can_somewhere(current_user.grants, "handle_case"):
        abort(403)
    typed = dict(values)
    if target is not None and target["source"] is not None and not typed.get("cause"):
        typed["cause"] = target["source"]["cause"]
    return render_template("cases/new.html", source=source, ref=ref, target=target,
                           typed=typed, problems=problems,
                           today=dates.today(zone())), status


@bp.get("/new")
@login_required
def new_form():
    return _new_page(validate(request.args, SOURCE_FIELDS), [])


@bp.post("/new")
@login_required
def new_case():
    db = get_session()
    try:
        values = validate(request.form, NEW_CASE)
        opened = _open(values)
    except GridWatchError as exc:
        db.rollback()
        typed = {k: v for k, v in request.form.items() if k in NEW_CASE}
        return _new_page({k: typed.get(k) for k in SOURCE_FIELDS} | typed,
                         [domain_message(exc)], 400)
    db.commit()
    return redirect(url_for("cases.page", number=opened["number"]))


@bp.get("/<number>")
@login_required
def page(number: str, problems: list[str] | None = None, status: int = 200):
    _case_id, path = _target(number)
    authorize("view", path)
    case = cases.get_case(get_session(), number)
    return render_template("cases/case.html", case=case, statuses=status_words(),
                           may_handle=policy.can(current_user.grants, "handle_case", path),
                           problems=problems or [], typed=request.form,
                           today=dates.today(zone())), status


@bp.post("/<number>/status")
@login_required
def change_status(number: str):
    return form_step(lambda: _advance(number, validate(request.form, STEP)),
                     refused=cases.CaseRefused, refusal=refusal,
                     again=lambda problems, status: page(number, problems, status),
                     done=url_for("cases.page", number=number))


# --- API --------------------------------------------------------------------------------------


def _case_json(case: dict) -> dict:
    keys = ("number", "status", "opened_on", "closed_on", "cause", "result", "source",
            "rectification_id", "spot_check_id", "complaint_number", "management_code",
            "enterprise", "cell_code", "next")
    out = {k: case[k] for k in keys}
    for k in ("opened_on", "closed_on"):
        out[k] = out[k].isoformat() if out[k] else None
    out["steps"] = [{"status": s["status"], "at": dates.isoformat(s["at"], zone()),
                     "username": s["username"], "note": s["note"], "result": s["result"]}
                    for s in case["steps"]]
    return out


@api.post("")
@login_required
def api_open():
    opened = _open(validate(json_body(), NEW_CASE))
    get_session().commit()
    return jsonify(_case_json(cases.get_case(get_session(), opened["number"]))), 201


@api.get("/<number>")
@login_required
def api_case(number: str):
    _case_id, path = _target(number)
    authorize("view", path)
    return jsonify(_case_json(cases.get_case(get_session(), number)))


@api.post("/<number>/status")
@login_required
def api_status(number: str):
    try:
        _advance(number, validate(json_body(), STEP))
    except cases.CaseRefused as exc:
        get_session().rollback()
        return error_json(409, refusal(exc), field="status", code="refused",
                          current=exc.status, next=exc.next)
    get_session().commit()
    return jsonify(_case_json(cases.get_case(get_session(), number)))


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(api)
