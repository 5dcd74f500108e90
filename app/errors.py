"""Error answers: JSON for the API, Chinese (or English) pages for people; never a stack
trace or SQL. The real exception goes to the server log."""
from __future__ import annotations

import re

from flask import Flask, jsonify, render_template, request
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.i18n import role_label
from gis.errors import GridWatchError
from gis.validation import ValidationError


def _messages():
    # Built per request so the strings follow the request's language.
    return {
        400: _("The request is not valid."),
        401: _("Please log in."),
        403: _("You do not have permission to do this here."),
        404: _("Nothing was found at this address."),
        405: _("This method is not allowed here."),
        413: _("The upload is larger than allowed."),
        415: _("This type of file is not accepted."),
        429: _("Too many attempts; try again later."),
        500: _("Something went wrong on the server. The error has been logged."),
    }


# Paths whose errors are JSON whatever the client accepts: the API, Open311 and map tiles.
JSON_PATHS = ("/api/", "/open311/", "/tiles/")


def wants_json() -> bool:
    """Answer this request's errors in JSON (the API's paths, or a client that asks)?"""
    return (request.path.startswith(JSON_PATHS)
            or request.accept_mimetypes.best == "application/json")


# Every field a form, the API, a query string or a file check names, as people call it: the
# messages name fields by these labels ("经度：应为数字", not "lon：应为数字"), while the JSON
# answer's ``field`` keeps the identifier for programs. tests/test_messages.py fails when a
# field that a message can name has no label here.
FIELD_LABELS = {
    # Requests as a whole.
    "body": _l("request body"),
    "path": _l("address"),
    "file": _l("file"),
    "csrf_token": _l("security token"),
    "lang": _l("language"),
    "next": _l("page to return to"),
    # Accounts and users.
    "username": _l("username"),
    "password": _l("password"),
    "current_password": _l("current password"),
    "new_password": _l("new password"),
    "new_password_again": _l("new password again"),
    "display_name": _l("display name"),
    "name": _l("name"),
    "role": _l("role"),
    "place": _l("place (cell code)"),
    # Filters and pages.
    "q": _l("search text"),
    "action": _l("action"),
    "since": _l("start date"),
    "until": _l("end date"),
    "from": _l("start date"),
    "to": _l("end date"),
    "days": _l("number of days"),
    "at": _l("as-of date"),
    "flagged": _l("flagged only"),
    "page": _l("page number"),
    "limit": _l("number of results"),
    "offset": _l("results to skip"),
    "figure": _l("figure"),
    "hotspot_variable": _l("hot-spot measure"),
    "hotspot_units": _l("hot-spot areas"),
    "grade": _l("supervision grade"),
    "overdue": _l("overdue"),
    "cell": _l("cell"),
    "wall": _l("big-screen wall"),
    # The lookup.
    "lon": _l("longitude"),
    "lat": _l("latitude"),
    "crs": _l("coordinate system"),
    # Field work and reference data.
    "enterprise": _l("enterprise management code"),
    "management_code": _l("enterprise management code"),
    "inspected_on": _l("inspection date"),
    "results": _l("checklist results"),
    "problems": _l("problems found"),
    "rectification_deadline": _l("rectification deadline"),
    "inspected_at": _l("inspection time"),
    "client_id": _l("the phone's inspection id"),
    "notes": _l("item notes"),
    "second_inspector": _l("second inspector"),
    "problem": _l("problem"),
    "note": _l("note"),
    "location": _l("device location"),
    "location.lon": _l("device location: longitude"),
    "location.lat": _l("device location: latitude"),
    "location.crs": _l("device location: coordinate system"),
    "status": _l("status"),
    "person_id": _l("person"),
    "valid_from": _l("takes effect on"),
    "backdate_reason": _l("reason for a date in the past"),
    "A": _l("grade A interval (days)"),
    "B": _l("grade B interval (days)"),
    "C": _l("grade C interval (days)"),
    "D": _l("grade D interval (days)"),
    "code": _l("code"),
    "title": _l("title"),
    "category": _l("category"),
    # People and their responsibilities (gis/people.py).
    "unit": _l("unit"),
    "position": _l("position"),
    "phone": _l("phone"),
    "office_phone": _l("office phone"),
    "active_from": _l("on the roster from"),
    "active_to": _l("left on"),
    "person": _l("person"),
    "target": _l("answers for"),
    "successor": _l("hand over to"),
    "reason": _l("reason for a date in the past"),
    "side": _l("whose people"),
    "gap": _l("gap in the roster"),
    "skip_invalid": _l("skip refused rows"),
    "format": _l("file format"),
    "size": _l("paper size"),
    # The grid editor.
    "moves": _l("village moves"),
    "townships": _l("township moves"),
    "geometries": _l("boundaries"),
    "outlines": _l("outlines"),
    "new_cells": _l("new cells"),
    "retire": _l("cells to retire"),
    "expected_versions": _l("boundary versions being edited"),
    "comment": _l("why"),
    "confirm_warnings": _l("warnings read"),
    # The balance suggestion (app/rebalance.py).
    "grid": _l("grid"),
    "tolerance": _l("tolerance"),
    "max_moves": _l("most villages to move"),
    "keep": _l("villages or cells that stay"),
    "complaint_weight": _l("weight of a complaint"),
    "area_weight": _l("weight of a km²"),
    # The double-random draw (gis/draws.py).
    "enterprises": _l("number of enterprises to draw"),
    "seed": _l("random seed"),
    "roster": _l("inspectors to draw from"),
    "industries": _l("industries"),
    "grades": _l("supervision grades"),
    "specialty": _l("specialty"),
    # Product testing and enforcement cases (gis/testing.py, gis/cases.py).
    "report_number": _l("report number"),
    "credit_code": _l("unified social credit code"),
    "enterprise_name": _l("enterprise name"),
    "product": _l("product"),
    "batch_number": _l("batch number"),
    "sampled_on": _l("sampling date"),
    "kind": _l("testing programme"),
    "level": _l("organised by"),
    "laboratory": _l("laboratory"),
    "result": _l("result"),
    "failed_items": _l("failed items"),
    "deadline": _l("rectification deadline"),
    "rectification": _l("rectification"),
    "spot_check": _l("sampled batch"),
    "complaint": _l("complaint"),
    "source": _l("opened from"),
    "cause": _l("cause"),
    "number": _l("case number"),
    "opened_on": _l("opening date"),
    "closed_on": _l("closing date"),
    "year": _l("year"),
    # Rectifications and month plans (gis/rectification.py, gis/plans.py).
    "accept": _l("verification passed"),
    "late": _l("late only"),
    "month": _l("month"),
    # Statistics (gis/statistics.py, app/statistics.py).
    "period": _l("period"),
    "compare": _l("comparison"),
    "what": _l("what to prepare"),
    "statistics_level": _l("count by"),
    # 12365 complaints and Open311 (gis/complaints.py, app/open311.py, app/public.py).
    "service_code": _l("matter"),
    "service": _l("matter"),
    "attribute": _l("attribute"),
    "first_name": _l("given name"),
    "last_name": _l("complainant's name"),
    "email": _l("e-mail"),
    "media_url": _l("media address"),
    "external_id": _l("hotline number"),
    "received_at": _l("time received"),
    "urgent": _l("urgent"),
    "start_date": _l("start date"),
    "end_date": _l("end date"),
    "service_request_id": _l("request number"),
    "page_size": _l("results per page"),
    # Urgent events (gis/urgent.py).
    "event_type": _l("type of event"),
    "description": _l("what happened"),
    "address": _l("street address"),
    "outcome": _l("how it was dealt with"),
    # The assessment, responsibility letters and quality warnings (gis/assessment.py,
    # gis/quality_warnings.py).
    "assessment_level": _l("assessed units"),
    "weight": _l("weight"),
    "rule_target": _l("target of the rule"),
    "active": _l("in use"),
    "threshold": _l("threshold"),
    "signed_on": _l("signed on"),
    "targets": _l("targets"),
    # History brought in (gis/inspections_import.py, gis/enterprises.py, gis/complaints.py).
    "flag": _l("flag"),
    "original_number": _l("number in the previous system"),
    "inspector": _l("inspector"),
    "rectified_on": _l("rectification completed on"),
    "supervised_from": _l("under supervision from"),
    "handled_at": _l("time handled"),
    "closed_at": _l("time closed"),
}


# Where in a file: "line 7" / "row 7", as the readers (gis/tables.py) name a record.
_PLACE_IN_FILE = re.compile(r"(line|row) (\d+)(?: \((.+)\))?")


def field_label(name: str) -> str:
    """The field as people call it, in the request's language; a file's "line 7" or "row 7"
    as the language says it (第 7 行). A name that is no field of ours (a parameter someone
    sent, a cell code) is shown as given."""
    label = FIELD_LABELS.get(name)
    if label is not None:
        return str(label)
    place = _PLACE_IN_FILE.fullmatch(name)
    if place:
        where = (_("line %(n)s", n=place[2]) if place[1] == "line"
                 else _("row %(n)s", n=place[2]))
        # "row 3 (HJ-9)": the record's own code, as the reader gave it.
        return _("%(place)s (%(record)s)", place=where, record=place[3]) if place[3] else where
    return name


def field_message(field: str, problem: str) -> str:
    """"<field label>: <problem>" with the language's punctuation (a full-width colon in
    Chinese)."""
    return _("%(field)s: %(problem)s", field=field_label(field), problem=problem)


# The ``code`` of an error that names no problem of a field: the status's name.
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large",
                415: "unsupported_media_type", 429: "too_many_requests",
                500: "server_error"}


def error_json(status: int, message: str, *, field: str | None = None, code: str | None = None,
               **extra):
    """The one shape of every JSON API error (app/openapi.py's ``Error``):
    ``{"error": {"status", "code", "message", "field"?, …}}``; ``code`` is the field's problem
    (``required``, ``choices``…) or else the status's name; ``extra`` says more (a 409's
    ``current`` status)."""
    return jsonify(error_body(status, message, field=field, code=code, **extra)), status


def error_body(status: int, message: str, *, field: str | None = None,
               code: str | None = None, **extra) -> dict:
    """``error_json``'s body, for an answer that adds to it."""
    if not isinstance(code, str) or not code:
        code = STATUS_CODES.get(status, "error")
    body = {"status": status, "code": code, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    return {"error": body}


def error_response(status: int, message: str | None = None, field: str | None = None,
                   code: str | None = None):
    message = message or _messages().get(status, _messages()[400])
    if request.path.startswith("/open311/"):
        # An address no Open311 route matches still answers in the GeoReport v2 shape.
        from app.open311 import error_answer

        return error_answer(status, message)
    if wants_json():
        return error_json(status, message, field=field, code=code)
    return render_template("errors/error.html", status=status, message=message,
                           field=field), status


def validation_problem(exc: ValidationError) -> str:
    """The reason in the user's language (the field is named by ``field_message``)."""
    return problem_text(exc.code, exc.params, exc.message)


def problem_text(code: str | None, p: dict, fallback: str) -> str:
    """What is wrong, by its ``code`` and ``p``arameters, in the request's language; the
    domain's English ``fallback`` for a code without a text here."""
    def g(name: str) -> str:
        # The people's codes' parameters (app.people, gis.people): absent ones show empty.
        return p.get(name, "")

    texts = {
        "unknown_field": lambda: _("unknown field"),
        "required": lambda: _("required"),
        "expected_text": lambda: _("expected text"),
        "expected_int": lambda: _("expected an integer"),
        "expected_float": lambda: _("expected a number"),
        "expected_bool": lambda: _("expected true or false"),
        "expected_object": lambda: _("expected an object"),
        "expected_list": lambda: _("expected a list"),
        "not_date": lambda: _("not a date (YYYY-MM-DD)"),
        "not_datetime": lambda: _("not an ISO-8601 date-time"),
        "not_month": lambda: _("not a month (YYYY-MM)"),
        "territorial_place": lambda: _("not a territorial cell: statistics count the "
                                       "enterprises of territorial cells"),
        "pattern": lambda: _("not in the expected form"),
        "min_length": lambda: _("at least %(n)s characters", n=p["n"]),
        "max_length": lambda: _("at most %(n)s characters", n=p["n"]),
        "max_entries": lambda: _("at most %(n)s entries", n=p["n"]),
        "min": lambda: _("must be at least %(n)s", n=p["n"]),
        "max": lambda: _("must be at most %(n)s", n=p["n"]),
        "choices": lambda: _("one of %(choices)s", choices=p["choices"]),
        "swapped": lambda: _("latitude and longitude look swapped"),
        "null_island": lambda: _("(0, 0) is not a location"),
        "outside_china": lambda: _("outside China"),
        "out_of_range": lambda: _("out of range"),
        # Bounds on uploads and geometries (gis/limits.py, gis/tables.py).
        "too_many_vertices": lambda: _("%(count)s vertices; at most %(limit)s per feature",
                                       count=p["count"], limit=p["limit"]),
        "too_many_vertices_total": lambda: _(
            "the features up to this one have %(count)s vertices; at most %(limit)s at once",
            count=p["count"], limit=p["limit"]),
        "too_many_features": lambda: _("%(count)s features; at most %(limit)s in one file",
                                       count=p["count"], limit=p["limit"]),
        "too_many_rows": lambda: _("more than %(limit)s rows in one upload", limit=p["limit"]),
        "too_many_columns": lambda: _("%(count)s columns; at most %(limit)s",
                                      count=p["count"], limit=p["limit"]),
        "line_too_long": lambda: _("longer than %(limit)s bytes", limit=p["limit"]),
        "too_many_cells": lambda: _("the sheet has or declares %(count)s cells; at most "
                                    "%(limit)s", count=p["count"], limit=p["limit"]),
        "too_large_uncompressed": lambda: _("%(count)s bytes once uncompressed; at most "
                                            "%(limit)s", count=p["count"], limit=p["limit"]),
        "extra_fields": lambda: _("%(count)s fields, the header has %(header)s",
                                  count=p["count"], header=p["header"]),
        "encoding": lambda: _("line %(line)s is not UTF-8 or GBK/GB18030 text (another "
                              "encoding, such as Big5, Shift-JIS or Latin-1?); save the file "
                              "as UTF-8", line=p["line"]),
        "binary": lambda: _("binary file; expected CSV or XLSX"),
        "control_character": lambda: _("contains a control character"),
        "cell_code": lambda: _("a cell code is 1–32 ASCII letters, digits, '-' or '_'"),
        "date_range": lambda: _("a date between %(first)s and %(last)s", first=p["first"],
                                last=p["last"]),
        "backdate_reason": lambda: _("required for a change dated this far back"),
        "preview_timeout": lambda: _("too large to check within the time allowed; change "
                                     "fewer cells at once"),
        "later_version": lambda: _("the current boundary of cell %(cell)s starts on or after "
                                   "this date; choose a later one", cell=p["cell"]),
        "nothing_changes": lambda: _("nothing changes: every boundary given is the current "
                                     "one"),
        "not_rebalanceable": lambda: _("only a second-level grid built from villages can be "
                                       "balanced, and what stays must be its villages or "
                                       "cells"),
        "at_least_one": lambda: _("give at least one of %(choices)s", choices=p["choices"]),
        "before": lambda: _("before the %(other)s", other=field_label(p["other"])),
        "max_days": lambda: _("at most %(n)s days after the start date", n=p["n"]),
        "crs": lambda: _("an EPSG code such as EPSG:4326, or gcj02 for coordinates from Chinese "
                         "map apps"),
        "not_in_grid": lambda: _("%(cell)s is not a cell of grid %(grid)s", cell=p["cell"],
                                 grid=p["grid"]),
        "not_geojson": lambda: _("%(cell)s: not a GeoJSON geometry", cell=p["cell"]),
        "place_code": lambda: _("“%(code)s” is not a cell code; a cell code is 1–32 ASCII "
                                "letters, digits, '-' or '_', such as 130984-Z01-01",
                                code=p["cell"]),
        "no_such_cell": lambda: _("there is no cell “%(code)s”; give the code of an existing "
                                  "cell, such as 130984-Z01-01", code=p["cell"]),
        "user_exists": lambda: _("the user %(name)s exists already", name=p["name"]),
        "no_such_user": lambda: _("there is no user %(name)s", name=p["name"]),
        "username_form": lambda: _("2–64 lower-case letters, digits, '.', '_' or '-', "
                                   "starting with a letter or digit"),
        "password_short": lambda: _("at least %(n)s characters", n=p["n"]),
        "password_mix": lambda: _("mix letters with digits or symbols"),
        "admin_no_place": lambda: _("the administrator role has no place; leave it empty"),
        "needs_place": lambda: _("the %(role)s role needs a place: the code of the cell it "
                                 "covers, such as 130984-Z01-01", role=role_label(p["role"])),
        "unknown_item": lambda: _("%(item)s is not an item of the checklist", item=p["item"]),
        "item_result": lambda: _("the result of item %(item)s is pass, fail or na",
                                 item=p["item"]),
        "note_without_result": lambda: _("a note for item %(item)s, which has no result",
                                         item=p["item"]),
        "same_inspector": lambda: _("the same person as the inspector; name who came along"),
        "item_exists": lambda: _("the checklist has an item %(item)s already", item=p["item"]),
        "deadline_required": lambda: _("required when an item fails"),
        "owner_period": lambda: _("the current owner's period starts on or after this date; "
                                  "choose a later one"),
        # People and their responsibilities (gis/people.py).
        "phone": lambda: _("digits, with spaces, '-', '+', '(', ')', '/' or 转 between them"),
        "person_code": lambda: _("“%(person)s” is not a person code; a person code is 1–32 "
                                 "ASCII letters, digits, '-' or '_', such as 130984-RY001",
                                 person=g("person")),
        "person_exists": lambda: _("a person with the code %(person)s exists already",
                                   person=g("person")),
        "no_such_person": lambda: _("there is no person with the code %(person)s",
                                    person=g("person")),
        "person_or_id": lambda: _("give either the person's code or their number"),
        "person_left": lambda: _("%(person)s left on %(day)s", person=g("person"),
                                 day=g("day")),
        "chief_grid": lambda: _("a station chief answers for a second-level territorial grid; "
                                "%(cell)s is not one", cell=g("cell")),
        "management_code": lambda: _("not an enterprise management code"),
        "no_such_target": lambda: _("there is no %(kind)s %(name)s",
                                    kind=_target_kind(g("kind")), name=g("name")),
        "same_person": lambda: _("the same person; hand over to someone else"),
        "nothing_to_hand_over": lambda: _("%(person)s answers for nothing on that date: nothing "
                                          "to hand over", person=g("person")),
        "account_linked": lambda: _("the account %(name)s is %(person)s's already; unlink it "
                                    "there first", name=g("name"), person=g("person")),
        "repeats_row": lambda: _("repeats row %(row)s", row=g("row")),
        "cell_repeats_row": lambda: _("%(cell)s is given in row %(row)s already",
                                      cell=g("cell"), row=g("row")),
        "from_without_cell": lambda: _("a start date needs a cell"),
        "backdate_not_allowed": lambda: _("%(cell)s: an owner may be dated this far back only "
                                          "by an administrator giving a reason",
                                          cell=g("cell")),
        "not_allowed": lambda: _("%(cell)s: you may not assign its owner", cell=g("cell")),
        "two_columns": lambda: _("two columns mean %(column)s", column=g("column")),
        "missing_columns": lambda: _("missing column(s): %(columns)s", columns=g("columns")),
        "too_many_drawn": lambda: _("%(n)s asked for, but %(count)s enterprises match the "
                                    "filter", n=g("n"), count=g("count")),
        # Product testing and enforcement cases (gis/testing.py, gis/cases.py).
        "several_enterprises": lambda: _("several enterprises are “%(name)s”; give the "
                                         "management code", name=g("name")),
        "other_enterprise": lambda: _("“%(name)s” is not enterprise %(enterprise)s",
                                      name=g("name"), enterprise=g("enterprise")),
        "enterprise_required": lambda: _("give the enterprise's management code, credit code "
                                         "or name"),
        "level_required": lambda: _("required for supervision sampling: %(choices)s",
                                    choices=g("choices")),
        "failed_items_required": lambda: _("required for a failed batch"),
        "failed_items_passed": lambda: _("a batch that passed has no failed items"),
        "after_today": lambda: _("after today (%(day)s)", day=g("day")),
        "testing_not_allowed": lambda: _("you may not record testing for enterprise "
                                         "%(enterprise)s", enterprise=g("enterprise")),
        "no_rows": lambda: _("the file holds no batches"),
        "batch_passed": lambda: _("the batch passed: no case is opened from it"),
        "source_enterprise": lambda: _("the case is about enterprise %(enterprise)s, as its "
                                       "source is", enterprise=g("enterprise")),
        "case_exists": lambda: _("case %(number)s was opened from it already",
                                 number=g("number")),
        "case_number": lambda: _("1–40 characters; no spaces, slashes, question marks, hashes "
                                 "or percent signs"),
        "case_number_exists": lambda: _("case %(number)s exists already", number=g("number")),
        "one_source": lambda: _("give one source: a rectification, a failed batch or a "
                                "complaint"),
        "no_such_service": lambda: _("there is no matter (service) %(service)s",
                                     service=g("service")),
        "location_required": lambda: _("give the place: latitude and longitude, an address or "
                                       "the enterprise"),
        "phone_form": lambda: _("digits, spaces, +, - and brackets only"),
        "url_form": lambda: _("an address starting with http:// or https://"),
        "unknown_attribute": lambda: _("%(attribute)s is not an attribute of this matter",
                                       attribute=g("attribute")),
        "attribute_required": lambda: _("%(attribute)s is required", attribute=g("attribute")),
        "attribute_one_value": lambda: _("%(attribute)s takes one value",
                                         attribute=g("attribute")),
        "attribute_choices": lambda: _("%(attribute)s: one of %(choices)s",
                                       attribute=g("attribute"), choices=g("choices")),
        "attribute_number": lambda: _("%(attribute)s: expected a number",
                                      attribute=g("attribute")),
        "in_future": lambda: _("in the future"),
        "no_complaints": lambda: _("the file holds no complaints"),
        "owns_no_cell": lambda: _("%(person)s owns no cell", person=g("person")),
        "no_owner": lambda: _("cell %(cell)s has no owner", cell=g("cell")),
        "span_90_days": lambda: _("at most 90 days after the start date"),
        "between": lambda: _("between %(min)s and %(max)s", min=g("min"), max=g("max")),
        "too_few_inspectors": lambda: _("fewer than two inspectors may visit enterprise "
                                        "%(enterprise)s (an inspector does not visit the cells "
                                        "they own)", enterprise=g("enterprise")),
        "not_territorial": lambda: _("%(cell)s is a professional grid; a letter is signed for "
                                     "a territorial grid or cell", cell=g("cell")),
        "unknown_rule": lambda: _("%(rule)s is no rule of the assessment", rule=g("rule")),
        "target_share": lambda: _("the target of %(rule)s is a share above 0 and at most 1, "
                                  "such as 0.95", rule=g("rule")),
        # History brought in (gis/inspections_import.py, gis/complaints.py).
        "before_supervision": lambda: _("before enterprise %(enterprise)s came under "
                                        "supervision (%(day)s); import its 纳入监管日期 first",
                                        enterprise=g("enterprise"), day=g("day")),
        "number_taken": lambda: _("%(number)s is already the inspection of %(enterprise)s on "
                                  "%(day)s", number=g("number"), enterprise=g("enterprise"),
                                  day=g("day")),
        "passed_with_failures": lambda: _("合格, yet items failed: %(items)s",
                                          items=g("items")),
        "problems_required": lambda: _("required when the inspection found problems but "
                                       "names no checklist item"),
        "nothing_to_rectify": lambda: _("nothing failed: nothing to rectify"),
        "two_inspectors": lambda: _("at most two people"),
        "several_people": lambda: _("several people are named %(name)s; give the person code",
                                    name=g("name")),
        "no_inspections": lambda: _("the file holds no inspections"),
        "not_closed": lambda: _("given, yet the complaint is not closed"),
        "not_handled": lambda: _("given, yet the complaint is not handled"),
    }
    return str(texts[code]()) if code in texts else fallback


def _target_kind(kind: str) -> str:
    return {"cell": _("cell"), "enterprise": _("enterprise"), "township": _("township"),
            "person": _("person"), "rectification": _("rectification"),
            "spot_check": _("sampled batch"), "complaint": _("complaint"),
            "case": _("case")}.get(kind, kind)


def form_step(run, *, refused: type, refusal, again, done: str):
    """A form that moves a record on one step (a complaint, a case, an urgent event): ``run``
    it in the request's transaction; a step out of turn (``refused``, worded by ``refusal``)
    comes back on the record's page as 409, any other refusal as 400, with nothing written;
    otherwise commit and go to ``done``. ``again(problems, status)`` renders the page."""
    from flask import redirect

    from app.db import get_session

    db = get_session()
    try:
        run()
    except refused as exc:
        db.rollback()
        return again([refusal(exc)], 409)
    except GridWatchError as exc:
        db.rollback()
        return again([domain_message(exc)], 400)
    db.commit()
    return redirect(done)


def domain_message(exc: GridWatchError) -> str:
    """A domain error in the user's language: a ValidationError, or an error that carries a
    ``code`` (and ``field``) the same way (gis.users.UserError); else its own text."""
    if isinstance(exc, ValidationError):
        return field_message(exc.field, validation_problem(exc))
    code, field = getattr(exc, "code", None), getattr(exc, "field", None)
    if not code:
        return str(exc)
    problem = problem_text(code, getattr(exc, "params", {}), str(exc))
    return field_message(field, problem) if field else problem


def outside_every_cell(nearest: dict | None) -> str:
    """The lookup's 404 for a point no cell covers, naming the nearest cell."""
    if not nearest:
        return _("The point is outside every cell.")
    return _("The point is outside every cell; the nearest is %(code)s (%(name)s), %(distance)s "
             "m away.", code=nearest["code"], name=nearest["name"],
             distance=format_decimal(round(nearest["distance_m"])))


def not_found(kind: str, name) -> None:
    """Abort 404 saying, in the user's language, that this enterprise, cell, complaint, person
    or change does not exist (the name as the user gave it)."""
    from flask import abort

    kinds = {"enterprise": _("Enterprise"), "cell": _("Cell"), "complaint": _("Complaint"),
             "person": _("Person"), "change": _("Change"), "user": _("User"),
             "job": _("Background job"), "layer": _("Map layer"),
             "township": _("Township"), "handover": _("Handover"), "draw": _("Draw"),
             "inspection": _("Inspection"), "rectification": _("Rectification"),
             "photo": _("Photo"), "case": _("Case"), "spot_check": _("Sampled batch"),
             "urgent": _("Urgent event"), "letter": _("Responsibility letter"),
             "assessment_rule": _("Assessment rule"), "warning_rule": _("Warning rule")}
    abort(404, description=_("%(kind)s %(name)s does not exist.",
                             kind=kinds.get(kind, kind), name=str(name)[:100]))


def init_app(app: Flask) -> None:
    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError):
        return error_response(400, domain_message(exc), field=exc.field, code=exc.code)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return error_response(400, _("The form has expired or lacks its security token; "
                                     "reload the page and try again."), field="csrf_token",
                              code="csrf")

    @app.errorhandler(GridWatchError)
    def _domain(exc: GridWatchError):
        return error_response(400, domain_message(exc), field=getattr(exc, "field", None),
                              code=getattr(exc, "code", None))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if isinstance(exc, InternalServerError):
            return _crash(exc)
        # A description given at abort() is ours and safe; werkzeug's stock text is English.
        custom = exc.description if exc.description != type(exc).description else None
        return error_response(exc.code or 500, custom)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)
