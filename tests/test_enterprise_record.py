"""An enterprise's page (/enterprises/<code>): its basic data, products, staff, key equipment,
grade history, inspections and chain of responsibility; read by the one rule of
gis.policy (outside one's area it answers as a code that does not exist); everything escaped."""
import datetime as dt
import re

import pytest
from sqlalchemy import text

from gis.enterprise_record import enterprise_record, owner_history
from tests.factories import USERS, add_enterprises, login, small_world

UTC = dt.timezone.utc
JAN = dt.datetime(2026, 1, 1, tzinfo=UTC)
APR = dt.datetime(2026, 4, 1, tzinfo=UTC)
JUN = dt.datetime(2026, 6, 1, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>'


def _id(session, code):
    return session.execute(text("SELECT id FROM enterprise WHERE management_code = :c"),
                           {"c": code}).scalar()


def _person(session, name, phone):
    return session.execute(text(
        "INSERT INTO person (name, phone, unit) VALUES (:n, :p, '瀛州路质量监督所') RETURNING id"),
        {"n": name, "p": phone}).scalar()


def _owner(session, person, cell, start, end=None):
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from, valid_to)
        SELECT :p, 'department', 'owner', id, :f, :t FROM cell WHERE code = :c"""),
        {"p": person, "c": cell, "f": start, "t": end})


@pytest.fixture
def world(session):
    small_world(session, valid_from=JAN)
    add_enterprises(session, ("E3", 116.5, 38.45), valid_from=JAN)  # outside every cell
    e1 = _id(session, "E1")
    session.execute(text("""
        UPDATE enterprise SET credit_code = '91130984MA0CXXXX1X', address = '河间市瀛州路1号',
               industry = '电线电缆', contact_name = '赵建', contact_phone = '0317-3612345',
               staff_count = 120
        WHERE id = :e"""), {"e": e1})
    session.execute(text("""
        INSERT INTO enterprise_product (enterprise_id, name, standard, licence)
        VALUES (:e, '塑料绝缘控制电缆', 'GB/T 9330-2020', '（冀）XK06-001-00123')"""), {"e": e1})
    session.execute(text("""
        INSERT INTO enterprise_staff (enterprise_id, name, position, phone, certificate)
        VALUES (:e, '袁桂芝', '法定代表人', '0317-3263730', NULL),
               (:e, '田鹏', '特种设备安全管理员', '18073526008', '特种设备安全管理和作业人员证（A）')"""),
        {"e": e1})
    session.execute(text("""
        INSERT INTO enterprise_equipment (enterprise_id, name, model, quantity, registration,
                                          next_due)
        VALUES (:e, '电动单梁桥式起重机', 'LD10t-16.5m', 2, '起17冀J00456(21)', DATE '2020-01-01'),
               (:e, '火花试验机', 'ZC-15', 3, NULL, NULL)"""), {"e": e1})
    # Graded A on 1 January, regraded C on 1 April after a failed spot check.
    session.execute(text("""
        UPDATE enterprise_grade SET valid_to = :apr, reason = '年度风险分级评定'
        WHERE enterprise_id = :e;
        UPDATE enterprise_grade SET grade = 'A' WHERE enterprise_id = :e;
        INSERT INTO enterprise_grade (enterprise_id, grade, valid_from, reason)
        VALUES (:e, 'C', :apr, '监督抽查不合格，调高风险等级');
        UPDATE enterprise SET grade = 'C' WHERE id = :e"""), {"e": e1, "apr": APR})
    # The owner of S1-01 changed on 1 June; before 1 April nobody owned it (it fell to S1).
    chief, first, second = (_person(session, "所长甲", "13800000003"),
                            _person(session, "董娟燕", "13803170102"),
                            _person(session, "周梅", "13803178442"))
    _owner(session, chief, "S1", JAN)
    _owner(session, first, "S1-01", APR, JUN)
    _owner(session, second, "S1-01", JUN)
    session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspector_id, inspected_on, results,
                                problems_found, problems, rectification_deadline,
                                rectification_status)
        VALUES (:e, :p, DATE '2026-05-10', '{"Q01": "pass", "Q02": "fail"}', 1, '出厂检验记录不全',
                DATE '2026-06-09', 'open'),
               (:e, :p, DATE '2026-02-01', '{"Q01": "pass", "Q02": "pass"}', 0, NULL, NULL,
                'none')"""), {"e": e1, "p": first})
    return session


def test_the_record_holds_every_part(world):
    record = enterprise_record(world, "E1", today=dt.date(2026, 7, 1))
    assert record["credit_code"] == "91130984MA0CXXXX1X" and record["staff_count"] == 120
    assert [p["name"] for p in record["products"]] == ["塑料绝缘控制电缆"]
    assert [s["position"] for s in record["staff"]] == ["法定代表人", "特种设备安全管理员"]
    crane, tester = record["equipment"]
    assert crane["lapsed"] is True and tester["lapsed"] is None
    assert [(g["grade"], g["valid_to"]) for g in record["grades"]] == [("C", None), ("A", APR)]
    latest = record["inspections"][0]
    assert (latest["inspector"], latest["checked"], latest["failed"]) == ("董娟燕", 2, 1)
    assert latest["rectification_overdue"] is True
    assert record["chain"]["cell"]["code"] == "S1-01"
    assert enterprise_record(world, "NOPE", today=dt.date(2026, 7, 1)) is None


def test_the_owner_at_each_date_falls_to_the_parent_where_the_cell_had_none(world):
    history = owner_history(world, _id(world, "E1"))
    assert [(h["valid_from"], h["valid_to"], h["owner_name"], h["inherited"])
            for h in history] == [(JUN, None, "周梅", False),
                                  (APR, JUN, "董娟燕", False),
                                  (JAN, APR, "所长甲", True)]
    assert {h["cell_code"] for h in history} == {"S1-01"}
    assert history[-1]["owner_cell_code"] == "S1"


def test_a_move_to_another_cell_starts_a_new_period(world):
    world.execute(text("""
        UPDATE enterprise SET geom = ST_SetSRID(ST_Point(116.07, 38.45), 4326)
        WHERE management_code = 'E1'"""))
    history = owner_history(world, _id(world, "E1"))
    assert history[0]["cell_code"] == "S1-02" and history[0]["valid_to"] is None
    # S1-02 has no owner: it falls to S1's.
    assert (history[0]["owner_name"], history[0]["inherited"]) == ("所长甲", True)
    assert history[1]["cell_code"] == "S1-01" and history[1]["valid_to"] is not None


def test_an_enterprise_outside_every_cell_has_one_period_and_no_owner(world):
    (period,) = owner_history(world, _id(world, "E3"))
    assert period["cell_code"] is None and period["owner_name"] is None


def test_the_page_shows_it_in_chinese_with_tel_links(client, world):
    login(client, "c1-inspector")
    page = client.get("/enterprises/E1?lang=zh_Hans_CN")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for part in ("基本信息", "产品", "主要人员", "关键设备", "等级变更记录", "巡查记录", "责任链",
                 "三种责任", "企业主体责任", "部门监管责任", "属地管理责任", "历任网格及网格责任人",
                 "塑料绝缘控制电缆", "GB/T 9330-2020", "起17冀J00456(21)", "已超期",
                 "监督抽查不合格，调高风险等级", "发现问题 1 项", "至今"):
        assert part in html, part
    assert 'href="tel:0317-3263730"' in html and 'href="tel:18073526008"' in html
    english = client.get("/enterprises/E1?lang=en").get_data(as_text=True)
    assert "Chain of responsibility" in english and "Key equipment" in english


def test_outside_ones_area_the_page_answers_as_a_code_that_does_not_exist(client, world):
    login(client, "c2-inspector")  # reads S2 only; E1 is in S1-01
    outside = client.get("/enterprises/E1")
    missing = client.get("/enterprises/E0")
    assert outside.status_code == missing.status_code == 404

    def page(response, code):
        # The form tokens differ from response to response (they carry the second).
        html = re.sub(r'(csrf[-_]token" (?:content|value)=")[^"]*', r"\1", response.get_data(
            as_text=True))
        return html.replace(code, "CODE")

    assert page(outside, "E1") == page(missing, "E0")
    assert "赵建" not in outside.get_data(as_text=True)
    assert client.get("/enterprises/E2").status_code == 200


# The page follows the same rule as every other read path (tests/test_read_visibility.py).
EXPECTED = {"admin": {"E1", "E2", "E3"}, "city-leader": {"E1", "E2", "E3"},
            "s1-leader": {"E1"}, "s1-manager": {"E1"}, "s2-manager": {"E2"},
            "c1-inspector": {"E1"}, "c2-inspector": {"E2"}}


@pytest.mark.parametrize("username", [u for u, _r, _p in USERS])
def test_every_user_opens_the_pages_of_their_area_only(client, world, username):
    login(client, username)
    opened = {code for code in ("E1", "E2", "E3")
              if client.get(f"/enterprises/{code}").status_code == 200}
    assert opened == EXPECTED[username]


def test_a_hostile_record_is_shown_as_text(client, world):
    world.execute(text(
        "UPDATE enterprise SET name = :h, address = :h WHERE management_code = 'E1'"),
        {"h": HOSTILE})
    world.execute(text("UPDATE enterprise_staff SET name = :h, phone = :p"),
                  {"h": HOSTILE, "p": '1" onclick="x'})
    world.execute(text("UPDATE enterprise_product SET name = :h"), {"h": HOSTILE})
    login(client, "admin")
    html = client.get("/enterprises/E1").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)" in html
    assert 'onclick="x' not in html


def test_a_code_with_a_slash_opens_its_page(client, world):
    add_enterprises(world, ("HJ/2026.01", 116.02, 38.46))
    login(client, "admin")
    assert client.get("/enterprises/HJ/2026.01").status_code == 200


def test_the_page_needs_a_login(client, world):
    assert client.get("/enterprises/E1").status_code in (302, 401)


def test_the_chinese_page_holds_no_untranslated_english(client, world):
    from tests.test_i18n import english_words

    login(client, "admin")
    for path in ("/enterprises/E1", "/enterprises/E3", "/enterprises/E0", "/lookup"):
        html = client.get(path + "?lang=zh_Hans_CN").get_data(as_text=True)
        # The title is the enterprise's name: data, as in the page's translate="no" parts.
        html = re.sub(r"<title>.*?</title>", "", html, flags=re.S)
        # The coordinate systems' names stay as they are (GPS / WGS84, GCJ-02).
        assert english_words(html) - {"GPS", "WGS", "GCJ"} == set(), path
