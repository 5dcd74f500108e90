"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2/), so existing Open311 clients,
the city's hotline systems and scripts take complaints in and follow them unchanged.

``GET /open311/v2/services.{json,xml}`` and ``/services/<code>.{json,xml}`` (its attributes)
list what a complaint may be about. ``POST /open311/v2/requests.{json,xml}`` takes a complaint,
form-encoded as the standard says, with ``api_key`` (an API token; ``Authorization: Bearer``
works too; a logged-in browser session with its CSRF token as well) of a user who may
``intake_complaint``; it goes through gis.complaints.receive like every other complaint and
the answer, 200 as the standard's servers give it, is ``[{"service_request_id",
"service_notice", "account_id": null}]``. ``GET /open311/v2/requests.{json,xml}`` (filters
``service_request_id``, ``service_code``, ``start_date``, ``end_date``, ``status``; pages with
``page`` and ``page_size`` as Chicago's and others' extension has it) and
``/requests/<id>.{json,xml}`` answer the standard's fields: never the complainant's name,
phone or e-mail. Reads are open to anyone, as the standard has them (``OPEN311_PUBLIC_READS``;
anonymous readers are rate-limited per address); without it, a login or token is needed and
one reads the complaints of one's area.

Errors are the standard's list, ``[{"code": 400, "description": "..."}]`` (``<errors>`` in
XML), in the request's language, whatever went wrong (an unknown service is 404).
"""
from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, TooManyRequests

from app.auth import authorize, record, zone
from app.db import get_session
from app.errors import _messages, domain_message
from app.urgent import audit_from_complaint, rules as urgent_rules
from gis import complaints, dates, policy
from gis.errors import GridWatchError
from gis.ratelimit import take, take_client
from gis.validation import ValidationError

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
FORMAT = "<any(json, xml):fmt>"
# Page sizes of GET requests (the extension's page_size): default and largest.
PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
# The standard: a search spans at most 90 days, the last 90 when no dates are given.
MAX_SPAN = dt.timedelta(days=90)
MAX_IDS = 100
# What a POST may carry besides attribute[...] (the standard's fields; address_id and
# device_id and account_id are accepted and not kept).
POST_FIELDS = {"api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string",
               "address_id", "email", "device_id", "account_id", "first_name", "last_name",
               "phone", "description", "media_url", "csrf_token", "lang"}
GET_FIELDS = {"api_key", "jurisdiction_id", "service_request_id", "service_code",
              "start_date", "end_date", "status", "page", "page_size", "lang"}
# Our field names in a refusal, as the standard calls them.
OPEN311_FIELD = {"lon": "long", "address": "address_string"}
_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]{1,64})\](\[\])?")


# --- answers ----------------------------------------------------------------------------------

def _answer(fmt: str, root: str, item: str, rows, status: int = 200):
    """``rows`` (a list of dicts, or one dict for a single object) as JSON, or as XML under
    ``<root>`` with each row an ``<item>``."""
    if fmt == "json":
        return jsonify(rows), status
    top = ET.Element(root)
    for row in rows if isinstance(rows, list) else [rows]:
        _xml_fields(ET.SubElement(top, item) if item else top, row)
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")
    return Response(body, status=status, mimetype="text/xml", content_type="text/xml; "
                                                                         "charset=utf-8")


# Lists inside an object, and what each of their members is called in XML.
_XML_ITEMS = {"attributes": "attribute", "values": "value"}


def _xml_fields(parent: ET.Element, row: dict) -> None:
    for key, value in row.items():
        child = ET.SubElement(parent, key)
        if isinstance(value, list):
            for member in value:
                _xml_fields(ET.SubElement(child, _XML_ITEMS.get(key, "item")), member)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        elif value is not None:
            child.text = str(value)


def _error(status: int, description: str, fmt: str | None = None):
    fmt = fmt or ("xml" if request.path.endswith(".xml") else "json")
    return _answer(fmt, "errors", "error", [{"code": status, "description": description}],
                   status)


# Open311's errors, as app.errors answers those no route of the blueprint caught.
error_answer = _error


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    status = 404 if exc.code == "no_such_service" else 400
    field = OPEN311_FIELD.get(exc.field, exc.field)
    if exc.field == "attribute" and exc.params.get("attribute"):
        field = f"attribute[{exc.params['attribute']}]"
    return _error(status, f"{field}: {domain_message(exc)}")


@bp.errorhandler(GridWatchError)
def _domain(exc: GridWatchError):
    return _error(400, domain_message(exc))


@bp.errorhandler(CSRFError)
def _csrf(exc: CSRFError):
    return _error(400, _("The form has expired or lacks its security token; reload the page "
                         "and try again."))


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    custom = exc.description if exc.description != type(exc).description else None
    status = exc.code or 500
    response = _error(status, custom or _messages().get(status, _messages()[400]))
    if status == 429 and getattr(exc, "retry_after", None):
        response = current_app.make_response(response)
        response.headers["Retry-After"] = str(int(exc.retry_after))
    return response


# --- reading limits ---------------------------------------------------------------------------

def _limit_reads() -> None:
    """Open reads count against the reader: a user's bulk-read bucket, else the client's
    address's own (app.ratelimit's rates)."""
    rate = current_app.extensions["gridwatch_read_rates"]["bulk"]
    if rate.off:
        return
    db = get_session()
    if current_user.is_authenticated:
        wait = take(db, current_user.id, "bulk", rate)
    else:
        wait = take_client(db, "open311", request.remote_addr or "-", rate)
    if wait:
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(description=_(
            "Too many reads in a short time; try again in %(seconds)s seconds.",
            seconds=seconds), retry_after=seconds)


def _readable() -> list[int] | None:
    """The cells whose complaints the reader sees: all when reads are public, else the
    user's area (no login: 401)."""
    if current_app.config["OPEN311_PUBLIC_READS"]:
        return None
    if not current_user.is_authenticated:
        abort(401)
    return policy.visible_cells(get_session(), current_user.grants)


def _only(allowed: set[str], values) -> None:
    for key in values:
        if key not in allowed and not (allowed is POST_FIELDS and _ATTRIBUTE.fullmatch(key)):
            raise ValidationError(key, "unknown field", "unknown_field")


# --- services ---------------------------------------------------------------------------------

def _service_row(s: dict) -> dict:
    return {"service_code": s["code"], "service_name": s["name"],
            "description": s["description"], "metadata": bool(s["attributes"]),
            "type": "realtime", "keywords": s["specialty"] or "", "group": s["group_name"]}


@bp.get(f"/services.{FORMAT}")
def service_list(fmt: str):
    _only(GET_FIELDS, request.args)
    rows = [_service_row(s) for s in complaints.services(get_session())]
    return _answer(fmt, "services", "service", rows)


@bp.get(f"/services/<code>.{FORMAT}")
def service_definition(code: str, fmt: str):
    _only(GET_FIELDS, request.args)
    found = complaints.service(get_session(), code)
    if found is None or not found["active"]:
        abort(404, description=_("%(kind)s %(name)s does not exist.", kind=_("Service"),
                                 name=code[:100]))
    attributes = [{key: a.get(key) for key in ("variable", "code", "datatype", "required",
                                               "datatype_description", "order", "description")}
                  | ({"values": a["values"]} if a.get("values") else {})
                  for a in found["attributes"] or []]
    return _answer(fmt, "service_definition", "", {"service_code": found["code"],
                                                   "attributes": attributes})


# --- requests ---------------------------------------------------------------------------------

def _attributes(form) -> dict:
    out: dict = {}
    for key in form:
        match = _ATTRIBUTE.fullmatch(key)
        if match:
            values = form.getlist(key)
            out[match[1]] = values if match[2] else values[-1]
    return out


def _notice(done: complaints.Received) -> str:
    where = (_("handled by cell %(cell)s (%(name)s)", cell=done.cell_code, name=done.cell_name)
             if done.cell_code else _("handled by the city"))
    due = dates.local(done.due_at, zone()).strftime("%Y-%m-%d %H:%M") if done.due_at else "–"
    text = _("Received as %(reference)s; %(where)s, to be answered by %(due)s.",
             reference=done.reference, where=where, due=due)
    if done.outside_grid:
        text += " " + _("The place is outside the grid: the city routes it.")
    return text


@bp.post(f"/requests.{FORMAT}")
def create_request(fmt: str):
    if not current_user.is_authenticated:
        abort(401, description=_("An api_key (an API token) is needed to send a request."))
    authorize("intake_complaint", ())
    form = request.form
    _only(POST_FIELDS, form)
    db = get_session()
    done = complaints.receive(
        db, source="open311", username=current_user.username, zone=zone(),
        urgent_rules=urgent_rules(),
        service_code=form.get("service_code"), description=form.get("description"),
        lon=form.get("long"), lat=form.get("lat"), address=form.get("address_string"),
        attributes=_attributes(form), first_name=form.get("first_name"),
        last_name=form.get("last_name"), email=form.get("email"), phone=form.get("phone"),
        media_url=form.get("media_url"))
    record("complaint_received", target=f"complaint {done.number}", channel="open311",
           service=done.service_code, cell=done.cell_code, outside_grid=done.outside_grid)
    audit_from_complaint(done)
    db.commit()
    return _answer(fmt, "service_requests", "request", [{
        "service_request_id": done.number, "service_notice": _notice(done),
        "account_id": None}])


def request_row(k: dict) -> dict:
    """A complaint in the standard's fields: nothing personal (no name, phone or e-mail)."""
    cell_code = k["assigned_cell_code"] or k["cell_code"]
    cell_name = k["assigned_cell_name"] or k["cell_name"]
    owner = k["assignee_name"] or k["owner_name"]
    agency = None
    if cell_code:
        agency = f"{cell_name} ({cell_code})"
        if owner:
            agency = _("%(cell)s, cell owner %(owner)s", cell=agency, owner=owner)
    when = zone()
    return {
        "service_request_id": k["number"], "status": k["open311_status"],
        "status_notes": k["status_notes"], "service_name": k["service_name"],
        "service_code": k["service_code"], "description": k["text"],
        "agency_responsible": agency, "service_notice": None,
        "requested_datetime": dates.isoformat(k["received_at"], when),
        "updated_datetime": dates.isoformat(k["updated_at"] or k["received_at"], when),
        "expected_datetime": dates.isoformat(k["due_at"], when),
        "address": k["address"], "address_id": None, "zipcode": None,
        "lat": None if k["lat"] is None else round(k["lat"], 6),
        "long": None if k["lon"] is None else round(k["lon"], 6),
        "media_url": k["media_url"],
    }


def _list(value: str | None, field: str, limit: int = MAX_IDS) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if len(items) > limit:
        raise ValidationError(field, f"at most {limit} entries", "max_entries", n=limit)
    return items


def _int(name: str, default: int, top: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(name, "expected an integer", "expected_int") from None
    if not 1 <= number <= top:
        raise ValidationError(name, f"between 1 and {top}", "between", min=1, max=top)
    return number


@bp.get(f"/requests.{FORMAT}")
def request_list(fmt: str):
    args = request.args
    _only(GET_FIELDS, args)
    cells = _readable()
    _limit_reads()
    page = _int("page", 1, 100000)
    size = _int("page_size", PAGE_SIZE, MAX_PAGE_SIZE)
    ids = _list(args.get("service_request_id"), "service_request_id")
    statuses = _list(args.get("status"), "status", 2)
    for s in statuses or ():
        if s not in ("open", "closed"):
            raise ValidationError("status", "open or closed", "choices", choices="open, closed")
    start = end = None
    if ids is None:  # the standard: the ids override every other argument
        tz = zone()
        start = dates.parse_datetime(args["start_date"], tz, "start_date") \
            if args.get("start_date") else None
        end = dates.parse_datetime(args["end_date"], tz, "end_date") \
            if args.get("end_date") else None
        if start is None and end is None:
            end = dt.datetime.now(dt.timezone.utc)
        if start is None:
            start = end - MAX_SPAN
        if end is None:
            end = start + MAX_SPAN
        if end < start:
            raise ValidationError("end_date", "before the start date", "before",
                                  other="start_date")
        if end - start > MAX_SPAN:
            raise ValidationError("end_date", "at most 90 days after the start date",
                                  "span_90_days")
    _total, rows = complaints.search(
        get_session(), cells=cells, numbers=ids,
        services_in=None if ids else _list(args.get("service_code"), "service_code"),
        open311_status=None if ids else tuple(statuses or ()) or None,
        start=start, end=end, limit=size, offset=(page - 1) * size)
    return _answer(fmt, "service_requests", "request", [request_row(k) for k in rows])


@bp.get(f"/requests/<rid>.{FORMAT}")
def request_one(rid: str, fmt: str):
    _only(GET_FIELDS, request.args)
    cells = _readable()
    _limit_reads()
    _total, rows = complaints.search(get_session(), cells=cells, numbers=[rid], limit=1)
    if not rows:
        abort(404, description=_("%(kind)s %(name)s does not exist.", kind=_("Complaint"),
                                 name=rid[:100]))
    return _answer(fmt, "service_requests", "request", [request_row(rows[0])])


def init_app(app) -> None:
    app.register_blueprint(bp)
