"""Response headers and request guards every page and API answer gets.

Content-Security-Policy: scripts only from this server or inline blocks carrying this
response's nonce; no ``eval``. A string that slipped past escaping still cannot run: that is
the second wall behind escaping everything shown (docs/security.md). Inline *styles* stay
allowed: Folium's page and Leaflet's own CSS use them, and a style cannot run code.
"""
from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from gis.validation import ValidationError

# <script> tags that run inline code: any <script> without src= whose type is JavaScript.
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\btype=\"application/(?:ld\+)?json\")"
                            r"([^>]*)>", re.IGNORECASE)


def csp_nonce() -> str:
    """This response's nonce (made on first use)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def with_nonce(html: str) -> Markup:
    """Generated HTML (Folium's header and script) with this response's nonce on every inline
    script, so the policy lets exactly these run."""
    nonce = csp_nonce()
    return Markup(_INLINE_SCRIPT.sub(lambda m: f'<script nonce="{nonce}"{m.group(1)}>', html))


def tile_origins(config) -> list[str]:
    """Where base-map tiles come from, for img-src (none with the default "no base map")."""
    basemap = config.get("BASEMAP", "none")
    if basemap == "tianditu":
        return ["https://*.tianditu.gov.cn"]
    if basemap == "xyz" and config.get("BASEMAP_URL"):
        parts = urlsplit(config["BASEMAP_URL"].replace("{s}", "a"))
        if parts.scheme and parts.netloc:
            host = parts.netloc.replace("a.", "*.", 1) if "{s}" in config["BASEMAP_URL"] \
                else parts.netloc
            return [f"{parts.scheme}://{host}"]
    return []


def content_security_policy(nonce: str, tiles: list[str]) -> str:
    images = " ".join(["'self'", "data:", "blob:", *tiles])
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {images}",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


# Headers on every answer, FastLookup's included (app/lookup.py adds them there).
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(self), camera=(self), microphone=()",
}


class JSONProvider(DefaultJSONProvider):
    """A body nested thousands deep made the parser raise RecursionError, a 500: treat it as
    what it is, a body that is not acceptable JSON (get_json answers 400)."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def _refuse_control_characters():
    """NUL and other control characters in a path or parameter: 400 naming it (they reached
    PostgreSQL before, which refuses NUL in text: a 500)."""
    from gis.validation import control_character

    if control_character(request.path):
        raise ValidationError("path", "contains a control character", "control_character")
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for source in sources:
        for key, values in source.lists():
            if control_character(key) or any(control_character(v) for v in values):
                raise ValidationError(key[:40].replace("\x00", "") or "?",
                                      "contains a control character", "control_character")


def init_app(app: Flask) -> None:
    tiles = tile_origins(app.config)
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.filters["with_nonce"] = with_nonce
    app.before_request(_refuse_control_characters)

    @app.after_request
    def _headers(response):
        for name, value in STATIC_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = content_security_policy(
                csp_nonce(), tiles)
        return response
