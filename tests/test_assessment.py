"""The quantified assessment (量化考核) and responsibility letters (责任状): every measure
against a small world computed by hand; a person who owned a cell half the period answers for
that half; a cell without an owner falls to its grid's; weights change the score; letters are
compared with their targets; who may read and record; every write audited."""
import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from PIL import Image
from sqlalchemy import text

from gis import assessment, people
from gis.errors import ValidationError
from gis.photos import DiskStore
from tests.factories import add_enterprises, login, small_world

ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
# 180 days: Jan 1 to Jun 29, 2026 (local). Grade B is inspected every 180 days, so an
# enterprise there for the whole period is required exactly one inspection.
START, END = dt.date(2026, 1, 1), dt.date(2026, 6, 29)
HANDOVER = dt.datetime(2026, 4, 1, tzinfo=TZ)  # 90 days in: half the period each side
TODAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, 12, tzinfo=TZ)
LONG_AGO = dt.datetime(2025, 1, 1, tzinfo=TZ)
DEFAULT_WEIGHTS = {"inspections_done": (30, 1.0), "rectified_on_time": (25, 0.95),
                   "complaints_on_time": (25, 0.95), "spot_check_pass": (20, 0.9)}


def local(day, hour=12):
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)


def _owner(session, person_id, cell, start, end=None):
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from, valid_to)
        SELECT :p, 'department', 'owner', id, :f, :t FROM cell WHERE code = :c"""),
        {"p": person_id, "c": cell, "f": start, "t": end})


def _inspection(session, code, day):
    return session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspected_on)
        SELECT id, :d FROM enterprise WHERE management_code = :c RETURNING id"""),
        {"c": code, "d": day}).scalar()


def _problem(session, code, deadline, rectified_at=None, verified=True):
    # Found long before the period: the inspection itself counts in no period assessed here.
    inspection = _inspection(session, code, dt.date(2025, 1, 2))
    done = verified and rectified_at is not None
    session.execute(text("""
        INSERT INTO rectification (enterprise_id, inspection_id, problem, deadline, status,
                                   rectified_at, rectified_by, verified_at, verified_by)
        SELECT e.id, :i, '问题', :d, :s, :r, :rb, :va, :vb
        FROM enterprise e WHERE e.management_code = :c"""),
        {"i": inspection, "c": code, "d": deadline, "r": rectified_at,
         "rb": "a" if rectified_at else None, "va": rectified_at if done else None,
         "vb": "b" if done else None, "s": "verified" if done else "open"})


def _complaint(session, number, cell, due_at, closed_at=None):
    session.execute(text("""
        INSERT INTO complaint (number, received_at, geom, text, status, cell_id, due_at,
                               closed_at)
        SELECT :n, :due - interval '3 days', ST_SetSRID(ST_Point(116.02, 38.45), 4326), '投诉',
               :s, id, :due, :closed FROM cell WHERE code = :c"""),
        {"n": number, "c": cell, "due": due_at, "closed": closed_at,
         "s": "closed" if closed_at else "received"})


def _batch(session, code, day, batches, passed, kind="spot_check"):
    session.execute(text("""
        INSERT INTO spot_check (enterprise_id, checked_on, kind, batches, passed)
        SELECT id, :d, :k, :b, :p FROM enterprise WHERE management_code = :c"""),
        {"c": code, "d": day, "k": kind, "b": batches, "p": passed})


@pytest.fixture
def world(session):
    """small_world since 2025 (E1 in S1-01, E2 in S2-01, grade B) and a township over S1.
    S1-01 was owned by RY-A until 1 April 2026 and by RY-B since; S2-01 has no owner of its own
    and falls to S2's owner RY-C. In the period: E1 inspected 1 Feb and 1 May (and once
    before); three problems due (one on time under RY-A, one late and one open under RY-B);
    three complaints due (on time under RY-A, late and still open under RY-B); 监督抽查 1/1 under
    RY-A and 1/2 under RY-B, and a failed 定期监督检验 that never counts."""
    small_world(session, valid_from=LONG_AGO)
    session.execute(text("""
        INSERT INTO township (code, name, geom) VALUES ('130984100000', '西镇',
            ST_Multi(ST_GeomFromText('POLYGON((116 38.4, 116.1 38.4, 116.1 38.5, 116 38.5,
                                               116 38.4))', 4326)))"""))
    ids = {}
    for code in ("RY-A", "RY-B", "RY-C"):
        ids[code] = people.create_person(session, {"code": code, "name": f"责任人{code}"})["id"]
    _owner(session, ids["RY-A"], "S1-01", LONG_AGO, HANDOVER)
    _owner(session, ids["RY-B"], "S1-01", HANDOVER)
    _owner(session, ids["RY-C"], "S2", LONG_AGO)
    _inspection(session, "E1", dt.date(2025, 12, 31))
    _inspection(session, "E1", dt.date(2026, 2, 1))
    _inspection(session, "E1", dt.date(2026, 5, 1))
    _problem(session, "E1", dt.date(2026, 3, 10), local(dt.date(2026, 3, 9)))
    _problem(session, "E1", dt.date(2026, 5, 10), local(dt.date(2026, 5, 12)))
    _problem(session, "E1", dt.date(2026, 6, 1))
    _problem(session, "E1", dt.date(2026, 7, 15))
    _complaint(session, "K2", "S1-01", local(dt.date(2026, 2, 10), 10),
               local(dt.date(2026, 2, 9)))
    _complaint(session, "K3", "S1-01", local(dt.date(2026, 5, 5), 10),
               local(dt.date(2026, 5, 20)))
    _complaint(session, "K4", "S1-01", local(dt.date(2026, 6, 10), 10))
    _batch(session, "E1", dt.date(2026, 3, 1), 1, 1)
    _batch(session, "E1", dt.date(2026, 5, 1), 2, 1)
    _batch(session, "E1", dt.date(2026, 4, 1), 1, 0, kind="periodic")
    return ids


def _assess(session, kind, **kw):
    return assessment.assess(session, kind, kw.pop("start", START), kw.pop("end", END),
                             zone=ZONE, today=kw.pop("today", TODAY), now=kw.pop("now", NOW),
                             **kw)


def _unit(result, code):
    return next(u for u in result["units"] if u["code"] == code)


def _term(unit, rule):
    t = next(t for t in unit["terms"] if t["code"] == rule)
    return t["numerator"], t["denominator"]


def _expected_score(fractions, weights=DEFAULT_WEIGHTS):
    """The score by hand: Σ weight × min(measure ÷ target, 1) over the rules that apply,
    scaled to all the weights."""
    total = sum(w for w, _t in weights.values())
    points = applying = 0
    for rule, (num, den) in fractions.items():
        if den:
            weight, target = weights[rule]
            points += weight * min(num / den / target, 1)
            applying += weight
    return points * total / applying


def test_a_cells_measures_count_the_records_of_the_period(session, world):
    cell = _unit(_assess(session, "cell"), "S1-01")
    assert _term(cell, "inspections_done") == pytest.approx((2, 1.0))
    assert _term(cell, "rectified_on_time") == (1, 3)
    assert _term(cell, "complaints_on_time") == (1, 3)
    # 监督抽查 only: the failed 定期监督检验 batch is another programme.
    assert _term(cell, "spot_check_pass") == (2, 3)
    assert cell["score"] == pytest.approx(_expected_score({
        "inspections_done": (2, 1), "rectified_on_time": (1, 3),
        "complaints_on_time": (1, 3), "spot_check_pass": (2, 3)}))
    empty = _unit(_assess(session, "cell"), "S1-02")
    assert empty["score"] is None and all(not t["applies"] for t in empty["terms"])


def test_a_person_who_owned_a_cell_half_the_period_gets_that_half(session, world):
    result = _assess(session, "person")
    p1, p2 = _unit(result, "RY-A"), _unit(result, "RY-B")
    # 90 days of 180 each: half the required inspection each, and the records of their days.
    assert _term(p1, "inspections_done") == pytest.approx((1, 0.5))
    assert _term(p2, "inspections_done") == pytest.approx((1, 0.5))
    assert _term(p1, "rectified_on_time") == (1, 1) and _term(p2, "rectified_on_time") == (0, 2)
    assert _term(p1, "complaints_on_time") == (1, 1)
    assert _term(p2, "complaints_on_time") == (0, 2)
    assert _term(p1, "spot_check_pass") == (1, 1) and _term(p2, "spot_check_pass") == (1, 2)
    assert p1["score"] == pytest.approx(100) and p1["rank"] == 1
    assert p2["score"] == pytest.approx(30 + 20 * (0.5 / 0.9))
    assert p1["cells"] == ["S1-01"] and p2["cells"] == ["S1-01"]
    # The halves add up to the cell's.
    cell = _unit(_assess(session, "cell"), "S1-01")
    for rule in assessment.MEASURES:
        assert tuple(a + b for a, b in zip(_term(p1, rule), _term(p2, rule))) == \
            pytest.approx(_term(cell, rule))


def test_a_cell_without_an_owner_falls_to_its_grids_owner(session, world):
    p3 = _unit(_assess(session, "person"), "RY-C")
    assert "S2-01" in p3["cells"]
    assert _term(p3, "inspections_done") == pytest.approx((0, 1.0))
    # Only one rule has anything to measure: its 0 points, scaled, are still 0.
    assert p3["score"] == 0 and p3["rank"] == 3


def test_station_city_and_township_sum_their_cells(session, world):
    s1 = _unit(_assess(session, "station"), "S1")
    assert _term(s1, "inspections_done") == pytest.approx((2, 1.0))
    assert _term(s1, "spot_check_pass") == (2, 3)
    city = _unit(_assess(session, "city"), "C")
    assert _term(city, "inspections_done") == pytest.approx((2, 2.0))
    town = _unit(_assess(session, "township"), "130984100000")
    assert _term(town, "inspections_done") == pytest.approx((2, 1.0))
    assert _term(town, "complaints_on_time") == (1, 3)
    assert town["name"] == "西镇"


def test_only_the_cells_given_are_assessed(session, world):
    s1 = session.execute(text("SELECT id FROM cell WHERE code = 'S1-01'")).scalar()
    result = _assess(session, "cell", cells=[s1])
    assert [u["code"] for u in result["units"]] == ["S1-01"]
    result = _assess(session, "person", cells=[s1])
    assert {u["code"] for u in result["units"]} == {"RY-A", "RY-B"}


def test_a_period_reaching_past_today_counts_up_to_today(session, world):
    # Today 15 May: the period's first 135 days; the open problem (due 1 June) is not due yet.
    result = _assess(session, "cell", today=dt.date(2026, 5, 15),
                     now=local(dt.date(2026, 5, 15)))
    cell = _unit(result, "S1-01")
    assert result["assessed_to"] == dt.date(2026, 5, 15)
    assert _term(cell, "inspections_done") == pytest.approx((2, 135 / 180))
    assert _term(cell, "rectified_on_time") == (1, 2)
    assert _term(cell, "complaints_on_time") == (1, 2)
    later = _assess(session, "cell", start=dt.date(2027, 1, 1), end=dt.date(2027, 3, 1))
    assert later["assessed_to"] is None and all(u["score"] is None for u in later["units"])


def test_weights_and_targets_change_the_score(session, world):
    before = _unit(_assess(session, "cell"), "S1-01")["score"]
    old, new = assessment.set_rule(session, "inspections_done", weight=60)
    assert old["weight"] == 30 and new["weight"] == 60
    weights = {**DEFAULT_WEIGHTS, "inspections_done": (60, 1.0)}
    fractions = {"inspections_done": (2, 1), "rectified_on_time": (1, 3),
                 "complaints_on_time": (1, 3), "spot_check_pass": (2, 3)}
    after = _unit(_assess(session, "cell"), "S1-01")["score"]
    assert after == pytest.approx(_expected_score(fractions, weights)) and after != before
    assessment.set_rule(session, "spot_check_pass", target=0.5)
    weights["spot_check_pass"] = (20, 0.5)
    assert _unit(_assess(session, "cell"), "S1-01")["score"] == \
        pytest.approx(_expected_score(fractions, weights))
    assessment.set_rule(session, "complaints_on_time", active=False)
    cell = _unit(_assess(session, "cell"), "S1-01")
    assert "complaints_on_time" not in {t["code"] for t in cell["terms"]}
    del weights["complaints_on_time"], fractions["complaints_on_time"]
    assert cell["score"] == pytest.approx(_expected_score(fractions, weights))
    with pytest.raises(ValidationError):
        assessment.set_rule(session, "spot_check_pass", target=1.5)
    with pytest.raises(ValidationError):
        assessment.set_rule(session, "spot_check_pass", weight=-1)


def test_ranks_share_a_place_on_equal_scores(session, world):
    add_enterprises(session, ("E3", 116.07, 38.45), valid_from=LONG_AGO)
    _inspection(session, "E3", dt.date(2026, 3, 3))
    _inspection(session, "E2", dt.date(2026, 4, 4))
    result = _assess(session, "cell")
    s102, s201 = _unit(result, "S1-02"), _unit(result, "S2-01")
    assert s102["score"] == pytest.approx(100) == s201["score"]
    assert s102["rank"] == s201["rank"] == 1 and _unit(result, "S1-01")["rank"] == 3
    assert [u["code"] for u in result["units"]] == ["S1-02", "S2-01", "S1-01"]


def test_the_workbook_has_the_pages_numbers(session, world):
    result = _assess(session, "person")
    sheet = openpyxl.load_workbook(io.BytesIO(assessment.xlsx(result)))["考核"]
    rows = list(sheet.values)
    assert rows[0][:5] == ("排名", "责任人编码", "责任人名称", "负责网格", "得分")
    assert "巡查完成率·分子" in rows[0] and "监督抽查合格率·完成率" in rows[0]
    by_code = {r[1]: r for r in rows[1:]}
    assert by_code["RY-A"][4] == pytest.approx(round(_unit(result, "RY-A")["score"], 2))
    header = list(rows[0])
    p2 = by_code["RY-B"]
    assert p2[header.index("问题按期整改率·分母")] == 2
    assert p2[header.index("监督抽查合格率·完成率")] == pytest.approx(0.5)


# --- letters -----------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 200, 200)).save(out, "PNG")
    return out.getvalue()


def test_a_letter_is_compared_with_its_targets(session, world, tmp_path):
    store = DiskStore(tmp_path)
    letter = assessment.record_letter(
        session, store, person="RY-B", place="S1-01", start=START, end=END,
        signed_on=dt.date(2025, 12, 20), data=PDF, file_name="责任状.pdf",
        targets={"inspections_done": 1, "rectified_on_time": "0.9",
                 "spot_check_pass": 0.6, "complaints_on_time": ""}, username="admin")
    assert letter["targets"] == {"inspections_done": 1.0, "rectified_on_time": 0.9,
                                 "spot_check_pass": 0.6}
    assert letter["file_type"] == "application/pdf" and store.exists(letter["file_sha256"])
    compared = assessment.compare(session, letter, zone=ZONE, today=TODAY, now=NOW)
    met = {r["code"]: r["met"] for r in compared["rows"]}
    assert met == {"inspections_done": True, "rectified_on_time": False,
                   "spot_check_pass": True}
    # A second-level grid's letter is compared with the grid's figures.
    grid = assessment.record_letter(session, store, person="RY-C", place="S2", start=START,
                                    end=END, signed_on=None,
                                    targets={"inspections_done": 0.8})
    rows = assessment.compare(session, grid, zone=ZONE, today=TODAY, now=NOW)["rows"]
    assert rows[0]["met"] is False and rows[0]["measure"] == 0
    assert [x["id"] for x in assessment.letters(session, place="S1")] == [letter["id"]]
    assert [x["id"] for x in assessment.letters(session, person="RY-C")] == [grid["id"]]


@pytest.mark.parametrize("data, code", [
    (b"GIF89a" + b"\x00" * 40, "not_letter"),
    (b"%PDF-1.4 no end", "not_letter"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "damaged"),
    (PDF + b" " * 2000, "too_large"),
])
def test_a_letters_file_is_checked_by_its_content(session, world, tmp_path, data, code):
    with pytest.raises(assessment.LetterFileRefused) as exc:
        assessment.record_letter(session, DiskStore(tmp_path), person="RY-A", place="S1-01",
                                 start=START, end=END, signed_on=None, targets={}, data=data,
                                 file_name="x", max_bytes=2000)
    assert exc.value.code == code


@pytest.mark.parametrize("values, field, code", [
    ({"person": "NOBODY"}, "person", "no_such_person"),
    ({"place": "NOWHERE"}, "place", "no_such_cell"),
    ({"end": dt.date(2025, 12, 31)}, "to", "before"),
    ({"targets": {"spot_check_pass": 1.2}}, "targets", "target_share"),
    ({"targets": {"nonsense": 0.5}}, "targets", "unknown_rule"),
])
def test_a_letter_is_refused_with_the_field_named(session, world, tmp_path, values, field,
                                                  code):
    args = {"person": "RY-A", "place": "S1-01", "start": START, "end": END, "signed_on": None,
            "targets": {}, **values}
    with pytest.raises(ValidationError) as exc:
        assessment.record_letter(session, DiskStore(tmp_path), **args)
    assert (exc.value.field, exc.value.code) == (field, code)


# --- the web: who may, audited -------------------------------------------------------------

def _audit(session, action):
    return session.execute(text("""
        SELECT target, detail FROM audit_log WHERE action = :a ORDER BY id"""),
        {"a": action}).all()


def _post_letter(client, place="S1-01", data=PDF, name="letter.pdf", **fields):
    form = {"person": "RY-B", "place": place, "from": START.isoformat(),
            "to": END.isoformat(), "signed_on": "2025-12-20", "target_inspections_done": "1",
            "target_rectified_on_time": "0.9", **fields}
    if data is not None:
        form["file"] = (io.BytesIO(data), name)
    return client.post("/api/v1/letters", data=form, content_type="multipart/form-data")


def test_an_admin_records_a_letter_and_it_is_audited(client, session, world):
    login(client, "admin")
    answer = _post_letter(client)
    assert answer.status_code == 201, answer.get_json()
    letter = answer.get_json()
    assert letter["person"]["code"] == "RY-B" and letter["place"] == "S1-01"
    assert letter["targets"] == {"inspections_done": 1.0, "rectified_on_time": 0.9}
    (target, detail), = _audit(session, "letter_recorded")
    assert target == f"letter {letter['id']}"
    assert detail["person"] == "RY-B" and detail["cell"] == "S1-01"
    assert detail["targets"] == {"巡查完成率": 1.0, "问题按期整改率": 0.9}
    assert detail["sha256"] == letter["file"]["sha256"]
    got = client.get(letter["file"]["url"])
    assert got.status_code == 200 and got.data == PDF
    assert got.mimetype == "application/pdf" and "attachment" in got.headers[
        "Content-Disposition"]
    shown = client.get(f"/api/v1/letters/{letter['id']}").get_json()
    assert {c["rule"]: c["met"] for c in shown["comparison"]} == {
        "inspections_done": True, "rectified_on_time": False}
    page = client.get(letter["url"]).get_data(as_text=True)
    assert 'data-rule="inspections_done" data-met="yes"' in page
    assert 'data-rule="rectified_on_time" data-met="no"' in page
    # An image is shown in the page.
    image = _post_letter(client, data=png(), name="scan.png").get_json()
    assert client.get(image["file"]["url"]).mimetype == "image/png"
    assert "letter-scan" in client.get(image["url"]).get_data(as_text=True)


def test_a_bad_file_writes_nothing(client, session, world, app):
    login(client, "admin")
    answer = _post_letter(client, data=b"GIF89a" + b"\x00" * 50, name="x.gif")
    assert answer.status_code == 415 and answer.get_json()["error"]["field"] == "file"
    app.config["LETTER_MAX_BYTES"] = 20
    assert _post_letter(client).status_code == 413
    assert _audit(session, "letter_recorded") == []
    assert session.execute(text("SELECT count(*) FROM responsibility_letter")).scalar() == 0


def test_the_form_records_a_letter_and_shows_a_refusal(client, session, world):
    login(client, "admin")
    page = client.get("/letters/new").get_data(as_text=True)
    assert 'value="RY-B"' in page and 'value="S1-01"' in page
    form = {"person": "RY-A", "place": "S1-01", "from": "2026-01-01", "to": "2026-06-29",
            "signed_on": "2026-01-02", "target_spot_check_pass": "0.95", "note": "<b>备注</b>",
            "file": (io.BytesIO(PDF), "l.pdf")}
    answer = client.post("/letters/new", data=form, content_type="multipart/form-data")
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "&lt;b&gt;备注&lt;/b&gt;" in page and "<b>备注</b>" not in page
    form = {**form, "target_spot_check_pass": "95", "file": (io.BytesIO(PDF), "l.pdf")}
    refused = client.post("/letters/new", data=form, content_type="multipart/form-data")
    assert refused.status_code == 400 and 'id="letter-problem"' in refused.get_data(as_text=True)
    assert len(_audit(session, "letter_recorded")) == 1


def test_who_may_record_and_read_letters(client, session, world):
    login(client, "s1-manager")
    assert _post_letter(client).status_code == 201
    assert _post_letter(client, place="S1").status_code == 201
    assert _post_letter(client, place="S2-01").status_code == 403
    mine = client.get("/api/v1/letters").get_json()["letters"]
    assert {x["place"] for x in mine} == {"S1-01", "S1"}
    client.post("/logout")
    login(client, "s2-manager")
    assert client.get("/api/v1/letters").get_json()["letters"] == []
    assert client.get(f"/api/v1/letters/{mine[0]['id']}").status_code == 403
    assert client.get(f"/letters/{mine[0]['id']}/file").status_code == 403
    client.post("/logout")
    login(client, "s1-leader")
    assert _post_letter(client).status_code == 403
    assert client.get(f"/api/v1/letters/{mine[0]['id']}").status_code == 200
    assert client.get("/letters/new").status_code == 403
    client.post("/logout")
    login(client, "c1-inspector")
    assert client.get("/api/v1/letters").status_code == 403
    assert client.get(f"/letters/{mine[0]['id']}").status_code == 403
    assert client.get("/api/v1/assessment?level=cell&from=2026-01-01&to=2026-06-29"
                      ).status_code == 403
    assert client.get("/assessment").status_code == 403


def test_the_api_ranks_within_the_readers_area(client, session, world):
    login(client, "s1-leader")
    answer = client.get("/api/v1/assessment?level=cell&from=2026-01-01&to=2026-06-29")
    assert answer.status_code == 200
    body = answer.get_json()
    assert [u["code"] for u in body["units"]] == ["S1-01", "S1-02"]
    assert {t["rule"]: (t["numerator"], t["denominator"]) for t in body["units"][0]["terms"]
            }["complaints_on_time"] == (1, 3)
    assert client.get("/api/v1/assessment?level=cell&from=2026-01-01&to=2026-06-29"
                      "&place=S2").get_json()["units"] == []
    assert client.get("/api/v1/assessment?level=planet&from=2026-01-01&to=2026-06-29"
                      ).status_code == 400
    assert client.get("/api/v1/assessment?level=cell&from=2026-06-01&to=2026-01-01"
                      ).status_code == 400
    xlsx = client.get("/api/v1/assessment?level=person&from=2026-01-01&to=2026-06-29"
                      "&format=xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(xlsx.data))["考核"].values)
    people_json = client.get("/api/v1/assessment?level=person&from=2026-01-01&to=2026-06-29"
                             ).get_json()["units"]
    assert [r[1] for r in rows[1:]] == [u["code"] for u in people_json]
    assert [r[4] for r in rows[1:]] == [u["score"] for u in people_json]
    page = client.get("/assessment?level=person&from=2026-01-01&to=2026-06-29")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-code="RY-A" data-rank="1"' in html


def test_admins_edit_the_rules_on_the_reference_page_audited(client, session, world):
    login(client, "admin")
    page = client.get("/admin/reference").get_data(as_text=True)
    assert 'data-rule="inspections_done"' in page and 'data-rule="behind_plan"' in page
    answer = client.put("/api/v1/reference/assessment-rules/inspections_done",
                        json={"weight": "45", "rule_target": 0.9})
    assert answer.status_code == 200 and answer.get_json()["weight"] == 45
    (target, detail), = _audit(session, "assessment_rule_set")
    assert target == "assessment_rule inspections_done"
    assert detail["weight"] == 45 and detail["before"]["weight"] == 30
    assert client.put("/api/v1/reference/assessment-rules/inspections_done",
                      json={"rule_target": 2}).status_code == 400
    assert client.put("/api/v1/reference/assessment-rules/nope",
                      json={"weight": 1}).status_code == 404
    assert client.put("/api/v1/reference/warning-rules/cell_overdue_rate",
                      json={"threshold": 0.3, "active": "false"}).status_code == 200
    (target, detail), = _audit(session, "warning_rule_set")
    assert detail == {"threshold": 0.3, "active": False,
                      "before": {"threshold": 0.2, "active": True}}
    assert client.put("/api/v1/reference/warning-rules/cell_overdue_rate",
                      json={"threshold": 3}).status_code == 400
    client.post("/logout")
    login(client, "city-leader")
    assert client.put("/api/v1/reference/assessment-rules/inspections_done",
                      json={"weight": 1}).status_code == 403
    assert json.loads(json.dumps(_audit(session, "assessment_rule_set")[0][1]))["weight"] == 45


def test_the_pages_read_in_chinese(client, session, world):
    from tests.test_i18n import english_words

    login(client, "admin")
    letter = _post_letter(client).get_json()
    technical = {"PDF", "JPEG", "PNG"}
    for path in ("/assessment?level=person", "/assessment?level=cell&from=2026-01-01"
                 "&to=2026-06-29", "/assessment?level=township", "/letters", "/letters/new",
                 letter["url"], "/warnings"):
        html = client.get(path + ("&" if "?" in path else "?") + "lang=zh_Hans_CN")
        assert html.status_code == 200, path
        assert english_words(html.get_data(as_text=True)) - technical == set(), path


# --- the demo city, counted again from the raw rows ----------------------------------------

DEMO_TODAY = dt.date(2026, 11, 28)


def _rows(session, sql, **params):
    return [r._asdict() for r in session.execute(text(sql), params)]


def _covering(periods, moment):
    """The first (from, to, value) of ``periods`` whose [from, to) holds ``moment``."""
    return next((v for f, t, v in periods if f <= moment and (t is None or moment < t)), None)


def test_the_demo_city_counted_again_from_the_raw_rows(session):
    """Every measure of every cell owner and every cell, over 120 days around the demo's owner
    changes (made at 08:00 local: the days split), equals what plain Python counts from the
    base tables: each record at its moment, the requirement summed over the pieces of time
    between every change of cell, grade and owner."""
    from gis.demo.build import load_demo

    load_demo(session, today=DEMO_TODAY)
    handover = DEMO_TODAY - dt.timedelta(days=150)
    start, end = handover - dt.timedelta(days=60), handover + dt.timedelta(days=59)
    begin = dt.datetime.combine(start, dt.time(), tzinfo=TZ)
    stop = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=TZ)
    now = dt.datetime.combine(DEMO_TODAY, dt.time(16), tzinfo=TZ)

    def end_of(day):
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=TZ) - \
            dt.timedelta(microseconds=1)

    cells = {r["id"]: r for r in _rows(session, """
        SELECT id, code, parent_id, level FROM cell WHERE kind = 'territorial'""")}

    def path(cell_id):
        out = []
        while cell_id is not None:
            out.insert(0, cell_id)
            cell_id = cells[cell_id]["parent_id"]
        return out

    owners = {}
    for r in _rows(session, """SELECT cell_id, person_id, valid_from, valid_to FROM
                              responsibility WHERE role = 'owner' AND cell_id IS NOT NULL"""):
        owners.setdefault(r["cell_id"], []).append((r["valid_from"], r["valid_to"],
                                                    r["person_id"]))

    def owner_at(cell_id, moment):
        for c in reversed(path(cell_id)):
            person = _covering(owners.get(c, []), moment)
            if person is not None:
                return person
        return None

    placed = {}
    for r in _rows(session, "SELECT enterprise_id, cell_id, valid_from, valid_to "
                            "FROM enterprise_cell WHERE cell_id IS NOT NULL"):
        placed.setdefault(r["enterprise_id"], []).append((r["valid_from"], r["valid_to"],
                                                          r["cell_id"]))
    graded = {}
    for r in _rows(session, "SELECT enterprise_id, grade, valid_from, valid_to "
                            "FROM enterprise_grade"):
        graded.setdefault(r["enterprise_id"], []).append((r["valid_from"], r["valid_to"],
                                                          r["grade"]))
    interval = {r["grade"]: r["interval_days"] for r in _rows(
        session, "SELECT grade, interval_days FROM grade_interval")}
    code = {r["id"]: r["code"] for r in _rows(session, "SELECT id, code FROM person")}
    counts = {"person": {}, "cell": {}}

    def add(moment, cell_id, rule, num, den):
        # A level-3 cell's own; a complaint stamped with a grid (outside every level-3
        # cell) is no cell's, but someone answers for it.
        level3 = cells[cell_id]["code"] if cells[cell_id]["level"] == 3 else None
        for kind, unit in (("cell", level3), ("person", code.get(owner_at(cell_id, moment)))):
            if unit is None:
                continue
            n, d = counts[kind].setdefault(unit, {}).get(rule, (0, 0))
            counts[kind][unit][rule] = (n + num, d + den)

    # Required inspections: cut each enterprise's time at every change of cell, grade, owner.
    cuts = {begin, stop} | {t for ps in owners.values() for f, t, _p in ps for t in (f, t)
                            if t is not None and begin < t < stop}
    for eid, pieces in placed.items():
        mine = cuts | {t for f, to, _c in pieces + graded.get(eid, []) for t in (f, to)
                       if t is not None and begin < t < stop}
        points = sorted(mine)
        for a, b in zip(points, points[1:]):
            middle = a + (b - a) / 2
            cell_id, grade = _covering(pieces, middle), _covering(graded.get(eid, []), middle)
            if cell_id is None or grade is None:
                continue
            add(middle, cell_id, "inspections_done", 0,
                (b - a).total_seconds() / 86400 / interval[grade])
    for r in _rows(session, "SELECT enterprise_id, inspected_on FROM inspection "
                            "WHERE inspected_on BETWEEN :s AND :e", s=start, e=end):
        moment = end_of(r["inspected_on"])
        cell_id = _covering(placed.get(r["enterprise_id"], []), moment)
        if cell_id is not None:
            add(moment, cell_id, "inspections_done", 1, 0)
    for r in _rows(session, "SELECT * FROM rectification WHERE deadline BETWEEN :s AND :e",
                   s=start, e=end):
        done = r["rectified_at"] or r["verified_at"]
        on_time = r["status"] == "verified" and done.astimezone(TZ).date() <= r["deadline"]
        if r["deadline"] >= DEMO_TODAY and not on_time:
            continue
        moment = end_of(r["deadline"])
        cell_id = _covering(placed.get(r["enterprise_id"], []), moment)
        if cell_id is not None:
            add(moment, cell_id, "rectified_on_time", int(on_time), 1)
    for r in _rows(session, "SELECT * FROM complaint WHERE due_at >= :b AND due_at < :s",
                   b=begin, s=stop):
        on_time = r["status"] == "closed" and r["closed_at"] <= r["due_at"]
        if (r["due_at"] >= now and not on_time) or r["cell_id"] not in cells:
            continue
        add(r["due_at"], r["cell_id"], "complaints_on_time", int(on_time), 1)
    for r in _rows(session, "SELECT * FROM spot_check WHERE kind = 'spot_check' "
                            "AND checked_on BETWEEN :s AND :e", s=start, e=end):
        moment = end_of(r["checked_on"])
        cell_id = _covering(placed.get(r["enterprise_id"], []), moment)
        if cell_id is not None:
            add(moment, cell_id, "spot_check_pass", r["passed"], r["batches"])

    moved = _rows(session, """SELECT count(DISTINCT cell_id) AS n FROM responsibility
                              WHERE role = 'owner' AND valid_to IS NOT NULL""")[0]["n"]
    assert moved >= 3  # owners changed inside the period: halves to check
    assert len(counts["cell"]) > 40 and len(counts["person"]) > 40
    for kind in ("person", "cell"):
        result = assessment.assess(session, kind, start, end, zone=ZONE, today=DEMO_TODAY,
                                   now=now)
        got = {u["code"]: {t["code"]: (t["numerator"], t["denominator"]) for t in u["terms"]}
               for u in result["units"]}
        for unit, rules in counts[kind].items():
            for rule, (num, den) in rules.items():
                assert got[unit][rule] == (pytest.approx(num), pytest.approx(den)), \
                    (kind, unit, rule)
        # Nothing counted that plain Python did not count.
        for unit, rules in got.items():
            for rule, (num, den) in rules.items():
                assert (num, den) == pytest.approx(counts[kind].get(unit, {}).get(rule, (0, 0)))
