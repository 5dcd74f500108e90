"""Photos of inspections and rectifications (gis/photos.py): sent from the field as multipart
uploads, served to whoever may read the enterprise.

``POST /api/v1/inspections/<id>/photos`` and ``POST /api/v1/rectifications/<id>/photos`` take
one or more files in the field ``file``; whoever may ``record_inspection`` at the enterprise's
cell may add them. Every file is checked before any is kept, so a refusal writes nothing:
413 for a file too large, 415 for one that is no JPEG, PNG or WebP by its content, each naming
the file. ``GET /api/v1/photos/<id>`` serves the bytes with their stored type to whoever may
``view`` the enterprise; the address never changes what it shows (photos are kept by hash), so
browsers may keep it privately.

The store is made here from the settings (``PHOTO_DIR``, under the instance folder when
relative) and kept in ``app.extensions["gridwatch_photos"]``: anything with the same methods
(gis.photos.PhotoStore) may replace it.
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import authorize, login_required, record
from app.db import get_session
from app.errors import error_response, not_found
from gis import fieldwork, photos
from gis.validation import ValidationError

bp = Blueprint("photos", __name__, url_prefix="/api/v1")

# Files in one request: a phone sends an inspection's photos together.
MAX_FILES = 20
# A photo's address shows the same bytes for ever.
CACHE_CONTROL = "private, max-age=31536000, immutable"


def init_app(app: Flask) -> None:
    root = os.path.join(app.instance_path, app.config["PHOTO_DIR"])
    app.extensions["gridwatch_photos"] = photos.DiskStore(root)
    app.register_blueprint(bp)


def store() -> photos.PhotoStore:
    return current_app.extensions["gridwatch_photos"]


@bp.errorhandler(photos.PhotoRefused)
def _refused(exc: photos.PhotoRefused):
    name = exc.file_name or _("the photo")
    p = exc.params
    if exc.code == "too_large":
        return error_response(413, _(
            "%(file)s is %(size)s MB; a photo may be at most %(limit)s MB.", file=name,
            size=_megabytes(p["size"]), limit=_megabytes(p["limit"])), field="file")
    if exc.code == "too_many_pixels":
        return error_response(413, _(
            "%(file)s has too many pixels; a photo may have at most %(limit)s million.",
            file=name, limit=format_decimal(p["limit"] // 1_000_000)), field="file")
    if exc.code == "damaged":
        return error_response(415, _(
            "%(file)s cannot be read as an image: the file is damaged or incomplete.",
            file=name), field="file")
    return error_response(415, _("%(file)s is not a JPEG, PNG or WebP image.", file=name),
                          field="file")


def _megabytes(n: int) -> str:
    return format_decimal(round(n / (1024 * 1024), 1))


def _uploads() -> list[tuple[bytes, str | None, tuple]]:
    """Every file of the request, read no further than the limit, each checked: (data, name,
    what gis.photos.check found). Raises before anything is kept."""
    unknown = sorted((set(request.form) - {"csrf_token", "lang"}) | (set(request.files) - {"file"}))
    if unknown:
        raise ValidationError(unknown[0], "unknown field", "unknown_field")
    files = request.files.getlist("file")
    if len(files) > MAX_FILES:
        raise ValidationError("file", f"at most {MAX_FILES} entries", "max_entries",
                              n=MAX_FILES)
    limit = int(current_app.config["PHOTO_MAX_BYTES"])
    out = []
    for upload in files:
        # One byte more than the limit tells a file too large without reading all of it.
        data = upload.stream.read(limit + 1)
        if not data and not upload.filename:
            continue  # a form's file field left empty
        name = photos.clean_file_name(upload.filename)
        out.append((data, name, photos.check(data, limit, name)))
    if not out:
        raise ValidationError("file", "required (multipart/form-data)", "required")
    return out


def _add(target: str, **owner) -> Response:
    db = get_session()
    code = photos.owner(db, **owner)
    if code is None:
        kind, key = next(iter(owner.items()))
        not_found(kind.removesuffix("_id"), key)
    _id, path = fieldwork.enterprise_target(db, code)
    authorize("record_inspection", path)
    added = []
    for data, name, checked in _uploads():
        photo = photos.add_photo(db, store(), data, username=current_user.username,
                                 file_name=name, checked=checked,
                                 far_metres=current_app.config["FAR_FROM_SITE_METRES"],
                                 **owner)
        if photo["created"]:
            record("photo_added", target=target, photo=photo["id"], file_name=name,
                   sha256=photo["sha256"], far_from_site=photo["far_from_site"])
        added.append({**photo, "url": url_for("photos.show", photo_id=photo["id"])})
    db.commit()
    return jsonify(photos=added), 201


@bp.post("/inspections/<int:inspection_id>/photos")
@login_required
def add_to_inspection(inspection_id: int):
    return _add(f"inspection {inspection_id}", inspection_id=inspection_id)


@bp.post("/rectifications/<int:rectification_id>/photos")
@login_required
def add_to_rectification(rectification_id: int):
    return _add(f"rectification {rectification_id}", rectification_id=rectification_id)


@bp.get("/photos/<int:photo_id>")
@login_required
def show(photo_id: int):
    db = get_session()
    photo = photos.photo(db, photo_id)
    if photo is None:
        not_found("photo", photo_id)
    _id, path = fieldwork.enterprise_target(db, photo["enterprise"])
    authorize("view", path)
    if request.if_none_match.contains(photo["sha256"]):
        response = Response(status=304)
    else:
        try:
            kept = store().open(photo["sha256"])
        except KeyError:
            current_app.logger.error("photo %s: %s is not in the store", photo_id,
                                     photo["sha256"])
            not_found("photo", photo_id)
        # Read whole (a photo is at most PHOTO_MAX_BYTES): no file left open behind the
        # response, whoever reads it.
        data = kept.read_bytes() if isinstance(kept, Path) else kept
        response = Response(data, mimetype=photo["media_type"])
    response.set_etag(photo["sha256"])
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers.pop("Expires", None)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
