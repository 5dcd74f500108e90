"""Bringing the past in (docs/history-import.md): a bureau's first week, from the example files
under docs/examples/ (the same files the documentation shows, so neither drifts): boundaries
with the dates they took effect, people and owners with theirs, enterprises with the date each
came under supervision (assigned to the cell of that day, then following the boundary changes
since, whichever was imported first), the previous system's inspections (rectifications closed
as they were, or still open and late), the hotline's complaints with how they were handled
(routed to the owner of the day, closed when they were); every import idempotent, every bad
row named, each audit entry flagged "imported" and found by the audit log's filter."""
from __future__ import annotations

import datetime as dt
import io
import pathlib
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from gis import dates
from gis.enterprises import import_enterprises
from gis.errors import ImportRefused
from gis.inspections_import import import_inspections
from tests.factories import cell_of, login, small_world
from tests.test_i18n import english_words

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
DOC = ROOT / "docs" / "history-import.md"
ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
TODAY = dates.today(ZONE)
REASON = ["--reason", "历史数据导入"]
GRID = EXAMPLES / "history-grid-S1-2022-07-01.geojson"
GRID_ARGS = ["grid", "import", str(GRID), "--level", "3", "--parent", "S1",
             "--valid-from", "2022-07-01", "--history", *REASON]


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


def ok(result):
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def world(session):
    """The small world's cells from 1 January 2019 (S1-01 west of 116.05, S1-02 east of it,
    S2-01 beyond 116.1) and a checklist Q01 证照齐全, Q02 出厂检验."""
    small_world(session, valid_from=local(2019, 1, 1))
    return session


@pytest.fixture
def first_week(world, runner):
    """The order docs/history-import.md gives: boundaries, people and owners, enterprises."""
    ok(runner.invoke(args=GRID_ARGS))
    ok(runner.invoke(args=["people", "import", str(EXAMPLES / "history-people.csv"),
                           "--history", *REASON]))
    ok(runner.invoke(args=["cells", "set-owner", "S1-01", "RY002", "--from", "2023-01-01",
                           "--history", *REASON, "--comment", "2023 年责任书"]))
    ok(runner.invoke(args=["enterprises", "import", str(EXAMPLES / "history-enterprises.csv")]))
    return world


def flags(session, action):
    return session.execute(text("SELECT flag FROM audit_log WHERE action = :a ORDER BY id"),
                           {"a": action}).scalars().all()


def supervised_from(session, code):
    return session.execute(text("SELECT valid_from FROM enterprise WHERE management_code = :c"),
                           {"c": code}).scalar()


def cell_history(session, code):
    return session.execute(text("""
        SELECT c.code, ec.valid_from, ec.valid_to FROM enterprise_cell ec
        JOIN enterprise e ON e.id = ec.enterprise_id LEFT JOIN cell c ON c.id = ec.cell_id
        WHERE e.management_code = :c ORDER BY ec.valid_from"""), {"c": code}).all()


# --- the examples and the documentation -----------------------------------------------------

def test_the_examples_are_utf8_with_bom_and_the_documentation_shows_their_headers():
    doc = DOC.read_text(encoding="utf-8")
    for path in sorted(EXAMPLES.glob("history-*.csv")):
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), path.name
        header = raw.decode("utf-8-sig").splitlines()[0]
        assert path.name in doc and header in doc, path.name
    assert GRID.name in doc
    for command in ("--valid-from", "--history", "cells set-owner", "inspections import",
                    "complaints import", "testing import", "people import"):
        assert command in doc


# --- boundaries and enterprises ---------------------------------------------------------------

def test_an_enterprise_is_in_the_cell_of_the_day_it_came_under_supervision_and_moves_with_a_later_boundary(  # noqa: E501
        first_week):
    s = first_week
    assert supervised_from(s, "HJ-2020-0003") == local(2020, 3, 15)
    assert supervised_from(s, "HJ-2019-0002") == local(2019, 6, 1)
    # 116.06 was S1-02's until the redraw of 1 July 2022 gave it to S1-01.
    assert cell_of(s, "HJ-2020-0003", at=local(2020, 3, 15)) == ("S1-02", False)
    assert cell_of(s, "HJ-2020-0003", at=local(2022, 6, 30, 23, 59)) == ("S1-02", False)
    assert cell_of(s, "HJ-2020-0003", at=local(2022, 7, 1)) == ("S1-01", False)
    assert cell_of(s, "HJ-2020-0003") == ("S1-01", False)
    assert cell_of(s, "HJ-2020-0003", at=local(2020, 3, 14)) is None  # not supervised yet
    assert [r.code for r in cell_history(s, "HJ-2020-0003")] == ["S1-02", "S1-01"]
    assert [r.code for r in cell_history(s, "HJ-2019-0001")] == ["S1-01"]
    grade_from = s.execute(text("""
        SELECT min(g.valid_from) FROM enterprise_grade g JOIN enterprise e ON e.id = g.enterprise_id
        WHERE e.management_code = 'HJ-2020-0003'""")).scalar()
    assert grade_from == local(2020, 3, 15)
    assert flags(s, "cells_imported") == ["imported"]
    assert flags(s, "enterprises_imported") == ["imported"]


def test_boundaries_brought_in_after_the_enterprises_move_them_and_their_inspections_from_that_day(  # noqa: E501
        world, runner):
    ok(runner.invoke(args=["people", "import", str(EXAMPLES / "history-people.csv"),
                           "--history", *REASON]))
    ok(runner.invoke(args=["enterprises", "import", str(EXAMPLES / "history-enterprises.csv")]))
    ok(runner.invoke(args=["inspections", "import", str(EXAMPLES / "history-inspections.csv")]))
    assert cell_of(world, "HJ-2020-0003") == ("S1-02", False)
    ok(runner.invoke(args=GRID_ARGS))
    assert cell_of(world, "HJ-2020-0003", at=local(2021, 9, 2)) == ("S1-02", False)
    assert cell_of(world, "HJ-2020-0003") == ("S1-01", False)
    # Each inspection counts in the cell its enterprise was in on its day.
    cells = dict(world.execute(text("""
        SELECT i.external_id, c.code FROM inspection i
        JOIN enterprise_cell ec ON ec.enterprise_id = i.enterprise_id
             AND ec.valid @> (CAST(i.inspected_on AS timestamp) AT TIME ZONE 'Asia/Shanghai')
        JOIN cell c ON c.id = ec.cell_id""")).all())
    assert cells == {"XC-2021-0007": "S1-01", "XC-2021-0031": "S1-02",
                     "XC-2023-0112": "S1-01", "XC-2024-0045": "S2-01"}


def test_importing_the_enterprises_again_changes_nothing(first_week, runner):
    again = ok(runner.invoke(args=["enterprises", "import",
                                   str(EXAMPLES / "history-enterprises.csv")]))
    assert "inserted 0, updated 0, unchanged 3" in again
    assert [r.code for r in cell_history(first_week, "HJ-2020-0003")] == ["S1-02", "S1-01"]


def test_a_date_stated_for_a_stored_enterprise_moves_its_start_and_rebuilds_its_cells(
        world, runner, tmp_path):
    ok(runner.invoke(args=GRID_ARGS))
    plain = tmp_path / "today.csv"
    lines = (EXAMPLES / "history-enterprises.csv").read_text(encoding="utf-8-sig").splitlines()
    plain.write_text("\n".join(",".join(line.split(",")[:7]) for line in lines) + "\n",
                     encoding="utf-8")
    ok(runner.invoke(args=["enterprises", "import", str(plain)]))
    assert flags(world, "enterprises_imported") == [None]  # today's: nothing brought in
    assert [r.code for r in cell_history(world, "HJ-2020-0003")] == ["S1-01"]
    out = ok(runner.invoke(args=["enterprises", "import", str(plain),
                                 "--valid-from", "2021-01-01"]))
    assert "updated 3" in out
    assert supervised_from(world, "HJ-2020-0003") == local(2021, 1, 1)
    history = cell_history(world, "HJ-2020-0003")
    assert [(r.code, r.valid_from) for r in history] == [
        ("S1-02", local(2021, 1, 1)), ("S1-01", local(2022, 7, 1))]
    grades = world.execute(text("""
        SELECT g.valid_from FROM enterprise_grade g JOIN enterprise e ON e.id = g.enterprise_id
        WHERE e.management_code = 'HJ-2020-0003'""")).scalars().all()
    assert grades == [local(2021, 1, 1)]
    # A row's own date wins over the option.
    ok(runner.invoke(args=["enterprises", "import", str(EXAMPLES / "history-enterprises.csv"),
                           "--valid-from", "2021-01-01"]))
    assert supervised_from(world, "HJ-2020-0003") == local(2020, 3, 15)
    assert flags(world, "enterprises_imported") == [None, "imported", "imported"]


def test_a_bad_supervision_date_is_named_and_nothing_is_written(world, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("企业管理编码,企业名称,监管等级,经度,纬度,纳入监管日期\n"
                   "HJ-1,甲厂,B,116.02,38.45,2020-13-45\nHJ-2,乙厂,B,116.03,38.45,2020-01-01\n",
                   encoding="utf-8-sig")
    with pytest.raises(ImportRefused) as refused:
        import_enterprises(world, bad, zone=ZONE)
    assert [p.where for p in refused.value.problems] == ["row 2 (HJ-1)"]
    assert "supervised_from" in str(refused.value.problems[0])
    assert not world.execute(text("SELECT 1 FROM enterprise WHERE management_code LIKE 'HJ-_'"
                                  )).scalar()


# --- inspections --------------------------------------------------------------------------------

def inspections(session):
    return {r.external_id: r for r in session.execute(text("""
        SELECT i.external_id, e.management_code, i.inspected_on, p.code AS inspector,
               p2.code AS second, i.results, i.problems_found, i.rectification_status,
               i.rectified_on, i.username
        FROM inspection i JOIN enterprise e ON e.id = i.enterprise_id
        LEFT JOIN person p ON p.id = i.inspector_id
        LEFT JOIN person p2 ON p2.id = i.second_inspector_id
        WHERE i.external_id IS NOT NULL"""))}


def rectifications(session, number):
    return session.execute(text("""
        SELECT r.id, r.item_code, r.problem, r.deadline, r.status, r.opened_at, r.rectified_at,
               r.verified_at FROM rectification r JOIN inspection i ON i.id = r.inspection_id
        WHERE i.external_id = :x ORDER BY r.id"""), {"x": number}).all()


def test_past_inspections_come_in_with_their_rectifications_closed_as_they_were(first_week,
                                                                                  runner):
    s = first_week
    out = ok(runner.invoke(args=["inspections", "import",
                                 str(EXAMPLES / "history-inspections.csv")]))
    assert "inserted 4, unchanged 0; rectifications 4 (3 closed as they were)" in out
    rows = inspections(s)
    assert rows["XC-2021-0007"].rectification_status == "none"
    assert rows["XC-2021-0007"].inspector == "RY001" and rows["XC-2021-0007"].username == "cli"
    two = rows["XC-2021-0031"]
    assert (two.inspector, two.second) == ("RY002", "RY001")
    assert two.results == {"Q01": "fail", "Q02": "fail"} and two.problems_found == 2
    assert (two.rectification_status, two.rectified_on) == ("done", dt.date(2021, 9, 28))
    for r in rectifications(s, "XC-2021-0031"):
        assert (r.status, r.deadline) == ("verified", dt.date(2021, 10, 2))
        assert r.opened_at == local(2021, 9, 2)
        assert r.rectified_at == r.verified_at == local(2021, 9, 28)
    steps = s.execute(text("""
        SELECT st.step, st.at FROM rectification_step st
        JOIN rectification r ON r.id = st.rectification_id
        JOIN inspection i ON i.id = r.inspection_id
        WHERE i.external_id = 'XC-2021-0031' AND r.item_code = 'Q01'
        ORDER BY st.at, st.id""")).all()
    assert steps == [("opened", local(2021, 9, 2)), ("rectified", local(2021, 9, 28)),
                     ("verified", local(2021, 9, 28))]
    # By name on the roster; never corrected, so it is open and late to this day.
    late = rows["XC-2023-0112"]
    assert (late.inspector, late.rectification_status) == ("RY001", "open")
    (open_one,) = rectifications(s, "XC-2023-0112")
    assert (open_one.status, open_one.item_code, open_one.opened_at) == (
        "open", "Q02", local(2023, 4, 18))
    assert s.execute(text("SELECT count(*) FROM rectification WHERE status = 'open' AND "
                          "deadline < :t"), {"t": TODAY}).scalar() == 1
    # No item named: one rectification for the problems in words, corrected late.
    (words,) = rectifications(s, "XC-2024-0045")
    assert (words.item_code, words.problem, words.status) == (
        None, "仓库堆放杂乱，消防通道堵塞", "verified")
    assert rows["XC-2024-0045"].rectified_on == dt.date(2024, 7, 25)
    assert flags(s, "inspections_imported") == ["imported"]
    again = ok(runner.invoke(args=["inspections", "import",
                                   str(EXAMPLES / "history-inspections.csv")]))
    assert "inserted 0, unchanged 4" in again
    assert s.execute(text("SELECT count(*) FROM rectification")).scalar() == 4


def test_every_bad_inspection_row_is_named_and_nothing_is_written(first_week):
    future = (TODAY + dt.timedelta(days=3)).isoformat()
    rows = [
        {"原系统编号": "A1", "企业管理编码": "NOPE", "检查日期": "2021-01-05"},
        {"原系统编号": "A2", "企业管理编码": "HJ-2019-0001", "检查日期": future},
        {"原系统编号": "A3", "企业管理编码": "HJ-2020-0003", "检查日期": "2020-01-10"},
        {"原系统编号": "A4", "企业管理编码": "HJ-2019-0001", "检查日期": "2021-01-05",
         "不符合项": "Q77"},
        {"原系统编号": "A5", "企业管理编码": "HJ-2019-0001", "检查日期": "2021-01-05",
         "不符合项": "Q01"},
        {"原系统编号": "A6", "企业管理编码": "HJ-2019-0001", "检查日期": "2021-01-05",
         "检查人员": "无此人"},
        {"原系统编号": "A6", "企业管理编码": "HJ-2019-0001", "检查日期": "2021-01-06"},
        {"原系统编号": "A8", "企业管理编码": "HJ-2019-0001", "检查日期": "2021-01-05",
         "检查结果": "合格", "整改完成日期": "2021-02-01"},
        {"原系统编号": "A9", "企业管理编码": "HJ-2019-0001", "检查日期": "2021-01-05",
         "检查结果": "不合格", "整改期限": "2021-02-01"},
        {"原系统编号": "A10", "统一社会信用代码": "91130984MA0000000X", "检查日期": "2021-01-05"},
        {"原系统编号": "A11", "企业管理编码": "HJ-2019-0001", "检查日期": "2021-01-05",
         "检查结果": "合格", "不符合项": "Q02", "整改期限": "2021-02-01"},
    ]
    with pytest.raises(ImportRefused) as refused:
        import_inspections(first_week, rows, today=TODAY, zone=ZONE, username="admin")
    found = {(p.row, p.error.field, p.error.code) for p in refused.value.problems}
    assert found == {
        (2, "management_code", "no_such_target"),
        (3, "inspected_on", "after_today"),
        (4, "inspected_on", "before_supervision"),
        (5, "failed_items", "unknown_item"),
        (6, "deadline", "deadline_required"),
        (7, "inspector", "no_such_target"),
        (8, "original_number", "repeats_row"),
        (9, "rectified_on", "nothing_to_rectify"),
        (10, "problems", "problems_required"),
        (11, "credit_code", "no_such_target"),
        (12, "result", "passed_with_failures"),
    }
    assert "row 4 (A3)" in {p.where for p in refused.value.problems}
    assert not first_week.execute(text("SELECT 1 FROM inspection")).scalar()


def test_a_number_already_stored_for_another_inspection_is_refused(first_week):
    one = [{"原系统编号": "B1", "企业管理编码": "HJ-2019-0001", "检查日期": "2021-03-01"}]
    import_inspections(first_week, one, today=TODAY, zone=ZONE, username="admin")
    other = [{**one[0], "检查日期": "2021-03-02"}]
    with pytest.raises(ImportRefused) as refused:
        import_inspections(first_week, other, today=TODAY, zone=ZONE, username="admin")
    (problem,) = refused.value.problems
    assert problem.error.code == "number_taken" and "2021-03-01" in str(problem)


def test_results_per_checklist_item_by_code_or_title(first_week):
    rows = [{"检查编号": "C1", "企业管理编码": "HJ-2019-0001", "检查日期": "2022-03-01",
             "Q01": "合格", "出厂检验": "不合格", "整改期限": "2022-04-01"},
            {"检查编号": "C2", "企业管理编码": "HJ-2019-0001", "检查日期": "2022-05-01",
             "Q01": "√", "出厂检验": "不适用"}]
    summary = import_inspections(first_week, rows, today=TODAY, zone=ZONE, username="admin")
    assert (summary.inserted, summary.rectifications, summary.verified) == (2, 1, 0)
    rows = inspections(first_week)
    assert rows["C1"].results == {"Q01": "pass", "Q02": "fail"}
    assert rows["C2"].results == {"Q01": "pass", "Q02": "na"}
    assert rows["C1"].inspector is None


# --- complaints -------------------------------------------------------------------------------

def complaint(session, number):
    return session.execute(text("""
        SELECT k.status, k.received_at, k.closed_at, k.status_notes, c.code AS cell,
               o.code AS owner, k.due_at, k.id
        FROM complaint k LEFT JOIN cell c ON c.id = k.cell_id
        LEFT JOIN person o ON o.id = k.owner_id WHERE k.external_id = :x"""),
        {"x": number}).one()


def test_past_complaints_go_to_the_owner_of_their_day_and_close_when_they_closed(first_week,
                                                                                  runner):
    s = first_week
    out = ok(runner.invoke(args=["complaints", "import",
                                 str(EXAMPLES / "history-complaints.csv"), "--history"]))
    assert "inserted 3, unchanged 0" in out and "closed 1" in out
    closed = complaint(s, "12365-2021-00088")
    assert (closed.status, closed.cell, closed.owner) == ("closed", "S1-01", "RY001")
    assert closed.received_at == local(2021, 6, 3, 9, 20)
    assert closed.closed_at == local(2021, 6, 5, 10, 30)
    assert closed.status_notes == "现场核查，责令整改，已答复投诉人"
    steps = s.execute(text("SELECT status, at FROM complaint_step WHERE complaint_id = :k "
                           "ORDER BY at, id"), {"k": closed.id}).all()
    assert steps == [("received", local(2021, 6, 3, 9, 20)),
                     ("handled", local(2021, 6, 4, 15, 0)),
                     ("closed", local(2021, 6, 5, 10, 30))]
    # In S1-01 after the 2022 redraw, whose owner was RY002 from 2023; handled, never closed.
    handled = complaint(s, "12365-2023-00412")
    assert (handled.status, handled.cell, handled.owner, handled.closed_at) == (
        "handled", "S1-01", "RY002", None)
    waiting = complaint(s, "12365-2024-00901")
    assert (waiting.status, waiting.cell, waiting.owner) == ("received", "S2-01", "RY003")
    assert flags(s, "complaints_imported") == ["imported"]
    again = ok(runner.invoke(args=["complaints", "import",
                                   str(EXAMPLES / "history-complaints.csv"), "--history"]))
    assert "inserted 0, unchanged 3" in again
    assert s.execute(text("SELECT count(*) FROM complaint_step")).scalar() == 6


def test_a_history_row_whose_handling_does_not_add_up_is_named(first_week):
    from gis.complaints import import_hotline

    base = {"工单编号": "X1", "受理时间": "2021-06-03 09:20", "诉求内容": "电缆问题",
            "诉求类别": "产品质量问题", "企业管理编码": "HJ-2019-0001"}
    rows = [
        {**base, "办理状态": "已办结"},
        {**base, "工单编号": "X2", "办结时间": "2021-06-01 10:00"},
        {**base, "工单编号": "X3", "处理时间": "2021-06-05", "办结时间": "2021-06-04"},
        {**base, "工单编号": "X4", "办理状态": "已受理", "办结时间": "2021-06-04"},
        {**base, "工单编号": "X5", "办理状态": "作废"},
    ]
    with pytest.raises(ImportRefused) as refused:
        import_hotline(first_week, rows, zone=ZONE, username="admin", history=True)
    assert {(p.row, p.error.field, p.error.code) for p in refused.value.problems} == {
        (2, "closed_at", "required"), (3, "closed_at", "before"), (4, "closed_at", "before"),
        (5, "closed_at", "not_closed"), (6, "status", "choices")}
    # Without --history those columns are the file's own and are not read.
    done = import_hotline(first_week, rows[:1], zone=ZONE, username="admin")
    assert (done.inserted, complaint(first_week, "X1").status) == (1, "received")


# --- owners -------------------------------------------------------------------------------------

def test_owners_of_before_are_set_from_their_date_and_flagged_imported(first_week):
    owners = first_week.execute(text("""
        SELECT p.code, r.valid_from, r.valid_to FROM responsibility r
        JOIN person p ON p.id = r.person_id JOIN cell c ON c.id = r.cell_id
        WHERE c.code = 'S1-01' AND r.role = 'owner' ORDER BY r.valid_from""")).all()
    assert owners == [("RY001", local(2019, 1, 1), local(2023, 1, 1)),
                      ("RY002", local(2023, 1, 1), None)]
    assert flags(first_week, "cell_owner_set") == ["imported"]
    assert flags(first_week, "people_imported") == ["imported"]


def test_a_past_owner_still_needs_a_reason(world, runner):
    ok(runner.invoke(args=["people", "import", str(EXAMPLES / "history-people.csv"),
                           "--history", *REASON]))
    refused = runner.invoke(args=["cells", "set-owner", "S1-01", "RY002", "--from",
                                  "2023-01-01", "--history"])
    assert refused.exit_code == 2 and "--reason" in refused.output
    grid = runner.invoke(args=[a for a in GRID_ARGS if a not in REASON])
    assert grid.exit_code != 0 and "--reason" in grid.output


# --- the audit log and the pages --------------------------------------------------------------

def test_the_audit_log_filters_what_was_imported(first_week, client, runner):
    ok(runner.invoke(args=["cells", "set-owner", "S2-01", "RY001", "--from", "2024-01-01",
                           *REASON]))
    login(client, "admin")
    page = client.get("/admin/audit?flag=imported").get_data(as_text=True)
    # The boundaries, the roster, an owner of before and the enterprises.
    assert page.count('data-flag="imported"') == 4 and 'data-flag="backdated"' not in page
    backdated = client.get("/admin/audit?flag=backdated").get_data(as_text=True)
    assert backdated.count('data-flag="backdated"') == 1
    assert 'data-flag="imported"' not in backdated
    every = client.get("/admin/audit?flagged=true").get_data(as_text=True)
    assert every.count("<mark class=\"flag\"") == 5
    assert client.get("/admin/audit?flag=other").status_code == 400


def test_the_admin_brings_the_past_in_on_the_history_page(first_week, client):
    login(client, "s1-manager")
    assert client.get("/admin/history").status_code == 403
    login(client, "admin")
    page = client.get("/admin/history?lang=zh_Hans_CN")
    assert page.status_code == 200 and 'id="inspections-form"' in page.get_data(as_text=True)
    assert english_words(page.get_data(as_text=True)) == set()
    data = (EXAMPLES / "history-inspections.csv").read_bytes()
    done = client.post("/admin/history/inspections",
                       data={"file": (io.BytesIO(data), "历史巡查.csv")},
                       content_type="multipart/form-data")
    body = done.get_data(as_text=True)
    assert done.status_code == 200, body
    assert 'id="import-result" data-kind="inspections"' in body
    entry = first_week.execute(text("""
        SELECT username, via, flag, target FROM audit_log
        WHERE action = 'inspections_imported'""")).one()
    assert tuple(entry) == ("admin", "web", "imported", "file 历史巡查.csv")
    assert first_week.execute(text(
        "SELECT DISTINCT username FROM inspection")).scalars().all() == ["admin"]
    bad = "原系统编号,企业管理编码,检查日期\nZ1,NOPE,2021-01-01\n".encode("utf-8-sig")
    refused = client.post("/admin/history/inspections",
                          data={"file": (io.BytesIO(bad), "bad.csv")},
                          content_type="multipart/form-data")
    assert refused.status_code == 400 and "NOPE" in refused.get_data(as_text=True)


def test_enterprises_uploaded_with_a_date_of_supervision(world, client):
    login(client, "admin")
    data = (EXAMPLES / "history-enterprises.csv").read_bytes()
    page = client.post("/admin/history/enterprises",
                       data={"file": (io.BytesIO(data), "企业.csv"), "valid_from": "2019-05-01"},
                       content_type="multipart/form-data")
    assert page.status_code == 200, page.get_data(as_text=True)
    assert supervised_from(world, "HJ-2020-0003") == local(2020, 3, 15)  # its row's date
    api = client.post("/api/v1/imports/enterprises",
                      data={"file": (io.BytesIO(b"management_code,name,grade,lon,lat\n"
                                                b"HJ-API-1,API,B,116.02,38.45\n"), "a.csv"),
                            "valid_from": "2020-02-02"},
                      content_type="multipart/form-data")
    assert api.status_code == 201, api.get_json()
    assert supervised_from(world, "HJ-API-1") == local(2020, 2, 2)
    assert flags(world, "enterprises_imported") == ["imported", "imported"]


def test_a_big_upload_queued_as_a_job_keeps_its_date_of_supervision(world, client, app):
    from gis import jobs

    app.config["IMPORT_BACKGROUND_BYTES"] = 10  # every upload goes to the queue
    login(client, "admin")
    plain = b"management_code,name,grade,lon,lat\nHJ-JOB-1,JOB,B,116.06,38.45\n"
    queued = client.post("/api/v1/imports/enterprises",
                         data={"file": (io.BytesIO(plain), "big.csv"), "valid_from": "2020-02-02"},
                         content_type="multipart/form-data")
    assert queued.status_code == 202, queued.get_json()
    # The worker's step (gis.jobs.Worker.execute) in the test's transaction.
    job = dict(world.execute(text("SELECT * FROM job WHERE id = :i"),
                             {"i": queued.get_json()["job"]}).one()._mapping)
    result = jobs.RUNNERS["enterprise_import"](world, job, jobs.JobContext())
    assert result["inserted"] == 1
    assert supervised_from(world, "HJ-JOB-1") == local(2020, 2, 2)
    assert flags(world, "enterprises_imported") == ["imported"]
