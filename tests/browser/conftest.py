"""Browser fixtures: the real app, serving the demo city from its own committed database, and
headless Debian Chromium driven by Playwright. Requests to any host but the app's are aborted
and recorded: pages must work offline."""
from __future__ import annotations

import datetime as dt
import os
import threading
from urllib.parse import urlsplit

import pytest

from tests.conftest import migrated_database

ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "_artifacts")


LIVE_DATABASE: dict = {}
# Long enough for the production check (32 bytes or more), used by no real server.
BROWSER_KEY = "browser-test-key-not-for-any-real-server"


def serve_demo(suffix: str, prepare=None):
    """Load the demo city into a database of its own (the test database's name + ``suffix``),
    let ``prepare(session)`` change it, and serve it; yields (base URL, database URL)."""
    from werkzeug.serving import make_server

    from app import create_app
    from gis.db import make_engine, make_session_factory, transaction
    from gis.demo.build import load_demo

    db_url = migrated_database(suffix)
    engine = make_engine(db_url)
    with transaction(make_session_factory(engine)) as session:
        load_demo(session, today=dt.date.today())
        if prepare is not None:
            prepare(session)
    engine.dispose()
    import tempfile

    photos = tempfile.mkdtemp(prefix="gridwatch-photos-")
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": BROWSER_KEY, "PHOTO_DIR": photos})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", db_url
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def live_url(database_url):
    """Base URL of a running GridWatch serving the demo city."""
    for base, db_url in serve_demo("_live"):
        LIVE_DATABASE["url"] = db_url
        yield base


class PageLog:
    """What a page did that it should not: console errors, failed or outside requests."""

    def __init__(self):
        self.console_errors: list[str] = []
        self.failed: list[str] = []
        self.outside: list[str] = []

    def problems(self) -> list[str]:
        return ([f"console: {m}" for m in self.console_errors]
                + [f"failed: {u}" for u in self.failed]
                + [f"outside host: {u}" for u in self.outside])


def new_page(browser, live_url, viewport, touch=False, locale="zh-CN", http_errors=True,
             **options):
    """(context, page) on a context of its own that refuses every host but the app's (pages
    must work offline), with what went wrong in ``page.log``; ``http_errors``: a 4xx/5xx
    answer counts as a problem (off where a refusal is what the test asks for)."""
    context = browser.new_context(viewport=viewport, has_touch=touch, is_mobile=touch,
                                  locale=locale, **options)
    log = PageLog()
    # The app's own servers (the demo city, and tests' servers of their own) all listen on
    # the loopback address; anything else is outside.
    own = urlsplit(live_url).hostname

    def guard(route):
        if urlsplit(route.request.url).hostname != own:
            log.outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and log.console_errors.append(m.text))
    # A request the browser itself cancels (navigating away mid-load) is not a failure.
    page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "")
            and log.failed.append(r.url))
    if http_errors:
        page.on("response", lambda r: r.status >= 400
                and log.failed.append(f"{r.status} {r.url}"))
    page.log = log
    return context, page


@pytest.fixture
def page(browser, live_url):
    context, page = new_page(browser, live_url, {"width": 1280, "height": 800})
    yield page
    context.close()


def screenshot(page, name: str) -> str:
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    page.screenshot(path=path, full_page=True)
    return path


def sign_in(page, live_url: str, username: str, password: str, then: str | None) -> None:
    """Log in through the real form; ``then`` is a path to open first (None: stay where the
    login redirect left us)."""
    if then is not None:
        page.goto(live_url + then)
    if "/login" not in page.url:
        return
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form button[type=submit]")
