"""Rate limits on bulk reads (gis.ratelimit) as a view decorator: ``@rate_limited("bulk")``
under ``@login_required``. The rates come from the READ_LIMIT_* settings, read once here at
start-up."""
from __future__ import annotations

import functools
import math

from flask import Flask, current_app, make_response
from flask_babel import gettext as _
from flask_login import current_user

from app.db import get_session
from app.errors import error_response
from gis.ratelimit import Rate, take

# "enterprise": one enterprise's record (the search, its responsible chain and contacts);
# "bulk": many at once (enterprise lists, cell cards, map layers as GeoJSON).
KINDS = ("enterprise", "bulk")


def init_app(app: Flask) -> None:
    app.extensions["gridwatch_read_rates"] = {
        kind: Rate(burst=int(app.config[f"READ_LIMIT_{kind.upper()}_BURST"]),
                   per_minute=float(app.config[f"READ_LIMIT_{kind.upper()}_PER_MINUTE"]))
        for kind in KINDS}


def rate_limited(kind: str):
    """Decorator: a logged-in user's read of ``kind`` is counted; past the limit the answer
    is 429 with Retry-After, and the view does not run."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of read {kind!r}")

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            rate = current_app.extensions["gridwatch_read_rates"][kind]
            if current_user.is_authenticated and not rate.off:
                wait = take(get_session(write=True), current_user.id, kind, rate)
                if wait:
                    return _too_many(kind, wait)
            return view(*args, **kwargs)

        wrapped.rate_limited = kind
        return wrapped

    return decorate


def _too_many(kind: str, wait: float):
    seconds = max(1, math.ceil(wait))
    current_app.logger.warning("read limit %r reached by user %s (%s)", kind,
                               current_user.id, current_user.username)
    response = make_response(error_response(429, _(
        "Too many reads in a short time; try again in %(seconds)s seconds.", seconds=seconds)))
    response.headers["Retry-After"] = str(seconds)
    return response
