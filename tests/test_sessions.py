"""Sessions live on the server: logging out, a password reset, a role removal end a copied
cookie too; bearer tokens work only for the API."""
import pytest
from sqlalchemy import event, text

from tests.factories import PASSWORD, login, small_world


@pytest.fixture
def world(session):
    return small_world(session)


def _copy(app, client):
    """A second browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def _works(client, path="/account") -> bool:
    response = client.get(path)
    assert response.status_code in (200, 302)
    assert response.status_code == 200 or response.headers["Location"].startswith("/login")
    return response.status_code == 200


def test_a_copied_cookie_dies_at_logout(app, client, world):
    login(client, "s1-leader")
    thief = _copy(app, client)
    assert _works(thief)
    client.post("/logout")
    assert not _works(thief)
    assert thief.get("/api/v1/me").status_code == 401


def test_an_admins_password_reset_ends_every_session_of_the_user(app, client, world):
    login(client, "s1-leader")
    thief = _copy(app, client)
    admin = app.test_client()
    login(admin, "admin")
    assert admin.post("/admin/users/s1-leader/password",
                      data={"password": "brand-new-1"}).status_code == 302
    assert not _works(thief) and not _works(client)
    assert _works(admin, "/admin/users")  # the admin's own session is not touched


def test_the_cli_password_reset_ends_every_session_of_the_user(app, client, world, runner):
    login(client, "s1-leader")
    thief = _copy(app, client)
    result = runner.invoke(args=["users", "reset-password", "s1-leader",
                                 "--password", "brand-new-1"])
    assert result.exit_code == 0, result.output
    assert not _works(thief)


def test_a_role_removal_ends_the_users_sessions(app, client, world):
    login(client, "c1-inspector")
    thief = _copy(app, client)
    admin = app.test_client()
    login(admin, "admin")
    assert admin.post("/admin/users/c1-inspector/roles/remove",
                      data={"role": "inspector", "place": "S1-01"}).status_code == 302
    assert not _works(thief)


def test_a_deactivated_user_is_out_at_once(app, client, world, session):
    login(client, "s1-leader")
    session.execute(text("UPDATE app_user SET active = false WHERE username = 's1-leader'"))
    assert not _works(client)


def test_changing_ones_password_ends_the_other_sessions_only(app, client, world):
    login(client, "s1-leader")
    phone = app.test_client()
    login(phone, "s1-leader")
    wrong = client.post("/account/password", data={
        "current_password": "not-it-1", "new_password": "brand-new-1",
        "new_password_again": "brand-new-1"})
    assert wrong.status_code == 400 and "当前密码错误" in wrong.get_data(as_text=True)
    assert _works(phone)
    differ = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "brand-new-1",
        "new_password_again": "brand-new-2"})
    assert differ.status_code == 400
    changed = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "brand-new-1",
        "new_password_again": "brand-new-1"})
    assert changed.status_code == 302
    assert _works(client) and not _works(phone)
    assert login(app.test_client(), "s1-leader", "brand-new-1").status_code == 302


def test_guessing_the_current_password_is_throttled(app, client, world):
    login(client, "s1-leader")
    statuses = [client.post("/account/password", data={
        "current_password": "guess-no-1", "new_password": "brand-new-1",
        "new_password_again": "brand-new-1"}).status_code
        for _ in range(app.config["LOGIN_MAX_FAILURES"] + 1)]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {400}


def test_the_account_page_lists_sessions_and_ends_another_one(app, client, world, session):
    login(client, "s1-leader")
    phone = app.test_client()
    login(phone, "s1-leader")
    page = client.get("/account").get_data(as_text=True)
    assert page.count("/end\"") == 1 and "当前会话" in page
    other = page.split('action="/account/sessions/')[1].split("/")[0]
    assert client.post(f"/account/sessions/{other}/end").status_code == 302
    assert not _works(phone) and _works(client)
    # Someone else's session cannot be ended from here.
    admin = app.test_client()
    login(admin, "admin")
    theirs = session.execute(text("""
        SELECT s.id FROM user_session s JOIN app_user u ON u.id = s.user_id
        WHERE u.username = 'admin'""")).scalar()
    assert client.post(f"/account/sessions/{theirs}/end").status_code == 404
    assert _works(admin)


def test_only_the_session_id_hash_is_stored(client, world, session):
    login(client, "s1-leader")
    stored = session.execute(text("SELECT sid_hash FROM user_session")).scalar()
    assert len(stored) == 64 and stored not in client.get_cookie("session").value


def test_a_cookie_is_checked_in_one_query_and_seen_at_most_once_a_minute(
        app, client, world, connection, session):
    login(client, "s1-leader")
    statements = []
    listen = (lambda *a: statements.append(a[2]))
    event.listen(connection, "before_cursor_execute", listen)
    try:
        assert client.get("/").status_code == 200
    finally:
        event.remove(connection, "before_cursor_execute", listen)
    # The page's own figures may count accounts (the roster's gaps); the cookie's check is the
    # one statement that reads the sessions, and it brings the user along.
    touching = [s for s in statements if "user_session" in s]
    assert len(touching) == 1 and "app_user" in touching[0]
    seen = "SELECT last_seen_at FROM user_session"
    session.execute(text("UPDATE user_session SET last_seen_at = now() - interval '2 minutes'"))
    before = session.execute(text(seen)).scalar()
    client.get("/")
    assert session.execute(text(seen)).scalar() > before


def test_an_idle_session_expires_on_the_server(app, client, world, session):
    login(client, "s1-leader")
    session.execute(text("UPDATE user_session SET last_seen_at = now() - interval '9 hours'"))
    assert not _works(client)


def _token(runner, username):
    result = runner.invoke(args=["users", "token", username])
    assert result.exit_code == 0, result.output
    return {"Authorization": f"Bearer {result.output.strip().splitlines()[-1]}"}


def test_a_token_cannot_mint_tokens_or_reach_pages(app, client, world, runner, session):
    headers = _token(runner, "admin")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    before = session.execute(text("SELECT count(*) FROM api_token")).scalar()
    assert client.post("/account/tokens", data={"name": "more"},
                       headers=headers).status_code == 401
    assert session.execute(text("SELECT count(*) FROM api_token")).scalar() == before
    for path in ("/account", "/admin/users", "/admin/audit", "/"):
        assert client.get(path, headers=headers).status_code == 401, path
    assert client.post("/admin/users/s1-leader/password", data={"password": "brand-new-1"},
                       headers=headers).status_code == 401
    assert login(app.test_client(), "s1-leader").status_code == 302  # unchanged


def test_a_token_with_a_session_cookie_still_cannot_reach_pages(app, client, world, runner):
    headers = _token(runner, "admin")
    login(client, "s1-leader")
    assert client.get("/account", headers=headers).status_code == 401
    assert client.get("/account").status_code == 200


def test_sessions_that_ended_a_month_ago_are_dropped_at_the_next_login(client, world, session):
    login(client, "s1-leader")
    client.post("/logout")
    session.execute(text("UPDATE user_session SET ended_at = now() - interval '31 days'"))
    login(client, "s1-leader")
    assert session.execute(text("SELECT count(*) FROM user_session")).scalar() == 1
