"""Responsibility plates (明示牌, gis/plates.py and app/plates.py): what a plate names, now and
at a past date, as the lookup names it; the plates to reprint after an owner, chief, grade or
contact change (exactly the enterprises concerned); PDFs with Chinese text, A4 and A5, one
plate a page; the QR code decoded from its image; permissions and escaping."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import text

from gis import people, plates
from gis.enterprises import EnterpriseRow, upsert_enterprises
from gis.lookup import enterprise_responsible
from tests.factories import PASSWORD, add_enterprises, login, small_world

UTC = dt.timezone.utc
JAN = dt.datetime(2026, 1, 1, tzinfo=UTC)
BASE = "https://gw.example.cn"
CABLE = "河间市瀛海电线电缆有限公司"
# E1 and F1, F2 in S1-01; G1 in S1-02; E2 in S2-01.
S1_01 = {"E1", "F1", "F2"}


def _person(session, code, name, phone):
    return people.create_person(session, {"code": code, "name": name, "phone": phone})["id"]


def _assign(session, role, code, pid, when):
    return people.assign(session, people.target(session, role, code), pid, when)


@pytest.fixture
def world(session):
    """small_world from 1 January with a station on S1, a township over the city, owners of
    S1-01 (甲) and of the grid S1 (乙, whom S1-02 falls to), a chief of S1, a township leader
    and E1's principal; E1 has a Chinese name."""
    small_world(session, valid_from=JAN)
    add_enterprises(session, ("F1", 116.01, 38.41), ("F2", 116.03, 38.48),
                    ("G1", 116.07, 38.45), valid_from=JAN)
    session.execute(text("UPDATE enterprise SET name = :n WHERE management_code = 'E1'"),
                    {"n": CABLE})
    station = session.execute(text("""
        INSERT INTO station (code, name, phone) VALUES ('ZS1', '瀛州路质量监督所', '0317-3601365')
        RETURNING id""")).scalar()
    session.execute(text("UPDATE cell SET station_id = :s WHERE code = 'S1'"), {"s": station})
    session.execute(text("""
        INSERT INTO township (code, name, geom)
        VALUES ('130984100000', '瀛州镇', ST_Multi(ST_MakeEnvelope(116, 38.4, 116.2, 38.5, 4326)))"""))
    ids = {
        "甲": _person(session, "RY-JIA", "张甲", "13800000001"),
        "乙": _person(session, "RY-YI", "李乙", "13800000002"),
        "丙": _person(session, "RY-BING", "王丙", "13800000003"),
        "所长": _person(session, "RY-CHIEF", "赵所长", "13900000001"),
        "镇长": _person(session, "RY-TOWN", "钱镇长", "13900000002"),
        "厂长": _person(session, "RY-BOSS", "孙厂长", "13900000003"),
    }
    _assign(session, "owner", "S1-01", ids["甲"], JAN)
    _assign(session, "owner", "S1", ids["乙"], JAN)
    _assign(session, "station_chief", "S1", ids["所长"], JAN)
    _assign(session, "township_leader", "130984100000", ids["镇长"], JAN)
    _assign(session, "principal", "E1", ids["厂长"], JAN)
    session.ids = ids
    return session


def _codes(rows):
    return {r["management_code"] for r in rows}


def _id(session, code):
    return session.execute(text("SELECT id FROM cell WHERE code = :c"), {"c": code}).scalar()


# --- what a plate says -------------------------------------------------------------------------

def test_a_plate_names_the_three_responsibilities_and_12365(world):
    p = plates.plate(world, "E1")
    assert (p["name"], p["management_code"], p["grade"]) == (CABLE, "E1", "B")
    assert (p["owner_name"], p["owner_phone"], p["inherited"]) == ("张甲", "13800000001", False)
    assert (p["chief_name"], p["chief_phone"]) == ("赵所长", "13900000001")
    assert (p["station_name"], p["station_phone"]) == ("瀛州路质量监督所", "0317-3601365")
    assert [x["name"] for x in p["leaders"]] == ["钱镇长"] and p["township_name"] == "瀛州镇"
    assert p["principal_name"] == "孙厂长" and p["hotline"] == "12365"
    # S1-02 has no owner of its own: its plates name the grid's owner (属地兜底).
    g1 = plates.plate(world, "G1")
    assert (g1["owner_name"], g1["owner_cell_code"], g1["inherited"]) == ("李乙", "S1", True)
    assert plates.plate(world, "NO-SUCH") is None


def test_every_plate_names_whom_the_lookup_names(world):
    """The set-based chain (gis/plates.py CHAIN) agrees with gis.lookup for every enterprise,
    now and at a past date."""
    _assign(world, "owner", "S1-01", world.ids["丙"], JAN + dt.timedelta(days=100))
    for at in (None, JAN + dt.timedelta(days=50)):
        city = plates.plates_in(world, _id(world, "C"), at)
        assert _codes(city) == S1_01 | {"G1", "E2"}
        for p in city:
            chain = enterprise_responsible(world, p["management_code"], at)
            dept = chain["responsibilities"]["department"]
            owner = next((d for d in dept if d["role"] == "owner"), None)
            chief = next((d for d in dept if d["role"] == "station_chief"), None)
            assert p["owner_name"] == (owner and owner["name"]), p["management_code"]
            assert p["owner_phone"] == (owner and owner["phone"])
            assert p["chief_name"] == (chief and chief["name"])
            assert [x["name"] for x in p["leaders"]] == [
                g["name"] for g in chain["responsibilities"]["government"]]
            principal = chain["responsibilities"]["enterprise"]
            assert p["principal_name"] == (principal[0]["name"] if principal else None)
            assert p["station_name"] == ((chain.get("station") or {}).get("name"))
            assert p["cell_code"] == chain["cell"]["code"]


def test_a_plate_at_a_past_date_names_who_answered_then(world):
    change = dt.datetime.now(UTC) - dt.timedelta(days=3)
    _assign(world, "owner", "S1-01", world.ids["丙"], change)
    before = plates.plate(world, "E1", change - dt.timedelta(hours=1))
    assert before["owner_name"] == "张甲"
    assert plates.plate(world, "E1", change)["owner_name"] == "王丙"
    assert plates.plate(world, "E1")["owner_name"] == "王丙"


def test_the_plates_of_a_cell_and_of_a_station(world):
    assert _codes(plates.plates_in(world, _id(world, "S1-01"))) == S1_01
    station = plates.plates_in(world, _id(world, "S1"))
    assert [p["management_code"] for p in station] == ["E1", "F1", "F2", "G1"]  # by cell, code
    assert plates.count_in(world, _id(world, "S1")) == 4


# --- plates to reprint -------------------------------------------------------------------------

def test_an_owner_change_lists_exactly_the_plates_of_that_cell(world):
    change = dt.datetime.now(UTC) - dt.timedelta(days=2)
    _assign(world, "owner", "S1-01", world.ids["丙"], change)
    day = change.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = plates.plates_changed(world, day)
    assert _codes(rows) == S1_01
    assert all(r["reasons"] == ["owner"] for r in rows)
    e1 = next(r for r in rows if r["management_code"] == "E1")
    assert (e1["owner_before"], e1["owner_now"], e1["owner_phone"]) == \
        ("张甲", "王丙", "13800000003")
    # From the very moment of the change (a handover from midnight) it still counts.
    assert _codes(plates.plates_changed(world, change)) == S1_01
    # Nothing changed after it; nothing in another station's grid.
    assert plates.plates_changed(world, change + dt.timedelta(seconds=1)) == []
    assert plates.plates_changed(world, day, place=_id(world, "S2")) == []
    assert _codes(plates.plates_changed(world, day, place=_id(world, "S1"))) == S1_01
    # A reader sees their area's only.
    assert plates.plates_changed(world, day, cells=[_id(world, "S2-01")]) == []


def test_a_grid_owner_change_reaches_the_cells_that_fall_to_it(world):
    change = dt.datetime.now(UTC) - dt.timedelta(hours=5)
    _assign(world, "owner", "S1", world.ids["丙"], change)
    rows = plates.plates_changed(world, change - dt.timedelta(hours=1))
    assert _codes(rows) == {"G1"}  # S1-01 has an owner of its own


def test_a_chief_change_lists_the_whole_station_and_a_handover_too(world):
    change = dt.datetime.now(UTC) - dt.timedelta(hours=5)
    _assign(world, "station_chief", "S1", world.ids["丙"], change)
    rows = plates.plates_changed(world, change)
    assert _codes(rows) == S1_01 | {"G1"}
    assert {tuple(r["reasons"]) for r in rows} == {("station_chief",)}
    # A handover of everything 甲 answers for moves S1-01's plates.
    later = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    plan = people.plan_handover(world, world.ids["甲"], world.ids["乙"], later)
    people.hand_over(world, plan, "调岗")
    assert _codes(plates.plates_changed(world, later)) == S1_01


def test_grade_contact_and_new_enterprises_are_listed_with_their_reason(world):
    since = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    world.execute(text("UPDATE person SET created_at = now() - interval '2 days', "
                       "updated_at = now() - interval '1 day'"))
    assert plates.plates_changed(world, since) == []
    upsert_enterprises(world, [EnterpriseRow("G1", {
        "name": "enterprise G1", "credit_code": None, "address": None, "industry": None,
        "specialty": None, "grade": "A", "contact_name": None, "contact_phone": None,
        "products": None, "staff_count": None, "key_equipment": None}, 116.07, 38.45, {})])
    add_enterprises(world, ("N1", 116.12, 38.45))
    people.update_person(world, world.ids["镇长"], {"phone": "13900009999"})
    rows = {r["management_code"]: r for r in plates.plates_changed(world, since)}
    assert rows["N1"]["reasons"] == ["new"]
    assert "grade" in rows["G1"]["reasons"]
    assert (rows["G1"]["grade_before"], rows["G1"]["grade_now"]) == ("B", "A")
    # The township leader's phone is on every plate of the township.
    assert set(rows) == S1_01 | {"G1", "E2", "N1"}
    assert rows["E1"]["reasons"] == ["contact"]


# --- QR codes ----------------------------------------------------------------------------------

def _decode(png: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_the_qr_code_image_decodes_to_the_public_complaint_page():
    url = plates.complaint_url(BASE + "/", "HJ/2024.0017")
    assert url == BASE + "/public/complaints/new?enterprise=HJ%2F2024.0017"
    assert _decode(plates.qr_png(url)) == [url]


@pytest.fixture
def public(app):
    app.config["PUBLIC_BASE_URL"] = BASE
    return app


def test_the_plates_qr_png_opens_that_enterprises_complaint_page(client, public, world):
    login(client, "c1-inspector")
    response = client.get("/plates/E1/qr.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert _decode(response.data) == [BASE + "/public/complaints/new?enterprise=E1"]


def test_without_a_public_base_url_the_qr_uses_the_requests_host(client, world):
    here = "https://gridwatch.intranet"
    client.post("/login", data={"username": "c1-inspector", "password": PASSWORD},
                base_url=here)
    png = client.get("/plates/E1/qr.png", base_url=here).data
    assert _decode(png) == ["https://gridwatch.intranet/public/complaints/new?enterprise=E1"]


# --- pages and PDFs ----------------------------------------------------------------------------

def _pdf(data: bytes):
    from pypdf import PdfReader

    assert data[:5] == b"%PDF-"
    return PdfReader(io.BytesIO(data))


def _size_mm(page) -> tuple[int, int]:
    box = page.mediabox
    return round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)


def test_the_plate_page_shows_the_plate_with_its_qr_and_print_size(client, public, world):
    login(client, "c1-inspector")
    html = client.get("/plates/E1?size=a5").get_data(as_text=True)
    assert CABLE in html and "12365" in html and "张甲" in html and "13800000001" in html
    assert "赵所长" in html and "钱镇长" in html and "孙厂长" in html
    assert "<svg" in html and "size: A5" in html and 'class="plate plate-a5"' in html
    assert BASE + "/public/complaints/new?enterprise=E1" in html
    assert "明示牌" in html  # Chinese by default


def test_a_plate_pdf_holds_the_chinese_name_as_text_in_a4_and_a5(client, public, world):
    login(client, "c1-inspector")
    a4 = client.get("/plates/E1.pdf")
    assert a4.status_code == 200 and a4.mimetype == "application/pdf"
    reader = _pdf(a4.data)
    assert len(reader.pages) == 1 and _size_mm(reader.pages[0]) == (210, 297)
    words = reader.pages[0].extract_text()
    for expected in (CABLE, "张甲", "13800000001", "赵所长", "12365", "E1"):
        assert expected in words, expected
    fonts = [f.get_object() for f in reader.pages[0]["/Resources"]["/Font"].values()]
    assert any("CJK" in str(f["/BaseFont"]) or "Hei" in str(f["/BaseFont"]) for f in fonts)
    a5 = _pdf(client.get("/plates/E1.pdf?size=a5").data)
    assert len(a5.pages) == 1 and _size_mm(a5.pages[0]) == (148, 210)
    assert CABLE in a5.pages[0].extract_text()


def test_the_batch_pdf_has_one_page_per_enterprise(client, public, world):
    login(client, "s1-manager")
    reader = _pdf(client.get("/plates/cell/S1.pdf?size=a5").data)
    assert len(reader.pages) == 4
    names = [p.extract_text() for p in reader.pages]
    assert CABLE in names[0] and "enterprise G1" in names[3] and "李乙" in names[3]
    assert all(_size_mm(p) == (148, 210) for p in reader.pages)
    page = client.get("/plates/cell/S1").get_data(as_text=True)
    assert "/plates/cell/S1.pdf?size=a4" in page and "enterprise F2" in page


def test_a_big_batch_is_made_by_the_job_queue_and_offered_when_done(client, public, world,
                                                                   session, app):
    from gis import jobs

    app.config["PLATES_BACKGROUND_COUNT"] = 2
    login(client, "s1-leader")
    response = client.get("/plates/cell/S1.pdf")
    assert response.status_code == 303 and response.location.endswith("/plates/cell/S1?size=a4")
    page = client.get("/plates/cell/S1").get_data(as_text=True)
    assert 'id="prepare-a4"' in page
    response = client.post("/plates/cell/S1/prepare", data={"size": "a4"})
    assert response.status_code == 302
    job_id = int(response.location.rsplit("/", 1)[1])
    assert "data-status=\"queued\"" in client.get(f"/plates/jobs/{job_id}").get_data(
        as_text=True)
    assert client.get(f"/plates/jobs/{job_id}.pdf").status_code == 404  # not ready
    # The worker's step (gis.jobs.Worker.execute) in the test's transaction.
    job = dict(session.execute(text("SELECT * FROM job WHERE id = :i"), {"i": job_id}).one()
               ._mapping)
    result = jobs.RUNNERS["plates_pdf"](session, job, jobs.JobContext())
    session.execute(text("""UPDATE job SET status = 'done', result = CAST(:r AS jsonb)
                            WHERE id = :i"""), {"r": __import__("json").dumps(result),
                                                 "i": job_id})
    assert 'id="job-pdf"' in client.get(f"/plates/jobs/{job_id}").get_data(as_text=True)
    reader = _pdf(client.get(f"/plates/jobs/{job_id}.pdf").data)
    assert len(reader.pages) == 4 and CABLE in reader.pages[0].extract_text()
    # Someone else's job is answered as a missing one.
    client.post("/logout")
    login(client, "s1-manager")
    assert client.get(f"/plates/jobs/{job_id}.pdf").status_code == 404
    audit = session.execute(text("""SELECT action, detail FROM audit_log
                                    WHERE action = 'plates_pdf_queued'""")).one()
    assert audit.detail["plate_count"] == 4 and audit.detail["job"] == job_id


def test_the_reprint_page_lists_the_changed_plates_and_prints_them(client, public, world):
    change = dt.datetime.now(UTC) - dt.timedelta(days=2)
    _assign(world, "owner", "S1-01", world.ids["丙"], change)
    login(client, "s1-manager")
    since = (change - dt.timedelta(days=1)).date().isoformat()
    html = client.get(f"/plates/reprint?since={since}&place=S1").get_data(as_text=True)
    for code in S1_01:
        assert f'data-code="{code}"' in html
    assert 'data-code="G1"' not in html and "王丙" in html and "张甲" in html
    reader = _pdf(client.get(f"/plates/reprint.pdf?since={since}&place=S1&size=a4").data)
    assert len(reader.pages) == 3 and all("王丙" in p.extract_text() for p in reader.pages)
    # The owner page links to the reprint list of its cell.
    owner_page = client.get("/cells/S1-01/owner").get_data(as_text=True)
    assert "/plates/reprint?place=S1-01" in owner_page


def test_the_enterprise_page_links_to_its_plate(client, world):
    login(client, "c1-inspector")
    html = client.get("/enterprises/E1").get_data(as_text=True)
    assert 'href="/plates/E1"' in html


# --- who may print, and escaping ---------------------------------------------------------------

@pytest.mark.parametrize("username, status", [
    ("admin", 200), ("city-leader", 200), ("s1-leader", 200), ("s1-manager", 200),
    ("c1-inspector", 200), ("c2-inspector", 404), ("s2-manager", 404)])
def test_only_readers_of_the_enterprise_open_its_plate(client, world, username, status):
    login(client, username)
    for url in ("/plates/E1", "/plates/E1/qr.png"):
        assert client.get(url).status_code == status, url
    assert client.get("/plates/cell/S1-01").status_code == (403 if status == 404 else 200)


def test_plates_need_a_login(client, world):
    for url in ("/plates/E1", "/plates/E1.pdf", "/plates/cell/S1.pdf", "/plates/reprint"):
        assert client.get(url).status_code in (302, 401), url


def test_what_people_typed_is_text_in_the_page_and_the_pdf(client, world):
    hostile = '<script>alert(1)</script>&"x"'
    world.execute(text("UPDATE enterprise SET name = :n WHERE management_code = 'E1'"),
                  {"n": hostile})
    people.update_person(world, world.ids["甲"], {"name": "<b>甲</b>"})
    login(client, "c1-inspector")
    html = client.get("/plates/E1").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>甲</b>" not in html and "&lt;b&gt;甲&lt;/b&gt;" in html
    words = _pdf(client.get("/plates/E1.pdf").data).pages[0].extract_text()
    assert "<script>alert(1)</script>" in words and "<b>甲</b>" in words


# --- command line ------------------------------------------------------------------------------

def test_flask_plates_pdf_and_reprint(runner, world, tmp_path):
    out = tmp_path / "s1.pdf"
    result = runner.invoke(args=["plates", "pdf", "S1", "--out", str(out), "--size", "a5",
                                 "--base-url", BASE])
    assert result.exit_code == 0, result.output
    reader = _pdf(out.read_bytes())
    assert len(reader.pages) == 4 and _size_mm(reader.pages[0]) == (148, 210)
    one = tmp_path / "e1.pdf"
    assert runner.invoke(args=["plates", "pdf", "E1", "--out", str(one), "--base-url",
                               BASE]).exit_code == 0
    assert CABLE in _pdf(one.read_bytes()).pages[0].extract_text()
    assert runner.invoke(args=["plates", "pdf", "NOPE", "--out", str(one), "--base-url",
                               BASE]).exit_code != 0
    change = dt.datetime.now(UTC) - dt.timedelta(days=2)
    _assign(world, "owner", "S1-01", world.ids["丙"], change)
    result = runner.invoke(args=["plates", "reprint", "--since",
                                 (change - dt.timedelta(days=1)).date().isoformat(),
                                 "--place", "S1"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    assert {line[0] for line in lines} == S1_01 and {line[3] for line in lines} == {"owner"}
