"""Bulk reads are rate-limited per user (gis.ratelimit), in PostgreSQL so every worker shares
the count; people at work never meet the limit, a script walking every code does."""
import datetime as dt
from contextlib import nullcontext

import pytest
from sqlalchemy import text

from gis.ratelimit import Rate, take
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_enterprises, login, small_world

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def world(session):
    small_world(session)
    # The attacker's haul: 10 enterprises in S1-01 (the inspector's own cell), 150 in S2.
    add_enterprises(session, *[(f"A{i:03d}", 116.001 + i * 0.004, 38.41) for i in range(10)])
    add_enterprises(session, *[(f"B{i:03d}", 116.101 + (i % 50) * 0.0019, 38.41 + (i // 50)
                               * 0.02) for i in range(150)])
    session.execute(text("UPDATE enterprise SET contact_name = '联系人', "
                         "contact_phone = '139' || lpad(id::text, 8, '0')"))
    return session


def _user(session, name):
    return session.execute(text("SELECT id FROM app_user WHERE username = :u"),
                           {"u": name}).scalar()


def test_an_inspector_walking_every_code_gets_404s_outside_and_429_past_the_limit(
        client, world, app):
    login(client, "c1-inspector")
    codes = ["E1", "E2"] + [f"A{i:03d}" for i in range(10)] + [f"B{i:03d}" for i in range(150)]
    missing = client.get("/api/v1/enterprises/NOPE0/responsible")
    answers = {code: client.get(f"/api/v1/enterprises/{code}/responsible") for code in codes}
    statuses = [r.status_code for r in answers.values()]
    burst = app.config["READ_LIMIT_ENTERPRISE_BURST"]
    # The first reads (the probe of NOPE0 was one) are answered by the area rule alone.
    for code, response in list(answers.items())[:burst - 1]:
        if code == "E1" or code.startswith("A"):
            assert response.status_code == 200
            assert response.get_json()["enterprise"]["contact"]["phone"].startswith("139")
        else:  # outside S1: exactly what a code that does not exist gets
            assert response.status_code == 404
            assert response.get_data(as_text=True).replace(code, "NOPE0") == \
                missing.get_data(as_text=True)
            assert "139" not in response.get_data(as_text=True)
    # Then the walk is held to the refill rate.
    assert 429 not in statuses[:burst - 1]
    assert set(statuses[burst - 1:]) == {429}
    refused = answers["B149"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert "查询过于频繁" in refused.get_json()["error"]["message"]
    assert refused.get_json()["error"]["status"] == 429
    # The search shares the allowance: it is refused too, in the user's language.
    search = client.get("/api/v1/enterprises?q=B&lang=en")
    assert search.status_code == 429 and "Too many reads" in search.get_json()["error"]["message"]


def test_the_limit_is_shared_by_every_worker(client, world, app, connection, database_url):
    from sqlalchemy.orm import sessionmaker

    from app import create_app

    # A second worker: its own app and memory, the same database.
    other = create_app({"TESTING": True, "DATABASE_URL": database_url,
                        "SECRET_KEY": TEST_SECRET_KEY, "WTF_CSRF_ENABLED": False,
                        "READ_LIMIT_ENTERPRISE_BURST": 10})
    other.extensions["gridwatch.sessions"] = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    other.extensions["gridwatch.reader"] = lambda: nullcontext(
        connection.connection.driver_connection)
    app.extensions["gridwatch_read_rates"]["enterprise"] = Rate(10, 30)
    try:
        clients = [client, other.test_client()]
        for c in clients:
            login(c, "c1-inspector")
        statuses = [clients[i % 2].get("/api/v1/enterprises/E1/responsible").status_code
                    for i in range(12)]
    finally:
        other.extensions["gridwatch.engine"].dispose()
    assert statuses == [200] * 10 + [429] * 2


def test_a_day_on_the_map_wall_and_the_lookup_page_never_meets_the_limit(client, world):
    login(client, "s1-leader")
    assert client.get("/map").status_code == 200
    specs = client.get("/api/v1/layers").get_json()["layers"]
    layers = [layer["url"] for layer in specs if layer["show"]]
    assert len(layers) >= 5
    # Forty map wall loads in a row (filters changed, periods compared, pages reloaded), the
    # layers that are off at first (the professional grids) switched on now and then...
    for days in range(1, 41):
        extra = [layer["url"] for layer in specs if not layer["show"]] if days % 10 == 0 else []
        for url in layers + extra:
            assert client.get(url, query_string={"days": days}).status_code == 200
    # ... then the list behind a figure, paged, and a few cell cards.
    for page in range(1, 6):
        assert client.get(f"/enterprises?page={page}").status_code == 200
    for code in ("S1-01", "S1-02", "S1-01"):
        assert client.get(f"/cells/{code}/card").status_code == 200
    # On the lookup page: thirty enterprises searched and opened in a row.
    for i in range(30):
        assert client.get(f"/api/v1/enterprises?q=A00{i % 10}").status_code == 200
        assert client.get(f"/api/v1/enterprises/A00{i % 10}/responsible").status_code == 200


def test_an_inspectors_day_replayed_against_the_default_rates(world, app):
    db = world
    rate = app.extensions["gridwatch_read_rates"]["enterprise"]
    uid = _user(world, "c1-inspector")
    # Eight hours; every ten minutes a visit: twenty searches and enterprises opened within a
    # minute (far busier than anyone is).
    refused = 0
    for visit in range(48):
        start = T0 + dt.timedelta(minutes=10 * visit)
        for i in range(20):
            refused += take(db, uid, "enterprise", rate, start + dt.timedelta(seconds=3 * i)) > 0
    assert refused == 0


def test_the_bucket_refills_at_the_rate_and_says_how_long_to_wait(world):
    db = world
    uid, rate = _user(world, "c2-inspector"), Rate(burst=5, per_minute=30)  # one per 2 s
    assert [take(db, uid, "bulk", rate, T0) for _ in range(5)] == [0.0] * 5
    assert take(db, uid, "bulk", rate, T0) == pytest.approx(2.0)
    assert take(db, uid, "bulk", rate, T0 + dt.timedelta(seconds=1.5)) == pytest.approx(0.5)
    assert take(db, uid, "bulk", rate, T0 + dt.timedelta(seconds=2)) == 0.0
    # Another kind, another user: their own buckets.
    assert take(db, uid, "enterprise", rate, T0) == 0.0
    assert take(db, _user(world, "c1-inspector"), "bulk", rate, T0) == 0.0
    # A long rest fills the bucket to its burst, no further.
    later = T0 + dt.timedelta(hours=5)
    assert [take(db, uid, "bulk", rate, later) > 0 for _ in range(6)] == [False] * 5 + [True]
    # At 0 the limit is off.
    assert take(db, uid, "bulk", Rate(burst=0, per_minute=30), later) == 0.0


def test_settings_size_the_limits(world, client, app):
    app.extensions["gridwatch_read_rates"]["bulk"] = Rate(burst=2, per_minute=1)
    login(client, "s1-leader")
    assert [client.get("/api/v1/enterprises.geojson").status_code for _ in range(3)] == [
        200, 200, 429]
    assert int(client.get("/enterprises").headers["Retry-After"]) == 60
    page = client.get("/enterprises")
    assert page.status_code == 429 and "查询过于频繁" in page.get_data(as_text=True)
