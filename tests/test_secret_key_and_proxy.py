"""The production check on the secret key, and the client address behind a reverse proxy."""
from contextlib import nullcontext

import pytest
from sqlalchemy import text

from app import create_app
from tests.conftest import TEST_SECRET_KEY
from tests.factories import PASSWORD, small_world


@pytest.fixture
def no_env(monkeypatch):
    for name in ("GRIDWATCH_ENV", "GRIDWATCH_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("env", [None, "production", "Production", "prod", "staging", ""])
@pytest.mark.parametrize("key", ["dev-only-change-me", "", "   ", "k", "x" * 31])
def test_outside_development_a_default_empty_or_short_key_is_refused(no_env, env, key):
    if env is not None:
        no_env.setenv("GRIDWATCH_ENV", env)
    no_env.setenv("GRIDWATCH_SECRET_KEY", key)
    with pytest.raises(RuntimeError, match="GRIDWATCH_SECRET_KEY"):
        create_app()


def test_unset_everything_is_production_and_refused(no_env):
    with pytest.raises(RuntimeError, match="default key is for development only"):
        create_app()


def test_a_key_that_parses_as_json_is_refused_not_a_crash(no_env):
    no_env.setenv("GRIDWATCH_SECRET_KEY", "1" * 40)  # becomes a number
    with pytest.raises(RuntimeError, match="must be text"):
        create_app()


@pytest.mark.parametrize("env", ["development", "Development", "DEV", " dev "])
def test_development_may_use_the_default_key_but_never_an_empty_one(no_env, env):
    no_env.setenv("GRIDWATCH_ENV", env)
    assert create_app().secret_key == "dev-only-change-me"
    no_env.setenv("GRIDWATCH_SECRET_KEY", "")
    with pytest.raises(RuntimeError, match="empty"):
        create_app()


def test_a_long_key_serves_in_production(no_env):
    no_env.setenv("GRIDWATCH_SECRET_KEY", "x" * 32)
    assert create_app().config["ENV"] == "production"


def test_a_cookie_forged_with_the_key_opens_nothing_without_a_live_session(app, client,
                                                                          session):
    # The attack: the key is known (it was the published default), so a cookie naming the
    # admin can be signed, session-protection identifier included. The session id it lacks
    # lives only on the server.
    from flask_login.utils import _create_identifier

    small_world(session)
    uid = session.execute(text("SELECT id FROM app_user WHERE username = 'admin'")).scalar()
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                  headers={"User-Agent": "forger"}):
        ident = _create_identifier()
    serializer = app.session_interface.get_signing_serializer(app)
    for user_id in (f"{uid}", f"{uid}:guessed-session-id"):
        client.set_cookie("session", serializer.dumps(
            {"_user_id": user_id, "_fresh": True, "_id": ident}))
        response = client.get("/admin/users", headers={"User-Agent": "forger"})
        assert response.status_code == 302, user_id


def _app(connection, database_url, **config):
    from sqlalchemy.orm import sessionmaker

    app = create_app({"TESTING": True, "DATABASE_URL": database_url,
                      "SECRET_KEY": TEST_SECRET_KEY, "WTF_CSRF_ENABLED": False, **config})
    app.extensions["gridwatch.sessions"] = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    app.extensions["gridwatch.reader"] = lambda: nullcontext(
        connection.connection.driver_connection)
    return app


def _failed_login_address(app, session) -> tuple[str, list[str]]:
    app.test_client().post("/login", data={"username": "admin", "password": "wrong-pass-1"},
                           headers={"X-Forwarded-For": "203.0.113.9"},
                           environ_base={"REMOTE_ADDR": "10.0.0.1"})
    audit = session.execute(text(
        "SELECT remote_addr FROM audit_log WHERE action = 'login_failed'")).scalar()
    keys = session.execute(text("SELECT key FROM login_throttle ORDER BY key")).scalars().all()
    return audit, keys


def test_behind_the_proxy_the_forwarded_address_is_the_client(connection, database_url,
                                                               session):
    small_world(session)
    app = _app(connection, database_url, PROXY_FIX_X_FOR=1)
    audit, keys = _failed_login_address(app, session)
    assert audit == "203.0.113.9" and "client:203.0.113.9" in keys
    app.extensions["gridwatch.engine"].dispose()


def test_without_the_setting_the_forwarded_header_is_ignored(connection, database_url,
                                                              session):
    small_world(session)
    app = _app(connection, database_url)
    audit, keys = _failed_login_address(app, session)
    assert audit == "10.0.0.1" and "client:10.0.0.1" in keys
    app.extensions["gridwatch.engine"].dispose()


def test_the_lookup_fast_path_still_answers_behind_the_proxy(connection, database_url,
                                                             session):
    from gis.users import create_token

    small_world(session)
    app = _app(connection, database_url, PROXY_FIX_X_FOR=1)
    headers = {"Authorization": f"Bearer {create_token(session, 'c1-inspector')[1]}",
               "X-Forwarded-For": "203.0.113.9"}
    client = app.test_client()
    first = client.get("/api/v1/lookup?lon=116.02&lat=38.45", headers=headers)
    again = client.get("/api/v1/lookup?lon=116.02&lat=38.45", headers=headers)
    assert first.status_code == again.status_code == 200
    assert 'desc="fast"' in again.headers["Server-Timing"]
    assert again.get_data() == first.get_data()
    app.extensions["gridwatch.engine"].dispose()


def test_a_session_is_bound_to_the_forwarded_client(connection, database_url, session):
    small_world(session)
    app = _app(connection, database_url, PROXY_FIX_X_FOR=1)
    client = app.test_client()
    assert client.post("/login", data={"username": "admin", "password": PASSWORD},
                       headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 302
    assert session.execute(text("SELECT remote_addr FROM user_session")).scalar() \
        == "203.0.113.9"
    assert client.get("/account", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
    # Flask-Login's session protection: the same cookie from another client is logged out.
    assert client.get("/account", headers={"X-Forwarded-For": "198.51.100.1"}).status_code \
        == 302
    app.extensions["gridwatch.engine"].dispose()


def test_management_commands_need_no_key_but_flask_run_refuses_the_default(tmp_path):
    """An operator's `flask --app app users list` signs no cookie; `flask run` serves."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GRIDWATCH_") and k != "FLASK_RUN_FROM_CLI"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "routes"],
                             cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert command.returncode == 0, command.stderr[-500:]
    assert "/api/v1/lookup" in command.stdout
    serve = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "run", "--port", "0"],
                           cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert serve.returncode != 0 and "GRIDWATCH_SECRET_KEY" in serve.stderr
