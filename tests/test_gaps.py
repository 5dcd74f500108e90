"""The gap report (gis/gaps.py): small worlds whose gaps are worked out by hand, each gap cut
where the owner, the boundary or the cell changed, naming the right person the day before, on
and after the change; the API, its XLSX, the CLI's CSV and who may read what."""
from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import shapely
from sqlalchemy import text

from gis import gaps, people
from gis.users import create_user
from tests.factories import PASSWORD, add_cells, login, small_world

ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
D = dt.date


def at(day: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
    """Local time in the bureau's zone."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


START = at(D(2026, 1, 1))
NOW = at(D(2026, 6, 30), 12)
OWNER_CHANGE = D(2026, 2, 15)


def person(session, code, name, phone=None):
    return session.execute(text(
        "INSERT INTO person (code, name, phone) VALUES (:c, :n, :p) RETURNING id"),
        {"c": code, "n": name, "p": phone}).scalar()


def assign(session, role, place, pid, when):
    people.assign(session, people.target(session, role, place), pid, when, zone=ZONE)


def inspect(session, code, day):
    return session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on)
        SELECT id, :d FROM enterprise WHERE management_code = :c RETURNING id"""),
        {"c": code, "d": day}).scalar()


@pytest.fixture
def world(session):
    """small_world from 1 January 2026 (local); grade B is due every 30 days. S1-01 is owned
    by 甲 (P-A) until 15 February, then by 乙 (P-B); S1-02 by 戊 (P-E); S2-01 has no owner of
    its own and falls to its grid S2's owner 己 (P-F). 丙 (P-C) heads station grid S1, 庚 (P-G)
    grid S2; 丁 (P-D) leads the township covering the whole city."""
    small_world(session, valid_from=START)
    session.execute(text("UPDATE grade_interval SET interval_days = 30 WHERE grade = 'B'"))
    session.execute(text("""
        INSERT INTO township (code, name, geom)
        VALUES ('130984100000', '城关镇', ST_Multi(ST_MakeEnvelope(116, 38.4, 116.2, 38.5, 4326)))
    """))
    ids = {c: person(session, f"P-{c}", n, f"1380000000{i}")
           for i, (c, n) in enumerate([("A", "甲"), ("B", "乙"), ("C", "丙"), ("D", "丁"),
                                       ("E", "戊"), ("F", "己"), ("G", "庚")])}
    assign(session, "owner", "S1-01", ids["A"], START)
    assign(session, "owner", "S1-01", ids["B"], at(OWNER_CHANGE))
    assign(session, "owner", "S1-02", ids["E"], START)
    assign(session, "owner", "S2", ids["F"], START)
    assign(session, "station_chief", "S1", ids["C"], START)
    assign(session, "station_chief", "S2", ids["G"], START)
    assign(session, "township_leader", "130984100000", ids["D"], START)
    return ids


def report(session, start, end, **kwargs):
    kwargs.setdefault("now", NOW)
    return gaps.gaps(session, start, end, zone=ZONE, **kwargs)["gaps"]


def who(g, role="owner"):
    return g[role]["code"] if g[role] else None


def pieces(rows, kind=None, enterprise=None):
    return [(g["from"], g["to"], g["cell"], who(g), g["days"]) for g in rows
            if (kind is None or g["kind"] == kind)
            and (enterprise is None or g["enterprise"] == enterprise)]


# --- overdue for inspection ------------------------------------------------------------------

def test_an_owner_change_splits_an_overdue_interval(session, world):
    # E1 came under supervision on 1 January, due by 31 January (30 days): overdue from
    # 1 February until its inspection on 10 March; due again 9 April, overdue from 10 April.
    inspect(session, "E1", D(2026, 3, 10))
    rows = report(session, D(2026, 1, 1), D(2026, 6, 30), kinds=["overdue_inspection"])
    assert pieces(rows, enterprise="E1") == [
        (at(D(2026, 2, 1)), at(OWNER_CHANGE), "S1-01", "P-A", 14),
        (at(OWNER_CHANGE), at(D(2026, 3, 10)), "S1-01", "P-B", 23),
        (at(D(2026, 4, 10)), None, "S1-01", "P-B", 82),
    ]
    first, second, third = [g for g in rows if g["enterprise"] == "E1"]
    assert first["gap_from"] == second["gap_from"] == at(D(2026, 2, 1))
    assert first["gap_to"] == second["gap_to"] == at(D(2026, 3, 10))
    assert third["gap_to"] is None and third["last_inspected"] == D(2026, 3, 10)
    assert third["due_on"] == D(2026, 4, 9) and first["due_on"] == D(2026, 1, 31)
    assert first["last_inspected"] is None
    for g in (first, second, third):
        assert who(g, "station_chief") == "P-C" and who(g, "township_leader") == "P-D"
        assert g["owner"]["fallback"] is False and g["township"] == "130984100000"
        assert g["station_chief"] == {"code": "P-C", "name": "丙", "phone": "13800000002"}


@pytest.mark.parametrize("day, owner", [(D(2026, 2, 14), "P-A"), (OWNER_CHANGE, "P-B"),
                                        (D(2026, 2, 16), "P-B")])
def test_the_day_before_on_and_after_an_owner_change(session, world, day, owner):
    rows = report(session, day, day, kinds=["overdue_inspection"])
    assert pieces(rows, enterprise="E1") == [(at(day), at(day + dt.timedelta(days=1)),
                                              "S1-01", owner, 1)]


def test_a_cell_without_an_owner_falls_to_its_grid_owner(session, world):
    rows = report(session, D(2026, 2, 1), D(2026, 2, 28), kinds=["overdue_inspection"])
    (e2,) = [g for g in rows if g["enterprise"] == "E2"]
    assert e2["cell"] == "S2-01" and e2["owner"]["code"] == "P-F"
    assert e2["owner"]["fallback"] is True and e2["owner"]["from_cell"] == "S2"
    assert who(e2, "station_chief") == "P-G" and e2["days"] == 28
    assert (e2["from"], e2["to"]) == (at(D(2026, 2, 1)), at(D(2026, 3, 1)))


def test_a_change_above_a_cell_with_its_own_owner_cuts_nothing(session, world):
    # S1's own owner changes on 5 February: S1-01 has owners of its own, so E1's gap is not
    # cut there (it is cut at 15 February, its own owner's change).
    assign(session, "owner", "S1", world["F"], at(D(2026, 1, 1)))
    assign(session, "owner", "S1", world["G"], at(D(2026, 2, 5)))
    rows = report(session, D(2026, 2, 1), D(2026, 2, 28), kinds=["overdue_inspection"])
    assert [p[3] for p in pieces(rows, enterprise="E1")] == ["P-A", "P-B"]


def test_a_station_chief_or_township_leader_change_cuts_too(session, world):
    assign(session, "station_chief", "S1", world["G"], at(D(2026, 2, 10)))
    rows = report(session, D(2026, 2, 1), D(2026, 2, 28), kinds=["overdue_inspection"])
    e1 = [g for g in rows if g["enterprise"] == "E1"]
    assert [(g["from"].astimezone(TZ).date(), who(g), who(g, "station_chief")) for g in e1] == [
        (D(2026, 2, 1), "P-A", "P-C"), (D(2026, 2, 10), "P-A", "P-G"),
        (D(2026, 2, 15), "P-B", "P-G")]
    assert sum(g["days"] for g in e1) == 28


def test_a_boundary_change_moves_the_enterprise_to_another_cell_mid_gap(session, world):
    # From 20 February S1-01 shrinks to lon 116.00-116.01 and S1-02 takes the rest of S1:
    # E1 (lon 116.02) lies in S1-02 from then, owned by 戊 (P-E), under S1-02's new boundary.
    moved = D(2026, 2, 20)
    add_cells(session, ("S1-01", 3, shapely.box(116.0, 38.4, 116.01, 38.5), "S1"),
              ("S1-02", 3, shapely.box(116.01, 38.4, 116.1, 38.5), "S1"),
              valid_from=at(moved))
    versions = dict(session.execute(text("""
        SELECT c.code, v.id FROM cell_version v JOIN cell c ON c.id = v.cell_id
        WHERE v.valid_to IS NULL AND c.code IN ('S1-01', 'S1-02')""")).all())
    old = session.execute(text("""
        SELECT v.id FROM cell_version v JOIN cell c ON c.id = v.cell_id
        WHERE c.code = 'S1-01' AND v.valid_to IS NOT NULL""")).scalar()
    inspect(session, "E1", D(2026, 3, 10))
    rows = report(session, D(2026, 1, 1), D(2026, 3, 31), kinds=["overdue_inspection"])
    e1 = [g for g in rows if g["enterprise"] == "E1"]
    assert pieces(e1) == [
        (at(D(2026, 2, 1)), at(OWNER_CHANGE), "S1-01", "P-A", 14),
        (at(OWNER_CHANGE), at(moved), "S1-01", "P-B", 5),
        (at(moved), at(D(2026, 3, 10)), "S1-02", "P-E", 18),
    ]
    assert [g["boundary_version"]["id"] for g in e1] == [old, old, versions["S1-02"]]
    assert e1[2]["boundary_version"]["valid_from"] == at(moved)
    for day, cell, owner, version in [(D(2026, 2, 19), "S1-01", "P-B", old),
                                      (moved, "S1-02", "P-E", versions["S1-02"]),
                                      (D(2026, 2, 21), "S1-02", "P-E", versions["S1-02"])]:
        (g,) = [g for g in report(session, day, day, kinds=["overdue_inspection"])
                if g["enterprise"] == "E1"]
        assert (g["cell"], who(g), g["boundary_version"]["id"], g["days"]) == (
            cell, owner, version, 1), day
    # The place filter follows the cell of each piece: S1-01's report ends at the move.
    in_old = report(session, D(2026, 1, 1), D(2026, 3, 31), place="S1-01",
                    kinds=["overdue_inspection"])
    assert [g["to"] for g in in_old if g["enterprise"] == "E1"] == [at(OWNER_CHANGE),
                                                                      at(moved)]


def test_a_regrade_counts_from_the_day_of_the_new_grade(session, world):
    # E2 is grade A (365 days) until 1 April 10:00, then B (30 days); inspected on 1 March.
    # Under B the visit was due on 31 March, so it is overdue from the regrade on (the wall
    # would have said so that day), to the end of the period (no inspection since).
    session.execute(text("""
        UPDATE enterprise_grade SET grade = 'A', valid_to = :t
        WHERE enterprise_id = (SELECT id FROM enterprise WHERE management_code = 'E2');
        INSERT INTO enterprise_grade (enterprise_id, grade, valid_from)
        SELECT id, 'B', :t FROM enterprise WHERE management_code = 'E2'"""),
        {"t": at(D(2026, 4, 1), 10)})
    inspect(session, "E2", D(2026, 3, 1))
    rows = report(session, D(2026, 1, 1), D(2026, 4, 30), kinds=["overdue_inspection"])
    assert [(g["from"], g["to"]) for g in rows if g["enterprise"] == "E2"] == [
        (at(D(2026, 4, 1), 10), at(D(2026, 5, 1)))]


# --- rectifications and complaints ---------------------------------------------------------

def rectification(session, code, deadline, *, status="open", rectified_at=None,
                  verified_at=None):
    inspection = inspect(session, code, D(2026, 1, 5))
    return session.execute(text("""
        INSERT INTO rectification (enterprise_id, inspection_id, problem, deadline, status,
                                   rectified_at, rectified_by, verified_at, verified_by)
        SELECT id, :i, '灭火器过期', :d, :s, :ra, CASE WHEN :ra IS NOT NULL THEN 'a' END,
               :va, CASE WHEN :va IS NOT NULL THEN 'b' END
        FROM enterprise WHERE management_code = :c RETURNING id"""),
        {"c": code, "i": inspection, "d": deadline, "s": status, "ra": rectified_at,
         "va": verified_at}).scalar()


def test_a_rectification_late_across_an_owner_change(session, world):
    # Deadline 10 February; corrected on 20 February at 10:00, verified the day after: late
    # from 11 February until the correction, 甲 then 乙; 4 + 6 days = the 10 days late the
    # rectification list says (gis.rectification.LATE_SQL).
    rid = rectification(session, "E1", D(2026, 2, 10), status="verified",
                        rectified_at=at(D(2026, 2, 20), 10), verified_at=at(D(2026, 2, 21)))
    rows = report(session, D(2026, 1, 1), D(2026, 6, 30), kinds=["late_rectification"])
    assert pieces(rows) == [(at(D(2026, 2, 11)), at(OWNER_CHANGE), "S1-01", "P-A", 4),
                            (at(OWNER_CHANGE), at(D(2026, 2, 20), 10), "S1-01", "P-B", 6)]
    assert {g["rectification"]["id"] for g in rows} == {rid}
    assert rows[0]["rectification"]["deadline"] == D(2026, 2, 10)
    late = session.execute(text("""
        SELECT (coalesce(r.rectified_at, r.verified_at) AT TIME ZONE :zone)::date - r.deadline
        FROM rectification r WHERE id = :r"""), {"r": rid, "zone": ZONE}).scalar()
    assert sum(g["days"] for g in rows) == late == 10


def test_an_open_rectification_is_late_until_now_and_one_on_time_is_no_gap(session, world):
    rectification(session, "E2", D(2026, 6, 1))
    rectification(session, "E1", D(2026, 2, 10), status="verified",
                  rectified_at=at(D(2026, 2, 10), 23, 59), verified_at=at(D(2026, 3, 1)))
    # Rectified in time but not yet verified: late until it is (gis/rectification.py).
    rectification(session, "E1", D(2026, 6, 20), status="rectified",
                  rectified_at=at(D(2026, 6, 19)))
    rows = report(session, D(2026, 1, 1), D(2026, 12, 31), kinds=["late_rectification"])
    assert pieces(rows) == [(at(D(2026, 6, 2)), None, "S2-01", "P-F", 29),
                            (at(D(2026, 6, 21)), None, "S1-01", "P-B", 10)]


def complaint(session, number, cell, lon, due_at, closed_at=None):
    session.execute(text("""
        INSERT INTO complaint (number, received_at, geom, text, status, cell_id, due_at,
                               closed_at)
        SELECT :n, :due - interval '3 days', ST_SetSRID(ST_Point(:lon, 38.45), 4326), '无证生产',
               CASE WHEN :closed IS NULL THEN 'assigned' ELSE 'closed' END, id, :due, :closed
        FROM cell WHERE code = :cell"""),
        {"n": number, "cell": cell, "lon": lon, "due": due_at, "closed": closed_at})


def test_a_late_complaint_names_the_owner_of_its_cell_then(session, world):
    complaint(session, "TS-2026-000001", "S1-01", 116.02, at(D(2026, 2, 12), 12),
              at(D(2026, 2, 18), 9))
    complaint(session, "TS-2026-000002", "S1-01", 116.02, at(D(2026, 2, 12), 12),
              at(D(2026, 2, 12), 11))  # closed in time: no gap
    complaint(session, "TS-2026-000003", "S2-01", 116.15, at(D(2026, 6, 29), 18))
    rows = report(session, D(2026, 1, 1), D(2026, 6, 30), kinds=["late_complaint"])
    assert [(g["complaint"]["number"],) + p for g, p in zip(rows, pieces(rows))] == [
        ("TS-2026-000001", at(D(2026, 2, 12), 12), at(OWNER_CHANGE), "S1-01", "P-A", 3),
        ("TS-2026-000001", at(OWNER_CHANGE), at(D(2026, 2, 18), 9), "S1-01", "P-B", 4),
        ("TS-2026-000003", at(D(2026, 6, 29), 18), None, "S2-01", "P-F", 2),
    ]
    assert all(g["enterprise"] is None for g in rows)
    assert who(rows[0], "township_leader") == "P-D"


# --- the period, the place and the kinds ----------------------------------------------------

def test_pieces_are_clipped_to_the_period_and_nothing_after_now(session, world):
    rows = report(session, D(2026, 2, 10), D(2026, 2, 20), kinds=["overdue_inspection"])
    assert pieces(rows, enterprise="E1") == [
        (at(D(2026, 2, 10)), at(OWNER_CHANGE), "S1-01", "P-A", 5),
        (at(OWNER_CHANGE), at(D(2026, 2, 21)), "S1-01", "P-B", 6)]
    assert rows[0]["gap_from"] == at(D(2026, 2, 1)) and rows[0]["gap_to"] is None
    assert report(session, D(2026, 7, 1), D(2026, 7, 31)) == []
    assert report(session, D(2025, 1, 1), D(2025, 12, 31)) == []


def test_the_place_narrows_to_the_cells_inside_it(session, world):
    rows = report(session, D(2026, 2, 1), D(2026, 2, 28), place="S2")
    assert {g["enterprise"] for g in rows} == {"E2"}
    assert report(session, D(2026, 2, 1), D(2026, 2, 28), place="S1-01", cells=[]) == []


def test_bad_arguments_are_refused_by_name(session, world):
    from gis.validation import ValidationError

    for kwargs, field in [({"kinds": ["nonsense"]}, "kind"), ({"place": "NOPE"}, "place")]:
        with pytest.raises(ValidationError) as caught:
            report(session, D(2026, 2, 1), D(2026, 2, 28), **kwargs)
        assert caught.value.field == field
    with pytest.raises(ValidationError) as caught:
        report(session, D(2026, 2, 28), D(2026, 2, 1))
    assert caught.value.field == "to"


def test_grouped_by_person_with_total_days(session, world):
    inspect(session, "E1", D(2026, 3, 10))
    result = gaps.gaps(session, D(2026, 2, 1), D(2026, 2, 28), zone=ZONE, now=NOW,
                       kinds=["overdue_inspection"])
    groups = {(g["person"] or {}).get("code"): (g["count"], g["days"])
              for g in gaps.by_person(result, "owner")}
    assert groups == {"P-A": (1, 14), "P-B": (1, 14), "P-F": (1, 28)}
    chiefs = {g["person"]["code"]: g["days"] for g in gaps.by_person(result, "station_chief")}
    assert chiefs == {"P-C": 28, "P-G": 28}


# --- the API, its files, the command line and who may read ----------------------------------

def _late_world(session, world):
    inspect(session, "E1", D(2026, 3, 10))
    rectification(session, "E1", D(2026, 2, 10), status="verified",
                  rectified_at=at(D(2026, 2, 20), 10), verified_at=at(D(2026, 2, 21)))
    complaint(session, "=HYPERLINK(\"x\")", "S1-01", 116.02, at(D(2026, 2, 12), 12),
              at(D(2026, 2, 18), 9))


API = "/api/v1/reports/gaps?from=2026-01-01&to=2026-06-30"


def test_the_api_answers_in_the_issues_shape(client, session, world):
    _late_world(session, world)
    login(client, "city-leader")
    body = client.get(API).get_json()
    kinds = {g["kind"] for g in body["gaps"]}
    assert kinds == {"overdue_inspection", "late_rectification", "late_complaint"}
    # The rectification's inspection on 5 January started E1's clock again: due 4 February.
    first = [g for g in body["gaps"] if g["enterprise"] == "E1"][0]
    assert first["from"] == "2026-02-05T00:00:00+08:00" and first["to"] == \
        "2026-02-15T00:00:00+08:00"
    assert first["due_on"] == "2026-02-04" and first["last_inspected"] == "2026-01-05"
    assert first["owner"]["code"] == "P-A" and set(first["owner"]) >= {"code", "name", "phone"}
    assert set(first) >= {"kind", "enterprise", "cell", "from", "to", "owner", "station_chief",
                          "township_leader", "boundary_version"}
    assert first["boundary_version"]["valid_from"] == "2026-01-01T00:00:00+08:00"
    only = client.get(API + "&kind=late_complaint").get_json()["gaps"]
    assert {g["kind"] for g in only} == {"late_complaint"}
    both = client.get(API + "&kind=late_complaint&kind=late_rectification").get_json()["gaps"]
    assert {g["kind"] for g in both} == {"late_complaint", "late_rectification"}
    bad = client.get(API + "&kind=x")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "kind"
    assert client.get("/api/v1/reports/gaps?from=2026-01-01").status_code == 400


def test_the_xlsx_equals_the_json(client, session, world):
    _late_world(session, world)
    login(client, "city-leader")
    rows = client.get(API).get_json()["gaps"]
    answer = client.get(API + "&format=xlsx")
    assert answer.status_code == 200 and answer.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(answer.data)).active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0] == gaps.HEADERS and len(table) == len(rows) + 1

    def local(iso):
        return None if iso is None else dt.datetime.fromisoformat(iso).replace(tzinfo=None)

    for line, g in zip(table[1:], rows):
        got = dict(zip((key for key, _h, _g in gaps.COLUMNS), line))
        assert got["kind"] == gaps.KIND_LABELS[g["kind"]]
        assert (got["enterprise"], got["cell"], got["days"]) == (g["enterprise"], g["cell"],
                                                                 g["days"])
        assert (got["from"], got["to"]) == (local(g["from"]), local(g["to"]))
        assert (got["owner_code"], got["chief_code"], got["leader_code"]) == (
            g["owner"]["code"], g["station_chief"]["code"], g["township_leader"]["code"])
        assert got["version"] == g["boundary_version"]["id"]
        if g["complaint"]:
            # A formula typed into a complaint's number stays text.
            assert got["complaint"] == "'" + g["complaint"]["number"]


def test_the_command_line_writes_csv_with_a_bom_and_xlsx(runner, session, world, tmp_path):
    _late_world(session, world)
    out = tmp_path / "gaps.csv"
    result = runner.invoke(args=["report", "gaps", "--from", "2026-01-01", "--to", "2026-06-30",
                                 "--place", "S1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(table[0]) == gaps.HEADERS
    assert {row[1] for row in table[1:]} == {"E1", ""}  # E1's gaps and the complaint's
    assert any(row[-2] == "'=HYPERLINK(\"x\")" for row in table[1:])
    out = tmp_path / "gaps.xlsx"
    result = runner.invoke(args=["report", "gaps", "--from", "2026-01-01", "--to", "2026-06-30",
                                 "--kind", "late_rectification", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert openpyxl.load_workbook(out).active.max_row == 3
    refused = runner.invoke(args=["report", "gaps", "--from", "2026-01-01", "--to",
                                  "2026-06-30", "--out", str(tmp_path / "x.pdf")])
    assert refused.exit_code != 0


def test_an_inspector_may_not_read_the_report(client, session, world):
    login(client, "c1-inspector")
    assert client.get(API).status_code == 403
    assert client.get("/reports/gaps").status_code == 403


def test_a_leader_of_another_station_sees_nothing_of_this_one(client, session, world):
    create_user(session, "s2-leader", PASSWORD, role="leader", place="S2")
    _late_world(session, world)
    login(client, "s2-leader")
    rows = client.get(API).get_json()["gaps"]
    assert rows and {g["cell"] for g in rows} == {"S2-01"}
    assert client.get(API + "&place=S1").get_json()["gaps"] == []
    page = client.get("/reports/gaps?from=2026-01-01&to=2026-06-30")
    # The rows' links to the enterprises (a bare "E1" could be inside the CSRF token).
    assert page.status_code == 200 and b"/enterprises/E1" not in page.data \
        and b"/enterprises/E2" in page.data
    client.post("/logout")
    login(client, "s1-manager")
    assert {g["cell"] for g in client.get(API).get_json()["gaps"]} == {"S1-01"}


def test_the_page_groups_by_person_and_links_rows(client, session, world):
    _late_world(session, world)
    login(client, "s1-leader")
    page = client.get("/reports/gaps?from=2026-01-01&to=2026-06-30&role=owner")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-person="P-A"' in html and 'data-person="P-B"' in html
    assert 'href="/enterprises/E1"' in html and 'href="/cells/S1-01/history"' in html
    chiefs = client.get("/reports/gaps?from=2026-01-01&to=2026-06-30&role=station_chief")
    assert 'data-person="P-C"' in chiefs.get_data(as_text=True)
    assert client.get("/reports/gaps?from=2026-03-01&to=2026-02-01").status_code == 400


def test_a_big_place_gets_its_xlsx_from_the_job_queue(client, session, world, app):
    import json

    from gis import jobs

    _late_world(session, world)
    app.config["GAP_REPORT_BACKGROUND_ENTERPRISES"] = 0  # S1 holds one enterprise
    login(client, "s1-leader")
    page = client.get("/reports/gaps?from=2026-01-01&to=2026-06-30").get_data(as_text=True)
    assert 'id="gap-prepare"' in page and 'id="gap-xlsx"' not in page
    response = client.post("/reports/gaps/prepare", data={
        "from": "2026-01-01", "to": "2026-06-30", "kind": ["overdue_inspection",
                                                          "late_rectification"]})
    assert response.status_code == 302
    job_id = int(response.location.rsplit("/", 1)[1])
    assert 'data-status="queued"' in client.get(f"/reports/gaps/jobs/{job_id}").get_data(
        as_text=True)
    assert client.get(f"/reports/gaps/jobs/{job_id}.xlsx").status_code == 404  # not ready
    # The worker's step (gis.jobs.Worker.execute) in the test's transaction.
    job = dict(session.execute(text("SELECT * FROM job WHERE id = :i"), {"i": job_id}).one()
               ._mapping)
    assert job["payload"]["kinds"] == ["overdue_inspection", "late_rectification"]
    seen = []
    result = jobs.RUNNERS["gap_report"](session, job, jobs.JobContext(progress=seen.append))
    assert seen[0] == 5 and seen[-1] == 100 and seen == sorted(seen)
    session.execute(text("""UPDATE job SET status = 'done', result = CAST(:r AS jsonb)
                            WHERE id = :i"""), {"r": json.dumps(result), "i": job_id})
    assert 'id="job-xlsx"' in client.get(f"/reports/gaps/jobs/{job_id}").get_data(as_text=True)
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/reports/gaps/jobs/{job_id}.xlsx")
                                             .data))
    table = list(book.active.iter_rows(values_only=True))
    rows = client.get(API + "&kind=overdue_inspection,late_rectification").get_json()["gaps"]
    assert len(table) == len(rows) + 1 == result["gaps"] + 1
    assert [line[1] for line in table[1:]] == [g["enterprise"] for g in rows]
    # As the user who queued it may read it: S1 only.
    assert {line[3] for line in table[1:]} == {"S1-01"}
    # Someone else's job is answered as a missing one.
    client.post("/logout")
    login(client, "s1-manager")
    assert client.get(f"/reports/gaps/jobs/{job_id}.xlsx").status_code == 404
    audit = session.execute(text("""SELECT detail FROM audit_log
                                    WHERE action = 'gap_report_queued'""")).scalar()
    assert audit["job"] == job_id and audit["period"] == "2026-01-01/2026-06-30"


def test_programs_queue_the_xlsx_by_the_api(client, session, world):
    login(client, "city-leader")
    answer = client.post("/api/v1/reports/gaps/jobs", json={
        "from": "2026-01-01", "to": "2026-06-30", "place": "S2", "kind": ["late_complaint"]})
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["status_url"] == f"/api/v1/jobs/{body['job']}"
    assert body["file"] == f"/reports/gaps/jobs/{body['job']}.xlsx"
    assert client.get(body["status_url"]).get_json()["status"] == "queued"
    bad = client.post("/api/v1/reports/gaps/jobs", json={"from": "2026-01-01",
                                                          "to": "2026-06-30", "place": "NOPE"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "place"
    login(client, "c1-inspector")
    assert client.post("/api/v1/reports/gaps/jobs", json={
        "from": "2026-01-01", "to": "2026-06-30"}).status_code == 403
