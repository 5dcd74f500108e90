"""Test fixtures: a real PostGIS, migrated once per session, one rolled-back transaction per test.

The database is ``GRIDWATCH_TEST_DATABASE_URL``, else DATABASE_URL's server with the database
name suffixed ``_test``, else ``gridwatch_test`` on 127.0.0.1. It is created when missing and
wiped at the start of the session (never point it at data you want to keep). When it cannot be
reached, database tests are skipped locally and fail the run when ``CI=true``.
"""
from __future__ import annotations

import os
import shutil
from contextlib import nullcontext

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gis.db import DEFAULT_DATABASE_URL, make_engine, normalise_url, reset_database


def _test_url() -> str:
    if os.environ.get("GRIDWATCH_TEST_DATABASE_URL"):
        return normalise_url(os.environ["GRIDWATCH_TEST_DATABASE_URL"])
    base = make_url(normalise_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL))
    return base.set(database=f"{base.database}_test").render_as_string(hide_password=False)


def _worker_url(url: str) -> str:
    """Under pytest-xdist (``make test`` runs two workers) each worker gets a database of its
    own, the name suffixed with the worker's id; every other database a test makes (the live
    demo city, the writers' database...) is named after this one, so they never meet."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = make_url(url)
    return base.set(database=f"{base.database}_{worker}").render_as_string(hide_password=False)


TEST_URL = _worker_url(_test_url())
# Long enough for production mode, which the tests run in (ENV's default).
TEST_SECRET_KEY = "test-secret-key-not-for-any-server-0123456789"


def _prepare_database(url: str) -> None:
    reset_database(url)


def migrated_database(suffix: str) -> str:
    """A database of its own for tests that must commit (concurrent writers, workers, a live
    server): the test database's name + ``suffix``, wiped and migrated to head; its URL."""
    from gis.migrate import upgrade

    base = make_url(TEST_URL)
    url = base.set(database=f"{base.database}{suffix}").render_as_string(hide_password=False)
    _prepare_database(url)
    upgrade(url)
    return url


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashes():
    """Real hashes, fewer rounds: the default scrypt costs ~60 ms a user, per test."""
    import functools

    from werkzeug.security import generate_password_hash

    import gis.users

    original = gis.users.generate_password_hash
    gis.users.generate_password_hash = functools.partial(
        generate_password_hash, method="pbkdf2:sha256:1000")
    yield
    gis.users.generate_password_hash = original


@pytest.fixture(scope="session")
def database_url() -> str:
    try:
        _prepare_database(TEST_URL)
    except Exception as exc:  # noqa: BLE001 - any failure means "no database"
        message = (f"PostGIS test database unavailable at "
                   f"{make_url(TEST_URL).render_as_string(hide_password=True)}: "
                   f"{str(exc).strip().splitlines()[0]}")
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from gis.migrate import upgrade

    upgrade(TEST_URL)
    return TEST_URL


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine):
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as conn:
        trans = conn.begin()
        yield conn
        trans.rollback()


@pytest.fixture
def session(connection) -> Session:
    """An ORM session on the test's transaction; its commits become savepoints."""
    with Session(bind=connection, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture
def app(connection, database_url, tmp_path):
    from sqlalchemy.orm import sessionmaker

    from app import create_app

    # Photos sent in a test go to its own folder, not the instance folder.
    app = create_app({"TESTING": True, "DATABASE_URL": database_url,
                      "SECRET_KEY": TEST_SECRET_KEY, "WTF_CSRF_ENABLED": False,
                      "PHOTO_DIR": str(tmp_path / "photos")})
    # Every request and CLI command shares the test's transaction, so it is rolled back too.
    app.extensions["gridwatch.sessions"] = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    app.extensions["gridwatch.reader"] = lambda: nullcontext(
        connection.connection.driver_connection)
    yield app
    app.extensions["gridwatch.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


CHROMIUM = os.environ.get("GRIDWATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()
