"""What each role may read, by one rule (gis.policy.readable_places): the map wall's layers, the
enterprise list, the search and an enterprise's responsible chain agree, for every user."""
import pytest
from sqlalchemy import text

from gis import policy
from gis.policy import Grant
from tests.factories import USERS, add_enterprises, login, small_world

CITY, S1, S2, S1_01 = 1, 2, 3, 4


@pytest.mark.parametrize("grants, places", [
    ((Grant("admin"),), None),
    ((Grant("leader", (CITY,)),), None),                    # a role at the city: everything
    ((Grant("leader", (CITY, S1)),), (S1,)),
    ((Grant("grid_manager", (CITY, S1)),), (S1,)),
    ((Grant("inspector", (CITY, S1, S1_01)),), (S1, S1_01)),  # and the rest of the station
    ((Grant("leader", (CITY, S2)), Grant("inspector", (CITY, S1, S1_01))), (S1, S2, S1_01)),
    ((), ()),
])
def test_readable_places_per_role(grants, places):
    assert policy.readable_places(grants) == places


def test_one_rule_for_one_target_and_for_many():
    inspector = (Grant("inspector", (CITY, S1, S1_01)),)
    assert policy.can(inspector, "view", (CITY, S1, 5))        # S1's other cell
    assert not policy.can(inspector, "view", (CITY, S2, 6))
    assert not policy.can(inspector, "view", ())               # outside every cell
    assert policy.can((Grant("leader", (CITY,)),), "view", ())  # the city reads it, as its lists
    assert policy.can((Grant("admin"),), "view", ())


# Enterprises per user: E1 in S1-01, E2 in S2-01, E3 outside every cell.
EXPECTED = {
    "admin": {"E1", "E2", "E3"},
    "city-leader": {"E1", "E2", "E3"},
    "s1-leader": {"E1"},
    "s1-manager": {"E1"},
    "s2-manager": {"E2"},
    "c1-inspector": {"E1"},
    "c2-inspector": {"E2"},
}


@pytest.fixture
def world(session):
    small_world(session)
    add_enterprises(session, ("E3", 116.5, 38.45))
    return session


@pytest.mark.parametrize("username", [u for u, _r, _p in USERS])
def test_every_read_path_shows_the_same_enterprises(client, world, username):
    login(client, username)
    layer = client.get("/api/v1/enterprises.geojson").get_json()
    from_layer = {f["properties"]["code"] for f in layer["features"]}
    searched = client.get("/api/v1/enterprises?q=enterprise").get_json()["enterprises"]
    from_search = {e["management_code"] for e in searched}
    page = client.get("/enterprises").get_data(as_text=True)
    from_list = {code for code in ("E1", "E2", "E3") if f">{code}<" in page}
    from_chain = {code for code in ("E1", "E2", "E3")
                  if client.get(f"/api/v1/enterprises/{code}/responsible").status_code == 200}
    assert from_layer == from_search == from_list == from_chain == EXPECTED[username]


def test_the_map_wall_uses_the_policy(app, world):
    from flask_login import login_user

    from app.mappage import visible as _visible
    from gis.users import identity, user_id

    with app.test_request_context():
        login_user(identity(world, user_id(world, "c1-inspector")))
        mine = _visible()
    assert mine == policy.visible_cells(world, identity(world, user_id(
        world, "c1-inspector")).grants)
    codes = world.execute(text("SELECT code FROM cell WHERE id = ANY(:c)"),
                          {"c": mine}).scalars().all()
    assert sorted(codes) == ["S1", "S1-01", "S1-02"]
