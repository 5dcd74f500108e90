"""The inspector's day on a phone (390×844, touch, Chinese), as issue 14's "done when" says:
My work opens, the network goes (the browser context set offline), the checklist is filled
with a failed item and a photo from the camera, the network returns, and the inspection
arrives exactly once, with its distance from the enterprise; its problem is on the list with
its deadline. Real taps and typing only."""
import io

import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from tests.browser.conftest import new_page, screenshot, serve_demo, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
PHONE = {"width": 390, "height": 844}
# Beside the enterprise the test inspects (set from the database below), ~45 m east.
NUDGE = 0.0005


@pytest.fixture(scope="module")
def field(database_url):
    for base, db_url in serve_demo("_field"):
        yield base, db_url


def query(db_url, sql, **params):
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()
    finally:
        engine.dispose()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), (180, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def test_offline_inspection_arrives_once_with_its_distance(browser, field):
    base, db_url = field
    # The enterprise first on the inspector's list: the one overdue longest in their cell.
    code, lon, lat = query(db_url, """
        SELECT e.management_code, ST_X(e.geom), ST_Y(e.geom) FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        JOIN cell c ON c.id = ec.cell_id AND c.code = '130984-Z01-01'
        LEFT JOIN LATERAL (SELECT max(inspected_on) AS last FROM inspection i
                           WHERE i.enterprise_id = e.id) li ON true
        JOIN grade_interval gi ON gi.grade = e.grade
        ORDER BY coalesce(li.last, e.valid_from::date) + gi.interval_days, e.management_code
        LIMIT 1""")[0]
    context, page = new_page(browser, base, PHONE, touch=True, http_errors=False,
                             geolocation={"longitude": lon + NUDGE, "latitude": lat},
                             permissions=["geolocation"])
    try:
        sign_in(page, base, "inspector", "demo-inspector-2026", "/login")
        # An inspector's start page is their work.
        assert page.url.endswith("/work/")
        page.wait_for_selector("body[data-ready='yes']", state="attached", timeout=30000)
        first = page.locator("#due-list a.start").first
        assert first.get_attribute("data-code") == code
        assert page.locator("#due-list li").first.locator(".when.late").count() == 1
        screenshot(page, "work-phone.png")

        context.set_offline(True)
        first.tap()
        page.wait_for_selector("body[data-form='ready']", state="attached", timeout=30000)
        assert page.locator(".net.offline").is_visible()
        page.wait_for_selector("body[data-located='yes']", state="attached")
        # Grouped as the reference data groups them.
        assert page.locator("fieldset.group legend").first.inner_text() == "证照与许可"
        item = page.locator('.item[data-item="Q02"]')
        item.locator("label.choice.fail").tap()
        item.locator("textarea").tap()
        page.keyboard.type("生产车间与许可审查时不一致")
        page.locator("#all-pass").tap()
        assert page.locator("#answered").inner_text() == "已检查 31 / 31 项"
        page.set_input_files("#photos", files=[{"name": "现场.jpg", "mimeType": "image/jpeg",
                                                "buffer": jpeg()}])
        page.wait_for_selector("body[data-photos='1']", state="attached")
        deadline = page.locator("#deadline").input_value()
        screenshot(page, "inspect-phone.png")
        page.locator("#finish").tap()

        page.wait_for_selector("body[data-outbox='1']", state="attached", timeout=30000)
        assert "1 条检查记录待发送" in page.locator("#outbox").inner_text()
        assert query(db_url, "SELECT count(*) FROM inspection WHERE username = 'inspector'"
                     )[0][0] == 0

        context.set_offline(False)
        page.wait_for_selector("body[data-sent='1']", state="attached", timeout=60000)
        page.wait_for_selector("body[data-outbox='0']", state="attached", timeout=30000)
        sent = page.locator("#sent li").first.inner_text()
        rows = query(db_url, """
            SELECT i.id, e.management_code, i.distance_m, i.far_from_site, i.results->>'Q02',
                   (SELECT count(*) FROM photo p WHERE p.inspection_id = i.id)
            FROM inspection i JOIN enterprise e ON e.id = i.enterprise_id
            WHERE i.username = 'inspector'""")
        assert len(rows) == 1, rows
        iid, got_code, distance, far, q02, photos = rows[0]
        assert got_code == code and q02 == "fail" and photos == 1
        assert 35 < distance < 55 and far is False
        assert f"距企业 {round(distance)} 米" in sent

        # What was sent shows at once on the list, without a reload: its problem is open.
        [(new_rect,)] = query(db_url, "SELECT id FROM rectification WHERE inspection_id = :i",
                              i=iid)
        page.wait_for_selector(f'#rect-list li[data-id="{new_rect}"]', state="attached",
                               timeout=30000)

        # Sending it again (a retry after a lost answer) changes nothing.
        page.reload()
        page.wait_for_selector("body[data-ready='yes']", state="attached", timeout=30000)
        assert query(db_url, "SELECT count(*) FROM inspection WHERE username = 'inspector'"
                     )[0][0] == 1

        # The problem is on the work list with its deadline.
        page.locator('[data-tab="rectifications"]').tap()
        rect = query(db_url, """SELECT id, deadline::text FROM rectification
                                WHERE inspection_id = :i""", i=iid)
        assert [r[1] for r in rect] == [deadline]
        row = page.locator(f'#rect-list li[data-id="{rect[0][0]}"]')
        assert f"期限 {deadline}" in row.inner_text()
        screenshot(page, "work-rectifications-phone.png")

        # The inspector records the correction from the list...
        with page.expect_navigation():
            row.locator("a.start").tap()
        page.locator("#rectify-note").tap()
        page.keyboard.type("已按许可条件恢复生产车间布局")
        with page.expect_navigation():
            page.locator("#rectify-submit").tap()
        assert query(db_url, "SELECT status, rectified_by FROM rectification WHERE id = :r",
                     r=rect[0][0]) == [("rectified", "inspector")]
    finally:
        context.close()

    # ...and the station's grid manager, someone else, verifies it.
    context, page = new_page(browser, base, PHONE, touch=True, http_errors=False)
    try:
        sign_in(page, base, "manager", "demo-manager-2026", f"/rectifications/{rect[0][0]}")
        assert page.locator("#rectify-form").count() == 0
        page.locator("#verify-note").tap()
        page.keyboard.type("现场复查合格")
        with page.expect_navigation():
            page.locator("#verify-accept").tap()
        screenshot(page, "rectification-verified-phone.png")
    finally:
        context.close()
    assert query(db_url, """
        SELECT r.status, r.rectified_by, r.verified_by, i.rectification_status
        FROM rectification r JOIN inspection i ON i.id = r.inspection_id WHERE r.id = :r""",
                 r=rect[0][0]) == [("verified", "inspector", "manager", "done")]
    assert [s for (s,) in query(db_url, """SELECT step FROM rectification_step
        WHERE rectification_id = :r ORDER BY at, id""", r=rect[0][0])] == [
        "opened", "rectified", "verified"]
