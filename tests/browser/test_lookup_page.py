"""The lookup page as inspectors use it: on a 390×844 phone with touch taps and typed input,
and at a 1920×1080 desk with mouse clicks; in Chinese and English. The map is the first thing
seen, at the inspector's own area; a tap, typed coordinates, the device's location or a search
answers; a search says what is outside one's area apart from what does not exist."""
import re

import pytest
from sqlalchemy import create_engine, text

from tests.browser.conftest import LIVE_DATABASE, new_page, screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1920, "height": 1080}
SPOT = (116.0875, 38.4424)  # in the demo inspector's cell, 130984-Z01-01
LANGS = {"zh": "zh_Hans_CN", "en": "en"}


@pytest.fixture
def phone(browser, live_url):
    context, page = new_page(browser, live_url, PHONE, touch=True, http_errors=False)
    yield page
    context.close()


@pytest.fixture
def desk(browser, live_url):
    context, page = new_page(browser, live_url, DESK, http_errors=False)
    yield page
    context.close()


def live(sql, **params):
    engine = create_engine(LIVE_DATABASE["url"])
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).one()
    finally:
        engine.dispose()


def open_lookup(page, live_url, lang="zh"):
    sign_in(page, live_url, "inspector", "demo-inspector-2026", f"/lookup?lang={LANGS[lang]}")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)


def map_box(page):
    return page.locator(".lookup-map .folium-map").bounding_box()


def spot_on_screen(page, lon, lat):
    """Where (lon, lat) is drawn, in page coordinates (reading the map, not driving it)."""
    box = map_box(page)
    point = page.evaluate(f"GridWatchMap.map.latLngToContainerPoint([{lat}, {lon}])")
    return box["x"] + point["x"], box["y"] + point["y"]


def wait_answer(page, expect="found"):
    page.wait_for_selector("body[data-lookup]", state="attached", timeout=15000)
    assert page.evaluate("document.body.dataset.lookup") == expect
    return page.inner_text("#lookup-card") if expect == "found" else ""


def wait_search(page):
    page.wait_for_selector("body[data-search='done']", state="attached", timeout=15000)


def in_view(page, selector):
    box = page.locator(selector).bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] < height and box["y"] + box["height"] > 0


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_on_a_phone_the_map_is_the_first_screen_at_the_inspectors_own_area(phone, live_url,
                                                                            lang):
    open_lookup(phone, live_url, lang)
    box = map_box(phone)
    # Most of the first screen, right under the compact controls, the full width.
    assert box["y"] < 844 * 0.3 and box["y"] + box["height"] <= 844
    assert box["height"] >= 844 * 0.5 and box["width"] == 390
    assert phone.locator("#enterprise-search input[name=q]").is_visible()
    assert in_view(phone, "#locate") and not phone.locator("#coords input[name=lon]").is_visible()
    # Zoomed to the inspector's own cell (not the whole county at zoom 9), with it in view.
    assert phone.evaluate("GridWatchMap.map.getZoom()") >= 12
    x, y = spot_on_screen(phone, *SPOT)
    assert box["x"] < x < box["x"] + box["width"] and box["y"] < y < box["y"] + box["height"]
    screenshot(phone, f"lookup-phone-first-screen-{lang}.png")
    assert phone.log.problems() == []


def test_a_tap_on_the_map_answers_and_the_answer_comes_into_view(phone, live_url):
    open_lookup(phone, live_url)
    phone.touchscreen.tap(*spot_on_screen(phone, *SPOT))
    card = wait_answer(phone)
    assert "网格责任人" in card and "130984-Z01-01" in card
    assert phone.locator("#lookup-card a[href^='tel:']").count() >= 1
    phone.wait_for_timeout(600)  # the smooth scroll
    assert in_view(phone, "#lookup-card") and in_view(phone, ".leaflet-marker-icon")
    assert phone.locator(".leaflet-marker-icon").count() == 1
    screenshot(phone, "lookup-phone.png")
    assert phone.log.problems() == []


def test_coordinates_typed_on_a_phone_as_people_type_them(phone, live_url):
    open_lookup(phone, live_url)
    phone.locator("#coords-box summary").tap()
    lon = phone.locator("#coords input[name=lon]")
    lon.tap()
    phone.keyboard.type("１１６．０８７５")  # full-width, from a Chinese input method
    phone.locator("#coords input[name=lat]").tap()
    phone.keyboard.type("38°26'32.64\"N")
    phone.locator("#coords button[type=submit]").tap()
    assert "130984-Z01-01" in wait_answer(phone)
    assert phone.log.problems() == []


def test_typed_gcj02_coordinates_at_a_desk(desk, live_url):
    from gis.crs import wgs84_to_gcj02

    open_lookup(desk, live_url)
    lon, lat = wgs84_to_gcj02(*SPOT)
    desk.locator("#coords-box summary").click()
    desk.fill("#coords input[name=lon]", f"{lon:.6f}")
    desk.fill("#coords input[name=lat]", f"{lat:.6f}")
    desk.select_option("#coords select[name=crs]", "gcj02")
    desk.click("#coords button[type=submit]")
    assert "130984-Z01-01" in wait_answer(desk)
    assert desk.log.problems() == []


def test_a_search_on_a_phone_shows_the_chain_and_opens_the_record(phone, live_url):
    name, = live("SELECT name FROM enterprise WHERE management_code = 'HJ00001'")
    open_lookup(phone, live_url)
    phone.locator("#enterprise-search input[name=q]").tap()
    phone.keyboard.type("HJ00001")
    phone.locator("#enterprise-search button[type=submit]").tap()
    wait_search(phone)
    assert "辖区内找到 1 家" in phone.inner_text("#lookup-message")
    assert phone.locator("#search-outside").is_hidden()
    phone.locator("#search-results button.show").tap()
    card = wait_answer(phone)
    assert "HJ00001" in card and "企业主体责任人" in card and name in card
    with phone.expect_navigation():
        phone.locator("#search-results a.record").tap()
    assert phone.url.endswith("/enterprises/HJ00001")
    assert phone.inner_text("h1") == name
    assert phone.log.problems() == []


def test_a_search_outside_ones_area_says_so_and_whom_to_ask(phone, live_url):
    # An enterprise of another station's grid (the inspector reads 130984-Z01's).
    code, name, station = live("""
        SELECT e.management_code, e.name, s.name FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        JOIN cell c ON c.id = ec.cell_id JOIN station s ON s.id = c.station_id
        WHERE c.code NOT LIKE '130984-Z01%' ORDER BY e.management_code LIMIT 1""")
    open_lookup(phone, live_url)
    phone.locator("#enterprise-search input[name=q]").tap()
    phone.keyboard.type(code)
    phone.locator("#enterprise-search button[type=submit]").tap()
    wait_search(phone)
    outside = phone.inner_text("#search-outside")
    assert "另有 1 家企业符合条件，但不在您的辖区内" in outside and station in outside
    assert phone.locator("#search-results li").count() == 0
    assert "未找到企业" not in phone.inner_text("#lookup-message")
    assert name not in phone.content()
    assert phone.log.problems() == []


def test_a_search_for_what_does_not_exist_says_not_found(phone, live_url):
    open_lookup(phone, live_url)
    phone.locator("#enterprise-search input[name=q]").tap()
    phone.keyboard.type("不存在的企业")
    phone.locator("#enterprise-search button[type=submit]").tap()
    wait_search(phone)
    assert phone.inner_text("#lookup-message") == "未找到企业。"
    assert phone.locator("#search-outside").is_hidden()


def test_an_english_search_on_a_phone(phone, live_url):
    open_lookup(phone, live_url, "en")
    phone.locator("#enterprise-search input[name=q]").tap()
    phone.keyboard.type("河间")
    phone.locator("#enterprise-search button[type=submit]").tap()
    wait_search(phone)
    message = phone.inner_text("#lookup-message")
    assert message.startswith("The first 20 found in your area")
    assert "outside your area" in phone.inner_text("#search-outside")
    assert phone.locator("#search-results button.show").first.inner_text() == "Show on the map"


def test_at_a_desk_a_click_answers_beside_a_full_height_map(desk, live_url):
    open_lookup(desk, live_url)
    box = map_box(desk)
    assert box["x"] >= 380 and box["width"] >= 1400 and box["height"] >= 950
    desk.mouse.click(*spot_on_screen(desk, *SPOT))
    card = wait_answer(desk)
    assert "130984-Z01-01" in card
    assert in_view(desk, "#lookup-card")
    # The nearest enterprises open their records (checked against the area when opened).
    first = desk.locator("#lookup-card li a.record").first
    name = first.inner_text()
    code, = live("""
        SELECT e.management_code FROM enterprise e WHERE e.name = :n
        ORDER BY e.geom <-> ST_SetSRID(ST_Point(:x, :y), 4326) LIMIT 1""",
                 n=name, x=SPOT[0], y=SPOT[1])
    inside, = live("""
        SELECT c.code LIKE '130984-Z01%' FROM enterprise e
        JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id JOIN cell c ON c.id = ec.cell_id
        WHERE e.management_code = :c""", c=code)
    with desk.expect_navigation():
        first.click()
    if inside:
        assert desk.inner_text("h1") == name
    else:
        assert "您的辖区内没有企业" in desk.inner_text("main")
    screenshot(desk, "lookup-desk-record.png")


def test_device_location_granted(browser, live_url):
    context, page = new_page(browser, live_url, PHONE, touch=True, http_errors=False,
                             geolocation={"longitude": SPOT[0], "latitude": SPOT[1]},
                             permissions=["geolocation"])
    try:
        open_lookup(page, live_url)
        page.locator("#locate").tap()
        assert "130984-Z01-01" in wait_answer(page)
        assert page.log.problems() == []
    finally:
        context.close()


def test_device_location_refused_gives_the_fallback(browser, live_url):
    context, page = new_page(browser, live_url, PHONE, touch=True, http_errors=False,
                             permissions=[])
    try:
        open_lookup(page, live_url)
        page.locator("#locate").tap()
        page.wait_for_selector("body[data-lookup='denied']", state="attached", timeout=15000)
        assert "点选地图" in page.inner_text("#lookup-message")
    finally:
        context.close()


def test_a_refused_input_leaves_no_old_pin(phone, live_url):
    open_lookup(phone, live_url)
    phone.touchscreen.tap(*spot_on_screen(phone, *SPOT))
    wait_answer(phone)
    assert phone.locator(".leaflet-marker-icon").count() == 1
    phone.evaluate("delete document.body.dataset.lookup")
    phone.locator("#coords-box summary").tap()
    phone.locator("#coords input[name=lon]").tap()
    phone.keyboard.type("东经")
    phone.locator("#coords input[name=lat]").tap()
    phone.keyboard.type("38.44")
    phone.locator("#coords button[type=submit]").tap()
    wait_answer(phone, "failed")
    assert phone.locator(".leaflet-marker-icon").count() == 0
    assert "经度" in phone.inner_text("#lookup-message")


def test_the_card_shows_the_boundary_date_in_the_bureaus_zone(desk, live_url):
    open_lookup(desk, live_url)
    desk.mouse.click(*spot_on_screen(desk, *SPOT))
    assert re.search(r"\d{4}-\d{2}-\d{2} – ", wait_answer(desk))


def test_a_view_left_on_the_wall_does_not_open_the_lookup(desk, live_url):
    sign_in(desk, live_url, "leader", "demo-leader-2026", "/map?lang=zh_Hans_CN")
    desk.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    box = desk.locator(".map-area .folium-map").bounding_box()
    corner = (box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.9)
    desk.mouse.move(*corner)
    for _ in range(3):
        desk.mouse.wheel(0, -300)
        desk.wait_for_timeout(300)
    desk.goto(live_url + "/lookup")
    desk.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    # The leader's place is the city: the whole of it in view, whatever the wall was showing.
    south, west, north, east = live("""
        SELECT ST_YMin(geom), ST_XMin(geom), ST_YMax(geom), ST_XMax(geom)
        FROM cell_current WHERE level = 1""")
    view = desk.evaluate("GridWatchMap.map.getBounds().toBBoxString()").split(",")
    w, s, e, n = map(float, view)
    assert w <= west and s <= south and e >= east and n >= north
