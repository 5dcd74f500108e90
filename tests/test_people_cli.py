"""The roster from the command line: people import/export/list/handover/gaps, cells set-owner
(a past --from needs --reason and is flagged), users create --person and users link."""
import datetime as dt
import json

import openpyxl
import pytest
from sqlalchemy import text

from tests.factories import small_world

JAN = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
# Owners since 1 February (so a change "now" comes after them, in the test's one
# transaction too): the import needs --reason.
ROSTER = ("人员编号,姓名,单位,职务,电话,用户名,负责网格,起始日期\n"
          "RY001,李建国,瀛州路质量监督所,网格责任人,13931712345,s1-leader,S1-01,2026-02-01\n"
          "RY002,王秀英,瀛州路质量监督所,网格责任人,13931754321,,S1-02、S2-01,2026-02-01\n")
REASON = ["--reason", "2 月签订责任书"]


@pytest.fixture
def world(session):
    small_world(session, valid_from=JAN)
    return session


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "名册.csv"
    path.write_bytes(ROSTER.encode("gbk"))
    return path


def owner(session, cell):
    return session.execute(text("""
        SELECT p.code FROM cell c CROSS JOIN LATERAL gw_cell_owner(c.id, now()) o
        JOIN person p ON p.id = o.person_id WHERE c.code = :c"""), {"c": cell}).scalar()


def test_people_import_then_again_changes_nothing(runner, world, roster):
    first = runner.invoke(args=["people", "import", str(roster), *REASON])
    assert first.exit_code == 0, first.output
    assert "inserted 2, updated 0, unchanged 0, refused 0; accounts linked 1, cells assigned 3" \
        in first.output
    assert owner(world, "S2-01") == "RY002"
    again = runner.invoke(args=["people", "import", str(roster), *REASON])
    assert "inserted 0, updated 0, unchanged 2, refused 0; accounts linked 0, cells assigned 0" \
        in again.output
    entry = world.execute(text("""
        SELECT via, username, detail FROM audit_log WHERE action = 'people_imported'
        ORDER BY id LIMIT 1""")).one()
    assert (entry.via, entry.username, entry.detail["assigned"]) == ("cli", "cli", 3)


def test_people_import_names_the_bad_row_and_writes_nothing(runner, world, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,cell\nRY001,李建国,S1-01\nRY002,,S1-02\n", encoding="utf-8")
    result = runner.invoke(args=["people", "import", str(bad)])
    assert result.exit_code == 1 and "row 3 (RY002): name: required" in result.output
    assert owner(world, "S1-01") is None
    skipped = runner.invoke(args=["people", "import", str(bad), "--skip-invalid"])
    assert skipped.exit_code == 0 and "refused row 3 (RY002)" in skipped.output
    assert owner(world, "S1-01") == "RY001"


def test_a_past_start_date_in_the_roster_needs_a_reason(runner, world, tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("code,name,cell,from\nRY001,李建国,S1-01,2026-03-01\n", encoding="utf-8")
    refused = runner.invoke(args=["people", "import", str(old)])
    assert refused.exit_code == 1 and "S1-01" in refused.output
    done = runner.invoke(args=["people", "import", str(old), "--reason", "责任书补录"])
    assert done.exit_code == 0, done.output
    flag = world.execute(text(
        "SELECT flag FROM audit_log WHERE action = 'people_imported'")).scalar()
    assert flag == "backdated"


def test_people_export_and_list(runner, world, roster, tmp_path):
    runner.invoke(args=["people", "import", str(roster), *REASON])
    out = tmp_path / "roster.xlsx"
    result = runner.invoke(args=["people", "export", str(out)])
    assert result.exit_code == 0 and "exported" in result.output
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("人员编号", "姓名", "单位")
    assert ("RY002", "王秀英") in [r[:2] for r in rows]
    english = tmp_path / "roster.csv"
    runner.invoke(args=["people", "export", str(english), "--english"])
    assert english.read_text(encoding="utf-8-sig").startswith("code,name,unit")
    listed = json.loads(runner.invoke(args=["people", "list", "--json"]).output)
    ry2 = next(p for p in listed if p["code"] == "RY002")
    assert ry2 == {"code": "RY002", "name": "王秀英", "unit": "瀛州路质量监督所",
                   "position": "网格责任人", "phone": "13931754321", "username": None,
                   "usernames": [], "cells": ["S1-02", "S2-01"], "roles": ["owner"]}
    ry1 = next(p for p in listed if p["code"] == "RY001")
    assert ry1["username"] == "s1-leader"
    plain = runner.invoke(args=["people", "list", "--search", "李建国"]).output
    assert plain.splitlines() == ["RY001\t李建国\t瀛州路质量监督所\t13931712345\ts1-leader\tS1-01"]


def test_cells_set_owner_dated_and_flagged(runner, world, roster):
    runner.invoke(args=["people", "import", str(roster), *REASON])
    now = runner.invoke(args=["cells", "set-owner", "S1-01", "RY002"])
    assert now.exit_code == 0 and "owner RY002" in now.output
    assert owner(world, "S1-01") == "RY002"
    same = runner.invoke(args=["cells", "set-owner", "S1-01", "RY002"])
    assert "nothing changed" in same.output
    past = runner.invoke(args=["cells", "set-owner", "S2-01", "RY001", "--from", "2026-03-01"])
    assert past.exit_code == 2 and "--reason" in past.output
    done = runner.invoke(args=["cells", "set-owner", "S2-01", "RY001", "--from", "2026-03-01",
                               "--reason", "责任书补录", "--comment", "补录"])
    assert done.exit_code == 0 and "backdated" in done.output
    entry = world.execute(text("""
        SELECT flag, via, detail FROM audit_log WHERE action = 'cell_owner_set'
        ORDER BY id DESC LIMIT 1""")).one()
    assert (entry.flag, entry.via, entry.detail["backdate_reason"]) == ("backdated", "cli",
                                                                        "责任书补录")
    missing = runner.invoke(args=["cells", "set-owner", "S2-01", "NOBODY"])
    assert missing.exit_code == 1 and "NOBODY" in missing.output


def test_users_create_with_a_person_and_users_link(runner, world, roster):
    runner.invoke(args=["people", "import", str(roster), *REASON])
    made = runner.invoke(args=["users", "create", "wangxy", "--password", "long-pass-1",
                               "--role", "inspector", "--place", "S1-02", "--person", "RY002"])
    assert made.exit_code == 0 and "person RY002" in made.output
    linked = world.execute(text("""
        SELECT p.code FROM app_user u JOIN person p ON p.id = u.person_id
        WHERE u.username = 'wangxy'""")).scalar()
    assert linked == "RY002"
    nobody = runner.invoke(args=["users", "create", "x2", "--password", "long-pass-1",
                                 "--role", "leader", "--place", "S1", "--person", "RY404"])
    assert nobody.exit_code == 1 and "RY404" in nobody.output
    taken = runner.invoke(args=["users", "link", "wangxy", "RY001"])
    assert taken.exit_code == 1 and "unlink" in taken.output
    assert runner.invoke(args=["users", "link", "wangxy", "--unlink"]).exit_code == 0
    assert runner.invoke(args=["users", "link", "wangxy", "RY001"]).exit_code == 0


def test_people_handover_prints_the_plates_and_gaps_follow(runner, world, roster):
    runner.invoke(args=["people", "import", str(roster), *REASON])
    gaps = runner.invoke(args=["people", "gaps"]).output
    assert "cells without an owner of their own: 0" in gaps
    result = runner.invoke(args=["people", "handover", "RY001", "RY002", "--comment", "调岗"])
    assert result.exit_code == 0, result.output
    assert "owner S1-01" in result.output and "plates to reprint: 1" in result.output
    assert "E1\tenterprise E1" in result.output
    assert owner(world, "S1-01") == "RY002"
    gaps = runner.invoke(args=["people", "gaps"]).output
    assert "people who answer for nothing: 2" in gaps and "RY001 李建国" in gaps
    twice = runner.invoke(args=["people", "handover", "RY001", "RY002", "--comment", "再次"])
    assert twice.exit_code == 1 and "nothing to hand over" in twice.output
