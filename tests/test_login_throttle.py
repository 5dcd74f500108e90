"""Failed logins: a stranger cannot lock a user out, names do not leak, guessing slows down."""
import pytest
from sqlalchemy import text

import gis.users
from tests.factories import PASSWORD, small_world

STRANGER = {"REMOTE_ADDR": "198.51.100.7"}
OFFICE = {"REMOTE_ADDR": "10.1.2.3"}


@pytest.fixture
def world(session):
    return small_world(session)


def _login(client, username, password=PASSWORD, where=OFFICE, **extra):
    return client.post("/login", data={"username": username, "password": password, **extra},
                       environ_base=where)


def test_a_strangers_failures_do_not_lock_the_real_user_out(app, client, world):
    # The attack: wrong passwords for ADMIN until the account locked, the real admin with it.
    for _ in range(app.config["LOGIN_MAX_FAILURES"] + 3):
        assert _login(client, "ADMIN", "wrong-password-1", STRANGER).status_code in (401, 429)
    assert _login(client, "ADMIN", "wrong-password-1", STRANGER).status_code == 429
    assert _login(app.test_client(), "admin").status_code == 302


def test_the_stranger_is_slowed_down_exponentially(app, client, world, session):
    n = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(n):
        assert _login(client, "admin", "wrong-password-1", STRANGER).status_code == 401
    # Blocked: even the right password is not checked, and nothing more is counted.
    assert _login(client, "admin", PASSWORD, STRANGER).status_code == 429

    def wait():
        return session.execute(text("""
            SELECT extract(epoch FROM blocked_until - last_failure_at), failures
            FROM login_throttle WHERE key LIKE 'name:%'""")).one()

    assert wait() == (1, n)
    for expected in (2, 4, 8):
        session.execute(text("UPDATE login_throttle SET blocked_until = now()"))
        assert _login(client, "admin", "wrong-password-1", STRANGER).status_code == 401
        assert wait()[0] == expected


@pytest.mark.parametrize("username", ["admin", "nobody"])
def test_known_and_unknown_names_are_throttled_alike(app, client, world, username):
    statuses = [_login(client, username, "wrong-password-1", STRANGER).status_code
                for _ in range(app.config["LOGIN_MAX_FAILURES"] + 1)]
    assert statuses == [401] * app.config["LOGIN_MAX_FAILURES"] + [429]


def test_known_and_unknown_names_cost_the_same_password_work(app, client, world, monkeypatch):
    calls = []
    real_check, real_make = gis.users.check_password_hash, gis.users.generate_password_hash
    monkeypatch.setattr(gis.users, "check_password_hash",
                        lambda *a: calls.append("check") or real_check(*a))
    monkeypatch.setattr(gis.users, "generate_password_hash",
                        lambda *a, **k: calls.append("make") or real_make(*a, **k))
    _login(client, "nobody", "wrong-password-1")  # the dummy hash is made once per process
    work = {}
    for name in ("admin", "nobody", "admin", "nobody"):
        calls.clear()
        assert _login(client, name, "wrong-password-1").status_code == 401
        work.setdefault(name, []).append(tuple(calls))
    assert work["admin"] == work["nobody"] == [("check",), ("check",)]


def test_the_dummy_hash_is_made_like_real_hashes(world, session):
    real = session.execute(text(
        "SELECT password_hash FROM app_user WHERE username = 'admin'")).scalar()
    assert gis.users.dummy_hash().rsplit("$", 2)[0] == real.rsplit("$", 2)[0]


def test_concurrent_failures_all_count(engine, world, session):
    # Two transactions fail at once for the same name and client: both are counted.
    from sqlalchemy.orm import Session

    rules = gis.users.ThrottleRules()
    session.commit()
    with Session(engine) as a, Session(engine) as b:
        try:
            gis.users.login(a, "zz-racer", "x", client="203.0.113.1", rules=rules)
            a.flush()
            # b waits on a's row lock inside the upsert, then adds to a's count.
            import threading

            done = threading.Thread(target=lambda: (gis.users.login(
                b, "zz-racer", "x", client="203.0.113.1", rules=rules), b.commit()))
            done.start()
            a.commit()
            done.join(10)
            failures = a.execute(text(
                "SELECT failures FROM login_throttle WHERE key LIKE 'name:%|203.0.113.1'"
            )).scalar()
            assert failures == 2
        finally:
            a.execute(text("DELETE FROM login_throttle WHERE key LIKE '%203.0.113.1'"))
            a.commit()


def test_old_keys_are_dropped(app, client, world, session):
    session.execute(text("""
        INSERT INTO login_throttle (key, failures, last_failure_at)
        VALUES ('name:old|10.9.9.9', 3, now() - interval '2 days')"""))
    _login(client, "admin", "wrong-password-1")
    assert session.execute(text(
        "SELECT count(*) FROM login_throttle WHERE key LIKE '%10.9.9.9'")).scalar() == 0


def test_a_successful_login_clears_the_name_count(app, client, world, session):
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        _login(client, "admin", "wrong-password-1")
    assert _login(client, "admin").status_code == 302
    assert session.execute(text(
        "SELECT count(*) FROM login_throttle WHERE key LIKE 'name:%'")).scalar() == 0


def test_an_unknown_name_is_not_stored_in_the_audit_log(client, world, session):
    _login(client, "my-Secret-pass1", "x")
    _login(client, "admin", "x")
    targets = session.execute(text(
        "SELECT target FROM audit_log WHERE action = 'login_failed' ORDER BY id")).scalars().all()
    assert targets[1] == "user admin"
    assert "secret" not in targets[0].lower() and targets[0].startswith("unknown name ")


def test_a_line_break_in_next_goes_home(client, world):
    response = _login(client, "admin", next="/map\r\nSet-Cookie: x=1")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "x=1" not in str(response.headers)
    client.post("/logout")
    response = _login(client, "admin", next="/\\evil.example")  # browsers read "//evil..."
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("field", ["username", "password", "next"])
def test_a_nul_byte_in_the_login_form_is_a_400(client, world, field):
    data = {"username": "admin", "password": PASSWORD, field: "ad\x00min"}
    response = client.post("/login", data=data)
    label = {"username": "用户名", "password": "密码", "next": "返回页面"}[field]
    assert response.status_code == 400 and label in response.get_data(as_text=True)
