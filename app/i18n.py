"""Chinese first, English available: locale selection and Jinja helpers."""
from __future__ import annotations

import os

from flask import Flask, current_app, g, request, session
from flask_babel import Babel, format_decimal, format_percent, get_locale, lazy_gettext as _l

TRANSLATIONS = os.path.join(os.path.dirname(__file__), "translations")


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    wanted = request.args.get("lang")
    if wanted in languages:
        session["lang"] = wanted
        return wanted
    if session.get("lang") in languages:
        return session["lang"]
    user = getattr(g, "_login_user", None)
    if user is not None and getattr(user, "locale", None) in languages:
        return user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _remember_language() -> None:
    # Eagerly, not in the selector: a ?lang= on a page that redirects (to the login form)
    # renders nothing, yet the choice must hold for the pages that follow.
    wanted = request.args.get("lang")
    if wanted in current_app.config["LANGUAGES"]:
        session["lang"] = wanted


ROLE_LABELS = {
    "leader": _l("Leader"),
    "grid_manager": _l("Grid manager"),
    "inspector": _l("Inspector"),
    "admin": _l("Administrator"),
    "hotline": _l("12365 hotline"),
}


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories=TRANSLATIONS)
    app.before_request(_remember_language)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["role_label"] = role_label
    app.jinja_env.filters["format_number"] = _format_number
    app.jinja_env.filters["format_percent"] = _format_percent


def _format_number(value):
    return "–" if value is None else format_decimal(value)


def _format_percent(value, format=None):  # noqa: A002 - Babel's own keyword
    return "–" if value is None else format_percent(value, format=format)
