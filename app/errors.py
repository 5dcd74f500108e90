"""Error answers: JSON for the API, Chinese (or English) pages for people; never a stack
trace or SQL. The real exception goes to the server log."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

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


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, message: str | None = None, field: str | None = None):
    message = message or _messages().get(status, _messages()[400])
    if _wants_json():
        body = {"error": {"status": status, "message": message}}
        if field:
            body["error"]["field"] = field
        return jsonify(body), status
    return render_template("errors/error.html", status=status, message=message,
                           field=field), status


def validation_problem(exc: ValidationError) -> str:
    """The reason in the user's language; the field name stays as the API spells it."""
    p = exc.params
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
    }
    return str(texts[exc.code]()) if exc.code in texts else exc.message


def not_found(kind: str, name) -> None:
    """Abort 404 saying, in the user's language, that this enterprise, cell, complaint, person
    or change does not exist (the name as the user gave it)."""
    from flask import abort

    kinds = {"enterprise": _("Enterprise"), "cell": _("Cell"), "complaint": _("Complaint"),
             "person": _("Person"), "change": _("Change")}
    abort(404, description=_("%(kind)s %(name)s does not exist.",
                             kind=kinds.get(kind, kind), name=str(name)[:100]))


def init_app(app: Flask) -> None:
    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError):
        problem = validation_problem(exc)
        return error_response(400, _("%(field)s: %(problem)s", field=exc.field,
                                     problem=problem), field=exc.field)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return error_response(400, _("The form has expired or lacks its security token; "
                                     "reload the page and try again."), field="csrf_token")

    @app.errorhandler(GridWatchError)
    def _domain(exc: GridWatchError):
        return error_response(400, str(exc))

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
