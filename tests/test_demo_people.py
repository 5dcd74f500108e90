"""The demo city's people and numbers look like the county's: Chinese names as people have them
(no 张三, no 测试), mobiles of 11 digits with a carrier's prefix, landlines 0317 and seven digits
(Hejian's begin with 3); no two people share a number. And the people are new: the rest of the
city is what it was."""
import datetime as dt
import random
import re

import pytest
from sqlalchemy import text

from gis.demo import build
from gis.demo.build import load_demo

NAME = re.compile(r"^[\u4e00-\u9fff]{2,3}$")
PLACEHOLDERS = ("张三", "李四", "王五", "赵六", "测试", "演示", "某某", "甲", "乙", "丙", "test")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0317-3\d{6}$")


def looks_like_a_name(name: str) -> bool:
    return bool(NAME.match(name)) and not any(p in name for p in PLACEHOLDERS)


def looks_like_a_number(phone: str) -> bool:
    return bool(MOBILE.match(phone) or LANDLINE.match(phone))


def test_the_checks_tell_real_from_placeholder():
    assert looks_like_a_name("刘建华") and looks_like_a_name("王伟")
    assert not looks_like_a_name("张三") and not looks_like_a_name("测试员")
    assert not looks_like_a_name("巡查员甲") and not looks_like_a_name("Li Wei")
    assert looks_like_a_number("13931712345") and looks_like_a_number("0317-3601365")
    # The old demo's numbers: a station's 0317 and nine digits; one fixed mobile block.
    assert not looks_like_a_number("0317-360112365") and not looks_like_a_number("139 3171")


def test_names_and_numbers_drawn_alone_look_real():
    rng = random.Random(7)
    for i in range(500):
        assert looks_like_a_name(build._person_name(rng))
        assert MOBILE.match(build._phone(rng, f"person {i}"))


@pytest.fixture
def demo(session):
    return load_demo(session, today=dt.date(2026, 11, 28))


def test_demo_people_and_numbers_look_real(demo, session):
    people = session.execute(text("SELECT name, phone FROM person")).all()
    assert len(people) > 1000
    assert [n for n, _p in people if not looks_like_a_name(n)] == []
    assert [p for _n, p in people if not looks_like_a_number(p)] == []
    assert len({p for _n, p in people}) == len(people)
    stations = session.execute(text("SELECT phone FROM station")).scalars().all()
    assert stations and all(LANDLINE.match(p) for p in stations)
    contacts = session.execute(text(
        "SELECT contact_name, contact_phone FROM enterprise")).all()
    assert all(looks_like_a_name(n) and MOBILE.match(p) for n, p in contacts)
    staff = session.execute(text("SELECT name, phone FROM enterprise_staff")).all()
    assert all(looks_like_a_name(n) and looks_like_a_number(p) for n, p in staff)
