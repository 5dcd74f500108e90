"""Chinese first, English available: locale selection and Jinja helpers."""
from __future__ import annotations

import os

from flask import Flask, current_app, request, session
from flask_babel import Babel, format_decimal, format_percent, get_locale

TRANSLATIONS = os.path.join(os.path.dirname(__file__), "translations")


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    wanted = request.args.get("lang")
    if wanted in languages:
        session["lang"] = wanted
        return wanted
    if session.get("lang") in languages:
        return session["lang"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories=TRANSLATIONS)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["format_number"] = _format_number
    app.jinja_env.filters["format_percent"] = _format_percent


def _format_number(value):
    return "–" if value is None else format_decimal(value)


def _format_percent(value, format=None):  # noqa: A002 - Babel's own keyword
    return "–" if value is None else format_percent(value, format=format)
