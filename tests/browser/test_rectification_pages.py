"""Rectifications on a phone (390×844, touch, Chinese), as the people who work them: the demo
inspector finds a late problem of their cell in the list, opens it, types what was corrected
and sends it; the station's grid manager finds it awaiting verification and passes it; the
page says verified. Nothing scrolls sideways, nothing is fetched from outside the server, no
console error, no 4xx."""
import datetime as dt

import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import new_page, screenshot, serve_demo, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1920, "height": 1080}
CELL = "130984-Z01-01"
PROBLEM = "灭火器过期未更换（浏览器测试）"


def _late_problem(session):
    """A failed inspection of an enterprise of the demo inspector's cell, ten days ago, whose
    rectification was due two days ago."""
    from gis import rectification

    today = dt.date.today()
    row = session.execute(text("""
        SELECT e.id, (gw_cell_owner(c.id, now())).person_id AS owner
        FROM enterprise e JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        JOIN cell c ON c.id = ec.cell_id WHERE c.code = :c
        ORDER BY e.management_code LIMIT 1"""), {"c": CELL}).one()
    inspection = session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspector_id, inspected_on, results,
                                problems_found, rectification_deadline, rectification_status)
        VALUES (:e, :p, :d, '{"Q01": "fail"}', 1, :dl, 'open') RETURNING id"""), {
        "e": row.id, "p": row.owner, "d": today - dt.timedelta(days=10),
        "dl": today - dt.timedelta(days=2)}).scalar()
    rectification.open_rectification(
        session, enterprise_id=row.id, inspection_id=inspection, item_code="Q01",
        problem=PROBLEM, deadline=today - dt.timedelta(days=2), username="inspector",
        person_id=row.owner)


@pytest.fixture(scope="module")
def server(database_url):
    """A demo city of its own: the steps here change rectifications."""
    for base, db_url in serve_demo("_rect", _late_problem):
        engine = create_engine(db_url)
        yield base, engine
        engine.dispose()


def phone(browser, base):
    return new_page(browser, base, PHONE, touch=True, device_scale_factor=2)


def no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_an_inspector_rectifies_and_a_grid_manager_verifies_on_a_phone(browser, server):
    base, engine = server
    with engine.connect() as conn:
        rid = conn.execute(text("SELECT id FROM rectification WHERE problem = :p"),
                           {"p": PROBLEM}).scalar()
    row = f"#rect-list tr.rect[data-id='{rid}']"

    context, page = phone(browser, base)
    sign_in(page, base, "inspector", "demo-inspector-2026", "/?lang=zh_Hans_CN")
    with page.expect_navigation():
        page.locator("nav.menu a.rectifications-link").tap()
    assert page.inner_text("h1").startswith("整改")
    # Only the inspector's own cell, only what is late.
    page.locator(".rect-filters summary").tap()
    page.select_option("#rect-filter select[name=place]", CELL)
    page.locator("#rect-filter input[name=late]").tap()
    with page.expect_navigation():
        page.locator("#rect-filter button[type=submit]").tap()
    assert page.locator(f"{row}.late .late-flag").inner_text() == "逾期 2 天"
    no_sideways_scroll(page)
    screenshot(page, "rectifications-list-phone-zh.png")
    with page.expect_navigation():
        page.locator(f"{row} td.problem a").tap()
    assert page.inner_text("h1") == PROBLEM
    assert page.get_attribute("#rect-status", "data-status") == "open"
    assert page.locator("#verify-form").count() == 0
    page.locator("#rectify-note").tap()
    page.keyboard.type("已更换全部过期灭火器，附购货单据")
    with page.expect_navigation():
        page.locator("#rectify-submit").tap()
    assert page.get_attribute("#rect-status", "data-status") == "rectified"
    assert "等待其他人员复查验收" in page.inner_text("p.flash")
    assert "已更换全部过期灭火器" in page.inner_text("#rect-steps")
    # Who recorded the correction is not offered the verification.
    assert page.locator("#verify-form").count() == 0 and page.locator("#rect-mine").count() == 1
    no_sideways_scroll(page)
    screenshot(page, "rectification-rectified-phone-zh.png")
    assert page.log.problems() == []
    context.close()

    context, page = phone(browser, base)
    sign_in(page, base, "manager", "demo-manager-2026", "/?lang=zh_Hans_CN")
    with page.expect_navigation():
        page.locator("nav.menu a.rectifications-link").tap()
    with page.expect_navigation():
        page.locator("#rect-counts li.status-rectified a").tap()
    with page.expect_navigation():
        page.locator(f"{row} a.open-detail").first.tap()
    page.locator("#verify-note").tap()
    page.keyboard.type("现场复查，灭火器均在有效期内")
    with page.expect_navigation():
        page.locator("#verify-accept").tap()
    assert page.get_attribute("#rect-status", "data-status") == "verified"
    assert page.inner_text("#rect-status") == "已验收"
    steps = page.inner_text("#rect-steps")
    assert "复查验收通过" in steps and "现场复查" in steps
    assert page.locator("#verify-form").count() == 0 and page.locator("#rectify-form").count() == 0
    no_sideways_scroll(page)
    screenshot(page, "rectification-verified-phone-zh.png")
    assert page.log.problems() == []
    context.close()

    with engine.connect() as conn:
        done = conn.execute(text("""
            SELECT r.status, r.rectified_by, r.verified_by, i.rectification_status
            FROM rectification r JOIN inspection i ON i.id = r.inspection_id
            WHERE r.id = :r"""), {"r": rid}).one()
    assert tuple(done) == ("verified", "inspector", "manager", "done")


def test_the_list_and_a_month_plan_at_a_desk(browser, server):
    base, _engine = server
    context, page = new_page(browser, base, DESK)
    sign_in(page, base, "manager", "demo-manager-2026", "/?lang=zh_Hans_CN")
    with page.expect_navigation():
        page.click("nav.menu a.rectifications-link")
    assert page.locator("#rect-list tr.rect").count() > 0
    screenshot(page, "rectifications-list-desk-zh.png")
    with page.expect_navigation():
        page.click("nav.menu a.plans-link")
    assert page.inner_text("h1") == "月度巡查计划"
    assert page.locator("#plan-list tr.plan").count() > 0
    screenshot(page, "plan-desk-zh.png")
    assert page.log.problems() == []
    context.close()

    context, page = phone(browser, base)
    sign_in(page, base, "inspector", "demo-inspector-2026", "/?lang=zh_Hans_CN")
    with page.expect_navigation():
        page.locator("nav.menu a.plans-link").tap()
    assert f"/plans/{CELL}" in page.url
    assert page.locator("#plan-list tr.plan").count() > 0
    no_sideways_scroll(page)
    screenshot(page, "plan-phone-zh.png")
    assert page.log.problems() == []
    context.close()
