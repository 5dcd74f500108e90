"""Offline first: no page, in any base-map mode but Tianditu, references a host other than
the app's own."""
from pathlib import Path

import pytest

from app.assets import external_urls
from tests.factories import login, small_world

STATIC = Path(__file__).resolve().parent.parent / "app" / "static"
EXTRA = ["/cells/S1-01/card", "/enterprises?overdue=true", "/map?figure=overdue_rate",
         "/no-such-page", "/login"]


def _pages(app):
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith("/static"):
            yield rule.rule
    yield from EXTRA


@pytest.fixture
def admin(client, session):
    small_world(session)
    login(client, "admin")
    return client


def test_no_page_references_an_outside_host(app, admin):
    checked = 0
    for path in _pages(app):
        response = admin.get(path)
        if response.mimetype not in ("text/html", "application/json", "application/geo+json"):
            continue
        assert external_urls(response.get_data(as_text=True)) == [], path
        checked += 1
    assert checked >= 10


def test_intranet_base_map_is_the_only_outside_reference(app, admin):
    app.config.update(BASEMAP="xyz", BASEMAP_URL="http://tiles.intranet/{z}/{x}/{y}.png")
    html = admin.get("/map").get_data(as_text=True)
    assert "tiles.intranet" in html
    assert external_urls(html, allowed_hosts=["tiles.intranet"]) == []


def test_our_own_css_and_js_load_nothing_from_outside():
    for path in list(STATIC.glob("*.css")) + list(STATIC.glob("*.js")):
        assert external_urls(path.read_text(encoding="utf-8")) == [], path.name
