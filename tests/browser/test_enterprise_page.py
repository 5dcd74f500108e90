"""The enterprise page (企业档案) reached as people reach it: from the enterprise list and the map
wall's cell card with mouse clicks at a 1920×1080 desk, from the lookup's search with touch
taps on a 390×844 phone; readable on the phone without sideways scrolling, in Chinese and
English; outside one's area it says so without naming anything."""
import pytest

from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_lookup_page import (DESK, PHONE, in_view, live, new_page,
                                            wait_answer)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
SECTIONS = ("basic", "products", "staff", "equipment", "grade", "inspections", "responsibility")


@pytest.fixture
def phone(browser, live_url):
    context, page = new_page(browser, live_url, PHONE, touch=True)
    yield page
    context.close()


@pytest.fixture
def desk(browser, live_url):
    context, page = new_page(browser, live_url, DESK)
    yield page
    context.close()


def inspector(page, live_url, path):
    sign_in(page, live_url, "inspector", "demo-inspector-2026", path)


def test_from_the_list_to_the_record_and_on_to_the_map_at_a_desk(desk, live_url):
    inspector(desk, live_url, "/enterprises?lang=zh_Hans_CN")
    link = desk.locator("#enterprise-list td a").first
    name = link.inner_text()
    with desk.expect_navigation():
        link.click()
    assert desk.inner_text("h1") == name
    for section in SECTIONS:
        assert desk.locator(f"#{section} h2").is_visible(), section
    assert "三种责任" in desk.inner_text("#responsibility")
    desk.locator("nav.jump a[href='#responsibility']").click()
    assert in_view(desk, "#responsibility h2")
    code = desk.locator("article.enterprise").get_attribute("data-code")
    screenshot(desk, "enterprise-desk.png")
    # "On the map": the lookup, pinned at the enterprise, with its chain.
    with desk.expect_navigation():
        desk.locator("#on-the-map").click()
    card = wait_answer(desk)
    assert code in card and name in card
    assert desk.locator(".leaflet-marker-icon").count() == 1
    assert desk.log.problems() == []


def test_from_the_walls_cell_card_at_a_desk(desk, live_url):
    from tests.browser.test_map_wall import empty_spot

    inspector(desk, live_url, "/map?lang=zh_Hans_CN")
    desk.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    lon, lat = empty_spot("130984-Z01-01")
    point = desk.evaluate(f"(() => {{ var p = GridWatchMap.map.latLngToContainerPoint("
                          f"[{lat}, {lon}]); return {{x: p.x, y: p.y}}; }})()")
    box = desk.locator(".map-area .folium-map").bounding_box()
    desk.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    desk.wait_for_selector("#cell-card:not([hidden]) h2")
    link = desk.locator("#cell-card .card-enterprises a").first
    name = link.inner_text()
    with desk.expect_navigation():
        link.click()
    assert desk.inner_text("h1") == name
    assert "130984-Z01-01" in desk.inner_text("#responsibility")


@pytest.mark.parametrize("lang, words", [
    ("zh_Hans_CN", ("基本信息", "主要人员", "关键设备", "等级变更记录", "巡查记录", "责任链")),
    ("en", ("Basic data", "Key staff", "Key equipment", "Grade history", "Inspection records",
            "Chain of responsibility")),
])
def test_on_a_phone_it_reads_without_sideways_scrolling(phone, live_url, lang, words):
    inspector(phone, live_url, f"/lookup?lang={lang}")
    phone.locator("#enterprise-search input[name=q]").tap()
    phone.keyboard.type("HJ00001")
    phone.locator("#enterprise-search button[type=submit]").tap()
    phone.wait_for_selector("body[data-search='done']", state="attached", timeout=15000)
    with phone.expect_navigation():
        phone.locator("#search-results a.record").tap()
    text = phone.inner_text("main")
    for word in words:
        assert word in text, word
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.locator("#staff a[href^='tel:']").count() >= 1
    phone.locator("nav.jump a[href='#inspections']").tap()
    phone.wait_for_timeout(300)
    assert in_view(phone, "#inspections h2")
    screenshot(phone, f"enterprise-phone-{lang}.png")
    assert phone.log.problems() == []


def test_outside_ones_area_the_page_names_nothing(phone, live_url):
    code, name = live("""
        SELECT e.management_code, e.name FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id JOIN cell c ON c.id = ec.cell_id
        WHERE c.code NOT LIKE '130984-Z01%' ORDER BY e.management_code LIMIT 1""")
    inspector(phone, live_url, f"/enterprises/{code}?lang=zh_Hans_CN")
    text = phone.inner_text("main")
    assert "您的辖区内没有企业" in text and name not in phone.content()


def test_from_an_enterprise_on_the_wall_at_a_desk(desk, live_url):
    # An enterprise of the inspector's area with no other within ~300 m: a click there is its.
    code, name, lon, lat = live("""
        SELECT e.management_code, e.name, ST_X(e.geom), ST_Y(e.geom) FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id JOIN cell c ON c.id = ec.cell_id
        WHERE c.code LIKE '130984-Z01%' AND NOT EXISTS (
            SELECT 1 FROM enterprise o WHERE o.id <> e.id AND ST_DWithin(o.geom, e.geom, 0.003))
        ORDER BY e.management_code LIMIT 1""")
    inspector(desk, live_url, "/map?lang=zh_Hans_CN")
    desk.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    box = desk.locator(".map-area .folium-map").bounding_box()

    def where():  # reading the map, not driving it
        p = desk.evaluate(f"GridWatchMap.map.latLngToContainerPoint([{lat}, {lon}])")
        return box["x"] + p["x"], box["y"] + p["y"]

    # Zoom in on it with the mouse wheel, as a person would, then click it.
    for _ in range(4):
        desk.mouse.move(*where())
        desk.mouse.wheel(0, -300)
        desk.wait_for_timeout(400)
    assert desk.evaluate("GridWatchMap.map.getZoom()") >= 13
    desk.mouse.click(*where())
    link = desk.locator(f".leaflet-popup-content a[href$='/enterprises/{code}']")
    link.wait_for(timeout=10000)
    with desk.expect_navigation():
        link.click()
    assert desk.inner_text("h1") == name
