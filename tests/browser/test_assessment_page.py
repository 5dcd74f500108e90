"""The assessment in a browser (issue 16): at a desk (1920×1080) an administrator records a
responsibility letter with its scanned file chosen in the file dialog, sees its targets met and
not met, and opens the ranked assessment; on a phone (390×844) the inspector's My work warns of
an enterprise of their cell that failed two spot checks in a row. Real clicks and taps."""
import datetime as dt

import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import new_page, screenshot, serve_demo, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
DESK = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
CELL = "130984-Z01-01"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _failing(session):
    """The first enterprise of the demo inspector's cell fails two 监督抽查 in a row, the two
    latest: a quality warning of their cell (and a spot-check pass rate under 100 %)."""
    today = dt.date.today()
    session.execute(text("""
        INSERT INTO spot_check (enterprise_id, checked_on, kind, level, batches, passed,
                                product, report_number)
        SELECT e.id, :d - n, 'spot_check', 'city', 1, 0, '测试产品', 'BT-FAIL-' || n
        FROM (SELECT e.id FROM enterprise e
              JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
              JOIN cell c ON c.id = ec.cell_id AND c.code = :cell
              ORDER BY e.management_code LIMIT 1) e, generate_series(1, 2) n"""),
        {"d": today, "cell": CELL})


@pytest.fixture(scope="module")
def city(database_url):
    for base, db_url in serve_demo("_assess", _failing):
        yield base, db_url


def query(db_url, sql, **params):
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()
    finally:
        engine.dispose()


def test_an_admin_records_a_letter_and_reads_the_assessment(browser, city):
    base, db_url = city
    owner, = query(db_url, """
        SELECT p.code FROM person p JOIN responsibility r ON r.person_id = p.id
        JOIN cell c ON c.id = r.cell_id
        WHERE c.code = :c AND r.role = 'owner' AND r.valid @> now()""", c=CELL)[0]
    today = dt.date.today()
    context, page = new_page(browser, base, DESK)
    try:
        sign_in(page, base, "admin", "demo-admin-2026", "/letters/new")
        page.select_option("#letter-person", owner)
        page.select_option("#letter-place", CELL)
        page.fill("#letter-from", (today - dt.timedelta(days=90)).isoformat())
        page.fill("#letter-to", today.isoformat())
        page.fill("#target-inspections_done", "0.001")
        page.fill("#target-rectified_on_time", "")
        page.fill("#target-complaints_on_time", "")
        page.fill("#target-spot_check_pass", "1")
        with page.expect_file_chooser() as chooser:
            page.click("#letter-file-input")
        chooser.value.set_files({"name": "责任状.pdf", "mimeType": "application/pdf",
                                 "buffer": PDF})
        with page.expect_navigation():
            page.click("#letter-submit")
        assert "/letters/" in page.url and page.locator("#letter-facts").count() == 1
        met = page.locator('#letter-targets tr[data-rule="inspections_done"]')
        missed = page.locator('#letter-targets tr[data-rule="spot_check_pass"]')
        assert met.get_attribute("data-met") == "yes" and "达标" in met.inner_text()
        assert missed.get_attribute("data-met") == "no" and "未达标" in missed.inner_text()
        assert page.locator("#letter-file").inner_text() == "责任状.pdf"
        # The page says what the API computes.
        letter_id = page.locator("#letter-facts").get_attribute("data-id")
        api = page.request.get(f"{base}/api/v1/letters/{letter_id}").json()
        assert {c["rule"]: c["met"] for c in api["comparison"]} == {
            "inspections_done": True, "spot_check_pass": False}
        stored, = query(db_url, "SELECT file_type, file_name FROM responsibility_letter "
                                "WHERE id = :i", i=int(letter_id))
        assert tuple(stored) == ("application/pdf", "责任状.pdf")
        screenshot(page, "letter-desk.png")

        with page.expect_navigation():
            page.click("header .assessment-link")
        page.select_option("#assessment-level", "cell")
        with page.expect_navigation():
            page.click("#assessment-submit")
        rows = page.locator("#ranking tr.unit")
        assert rows.count() >= 40
        assert rows.first.get_attribute("data-rank") == "1"
        scores = [float(s) for s in (rows.nth(i).get_attribute("data-score")
                                     for i in range(rows.count())) if s]
        assert scores == sorted(scores, reverse=True) and scores[0] > 0
        ours = page.locator(f'#ranking tr.unit[data-code="{CELL}"]')
        assert ours.count() == 1 and ours.locator('td[data-rule="spot_check_pass"]').count() == 1
        # The computation behind a score opens under it.
        ours.locator("td.score summary").click()
        assert "min(" in ours.locator("td.score .computation").inner_text()
        assert page.locator("#assessment-xlsx").get_attribute("href").startswith(
            "/api/v1/assessment?")
        screenshot(page, "assessment-desk.png")
        assert page.log.problems() == []
    finally:
        context.close()


def test_the_inspectors_work_list_warns_of_their_cell(browser, city):
    base, db_url = city
    name, = query(db_url, """
        SELECT e.name FROM enterprise e JOIN spot_check k ON k.enterprise_id = e.id
        WHERE k.report_number = 'BT-FAIL-1'""")[0]
    context, page = new_page(browser, base, PHONE, touch=True)
    try:
        sign_in(page, base, "inspector", "demo-inspector-2026", "/login")
        assert page.url.endswith("/work/")
        page.wait_for_selector("body[data-work='shown']", state="attached", timeout=30000)
        box = page.locator("#work-warnings")
        assert box.is_visible()
        warning = box.locator('li[data-rule="failed_twice"]', has_text=name)
        assert warning.count() == 1 and "连续 2 次监督抽查不合格" in warning.inner_text()
        # Above the list of what is due, inside the Due tab.
        assert box.bounding_box()["y"] < page.locator("#due-list").bounding_box()["y"]
        screenshot(page, "work-warnings-phone.png")
        warning.locator("a").tap()
        page.wait_for_url("**/enterprises/**")
        assert page.log.problems() == []
    finally:
        context.close()
