"""The double-random draw (双随机一公开): reproducible from its record, 回避 kept, two
different inspectors per enterprise, leaders and admins only, audited, published."""
import datetime as dt

import pytest
from sqlalchemy import text

from gis import draws, people
from gis.errors import ValidationError
from gis.users import create_user
from tests.factories import add_enterprises, login, small_world

INSPECTORS = ["i1", "i2", "i3", "i4"]


@pytest.fixture
def world(session):
    """small_world plus eight enterprises in S1-01 and S1-02 and four inspectors in S1, each
    their own person; i1 owns S1-01."""
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
    small_world(session, valid_from=long_ago)
    add_enterprises(session, *[(f"D{i}", 116.01 + 0.01 * i, 38.45) for i in range(8)],
                    valid_from=long_ago)
    for name in INSPECTORS:
        pid = people.create_person(session, {"code": f"RY-{name}", "name": f"巡查员{name}"})["id"]
        create_user(session, name, "secret-pass-1", role="inspector", place="S1-01",
                    person_id=pid)
    i1 = session.execute(text("SELECT person_id FROM app_user WHERE username = 'i1'")).scalar()
    people.assign(session, people.target(session, "owner", "S1-01"), i1, long_ago)
    return session


def _owned_by_i1(session):
    return set(session.execute(text("""
        SELECT e.management_code FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        JOIN cell c ON c.id = ec.cell_id WHERE c.code = 'S1-01'""")).scalars())


def test_same_seed_gives_the_same_pairs_and_verifies(world):
    a = draws.draw(world, "S1", 5, 12345, usernames=INSPECTORS)
    b = draws.draw(world, "S1", 5, 12345, usernames=list(reversed(INSPECTORS)))
    assert a["pairs"] == b["pairs"] and a["id"] != b["id"]
    assert len(a["pairs"]) == 5
    assert draws.verify(world, a["id"]) is True
    other = draws.draw(world, "S1", 5, 2 ** 64 - 1, usernames=INSPECTORS)
    assert draws.verify(world, other["id"]) is True


def test_a_tampered_record_does_not_verify(world):
    d = draws.draw(world, "S1", 4, 7, usernames=INSPECTORS)
    world.execute(text("UPDATE draw SET seed = '8' WHERE id = :i"), {"i": d["id"]})
    assert draws.verify(world, d["id"]) is False
    d = draws.draw(world, "S1", 4, 7, usernames=INSPECTORS)
    world.execute(text("""UPDATE draw SET roster = roster - 0 WHERE id = :i"""), {"i": d["id"]})
    assert draws.verify(world, d["id"]) is False


def test_avoidance_and_two_different_inspectors(world):
    owned = _owned_by_i1(world)
    assert owned
    for seed in range(30):
        d = draws.draw(world, "S1", 6, seed, usernames=INSPECTORS)
        for p in d["pairs"]:
            a, b = p["inspectors"]
            assert a != b
            assert not (p["enterprise"] in owned and "i1" in p["inspectors"])


def test_the_filter_and_its_refusals(world):
    d = draws.draw(world, "S1-02", 2, 1, usernames=INSPECTORS)
    assert all(p["enterprise"] not in _owned_by_i1(world) for p in d["pairs"])
    with pytest.raises(ValidationError) as exc:
        draws.draw(world, "S1", 99, 1, usernames=INSPECTORS)
    assert exc.value.field == "enterprises" and exc.value.code == "too_many_drawn"
    with pytest.raises(ValidationError) as exc:
        draws.draw(world, "S1-01", 1, 1, usernames=["i1", "i2"])
    assert exc.value.code == "too_few_inspectors" and exc.value.params["enterprise"]
    with pytest.raises(ValidationError):
        draws.draw(world, "S1", 1, 1, grades=["A"], usernames=INSPECTORS)


def test_the_default_roster_is_the_inspectors_of_the_place(world):
    r = draws.roster(world, world.execute(text("SELECT id FROM cell WHERE code = 'S1'")).scalar())
    assert [x["username"] for x in r] == ["c1-inspector"] + INSPECTORS


def test_api_contract_audit_and_publication(client, world):
    login(client, "s1-leader")
    answer = client.post("/api/v1/draws", json={"place": "S1", "enterprises": 3, "seed": 42,
                                                "roster": INSPECTORS})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert set(body) == {"id", "seed", "pairs"} and body["seed"] == 42
    assert all(set(p) == {"enterprise", "inspectors"} and len(p["inspectors"]) == 2
               for p in body["pairs"])
    assert client.get(f"/api/v1/draws/{body['id']}").get_json() == body
    assert client.get(f"/api/v1/draws/{body['id']}/verify").get_json() == {"match": True}
    entry = world.execute(text("""
        SELECT username, action, target FROM audit_log ORDER BY id DESC LIMIT 1""")).one()
    assert tuple(entry) == ("s1-leader", "draw_made", f"draw {body['id']}")
    no_seed = client.post("/api/v1/draws", json={"place": "S1", "enterprises": 1})
    assert no_seed.status_code == 201 and 0 <= no_seed.get_json()["seed"] < 2 ** 64
    client.post("/logout")
    page = client.get(f"/draws/{body['id']}")
    assert page.status_code == 200 and body["pairs"][0]["enterprise"] in page.get_data(
        as_text=True)
    assert "第二巡查人员" in page.get_data(as_text=True)
    csv = client.get(f"/draws/{body['id']}.csv")
    assert csv.data.startswith("\ufeff".encode())
    lines = csv.data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("企业") and lines[0].endswith("巡查人员,第二巡查人员")
    assert len(lines) == 1 + len(body["pairs"])
    assert client.get("/draws/999999").status_code == 404


def test_only_leaders_and_admins_of_the_place_may_draw(client, world):
    for username, status in (("c1-inspector", 403), ("s1-manager", 403), ("s1-leader", 201),
                             ("city-leader", 201), ("admin", 201)):
        login(client, username)
        answer = client.post("/api/v1/draws", json={"place": "S1", "enterprises": 1,
                                                    "roster": INSPECTORS})
        assert answer.status_code == status, username
        client.post("/logout")
    login(client, "s1-leader")
    assert client.post("/api/v1/draws", json={"place": "S2", "enterprises": 1}
                       ).status_code == 403


def test_refusals_are_in_chinese_and_name_the_field(client, world):
    login(client, "s1-leader")
    answer = client.post("/api/v1/draws?lang=zh", json={"place": "S1", "enterprises": 99,
                                                         "roster": INSPECTORS},
                         headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 400
    assert "抽取企业数：" in answer.get_json()["error"]["message"]
    answer = client.post("/api/v1/draws", json={"place": "S1-01", "enterprises": 1,
                                                "roster": ["i1", "i2"]},
                         headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 400 and "回避" in answer.get_json()["error"]["message"]
    answer = client.post("/api/v1/draws", json={"place": "S1", "enterprises": 1,
                                                "roster": ["nobody"]},
                         headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 400 and "nobody" in answer.get_json()["error"]["message"]


def test_hostile_names_are_escaped_on_the_page(client, world):
    world.execute(text("UPDATE enterprise SET name = '<script>x</script>' WHERE "
                       "management_code LIKE 'D%'"))
    d = draws.draw(world, "S1", 2, 3, usernames=INSPECTORS)
    html = client.get(f"/draws/{d['id']}").get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
