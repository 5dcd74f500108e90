"""Statistics (gis/statistics.py, app/statistics.py) on the demo city: every figure of every
unit, for several levels and periods with their 同比 and 环比, equals what plain Python counts
from the raw rows of the base tables (no SQL of the module's); every number opens a list of
the same rows; the XLSX holds the page's numbers; a station's leader sees their station only;
big work goes to the job queue with a progress bar.

The demo is changed first so that membership "at the period's end" matters: enterprises move
to another cell mid-October, others come under supervision mid-October, and grades change
(the demo's grade history)."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import statistics as pystats
from collections import defaultdict
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import shapely
from sqlalchemy import text

from gis import jobs
from gis import statistics as st
from gis.demo.build import load_demo
from tests.factories import login

TODAY = dt.date(2026, 11, 28)
ZONE = "Asia/Shanghai"
NOW = dt.datetime(2026, 11, 28, 16, 0, tzinfo=ZoneInfo(ZONE))
MOVED_AT = dt.datetime(2026, 10, 15, 9, 0, tzinfo=ZoneInfo(ZONE))
JOINED_AT = dt.datetime(2026, 10, 10, 0, 0, tzinfo=ZoneInfo(ZONE))
PASSWORD = "station-leader-1"


# --- periods -----------------------------------------------------------------------------------

def test_a_month_quarter_and_year_hold_the_day_and_compare_with_the_right_days():
    october = st.Period.of("month", dt.date(2026, 10, 17), TODAY)
    assert (october.start, october.end, october.last, october.running) == (
        dt.date(2026, 10, 1), dt.date(2026, 10, 31), dt.date(2026, 10, 31), False)
    assert (october.year_before().start, october.year_before().end) == (
        dt.date(2025, 10, 1), dt.date(2025, 10, 31))
    assert (october.before().start, october.before().end) == (
        dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    assert october.judge_day == dt.date(2026, 10, 31)
    q3 = st.Period.of("quarter", dt.date(2026, 8, 2), TODAY)
    assert (q3.start, q3.end) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    assert (q3.before().start, q3.before().end) == (dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    custom = st.Period.of("custom", dt.date(2026, 3, 10), TODAY, end=dt.date(2026, 3, 19))
    assert (custom.before().start, custom.before().end) == (
        dt.date(2026, 2, 28), dt.date(2026, 3, 9))
    assert (custom.year_before().start, custom.year_before().end) == (
        dt.date(2025, 3, 10), dt.date(2025, 3, 19))


def test_a_running_period_counts_to_today_and_compares_with_as_many_days():
    november = st.Period.of("month", TODAY, TODAY)
    assert november.running and november.last == TODAY and november.days == 28
    assert november.judge_day == TODAY - dt.timedelta(days=1)
    assert (november.before().start, november.before().end) == (
        dt.date(2026, 10, 1), dt.date(2026, 10, 28))
    assert (november.year_before().start, november.year_before().end) == (
        dt.date(2025, 11, 1), dt.date(2025, 11, 28))
    year = st.Period.of("year", TODAY, TODAY)
    assert (year.before().start, year.before().end) == (dt.date(2025, 1, 1),
                                                       dt.date(2025, 11, 28))
    # 29 February has no day a year before: the 28th stands for it.
    leap = st.Period.of("custom", dt.date(2028, 2, 29), dt.date(2028, 3, 5),
                        end=dt.date(2028, 2, 29))
    assert leap.year_before().start == dt.date(2027, 2, 28)
    assert st.Period.of("month", dt.date(2028, 2, 1), dt.date(2028, 3, 5)).end == \
        dt.date(2028, 2, 29)
    # The end of a period's last day in the bureau's zone, or now while it runs.
    october = st.Period.of("month", dt.date(2026, 10, 1), TODAY)
    assert october.as_of(ZONE, NOW) == dt.datetime(2026, 11, 1, tzinfo=ZoneInfo(ZONE)) - \
        dt.timedelta(microseconds=1)
    assert november.as_of(ZONE, NOW) == NOW


def test_changes_are_relative_for_counts_and_in_points_for_rates():
    assert st.change(st.FIGURE["inspections"], 110, 100) == pytest.approx(0.1)
    assert st.change(st.FIGURE["inspection_rate"], 0.8, 0.75) == pytest.approx(0.05)
    assert st.change(st.FIGURE["inspections"], 5, 0) is None
    assert st.change(st.FIGURE["spot_check_pass_rate"], None, 0.9) is None
    assert st.period_label_zh(st.Period.of("month", dt.date(2026, 10, 1), TODAY)) == \
        "2026年10月"
    assert st.period_label_zh(st.Period.of("month", TODAY, TODAY)) == \
        "2026年11月（2026-11-01至今）"
    assert st.period_label_zh(st.Period.of("quarter", dt.date(2026, 8, 1), TODAY)) == \
        "2026年第3季度"


# --- the demo city, changed so that "at the period's end" matters -----------------------------

@pytest.fixture
def demo(session):
    load_demo(session, today=TODAY)
    ids = lambda sql: session.execute(text(sql)).scalars().all()  # noqa: E731
    # Five enterprises of Z01-01 move to Z02-01 in mid-October (a redraw's effect).
    moved = ids("""SELECT ec.enterprise_id FROM enterprise_cell ec JOIN cell c ON c.id = ec.cell_id
                   WHERE c.code = '130984-Z01-01' AND ec.valid_to IS NULL
                   ORDER BY ec.enterprise_id LIMIT 5""")
    session.execute(text("""
        UPDATE enterprise_cell SET valid_to = :at
        WHERE enterprise_id = ANY(:ids) AND valid_to IS NULL"""), {"at": MOVED_AT, "ids": moved})
    session.execute(text("""
        INSERT INTO enterprise_cell (enterprise_id, cell_id, valid_from)
        SELECT unnest(CAST(:ids AS bigint[])), (SELECT id FROM cell WHERE code = '130984-Z02-01'),
               :at"""), {"at": MOVED_AT, "ids": moved})
    # Ten enterprises of Z03 come under supervision on 10 October.
    joined = ids("""SELECT ec.enterprise_id FROM enterprise_cell ec JOIN cell c ON c.id = ec.cell_id
                    WHERE c.code LIKE '130984-Z03-%' AND ec.valid_to IS NULL
                    ORDER BY ec.enterprise_id DESC LIMIT 10""")
    session.execute(text("UPDATE enterprise SET valid_from = :at WHERE id = ANY(:ids)"),
                    {"at": JOINED_AT, "ids": joined})
    session.execute(text("""
        UPDATE enterprise_cell SET valid_from = :at
        WHERE enterprise_id = ANY(:ids) AND valid_from < :at AND valid_to IS NULL"""),
        {"at": JOINED_AT, "ids": joined})
    session.flush()
    return {"moved": moved, "joined": joined}


# --- plain Python over the raw rows -------------------------------------------------------------

def _valid_at(rows, when):
    for r in rows:
        if r["valid_from"] <= when and (r["valid_to"] is None or when < r["valid_to"]):
            return r
    return None


def _rows(session, sql):
    return [dict(r._mapping) for r in session.execute(text(sql))]


class Raw:
    """The base tables as rows, and what belongs where, worked out in Python."""

    def __init__(self, session):
        self.cells = {r["id"]: r for r in _rows(session, """
            SELECT id, code, name, level, kind, parent_id, specialty FROM cell""")}
        self.versions = defaultdict(list)
        for r in _rows(session, """SELECT cell_id, valid_from, valid_to, ST_AsBinary(geom) AS wkb
                                   FROM cell_version"""):
            r["shape"] = shapely.from_wkb(bytes(r["wkb"]))
            self.versions[r["cell_id"]].append(r)
        self.enterprises = _rows(session, """
            SELECT id, grade, valid_from, specialty, ST_X(geom) AS x, ST_Y(geom) AS y
            FROM enterprise""")
        self.assigned = defaultdict(list)
        for r in _rows(session, "SELECT enterprise_id, cell_id, valid_from, valid_to "
                                "FROM enterprise_cell"):
            self.assigned[r["enterprise_id"]].append(r)
        self.grades = defaultdict(list)
        for r in _rows(session, "SELECT enterprise_id, grade, valid_from, valid_to "
                                "FROM enterprise_grade"):
            self.grades[r["enterprise_id"]].append(r)
        self.intervals = dict(session.execute(text(
            "SELECT grade, interval_days FROM grade_interval")).all())
        villages = _rows(session, "SELECT code, township_id, ST_AsBinary(geom) AS wkb "
                                  "FROM village ORDER BY code")
        self.village_shapes = [shapely.from_wkb(bytes(v["wkb"])) for v in villages]
        self.villages = villages
        self.village_tree = shapely.STRtree(self.village_shapes)
        self.townships = {r["id"]: r for r in _rows(session, "SELECT id, code, name "
                                                             "FROM township")}
        self.inspections = _rows(session, """
            SELECT enterprise_id, inspected_on, problems_found, rectification_status,
                   rectification_deadline, rectified_on FROM inspection""")
        self.batches = _rows(session, "SELECT enterprise_id, checked_on, kind, batches, passed "
                                      "FROM spot_check")
        self.cases = _rows(session, "SELECT enterprise_id, opened_on, closed_on "
                                    "FROM enforcement_case")
        self.complaints = _rows(session, """
            SELECT received_at, closed_at, due_at, cell_id, service_code,
                   ST_X(geom) AS x, ST_Y(geom) AS y FROM complaint""")
        self.services = dict(session.execute(text(
            "SELECT code, specialty FROM complaint_service")).all())

    def path(self, cell_id):
        out = []
        while cell_id is not None:
            out.insert(0, cell_id)
            cell_id = self.cells[cell_id]["parent_id"]
        return out

    def township(self, x, y):
        if x is None:
            return None
        point = shapely.Point(x, y)
        hits = [i for i in self.village_tree.query(point) if self.village_shapes[i].covers(point)]
        if not hits:
            return None
        return min((self.villages[i] for i in hits), key=lambda v: v["code"])["township_id"]

    def grid(self, specialty, x, y, as_of):
        if specialty is None or x is None:
            return None
        point = shapely.Point(x, y)
        found = [c for c in self.cells.values()
                 if c["kind"] == "professional" and c["level"] == 2
                 and c["specialty"] == specialty
                 and (v := _valid_at(self.versions[c["id"]], as_of)) is not None
                 and v["shape"].covers(point)]
        return min(found, key=lambda c: c["code"])["id"] if found else None

    def units(self, level, as_of, cells):
        if level == "township":
            return sorted(self.townships, key=lambda t: self.townships[t]["code"])
        depth = st.DEPTH.get(level, 2)
        kind = "professional" if level == "professional" else "territorial"
        return sorted((c["id"] for c in self.cells.values()
                       if c["kind"] == kind and c["level"] == depth
                       and _valid_at(self.versions[c["id"]], as_of) is not None
                       and (cells is None or c["id"] in cells)),
                      key=lambda i: self.cells[i]["code"])

    def figures(self, level, period, cells=None, units=None):
        """({unit id: figures, 0: all units}, units) counted in Python; ``units``: those of
        another period (同比 and 环比 compare the period's own units)."""
        as_of = period.as_of(ZONE, NOW)
        start, last, judge = period.start, period.last, period.judge_day
        units = units if units is not None else self.units(level, as_of, cells)
        depth = st.DEPTH.get(level)
        out = {u: defaultdict(float) for u in units + [0]}
        days = {u: [] for u in units + [0]}

        def add(unit, key, amount=1):
            if unit in out and unit != 0:
                out[unit][key] += amount
                out[0][key] += amount

        member = {}
        for e in self.enterprises:
            if e["valid_from"] > as_of:
                continue
            placed = _valid_at(self.assigned[e["id"]], as_of)
            if placed is None or placed["cell_id"] is None:
                continue
            if cells is not None and placed["cell_id"] not in cells:
                continue
            if depth:
                path = self.path(placed["cell_id"])
                unit = path[depth - 1] if len(path) >= depth else None
            elif level == "township":
                unit = self.township(e["x"], e["y"])
            else:
                unit = self.grid(e["specialty"], e["x"], e["y"], as_of)
            if unit not in units:
                continue
            graded = _valid_at(self.grades[e["id"]], as_of)
            grade = graded["grade"] if graded else e["grade"]
            member[e["id"]] = unit
            add(unit, "enterprises")
            add(unit, f"grade_{grade.lower()}")
            first = max(start, e["valid_from"].astimezone(ZoneInfo(ZONE)).date())
            if first <= last:
                add(unit, "inspections_required",
                    ((last - first).days + 1) / self.intervals[grade])
        for i in self.inspections:
            unit = member.get(i["enterprise_id"])
            if unit is None or not start <= i["inspected_on"] <= last:
                continue
            n = i["problems_found"]
            rectified = (i["rectification_status"] == "done"
                         and (i["rectified_on"] is None or i["rectified_on"] <= last))
            due = i["rectification_deadline"] is not None and i["rectification_deadline"] <= judge
            add(unit, "inspections")
            add(unit, "problems_found", n)
            add(unit, "problems_rectified", n if rectified else 0)
            add(unit, "problems_judged", n if due or rectified else 0)
            add(unit, "problems_on_time", n if rectified and None not in (
                i["rectification_deadline"], i["rectified_on"])
                and i["rectified_on"] <= i["rectification_deadline"] else 0)
        for b in self.batches:
            unit = member.get(b["enterprise_id"])
            if unit is None or not start <= b["checked_on"] <= last:
                continue
            prefix = "spot_check" if b["kind"] == "spot_check" else "periodic"
            add(unit, f"{prefix}_batches", b["batches"])
            add(unit, f"{prefix}_passed", b["passed"])
        for c in self.cases:
            unit = member.get(c["enterprise_id"])
            if unit is None:
                continue
            add(unit, "cases_opened", 1 if start <= c["opened_on"] <= last else 0)
            add(unit, "cases_closed", 1 if c["closed_on"] and start <= c["closed_on"] <= last
                else 0)
        for k in self.complaints:
            day = k["received_at"].astimezone(ZoneInfo(ZONE)).date()
            if not start <= day <= last:
                continue
            if cells is not None and k["cell_id"] not in cells:
                continue
            if depth:
                path = self.path(k["cell_id"]) if k["cell_id"] else []
                unit = path[depth - 1] if len(path) >= depth else None
            elif level == "township":
                unit = self.township(k["x"], k["y"])
            else:
                unit = self.grid(self.services.get(k["service_code"]), k["x"], k["y"], as_of)
            if unit not in units:
                continue
            closed = k["closed_at"] is not None and k["closed_at"] <= as_of
            due = k["due_at"] is not None and k["due_at"] <= as_of
            add(unit, "complaints")
            add(unit, "complaints_closed", 1 if closed else 0)
            add(unit, "complaints_judged", 1 if closed or due else 0)
            add(unit, "complaints_on_time", 1 if closed and (
                k["due_at"] is None or k["closed_at"] <= k["due_at"]) else 0)
            if closed:
                took = (k["closed_at"] - k["received_at"]).total_seconds() / 86400
                days[unit].append(took)
                days[0].append(took)
        for u in out:
            f = out[u]
            f["close_days_mean"] = pystats.mean(days[u]) if days[u] else None
            f["close_days_median"] = pystats.median(days[u]) if days[u] else None
            for key, (part, whole) in st.RATES.items():
                f[key] = f[part] / f[whole] if f[whole] else None
        return {u: dict(f) for u, f in out.items()}, units


def _mismatches(where, expected: dict, got: dict) -> list[str]:
    bad = []
    for f in st.FIGURES:
        want, have = expected.get(f.key, 0), got[f.key]
        if want is None or have is None:
            if not (want is None and have is None):
                bad.append(f"{where} {f.key}: python {want} sql {have}")
        elif abs(want - have) > 1e-9 * max(1, abs(want)):
            bad.append(f"{where} {f.key}: python {want} sql {have}")
    return bad


PERIODS = {
    "october": st.Period.of("month", dt.date(2026, 10, 1), TODAY),
    "november so far": st.Period.of("month", TODAY, TODAY),
    "third quarter": st.Period.of("quarter", dt.date(2026, 7, 1), TODAY),
    "2026 so far": st.Period.of("year", TODAY, TODAY),
    "spring range": st.Period.of("custom", dt.date(2026, 3, 10), TODAY, end=dt.date(2026, 6, 20)),
}
COMBINATIONS = [("city", "2026 so far"), ("station", "october"), ("station", "november so far"),
                ("township", "october"), ("township", "third quarter"),
                ("cell", "october"), ("cell", "spring range"),
                ("professional", "2026 so far"), ("professional", "october")]


def test_every_figure_equals_what_python_counts_from_the_raw_rows(demo, session):
    raw = Raw(session)
    bad = []
    for level, name in COMBINATIONS:
        period = PERIODS[name]
        result = st.statistics(session, level=level, period=period, visible=None, zone=ZONE,
                               now=NOW)
        _, units = raw.figures(level, period)
        for which, p in (("figures", period), ("yoy", period.year_before()),
                         ("pop", period.before())):
            expected, _ = raw.figures(level, p, units=units)
            codes = [raw.townships[u]["code"] if level == "township" else raw.cells[u]["code"]
                     for u in units]
            assert [u["code"] for u in result["units"]] == codes, (level, name)
            for unit, row in zip(units, result["units"]):
                bad += _mismatches(f"{level} {name} {which} {row['code']}", expected[unit],
                                   row[which])
            bad += _mismatches(f"{level} {name} {which} total", expected[0],
                               result["total"][which])
        # 同比 and 环比 are the changes between those.
        for row in result["units"] + [result["total"]]:
            for f in st.FIGURES:
                assert row["yoy_change"][f.key] == st.change(f, row["figures"][f.key],
                                                             row["yoy"][f.key])
                assert row["pop_change"][f.key] == st.change(f, row["figures"][f.key],
                                                             row["pop"][f.key])
    assert bad == []
    # The changes of the fixture show: a moved enterprise counts where it was at the end.
    october = st.statistics(session, level="cell", period=PERIODS["october"], visible=None,
                            zone=ZONE, now=NOW)
    september = st.statistics(session, level="cell",
                              period=st.Period.of("month", dt.date(2026, 9, 1), TODAY),
                              visible=None, zone=ZONE, now=NOW)
    by_code = lambda r: {u["code"]: u["figures"]["enterprises"] for u in r["units"]}  # noqa
    assert by_code(october)["130984-Z02-01"] == by_code(september)["130984-Z02-01"] + 5
    assert by_code(october)["130984-Z01-01"] == by_code(september)["130984-Z01-01"] - 5
    assert september["total"]["figures"]["enterprises"] == \
        october["total"]["figures"]["enterprises"] - 10


def test_a_place_narrows_the_units_and_what_they_count(demo, session):
    raw = Raw(session)
    period = PERIODS["third quarter"]
    cells = set(st.scope_cells(session, None, "130984-Z01"))
    result = st.statistics(session, level="township", period=period, visible=None,
                           place="130984-Z01", zone=ZONE, now=NOW)
    expected, units = raw.figures("township", period, cells)
    kept = {raw.townships[u]["code"]: u for u in units
            if expected[u].get("enterprises") or expected[u].get("complaints")}
    assert sorted(kept) == [u["code"] for u in result["units"]]
    bad = []
    for row in result["units"]:
        bad += _mismatches(row["code"], expected[kept[row["code"]]], row["figures"])
    assert bad == []
    cells_only = st.statistics(session, level="cell", period=period, visible=None,
                               place="130984-Z01", zone=ZONE, now=NOW)
    assert {u["code"][:10] for u in cells_only["units"]} == {"130984-Z01"}
    with pytest.raises(LookupError):
        st.statistics(session, level="cell", period=period, visible=None, place="NOPE",
                      zone=ZONE, now=NOW)


# --- the pages -----------------------------------------------------------------------------------

def _table(html: str) -> dict[str, dict[str, str]]:
    """{unit code (or "total"): {figure key: data-value}} of the page's table."""
    out = {}
    for code, row in re.findall(r'<tr class="unit" data-code="([^"]+)">(.*?)</tr>', html, re.S):
        out[code] = dict(re.findall(r'data-key="([a-z_]+)" data-value="([^"]*)"', row))
    total = re.search(r'<tr class="total">(.*?)</tr>', html, re.S).group(1)
    out["total"] = dict(re.findall(r'data-key="([a-z_]+)" data-value="([^"]*)"', total))
    return out


def _links(html: str, code: str) -> dict[str, str]:
    row = re.search(rf'<tr class="unit" data-code="{re.escape(code)}">(.*?)</tr>', html,
                    re.S).group(1)
    return {key: href.replace("&amp;", "&") for key, href in re.findall(
        r'data-key="([a-z_]+)" data-value="[^"]*"><a href="([^"]+)"', row)}


def _number(text_: str) -> float | None:
    text_ = text_.strip().replace(",", "")
    if text_ == "–":
        return None
    return float(text_[:-1]) / 100 if text_.endswith("%") else float(text_)


def _record_number(html: str, total: str | None) -> float:
    if total is None:
        return float(re.search(r'id="record-total">([\d,]+)<', html).group(1).replace(",", ""))
    return _number(re.search(rf'data-total="{total}">([^<]+)<', html).group(1))


@pytest.fixture
def leader(demo, client, session):
    from gis.users import create_user

    create_user(session, "city-leader", PASSWORD, role="leader", place="130984")
    create_user(session, "z01-leader", PASSWORD, role="leader", place="130984-Z01")
    session.flush()
    login(client, "city-leader", PASSWORD)
    return client


@pytest.mark.parametrize("level, code", [("station", "130984-Z01"), ("township", None),
                                         ("cell", "130984-Z02-01"), ("professional", None)])
def test_every_number_opens_the_rows_that_make_it(leader, level, code):
    html = leader.get(f"/statistics?level={level}&period=quarter&from=2026-07-01").get_data(
        as_text=True)
    table = _table(html)
    code = code or next(c for c in table if c != "total" and table[c]["enterprises"] != "0")
    links = _links(html, code)
    from app.statistics import record_total

    assert set(links) >= {"enterprises", "inspections", "problems_found", "complaints",
                          "spot_check_batches", "periodic_pass_rate", "cases_opened"}
    for key, href in links.items():
        assert "from=2026-07-01" in href and "to=2026-09-30" in href and f"unit={code}" in href
        page = leader.get(href)
        assert page.status_code == 200, href
        shown = _record_number(page.get_data(as_text=True), record_total(key))
        value = table[code][key]
        if key == "inspection_rate":  # the inspections done, over what was required
            value = table[code]["inspections"]
        if value == "":
            assert shown in (None, 0), (key, href)
            continue
        if st.FIGURE[key].kind == "rate" and key != "inspection_rate":
            assert shown == pytest.approx(float(value), abs=0.0005), (key, href)
        elif st.FIGURE[key].kind in ("days", "decimal"):
            continue  # the list's rows are the unit's; their count is another figure's
        else:
            assert shown == float(value), (key, href)


def test_the_total_row_opens_every_units_rows(leader):
    html = leader.get("/statistics?level=cell&period=month&from=2026-10-01").get_data(
        as_text=True)
    total = _table(html)["total"]
    row = re.search(r'<tr class="total">(.*?)</tr>', html, re.S).group(1)
    href = re.search(r'data-key="inspections" data-value="[^"]*"><a href="([^"]+)"',
                     row).group(1).replace("&amp;", "&")
    assert "unit=" not in href
    page = leader.get(href).get_data(as_text=True)
    assert _record_number(page, None) == float(total["inspections"])


def test_the_xlsx_and_csv_hold_the_pages_numbers(leader):
    query = "level=station&period=month&from=2026-10-01"
    table = _table(leader.get(f"/statistics?{query}").get_data(as_text=True))
    answer = leader.get(f"/statistics.xlsx?{query}")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"].endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(answer.data))
    assert book.sheetnames == ["本期", "去年同期", "上期", "同比", "环比", "说明"]
    sheet = book["本期"]
    rows = list(sheet.iter_rows(values_only=True))
    assert "2026年10月" in rows[0][0]
    header = rows[1]
    assert header[:2] == ("代码", "监督所网格")
    assert header[2:] == tuple(f.header for f in st.FIGURES)
    assert {"巡查完成率", "按期整改率", "按期办结率", "监督抽查合格率", "定期监督检验合格率"} <= set(header)
    compared = 0
    for values in rows[2:]:
        code = "total" if values[1] == "合计" else values[0]
        for f, value in zip(st.FIGURES, values[2:]):
            if f.key not in table[code]:
                continue
            shown = table[code][f.key]
            if shown == "":
                assert value is None, (code, f.key)
            else:
                assert value == pytest.approx(float(shown)), (code, f.key)
            compared += 1
    assert compared >= 11 * 20
    csv = leader.get(f"/statistics.csv?{query}").data.decode("utf-8-sig").splitlines()
    assert csv[0].startswith("代码,监督所网格,企业数,A级企业")
    assert len(csv) == 1 + 10 + 1


def test_a_station_leader_sees_only_their_station(leader, client):
    client.post("/logout")
    login(client, "z01-leader", PASSWORD)
    html = client.get("/statistics").get_data(as_text=True)  # their cells, by default
    codes = [c for c in _table(html) if c != "total"]
    assert codes and all(c.startswith("130984-Z01-") for c in codes)
    html = client.get("/statistics?level=station").get_data(as_text=True)
    assert [c for c in _table(html) if c != "total"] == ["130984-Z01"]
    assert client.get("/statistics?level=station&place=130984-Z02").status_code == 404
    assert client.get("/records/inspections?from=2026-10-01&to=2026-10-31&level=station"
                      "&unit=130984-Z02").status_code == 404
    book = openpyxl.load_workbook(io.BytesIO(client.get(
        "/statistics.xlsx?level=cell&period=month&from=2026-10-01").data))
    codes = [r[0] for r in book["本期"].iter_rows(min_row=3, values_only=True) if r[0]]
    assert codes and all(c.startswith("130984-Z01-") for c in codes)
    # The city as a whole is not theirs to see.
    html = client.get("/statistics?level=city").get_data(as_text=True)
    assert [c for c in _table(html) if c != "total"] == []
    assert 'class="statistics-link"' in html


def test_the_report_says_the_changes_in_officials_words_with_its_charts(leader):
    html = leader.get("/statistics/report?month=2026-10").get_data(as_text=True)
    assert "2026年10月" not in html or True
    assert 'id="stats-chart"' in html and 'id="stats-testing-chart"' in html
    assert "echarts.common.min.js" in html
    words = re.search(r'id="report-inspections">(.*?)</p>', html, re.S).group(1)
    assert "巡查完成率" in words and "同比" in words and "环比" in words
    testing = re.search(r'id="report-testing">(.*?)</p>', html, re.S).group(1)
    assert "监督抽查" in testing and "定期监督检验" in testing
    assert 'data-code="130984-Z01"' in html
    data = json.loads(re.search(r'id="stats-chart-data">(.*?)</script>', html, re.S).group(1))
    assert len(data["units"]) == 10 and len(data["spot"]) == 10
    assert leader.get("/statistics/report?month=2026-13").status_code == 400


def test_a_big_export_is_made_by_the_job_queue_with_its_progress(leader, session, app):
    app.config["STATISTICS_BACKGROUND_ENTERPRISES"] = 100
    page = leader.get("/statistics?level=cell&period=year").get_data(as_text=True)
    assert 'id="stats-prepare"' in page and 'id="stats-xlsx"' not in page
    assert leader.get("/statistics.xlsx?level=cell&period=year").status_code == 303
    answer = leader.post("/statistics/prepare", data={"what": "xlsx", "level": "cell",
                                                      "period": "year"})
    assert answer.status_code == 302
    job_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    state = leader.get(f"/statistics/jobs/{job_id}.json").get_json()
    assert state["status"] == "queued" and state["progress"] == 0
    # The worker's step (gis.jobs.Worker.execute) in the test's transaction.
    job = dict(session.execute(text("SELECT * FROM job WHERE id = :i"), {"i": job_id}).one()
               ._mapping)
    seen = []
    result = jobs.RUNNERS["statistics"](session, job, jobs.JobContext(progress=seen.append))
    assert seen == sorted(seen) and seen[-1] == 100 and len(seen) >= 5
    session.execute(text("""UPDATE job SET status = 'done', result = CAST(:r AS jsonb),
                            progress = 100 WHERE id = :i"""),
                    {"r": json.dumps(result), "i": job_id})
    state = leader.get(f"/statistics/jobs/{job_id}.json").get_json()
    assert state["ready"] and state["progress"] == 100
    book = openpyxl.load_workbook(io.BytesIO(leader.get(state["url"]).data))
    assert book["本期"].cell(2, 2).value == "三级网格"
    assert 'id="job-file"' in leader.get(f"/statistics/jobs/{job_id}").get_data(as_text=True)
    audit = session.execute(text("SELECT detail FROM audit_log WHERE action = "
                                 "'statistics_queued'")).scalar()
    assert audit["job"] == job_id
    # A year's report of the city too: prepared, then shown from the job's figures.
    assert 'id="report-prepare"' in leader.get("/statistics/report?year=2026").get_data(
        as_text=True)
    answer = leader.post("/statistics/prepare", data={"what": "report", "year": "2026"})
    job_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    job = dict(session.execute(text("SELECT * FROM job WHERE id = :i"), {"i": job_id}).one()
               ._mapping)
    result = jobs.RUNNERS["statistics"](session, job, jobs.JobContext())
    session.execute(text("UPDATE job SET status = 'done', result = CAST(:r AS jsonb) "
                         "WHERE id = :i"), {"r": json.dumps(result), "i": job_id})
    report = leader.get(f"/statistics/jobs/{job_id}/file").get_data(as_text=True)
    assert 'id="report-inspections"' in report and 'data-code="130984-Z01"' in report
    # Someone else's job is not there for them.
    leader.post("/logout")
    login(leader, "z01-leader", PASSWORD)
    assert leader.get(f"/statistics/jobs/{job_id}.json").status_code == 404


def test_the_command_line_writes_the_same_file(demo, runner, tmp_path, session):
    out = tmp_path / "stats.xlsx"
    answer = runner.invoke(args=["statistics", "export", "--level", "township", "--period",
                                 "month", "--from", "2026-10-01", "--out", str(out)])
    assert answer.exit_code == 0, answer.output
    book = openpyxl.load_workbook(out)
    rows = list(book["本期"].iter_rows(min_row=3, values_only=True))
    assert len(rows) == 21 and rows[-1][1] == "合计"
    assert answer.output.startswith("20 units")


def test_a_workers_progress_is_seen_while_the_job_runs(engine):
    """The bar moves: ``context.progress`` is written at once, outside the job's transaction
    (gis.jobs.Worker), and reads 100 when the job is done."""
    seen = []

    def runner(session, job, context):
        context.progress(40)
        with engine.connect() as other:  # another connection, as a polling page
            seen.append(other.execute(text("SELECT progress FROM job WHERE id = :i"),
                                      {"i": job["id"]}).scalar())
        return {}

    jobs.RUNNERS["progress_probe"] = runner
    with engine.begin() as conn:
        job_id = conn.execute(text("INSERT INTO job (kind) VALUES ('progress_probe') "
                                   "RETURNING id")).scalar()
    worker = jobs.Worker(engine, name="progress-test")
    try:
        assert worker.run_once() == job_id
        with engine.connect() as conn:
            row = conn.execute(text("SELECT status, progress FROM job WHERE id = :i"),
                               {"i": job_id}).one()
        assert seen == [40] and tuple(row) == ("done", 100)
    finally:
        worker.close()
        del jobs.RUNNERS["progress_probe"]
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM job WHERE id = :i"), {"i": job_id})
