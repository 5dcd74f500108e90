"""The public complaint page on a phone (390×844, touch, Chinese), as someone who scanned an
enterprise's responsibility plate: the page opens on the plate's address with the enterprise
filled in and says who is told; they tap the matter, type what happened and their phone, attach
a photo, send, get a reference, and open its status page. Nothing scrolls sideways, nothing is
fetched from outside the server, no console error, no 4xx."""
import io
import re

import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import new_page, screenshot, serve_demo

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
PHONE = {"width": 390, "height": 844}
CELL = "130984-Z01-01"
WHAT = "买的电线外皮一折就裂，怀疑绝缘层不合格（浏览器测试）"


@pytest.fixture(scope="module")
def server(database_url):
    """A demo city of its own: the test adds a complaint."""
    for base, db_url in serve_demo("_public"):
        engine = create_engine(db_url)
        yield base, engine
        engine.dispose()


def no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def photo_file(tmp_path) -> str:
    from PIL import Image

    path = tmp_path / "电线.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 40, 40)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue())
    return str(path)


def test_a_complaint_from_a_plate_s_qr_code_on_a_phone(browser, server, tmp_path):
    base, engine = server
    with engine.connect() as conn:
        code, name, owner = conn.execute(text("""
            SELECT e.management_code, e.name, p.name
            FROM enterprise e JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
            JOIN cell c ON c.id = ec.cell_id
            JOIN LATERAL gw_cell_owner(c.id, now()) o ON true JOIN person p ON p.id = o.person_id
            WHERE c.code = :c ORDER BY e.management_code LIMIT 1"""), {"c": CELL}).one()
    context, page = new_page(browser, base, PHONE, touch=True, device_scale_factor=2)
    # The address a plate's QR code carries.
    page.goto(f"{base}/public/complaints/new?enterprise={code}")
    assert page.inner_text("h1") == "产品质量投诉举报"
    assert name in page.inner_text("#public-enterprise")
    assert owner in page.inner_text("#who-is-told")
    no_sideways_scroll(page)
    page.locator("#service").tap()
    page.select_option("#service", "quality")
    page.locator("#description").tap()
    page.keyboard.type(WHAT)
    page.set_input_files("#photo", photo_file(tmp_path))
    page.locator("#phone").tap()
    page.keyboard.type("13912340000")
    screenshot(page, "public-complaint-phone-zh.png")
    with page.expect_navigation():
        page.locator("#send-complaint").tap()
    assert page.inner_text("h1") == "投诉已受理"
    reference = page.inner_text("#reference").strip()
    assert re.fullmatch(r"TS-\d{4}-\d{6}-[0-9A-HJKMNP-TV-Z]{6}", reference), reference
    assert owner in page.inner_text("#routed")
    no_sideways_scroll(page)
    screenshot(page, "public-complaint-received-phone-zh.png")
    with page.expect_navigation():
        page.locator("#status-link").tap()
    assert page.get_attribute("#public-status", "data-status") == "received"
    assert page.inner_text("#public-status") == "已受理"
    assert page.locator("#public-steps li[data-status='received']").count() == 1
    status_page = page.content()
    assert "13912340000" not in status_page and WHAT not in status_page
    no_sideways_scroll(page)
    screenshot(page, "public-complaint-status-phone-zh.png")
    assert page.log.problems() == []
    context.close()

    number = reference.rsplit("-", 1)[0]
    with engine.connect() as conn:
        stored = conn.execute(text("""
            SELECT k.source, k.text, k.phone, c.code AS cell, e.management_code,
                   (SELECT count(*) FROM photo p WHERE p.complaint_id = k.id) AS photos
            FROM complaint k JOIN cell c ON c.id = k.cell_id
            JOIN enterprise e ON e.id = k.enterprise_id WHERE k.number = :n"""),
            {"n": number}).one()
    assert tuple(stored) == ("public", WHAT, "13912340000", CELL, code, 1)
