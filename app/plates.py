"""Responsibility plates (明示牌): one enterprise's plate as a page to print
(``/plates/<management code>``) and as a PDF (``.pdf``), its QR code as a PNG, every plate of a
cell or a station's grid in one PDF (``/plates/cell/<code>.pdf``), and the plates to reprint
since a date (``/plates/reprint``). What a plate says is gis.plates'; who may print it is
gis.policy's ("view" at the enterprise or the cell). A batch bigger than
``PLATES_BACKGROUND_COUNT`` plates is made on the job queue (gis/jobs.py), and offered at
``/plates/jobs/<id>`` when done; ``flask plates pdf`` writes one from the command line.
"""
from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import click
from flask import (Blueprint, Flask, Response, abort, current_app, flash, redirect,
                   render_template, request, url_for)
from flask.cli import AppGroup
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import text

from app.auth import authorize, login_required, record, zone
from app.db import get_session
from app.errors import not_found
from app.mappage import visible
from app.ratelimit import rate_limited
from gis import dates, jobs, plates, policy
from gis.fieldwork import NotFound, cell_target, enterprise_target
from gis.validation import Field, validate

bp = Blueprint("plates", __name__)
plates_cli = AppGroup("plates", help="Responsibility plates (明示牌): PDFs and reprint lists.")

SIZE = {"size": Field(required=False, choices=plates.SIZES, default="a4")}
REPRINT = {"since": Field(kind="datetime", required=False),
           "place": Field(required=False, max_length=32),
           "size": Field(required=False, choices=plates.SIZES, default="a4")}
JOB_KIND = "plates_pdf"
# Days a batch PDF made in the background is kept (a PostgreSQL large object) for download.
KEEP_DAYS = 7
CSS = Path(__file__).resolve().parent / "static" / "plates.css"


# --- what the views share ----------------------------------------------------------------------

def base_url() -> str:
    """Where the public reaches GridWatch: ``PUBLIC_BASE_URL``, else this request's own
    scheme and host."""
    return (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/")


def dressed(rows: list[dict], base: str) -> list[dict]:
    """Plates with their QR codes (inline SVG, made here on the server) and addresses."""
    for p in rows:
        p["qr_url"] = plates.complaint_url(base, p["management_code"])
        # segno's own markup, no user text in it (the address is encoded in the modules).
        p["qr_svg"] = Markup(plates.qr_svg(p["qr_url"]))
    return rows


@functools.lru_cache(maxsize=1)
def _css() -> str:
    return CSS.read_text(encoding="utf-8")


def document(rows: list[dict], size: str, title: str, today: dt.date) -> str:
    """The plates as one self-contained HTML document (the stylesheet inline), for WeasyPrint."""
    return render_template("plates/document.html", plates=rows, size=size, title=title,
                           css=Markup(_css()), today=today)


def pdf_response(data: bytes, name: str) -> Response:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f"inline; filename={safe}.pdf"})


def _enterprise(code: str) -> None:
    """404 for a code that does not exist and for one outside the reader's area alike, as
    the enterprise page answers (codes cannot be probed)."""
    try:
        _id, path = enterprise_target(get_session(), code)
    except NotFound:
        path = None
    if path is None or not policy.can(current_user.grants, "view", path):
        abort(404, description=_("No enterprise %(code)s in your area: the code does not "
                                 "exist, or the enterprise is outside the area you may see.",
                                 code=code[:100]))


def _cell(code: str):
    """The cell row (id, code, name, level); 404 for no such cell, 403 outside one's area."""
    db = get_session()
    try:
        cell_id, path = cell_target(db, code)
    except NotFound:
        not_found("cell", code)
    authorize("view", path)
    return db.execute(text("SELECT id, code, name, level FROM cell WHERE id = :c"),
                      {"c": cell_id}).one()


def _today() -> dt.date:
    return dates.today(zone())


# --- one enterprise ----------------------------------------------------------------------------

@bp.get("/plates/<path:code>")
@login_required
@rate_limited("enterprise")
def plate_page(code: str):
    args = validate(request.args, SIZE)
    _enterprise(code)
    p = plates.plate(get_session(), code)
    return render_template("plates/plate.html", p=dressed([p], base_url())[0],
                           size=args["size"], today=_today())


@bp.get("/plates/<path:code>.pdf")
@login_required
@rate_limited("bulk")
def plate_pdf(code: str):
    args = validate(request.args, SIZE)
    _enterprise(code)
    rows = dressed([plates.plate(get_session(), code)], base_url())
    html = document(rows, args["size"], rows[0]["name"], _today())
    return pdf_response(plates.render_pdf(html), f"plate-{code}-{args['size']}")


@bp.get("/plates/<path:code>/qr.png")
@login_required
@rate_limited("enterprise")
def plate_qr(code: str):
    validate(request.args, {})
    _enterprise(code)
    png = plates.qr_png(plates.complaint_url(base_url(), code))
    return Response(png, mimetype="image/png", headers={
        "Content-Disposition": "inline; filename=qr-" + "".join(
            ch if ch.isalnum() or ch in "-_." else "_" for ch in code) + ".png"})


# --- a cell's or station's batch ---------------------------------------------------------------

def _too_many(n: int) -> bool:
    return n > int(current_app.config["PLATES_MAX_PER_PDF"])


def _background(n: int) -> bool:
    return n > int(current_app.config["PLATES_BACKGROUND_COUNT"])


@bp.get("/plates/cell/<code>")
@login_required
@rate_limited("bulk")
def cell_page(code: str):
    args = validate(request.args, SIZE)
    cell = _cell(code)
    rows = plates.plates_in(get_session(), cell.id)
    return render_template("plates/cell.html", cell=cell, rows=rows, size=args["size"],
                           background=_background(len(rows)), too_many=_too_many(len(rows)))


@bp.get("/plates/cell/<code>.pdf")
@login_required
@rate_limited("bulk")
def cell_pdf(code: str):
    args = validate(request.args, SIZE)
    cell = _cell(code)
    db = get_session()
    n = plates.count_in(db, cell.id)
    if _too_many(n) or _background(n):
        # Too long for one request: the page offers to make it in the background.
        flash(_("%(n)s plates are too many to make while you wait: prepare the PDF below.",
                n=n))
        return redirect(url_for("plates.cell_page", code=code, size=args["size"]), 303)
    rows = dressed(plates.plates_in(db, cell.id), base_url())
    html = document(rows, args["size"], f"{cell.name} {cell.code}", _today())
    return pdf_response(plates.render_pdf(html), f"plates-{cell.code}-{args['size']}")


@bp.post("/plates/cell/<code>/prepare")
@login_required
def cell_prepare(code: str):
    args = validate(request.form, SIZE)
    cell = _cell(code)
    n = plates.count_in(get_session(), cell.id)
    if _too_many(n):
        abort(413, description=_("%(n)s plates in one PDF are too many (at most %(max)s): "
                                 "print the cells inside it one by one.", n=n,
                                 max=current_app.config["PLATES_MAX_PER_PDF"]))
    job_id = _queue({"cell": cell.id}, args["size"], f"{cell.name} {cell.code}",
                    f"plates-{cell.code}-{args['size']}", n)
    record("plates_pdf_queued", target=f"cell {cell.code}", job=job_id, plate_count=n,
           size=args["size"])
    get_session().commit()
    return redirect(url_for("plates.job_page", job_id=job_id))


# --- plates to reprint -------------------------------------------------------------------------

def _reprint_args():
    """(since, place cell row or None, size) of the reprint list's request; the place is
    checked like a cell's batch."""
    args = validate(request.values, REPRINT, zone=zone())
    since = args["since"] or dates.parse_datetime(
        (_today() - dt.timedelta(days=30)).isoformat(), zone(), "since")
    place = _cell(args["place"]) if args["place"] else None
    return since, place, args["size"]


def _changed(since, place) -> list[dict]:
    return plates.plates_changed(get_session(), since, place=place.id if place else None,
                                 cells=None if place else visible())


def reason_labels() -> dict:
    return {"new": _("new enterprise"), "owner": _("cell owner"),
            "station_chief": _("station chief"), "township_leader": _("township leader"),
            "principal": _("enterprise's principal"), "grade": _("grade"),
            "contact": _("name or phone edited")}


@bp.get("/plates/reprint")
@login_required
@rate_limited("bulk")
def reprint_page():
    since, place, size = _reprint_args()
    rows = _changed(since, place)
    return render_template("plates/reprint.html", rows=rows, since=since, place=place,
                           size=size, background=_background(len(rows)),
                           too_many=_too_many(len(rows)), reason_labels=reason_labels(),
                           since_day=dates.local(since, zone()).date())


@bp.get("/plates/reprint.pdf")
@login_required
@rate_limited("bulk")
def reprint_pdf():
    since, place, size = _reprint_args()
    rows = _changed(since, place)
    if _too_many(len(rows)) or _background(len(rows)):
        flash(_("%(n)s plates are too many to make while you wait: prepare the PDF below.",
                n=len(rows)))
        return redirect(url_for("plates.reprint_page", since=request.args.get("since"),
                                place=place.code if place else None, size=size), 303)
    db = get_session()
    ready = dressed(plates.plates_of(db, [r["id"] for r in rows]), base_url())
    html = document(ready, size, _("Plates to reprint"), _today())
    return pdf_response(plates.render_pdf(html), f"plates-reprint-{size}")


@bp.post("/plates/reprint/prepare")
@login_required
def reprint_prepare():
    since, place, size = _reprint_args()
    rows = _changed(since, place)
    if _too_many(len(rows)):
        abort(413, description=_("%(n)s plates in one PDF are too many (at most %(max)s): "
                                 "print the cells inside it one by one.", n=len(rows),
                                 max=current_app.config["PLATES_MAX_PER_PDF"]))
    job_id = _queue({"ids": [r["id"] for r in rows]}, size, _("Plates to reprint"),
                    f"plates-reprint-{size}", len(rows))
    record("plates_pdf_queued", target=f"cell {place.code}" if place else None, job=job_id,
           plate_count=len(rows), size=size, since=since)
    get_session().commit()
    return redirect(url_for("plates.job_page", job_id=job_id))


# --- batches made in the background ------------------------------------------------------------

def _queue(scope: dict, size: str, title: str, file_name: str, n: int) -> int:
    db = get_session()
    _expire(db)
    return jobs.enqueue(db, JOB_KIND, {
        **scope, "size": size, "title": title, "file_name": file_name, "plates": n,
        "base_url": base_url(), "locale": str(get_locale()), "today": _today().isoformat()},
        file_name=f"{file_name}.pdf", user_id=current_user.id,
        username=current_user.username, remote_addr=request.remote_addr)


def _expire(db) -> None:
    """Drop the PDFs of batches made more than KEEP_DAYS ago (their jobs say "expired")."""
    db.execute(text(f"""
        WITH old AS (
            SELECT id, lo_unlink(CAST(result ->> 'pdf' AS oid)) FROM job
            WHERE kind = '{JOB_KIND}' AND status = 'done' AND result ? 'pdf'
              AND finished_at < now() - interval '{KEEP_DAYS} days'
        )
        UPDATE job SET result = (result - 'pdf') || '{{"expired": true}}'
        WHERE id IN (SELECT id FROM old)"""))


def _run_batch(app: Flask, session, job: dict, context: jobs.JobContext) -> dict:
    """The job: the plates of the cell (as they are when it runs) or of the listed
    enterprises, made into one PDF kept as a large object; its oid is in the result."""
    payload = job["payload"]
    if "cell" in payload:
        rows = plates.plates_in(session, payload["cell"])
    else:
        rows = plates.plates_of(session, payload["ids"])
    with app.test_request_context(base_url=payload["base_url"]), \
            force_locale(payload["locale"]):
        html = document(dressed(rows, payload["base_url"]), payload["size"], payload["title"],
                        dt.date.fromisoformat(payload["today"]))
    data = plates.render_pdf(html)
    oid = session.execute(text("SELECT lo_from_bytea(0, :d)"), {"d": data}).scalar()
    return {"plates": len(rows), "bytes": len(data), "pdf": oid,
            "file_name": payload["file_name"]}


def _own_job(job_id: int) -> dict:
    job = jobs.get(get_session(), job_id)
    if job is None or job["kind"] != JOB_KIND or not policy.can_see_job(
            current_user.grants, current_user.id, job["user_id"]):
        not_found("job", job_id)
    return job


@bp.get("/plates/jobs/<int:job_id>")
@login_required
def job_page(job_id: int):
    validate(request.args, {})
    job = _own_job(job_id)
    return render_template("plates/job.html", job=job,
                           ready=job["status"] == "done" and "pdf" in (job["result"] or {}))


@bp.get("/plates/jobs/<int:job_id>.pdf")
@login_required
def job_pdf(job_id: int):
    validate(request.args, {})
    job = _own_job(job_id)
    if job["status"] != "done" or "pdf" not in (job["result"] or {}):
        not_found("job", job_id)
    data = get_session().execute(text("SELECT lo_get(CAST(:o AS oid))"),
                                 {"o": job["result"]["pdf"]}).scalar()
    return pdf_response(bytes(data), job["result"]["file_name"])


# --- command line ------------------------------------------------------------------------------

@plates_cli.command("pdf")
@click.argument("code")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The PDF file to write.")
@click.option("--size", type=click.Choice(plates.SIZES), default="a4", show_default=True)
@click.option("--base-url", help="Where the QR codes point (default PUBLIC_BASE_URL).")
def plates_pdf(code, out, size, base_url):
    """Write the plates of CODE (a cell: every enterprise in it or inside it; else an
    enterprise's management code) to --out, one a page, as the pages' PDFs give them."""
    from app.cli import _require_database, _sessions
    from gis.db import transaction

    base = base_url or current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        raise click.UsageError("give --base-url or set PUBLIC_BASE_URL: the QR codes need "
                               "the address the public reaches GridWatch at")
    _require_database()
    with transaction(_sessions()) as session:
        try:
            cell_id, _path = cell_target(session, code)
            rows = plates.plates_in(session, cell_id)
            title = code
        except NotFound:
            one = plates.plate(session, code)
            if one is None:
                raise click.ClickException(f"no cell or enterprise {code}") from None
            rows, title = [one], one["name"]
    with current_app.test_request_context(base_url=base):
        html = document(dressed(rows, base), size, title, dates.today(zone()))
    data = plates.render_pdf(html)
    Path(out).write_bytes(data)
    click.echo(f"{code}: {len(rows)} plates ({size.upper()}) -> {out}")


@plates_cli.command("reprint")
@click.option("--since", required=True, help="A date (the bureau's) or date-time.")
@click.option("--place", help="A cell code: its enterprises only (default: all).")
def plates_reprint(since, place):
    """The plates that changed since --since (owner, station chief, township leader,
    principal, grade, or a named person's details), tab-separated: management code, name,
    cell, reasons."""
    from app.cli import _require_database, _sessions
    from gis.db import transaction
    from gis.errors import GridWatchError

    try:
        when = dates.parse_datetime(since, zone(), "since")
    except GridWatchError as exc:
        raise click.BadParameter(f"{since!r}: {exc}", param_hint="--since") from exc
    _require_database()
    with transaction(_sessions()) as session:
        place_id = None
        if place:
            try:
                place_id, _path = cell_target(session, place)
            except NotFound:
                raise click.ClickException(f"no cell {place}") from None
        rows = plates.plates_changed(session, when, place=place_id)
    for r in rows:
        click.echo("\t".join([r["management_code"], r["name"], r["cell_code"] or "",
                              ",".join(r["reasons"])]))
    click.echo(f"{len(rows)} plates to reprint", err=True)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(plates_cli)
    # The runner renders the plates' templates, so it needs this app (the worker threads and
    # `flask jobs work` both run inside one).
    jobs.RUNNERS[JOB_KIND] = functools.partial(_run_batch, app)
