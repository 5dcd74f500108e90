"""Logging in and out, lock-out, CSRF, cookies, API tokens, the users CLI."""
import pytest
from sqlalchemy import text

from tests.factories import PASSWORD, login, small_world


@pytest.fixture
def world(session):
    return small_world(session)


def test_protected_page_redirects_to_login_with_next(client, world):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/admin/users")


def test_login_page_is_chinese(client):
    html = client.get("/login").get_data(as_text=True)
    assert "登录" in html and 'name="csrf_token"' in html


def test_login_goes_to_next_and_logout_ends_the_session(client, world):
    response = client.post("/login", data={"username": "admin", "password": PASSWORD,
                                           "next": "/admin/users"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users"
    assert client.get("/admin/users").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/admin/users").status_code == 302


def test_next_may_not_leave_the_site(client, world):
    response = client.post("/login", data={"username": "admin", "password": PASSWORD,
                                           "next": "//evil.example/phish"})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("username", ["admin", "nobody"])
def test_wrong_password_and_unknown_user_answer_alike(client, world, username):
    response = login(client, username, "wrong-password-1")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_repeated_failures_from_one_client_lock_that_client_out(app, client, world, session):
    app.config["LOGIN_CLIENT_MAX_FAILURES"] = 3
    for name in ("admin", "nobody", "s1-leader"):  # across names: a sweep, not a typo
        assert login(client, name, "wrong-password-1").status_code == 401
    locked = login(client, "c1-inspector")
    assert locked.status_code == 429 and "失败次数过多" in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) > 60
    # ...that client only: the same user from elsewhere gets in.
    elsewhere = app.test_client()
    assert elsewhere.post("/login", data={"username": "c1-inspector", "password": PASSWORD},
                          environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 302


def test_a_password_reset_clears_the_delay_for_that_name(app, client, world, runner, session):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(client, "admin", "wrong-password-1").status_code == 401
    assert login(client, "admin").status_code == 429  # even the right password
    result = runner.invoke(args=["users", "reset-password", "admin", "--password", "new-pass-22"])
    assert result.exit_code == 0, result.output
    assert login(client, "admin", "new-pass-22").status_code == 302


def test_passwords_are_stored_hashed(session, world):
    stored = session.execute(text(
        "SELECT password_hash FROM app_user WHERE username = 'admin'")).scalar()
    assert PASSWORD not in stored and stored.split(":")[0] in ("scrypt", "pbkdf2")


def test_session_cookie_flags(client, world):
    response = login(client, "admin")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forms_and_fetch_writes_need_the_csrf_token(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert refused.status_code == 400
    assert client.post("/login", data={"username": "admin", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    # Logging in starts a new session, so pages after it carry a new token.
    token = client.get("/admin/reference").get_data(as_text=True).split(
        'name="csrf-token" content="')[1].split('"')[0]
    body = {"A": 400}
    assert client.put("/api/v1/reference/grade-intervals", json=body).status_code == 400
    ok = client.put("/api/v1/reference/grade-intervals", json=body,
                    headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.get_json()["A"] == 400


def test_api_token_from_cli_works_until_revoked(app, client, world, runner, session):
    app.config["WTF_CSRF_ENABLED"] = True  # tokens need no CSRF: no cookie is involved
    result = runner.invoke(args=["users", "token", "c1-inspector"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["username"] == "c1-inspector"
    assert me.get_json()["via"] == "api"
    assert "Set-Cookie" not in me.headers
    write = client.patch("/api/v1/complaints/K1", json={"status": "assigned"}, headers=headers)
    assert write.status_code == 200
    stored = session.execute(text("SELECT token_hash FROM api_token")).scalar()
    assert token not in stored and len(stored) == 64
    token_id = session.execute(text("SELECT id FROM api_token")).scalar()
    result = runner.invoke(args=["users", "revoke-token", str(token_id)])
    assert result.exit_code == 0, result.output
    # Revoked through this process: forgotten at once, whatever API_TOKEN_CACHE_SECONDS says.
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    again = runner.invoke(args=["users", "revoke-token", str(token_id)])
    assert again.exit_code != 0 and "already revoked" in again.output


def _token(runner, username: str) -> dict:
    result = runner.invoke(args=["users", "token", username])
    assert result.exit_code == 0, result.output
    return {"Authorization": f"Bearer {result.output.strip().splitlines()[-1]}"}


def test_a_token_revoked_elsewhere_is_refused_once_the_cache_time_has_passed(
        app, client, world, runner, session):
    now = [1000.0]
    cache = app.extensions["gridwatch_token_cache"]
    cache.clock = lambda: now[0]
    assert cache.seconds == app.config["API_TOKEN_CACHE_SECONDS"] > 0
    headers = _token(runner, "c1-inspector")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    # Another worker or the CLI on another machine: this process is not told.
    session.execute(text("UPDATE api_token SET revoked_at = now()"))
    now[0] += cache.seconds - 0.5
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    now[0] += 1
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_role_removed_by_an_admin_applies_to_tokens_at_once(app, client, world, runner):
    headers = _token(runner, "c1-inspector")
    write = client.patch("/api/v1/complaints/K1", json={"status": "assigned"}, headers=headers)
    assert write.status_code == 200
    login(client, "admin")
    removed = client.post("/admin/users/c1-inspector/roles/remove",
                          data={"role": "inspector", "place": "S1-01"})
    assert removed.status_code == 302
    client.post("/logout")
    write = client.patch("/api/v1/complaints/K1", json={"status": "closed"}, headers=headers)
    assert write.status_code == 403


def test_without_the_cache_every_call_checks_the_token(app, client, world, runner, session):
    app.extensions["gridwatch_token_cache"].seconds = 0
    headers = _token(runner, "c1-inspector")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    session.execute(text("UPDATE api_token SET revoked_at = now()"))
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_bad_token_is_401_json(client, world):
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer gw_nope"})
    assert response.status_code == 401 and response.get_json()["error"]["status"] == 401


def test_tokens_are_shown_once_and_revocable_from_the_account_page(client, world):
    login(client, "s1-leader")
    created = client.post("/account/tokens", data={"name": "手机"}).get_data(as_text=True)
    token = created.split('<code id="new-token">')[1].split("<")[0]
    assert token.startswith("gw_")
    again = client.get("/account").get_data(as_text=True)
    assert token not in again and token[:10] in again
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code \
        == 200


def test_users_cli_create_add_role_and_list(runner, world):
    result = runner.invoke(args=["users", "create", "newbie", "--password", "long-pass-1",
                                 "--role", "leader", "--place", "S2"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["users", "add-role", "newbie", "inspector", "--place", "S2-01"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(args=["users", "list"]).output
    assert "newbie" in listing and "inspector@S2-01" in listing and "leader@S2" in listing


@pytest.mark.parametrize("args, message", [
    (["users", "create", "x", "--password", "long-pass-1", "--role", "leader"], "username"),
    (["users", "create", "bob", "--password", "short", "--role", "admin"], "at least 8"),
    (["users", "create", "bob", "--password", "long-pass-1", "--role", "leader"],
     "needs a place"),
    (["users", "create", "bob", "--password", "long-pass-1", "--role", "leader", "--place",
      "NOPE"], "no such cell"),
    (["users", "add-role", "ghost", "admin"], "no such user"),
])
def test_users_cli_refuses_bad_input(runner, world, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code == 1 and message in result.output


def test_user_language_setting_sticks_across_logins(client, world):
    login(client, "s1-leader")
    client.post("/account/language", data={"lang": "en"})
    client.post("/logout")
    login(client, "s1-leader")
    assert "My account" in client.get("/account").get_data(as_text=True)
