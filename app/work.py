"""The inspector's phone pages: My work (/work/), the checklist form (/work/inspect) and the
service worker that keeps both, and the work list, on the phone for when there is no signal.
Finished inspections wait on the phone (IndexedDB, app/static/work.js) and go to
POST /api/v1/inspections with their client id when the network returns."""
from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from app.auth import login_required, zone
from app.db import get_session
from gis import dates, work

bp = Blueprint("work", __name__)

# Bump when the cached shell changes shape: the new worker drops the old caches.
CACHE_VERSION = "work-v4"


def _places() -> list[int]:
    return [g.place for g in current_user.grants if g.role == "inspector" and g.place]


def _assets() -> list[str]:
    from app.assets import vendor_file

    return [url_for("work.page"), url_for("work.inspect"),
            url_for("static", filename="gridwatch.css"),
            url_for("static", filename="gridwatch.js"),
            url_for("static", filename="work.css"), url_for("static", filename="work.js"),
            url_for("static", filename="assessment.css"),
            url_for("static", filename="favicon.svg"),
            url_for("static", filename=vendor_file("leaflet", "leaflet.js")),
            url_for("static", filename=vendor_file("leaflet", "leaflet.css"))]


def _texts() -> dict:
    config = current_app.config
    return {"zone": zone(), "basemap": config["BASEMAP"], "basemapUrl": config["BASEMAP_URL"],
            "workUrl": url_for("api_work.work_data"),
            "inspectionsUrl": url_for("api.create_inspection"),
            "photosUrl": "/api/v1/inspections/__ID__/photos",
            "inspectUrl": url_for("work.inspect"), "homeUrl": url_for("work.page"),
            "enterpriseUrl": url_for("enterprise.page", code="__CODE__"),
            "rectificationUrl": "/rectifications/__ID__",
            "complaintUrl": "/complaints/__NUMBER__",
            "swUrl": url_for("work.service_worker"), "cacheName": "gridwatch-" + CACHE_VERSION,
            "assets": _assets()}


@bp.get("/work/")
@login_required
def page():
    return render_template("work/index.html", texts=_texts(), has_cells=bool(_places()))


@bp.get("/work/inspect")
@login_required
def inspect():
    # One page for every enterprise (?e=CODE): the phone keeps this one and fills it from the
    # cached work list, so any enterprise of the list can be inspected without signal.
    return render_template("work/inspect.html", texts=_texts())


@bp.get("/work/sw.js")
def service_worker():
    body = render_template("work/sw.js", version=CACHE_VERSION,
                           assets=json.dumps(_assets() if current_user.is_authenticated
                                             else []))
    return Response(body, mimetype="text/javascript",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/work/"})


api = Blueprint("api_work", __name__, url_prefix="/api/v1")


@api.get("/work")
@login_required
def work_data():
    db = get_session()
    cells = work.field_cells(db, _places())
    data = work.my_work(db, cells, dates.today(zone()), zone())
    from app.quality_warnings import describe

    data["warnings"] = [{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                         for k, v in w.items() if k != "html"} for w in describe(data["warnings"])]
    data.update(user=current_user.username, csrf_token=generate_csrf(),
                far_metres=current_app.config["FAR_FROM_SITE_METRES"])
    return jsonify(data)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(api)
