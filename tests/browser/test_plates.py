"""Responsibility plates (明示牌) in a real browser: at a 1920×1080 desk an inspector opens an
enterprise's plate by clicking from its page; on a 390×844 touch phone the plate fits the
screen, its QR code (the PNG the server makes) is decoded, and the address it holds opens the
public complaint page of that enterprise, with no login, naming it."""
import io

import pytest

from tests.browser.conftest import new_page, screenshot, sign_in
from tests.browser.test_lookup_page import DESK, PHONE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def inspector(page, live_url, path):
    sign_in(page, live_url, "inspector", "demo-inspector-2026", path)


def decode(png: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_from_the_enterprise_page_to_its_plate_at_a_desk(browser, live_url):
    context, desk = new_page(browser, live_url, DESK)
    try:
        inspector(desk, live_url, "/enterprises?lang=zh_Hans_CN")
        link = desk.locator("#enterprise-list td a").first
        name = link.inner_text()
        with desk.expect_navigation():
            link.click()
        code = desk.locator("article.enterprise").get_attribute("data-code")
        with desk.expect_navigation():
            desk.locator("#plate-link").click()
        plate = desk.locator("article.plate")
        assert plate.get_attribute("data-code") == code
        assert desk.inner_text(".plate-name") == name
        text = plate.inner_text()
        assert "12365" in text and "责任明示牌" in text and "网格责任人" in text
        assert desk.locator("article.plate svg.qr").is_visible()
        screenshot(desk, "plate-desk.png")
        # A5 is the same plate, smaller.
        width_a4 = plate.bounding_box()["width"]
        with desk.expect_navigation():
            desk.locator(".plate-tools a.size-a5").click()
        assert desk.locator("article.plate-a5").bounding_box()["width"] < width_a4
        pdf = desk.request.get(live_url + desk.locator("#plate-pdf").get_attribute("href"))
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
        assert pdf.body()[:5] == b"%PDF-"
        assert desk.log.problems() == []
    finally:
        context.close()


def test_the_plates_qr_code_opens_the_public_complaint_page_on_a_phone(browser, live_url):
    context, phone = new_page(browser, live_url, PHONE, touch=True)
    try:
        inspector(phone, live_url, "/enterprises?lang=zh_Hans_CN")
        phone.locator("#enterprise-list td a").first.tap()
        phone.wait_for_selector("article.enterprise")
        name = phone.inner_text("h1")
        code = phone.locator("article.enterprise").get_attribute("data-code")
        phone.locator("#plate-link").tap()
        phone.wait_for_selector("article.plate")
        # The plate fits the phone's width: nothing to scroll sideways.
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(phone, "plate-phone.png")
        # The QR code as the server makes it (the PNG the plate links to), decoded.
        png = phone.request.get(live_url + phone.locator("#plate-qr-png").get_attribute("href"))
        assert png.ok and png.headers["content-type"] == "image/png"
        urls = decode(png.body())
        assert urls == [f"{live_url}/public/complaints/new?enterprise={code}"]
        assert phone.log.problems() == []
    finally:
        context.close()
    # Someone in front of the plate: no account, a phone, the address from the code.
    context, public = new_page(browser, live_url, PHONE, touch=True)
    try:
        response = public.goto(urls[0])
        assert response.status == 200, "the public complaint page (app/public.py) answers"
        assert "/login" not in public.url
        assert name in public.inner_text("body")
        assert public.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(public, "plate-qr-public-page.png")
        assert public.log.problems() == []
    finally:
        context.close()
