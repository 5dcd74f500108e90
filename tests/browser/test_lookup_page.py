"""The phone lookup page in headless Chromium: tap the map, type coordinates, search an
enterprise, use the device's location (granted and refused)."""
import pytest

from tests.browser.conftest import PageLog, screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
PHONE = {"width": 390, "height": 844}
SPOT = (116.0875, 38.4424)  # in the city, near the centre


def open_page(page, live_url):
    page.set_viewport_size(PHONE)
    sign_in(page, live_url, "inspector", "demo-inspector-2026", "/lookup?lang=zh_Hans_CN")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)


def wait_card(page):
    page.wait_for_selector("body[data-lookup]", state="attached", timeout=15000)
    assert page.evaluate("document.body.dataset.lookup") == "found"
    card = page.inner_text("#lookup-card")
    assert "网格责任人" in card
    assert page.locator("#lookup-card a[href^='tel:']").count() >= 1
    return card


def test_tapping_the_map_answers_with_tel_links(page, live_url):
    open_page(page, live_url)
    point = page.evaluate(f"GridWatchMap.map.latLngToContainerPoint([{SPOT[1]}, {SPOT[0]}])")
    # locator.click scrolls the map into view first: on a phone it sits below the controls.
    page.locator(".lookup-map .folium-map").click(position=point)
    wait_card(page)
    screenshot(page, "lookup-phone.png")
    assert page.log.problems() == []


def test_typed_gcj02_coordinates(page, live_url):
    from gis.crs import wgs84_to_gcj02

    open_page(page, live_url)
    lon, lat = wgs84_to_gcj02(*SPOT)
    page.fill("#coords input[name=lon]", f"{lon:.6f}")
    page.fill("#coords input[name=lat]", f"{lat:.6f}")
    page.select_option("#coords select[name=crs]", "gcj02")
    page.click("#coords button[type=submit]")
    wait_card(page)
    assert page.log.problems() == []


def test_enterprise_search_shows_the_responsible_chain(page, live_url):
    open_page(page, live_url)
    page.fill("#enterprise-search input[name=q]", "HJ00001")
    page.click("#enterprise-search button[type=submit]")
    page.click("#search-results a")
    card = wait_card(page)
    assert "HJ00001" in card and "企业主体责任人" in card
    assert page.log.problems() == []


def test_device_location_granted(browser, live_url):
    context = browser.new_context(geolocation={"longitude": SPOT[0], "latitude": SPOT[1]},
                                  permissions=["geolocation"], viewport=PHONE)
    page = context.new_page()
    page.log = PageLog()
    page.on("console", lambda m: m.type == "error" and page.log.console_errors.append(m.text))
    try:
        sign_in(page, live_url, "inspector", "demo-inspector-2026", "/lookup")
        page.click("#locate")
        wait_card(page)
        assert page.log.problems() == []
    finally:
        context.close()


def test_device_location_refused_gives_the_fallback(browser, live_url):
    context = browser.new_context(viewport=PHONE, permissions=[])
    page = context.new_page()
    try:
        sign_in(page, live_url, "inspector", "demo-inspector-2026", "/lookup?lang=zh_Hans_CN")
        page.click("#locate")
        page.wait_for_selector("body[data-lookup='denied']", state="attached", timeout=15000)
        assert "点选地图" in page.inner_text("#lookup-message")
    finally:
        context.close()


def test_a_refused_input_leaves_no_old_pin(page, live_url):
    open_page(page, live_url)
    point = page.evaluate(f"GridWatchMap.map.latLngToContainerPoint([{SPOT[1]}, {SPOT[0]}])")
    page.locator(".lookup-map .folium-map").click(position=point)
    wait_card(page)
    assert page.locator(".leaflet-marker-icon").count() == 1
    page.evaluate("delete document.body.dataset.lookup")
    page.fill("#coords input[name=lon]", "东经")
    page.fill("#coords input[name=lat]", "38.44")
    page.click("#coords button[type=submit]")
    page.wait_for_selector("body[data-lookup='failed']", state="attached", timeout=15000)
    assert page.locator(".leaflet-marker-icon").count() == 0
    assert "lon" in page.inner_text("#lookup-message") or "经度" in page.inner_text(
        "#lookup-message")


def test_the_card_shows_the_boundary_date_in_the_bureaus_zone(page, live_url):
    open_page(page, live_url)
    point = page.evaluate(f"GridWatchMap.map.latLngToContainerPoint([{SPOT[1]}, {SPOT[0]}])")
    page.locator(".lookup-map .folium-map").click(position=point)
    card = wait_card(page)
    import re

    assert re.search(r"\d{4}-\d{2}-\d{2} – ", card)
