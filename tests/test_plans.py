"""The month plan of inspections (月度巡查计划): the enterprises of a cell due in the month or
overdue at its start, by the wall's rule (last inspection, else registration, plus the grade's
interval), as the month opened; the page, the XLSX file (Chinese headers, formulas kept as
text) and ``flask plan month`` from the one function; readable by whoever reads the cell."""
import datetime as dt
import io

import openpyxl
import pytest
from sqlalchemy import text

from gis import plans, tables
from gis.validation import ValidationError
from tests.factories import add_enterprises, login, small_world

REGISTERED = dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc)
TODAY = dt.date(2026, 11, 15)
HEADERS = ["序号", "企业管理编码", "企业名称", "监管等级", "地址", "联系人", "联系电话", "所在网格",
           "上次巡查日期", "应巡查日期", "月初逾期天数", "本月巡查日期"]


@pytest.fixture
def world(session):
    """small_world (E1 in S1-01, E2 in S2-01, both grade B, never inspected) and in S1-01:
    P1 (B, last 2026-06-10: due 12-07), P2 (D, last 08-01: due 10-30), P3 (A, last 03-01:
    due 2027-03-01), P4 (C, never: due 05-01), P5 (D, last 08-10: due 11-08; inspected again
    11-09); in S1-02: Q1 (D, last 08-01: due 10-30). All registered on 2026-01-01."""
    inspector = small_world(session, valid_from=REGISTERED)
    for code, grade, lon in (("P1", "B", 116.01), ("P2", "D", 116.011), ("P3", "A", 116.012),
                             ("P4", "C", 116.013), ("P5", "D", 116.014), ("Q1", "D", 116.07)):
        add_enterprises(session, (code, lon, 38.45), grade=grade, valid_from=REGISTERED)
    for code, day in (("P1", "2026-06-10"), ("P2", "2026-08-01"), ("P3", "2026-03-01"),
                      ("P5", "2026-08-10"), ("P5", "2026-11-09"), ("Q1", "2026-08-01"),
                      # After today: not known yet, so nothing.
                      ("P1", "2026-11-20")):
        session.execute(text("""
            INSERT INTO inspection (enterprise_id, inspector_id, inspected_on)
            SELECT id, :p, :d FROM enterprise WHERE management_code = :c"""),
                        {"c": code, "d": day, "p": inspector})
    session.flush()
    return session


def cell_id(session, code):
    return session.execute(text("SELECT id FROM cell WHERE code = :c"), {"c": code}).scalar()


def test_the_plan_of_a_month_by_hand(world):
    november = plans.month_plan(world, cell_id(world, "S1-01"), dt.date(2026, 11, 1), TODAY)
    got = [(r["management_code"], r["due_on"], r["days_overdue"], r["last_inspected"],
            r["inspected_in_month"]) for r in november]
    # E1: grade B (180 days), never inspected, registered 2026-01-01: due 06-30.
    assert got == [
        ("P4", dt.date(2026, 5, 1), 184, None, None),
        ("E1", dt.date(2026, 6, 30), 124, None, None),
        ("P2", dt.date(2026, 10, 30), 2, dt.date(2026, 8, 1), None),
        # Due in the month, and inspected in it: in the plan, shown as done.
        ("P5", dt.date(2026, 11, 8), 0, dt.date(2026, 8, 10), dt.date(2026, 11, 9)),
    ]
    assert [r["overdue_at_start"] for r in november] == [True, True, True, False]
    december = plans.month_plan(world, cell_id(world, "S1-01"), dt.date(2026, 12, 1), TODAY)
    # A month to come: what is known today. P5's November visit moves it to 2027-02-07.
    assert [(r["management_code"], r["due_on"]) for r in december] == [
        ("P4", dt.date(2026, 5, 1)), ("E1", dt.date(2026, 6, 30)),
        ("P2", dt.date(2026, 10, 30)), ("P1", dt.date(2026, 12, 7))]
    assert december[-1]["overdue_at_start"] is False
    # The station's plan takes its cells' enterprises; another station's are not there.
    station = plans.month_plan(world, cell_id(world, "S1"), dt.date(2026, 11, 1), TODAY)
    assert {r["management_code"] for r in station} == {"P4", "E1", "P2", "P5", "Q1"}


def test_months_are_typed_as_year_and_month():
    assert plans.parse_month("2026-12") == dt.date(2026, 12, 1)
    assert plans.parse_month(" 2026-2 ") == dt.date(2026, 2, 1)
    for bad in ("2026-13", "2026", "12-2026", "2026-12-01", "", "0001-01"):
        with pytest.raises(ValidationError) as exc:
            plans.parse_month(bad)
        assert exc.value.field == "month"
    assert plans.month_end(dt.date(2028, 2, 1)) == dt.date(2028, 2, 29)


def test_the_file_has_chinese_headers_and_keeps_formulas_as_text(world):
    world.execute(text("""
        UPDATE enterprise SET name = '=HYPERLINK("http://evil","点我")', address = '@SUM(A1)',
               contact_name = '-2+3', contact_phone = '+8613800000000'
        WHERE management_code = 'P4'"""))
    rows = plans.month_plan(world, cell_id(world, "S1-01"), dt.date(2026, 11, 1), TODAY)
    data = plans.plan_xlsx(rows, cell_code="S1-01", cell_name="=cmd|' /C calc'!A0",
                           month=dt.date(2026, 11, 1))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [c.value for c in sheet[1]] == HEADERS
    p4 = [c for c in sheet[2]]
    assert p4[1].value == "P4"
    assert p4[2].value == "'=HYPERLINK(\"http://evil\",\"点我\")" and p4[2].data_type == "s"
    assert p4[4].value == "'@SUM(A1)" and p4[5].value == "'-2+3"
    assert p4[6].value == "'+8613800000000"
    assert p4[9].value.date() == dt.date(2026, 5, 1) and p4[10].value == 184
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)
    assert sheet.max_row == 1 + len(rows)
    assert tables.spreadsheet_text("a=b") == "a=b" and tables.spreadsheet_text(5) == 5


def test_the_page_the_file_and_who_may_read_them(client, app, world):
    login(client, "c1-inspector")
    this_month = dt.date.today().strftime("%Y-%m")
    page = client.get(f"/plans/S1-01?month={this_month}&lang=zh_Hans_CN")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "月度巡查计划" in html and 'data-code="P4"' in html and 'data-code="Q1"' not in html
    answer = client.get(f"/plans/S1-01.xlsx?month={this_month}")
    assert answer.status_code == 200 and answer.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(answer.data)).active
    assert [c.value for c in sheet[1]] == HEADERS
    assert "P4" in [c.value for c in sheet["B"]]
    # Without a month: this month. /plans opens one's own cell's.
    assert client.get("/plans/S1-01").status_code == 200
    assert client.get("/plans").location.endswith("/plans/S1-01")
    bad = client.get("/plans/S1-01?month=2026-13", headers={"Accept": "application/json"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "month"
    assert client.get("/plans/S2-01").status_code == 403
    assert client.get("/plans/S2-01.xlsx").status_code == 403
    assert client.get("/plans/NOPE").status_code == 404


def test_the_command_writes_the_same_file(runner, world, tmp_path):
    out = tmp_path / "plan.xlsx"
    result = runner.invoke(args=["plan", "month", "S1-01", "--month", "2026-11",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out).active
    assert [c.value for c in sheet[1]] == HEADERS
    # Run today, not on 2026-11-15: the November plan as the month opened is the same.
    assert [c.value for c in sheet["B"]][1:] == ["P4", "E1", "P2", "P5"]
    assert "S1-01 2026-11: 4 enterprises" in result.output
    bad = runner.invoke(args=["plan", "month", "S1-01", "--month", "2026/11",
                              "--out", str(out)])
    assert bad.exit_code != 0
    missing = runner.invoke(args=["plan", "month", "NOPE", "--out", str(out)])
    assert missing.exit_code != 0
