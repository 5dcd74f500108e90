"""The map wall in headless Chromium with every outside host unreachable, used as a person uses
it: real mouse clicks on a 1920×1080 screen, touch taps on a 390×844 phone, Chinese and
English. Every layer draws (all 1,203 demo enterprises, every cell of every kind), a click on a
cell opens its card where it is seen, every figure tile leads to the rows behind its number for
the same period and place, the big-screen wall hides the chrome and refreshes itself."""
import re

import pytest

from tests.browser.conftest import new_page, screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

DESK = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}


def open_wall(page, live_url, query="", user=("leader", "demo-leader-2026")):
    sign_in(page, live_url, user[0], user[1], "/map" + query)
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    return page.evaluate("GridWatchMap.drawn")


@pytest.fixture
def phone(browser, live_url):
    """A touch phone: 390×844, taps; its page guarded and logged like conftest's ``page``."""
    context, tab = new_page(browser, live_url, PHONE, touch=True, device_scale_factor=2)
    yield tab
    context.close()


def number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def current_cells() -> dict[str, tuple]:
    """Every live cell with a current boundary: code -> (level, kind)."""
    from sqlalchemy import create_engine, text

    from tests.browser.conftest import LIVE_DATABASE

    engine = create_engine(LIVE_DATABASE["url"])
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT c.code, c.level, c.kind FROM cell_current cc JOIN cell c ON c.id = cc.id
            WHERE c.retired_at IS NULL""")).all()
    engine.dispose()
    return {r.code: (r.level, r.kind) for r in rows}


def empty_spot(cell: str) -> tuple[float, float]:
    """The point of ``cell`` farthest from its edges and from every enterprise (a click there
    is the cell's, not a point's)."""
    from sqlalchemy import create_engine, text

    from tests.browser.conftest import LIVE_DATABASE

    engine = create_engine(LIVE_DATABASE["url"])
    with engine.connect() as conn:
        spot = conn.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (
                SELECT (ST_MaximumInscribedCircle(ST_Difference(cc.geom, (
                    SELECT ST_Union(ST_Buffer(e.geom, 0.002)) FROM enterprise e)))).center AS p
                FROM cell_current cc WHERE cc.code = :c) s"""), {"c": cell}).one()
    engine.dispose()
    return spot


def screen_point(page, lon: float, lat: float) -> dict:
    """Where (lon, lat) is on the map's element, in its own pixels (for a click there)."""
    return page.evaluate(f"(() => {{ var p = GridWatchMap.map.latLngToContainerPoint("
                         f"[{lat}, {lon}]); return {{x: p.x, y: p.y}}; }})()")


def assert_in_viewport(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    view = page.viewport_size
    assert box and box["width"] > 100 and box["height"] > 100, box
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= view["width"] + 1, (box, view)
    assert box["y"] + box["height"] <= view["height"] + 1, (box, view)


def test_wall_draws_every_layer_offline(page, live_url):
    page.set_viewport_size(DESK)
    drawn = open_wall(page, live_url, "?lang=zh_Hans_CN")
    assert page.evaluate("typeof L !== 'undefined' && L.version") == "1.9.4"
    assert drawn["enterprises"] == 1203
    assert drawn["cells"] == 44 and drawn["grids"] == 11  # the city and its 10 grids
    # The professional grids are off, and fetched only when turned on.
    assert not any(key.startswith("professional") for key in drawn)
    assert drawn["overdue"] > 0 and drawn["complaints"] > 0 and drawn["hotspots"] >= 1
    assert page.inner_text("#figures [data-figure=enterprises]") == "1,203"
    # A title and the place.
    assert page.inner_text("#wall-title").split() == ["河间市", "产品质量网格化监管一张图"]
    # Every layer is in the layer control, with its translated title.
    control = page.inner_text(".leaflet-control-layers")
    assert "企业（按监管等级）" in control and "逾期未巡查" in control
    assert "专业网格：食品" in control
    # A metric scale bar only.
    scales = page.locator(".leaflet-control-scale-line").all_inner_texts()
    assert len(scales) == 1 and re.fullmatch(r"\d+ k?m", scales[0]), scales
    screenshot(page, "map-wall.png")
    assert page.log.problems() == []


def test_every_current_cell_of_every_kind_is_in_the_map_data_and_drawn(page, live_url):
    page.set_viewport_size(DESK)
    open_wall(page, live_url, "?lang=zh_Hans_CN")
    cells = current_cells()
    assert len([c for c in cells.values() if c[0] == 3]) == 53
    # The professional grids are off at first: turn each on as a person does.
    for title in ("专业网格：食品", "专业网格：特种设备", "专业网格：民生计量"):
        page.locator(".leaflet-control-layers label", has_text=title).click()
        page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    drawn = page.evaluate("GridWatchMap.drawn")
    assert [drawn[f"professional_{s}"] for s in ("food", "special_equipment", "metrology")
            ] == [4, 4, 4]  # a grid and its three cells each
    # What each layer holds, and how many of its features the canvas drew in view.
    layers = page.evaluate("""GridWatchMap.entries.filter(function (e) {
        return e.spec.render === 'polygons' && e.spec.id !== 'hotspots'; }).map(function (e) {
        var codes = [], drawn = 0;
        e.group.eachLayer(function (g) { g.eachLayer(function (l) {
            codes.push(l.feature.properties.code);
            if (l._map && l._parts && l._parts.length) { drawn += 1; }
        }); });
        return {id: e.spec.id, on: GridWatchMap.map.hasLayer(e.group), codes: codes,
                drawn: drawn}; })""")
    served = {code for layer in layers for code in layer["codes"]}
    assert served == set(cells), set(cells) ^ served
    for layer in layers:
        assert layer["on"] and layer["drawn"] == len(layer["codes"]) > 0, layer["id"]
    screenshot(page, "map-wall-professional.png")
    assert page.log.problems() == []


@pytest.mark.parametrize("lang, phone_word", [("zh_Hans_CN", "电话"), ("en", "Phone")])
def test_clicking_a_cell_opens_its_card_in_view(page, live_url, lang, phone_word):
    page.set_viewport_size(DESK)
    open_wall(page, live_url, f"?lang={lang}")
    lon, lat = empty_spot("130984-Z01-01")
    # A real mouse click where the cell is drawn: the canvases of the points and the heat map
    # lie on top of it, and used to swallow it.
    page.locator(".map-area .folium-map").click(position=screen_point(page, lon, lat))
    page.wait_for_selector("#cell-card:not([hidden]) h2")
    card = page.inner_text("#cell-card")
    assert "130984-Z01-01" in card and phone_word in card
    assert page.locator("#cell-card a[href^='tel:']").count() >= 1
    # Seen where it is: over the map, not below the fold of the side panel.
    assert_in_viewport(page, "#cell-card")
    # The leader may not redraw grids: no editor link.
    assert page.locator("#cell-card .editor-link").count() == 0
    screenshot(page, f"map-wall-card-{lang}.png")
    page.click("#cell-card-close")
    assert page.locator("#cell-card").is_hidden()
    assert page.log.problems() == []


def test_on_a_phone_the_map_has_the_screen_and_a_tap_opens_the_card(phone, live_url):
    page = phone
    open_wall(page, live_url, "?lang=zh_Hans_CN")
    view = page.viewport_size
    # The map takes the width; the panel is a bottom sheet folded to one button.
    area = page.locator(".map-area").bounding_box()
    panel = page.locator("#panel").bounding_box()
    assert area["width"] == view["width"] and area["height"] > 0.75 * view["height"]
    assert panel["height"] < 0.1 * view["height"]
    # The layer list is folded too.
    assert page.locator(".leaflet-control-layers-expanded").count() == 0
    screenshot(page, "map-wall-phone.png")
    # The sheet opens on a tap, with the figures and filters, and folds again.
    page.locator("#sheet-toggle").tap()
    page.wait_for_selector("body.sheet-open")
    assert page.locator("#fig-overdue").is_visible()
    assert page.locator("#panel").bounding_box()["height"] > 0.5 * view["height"]
    screenshot(page, "map-wall-phone-sheet.png")
    page.locator("#sheet-toggle").tap()
    page.wait_for_selector("body:not(.sheet-open)")
    # An inspector's way to their cell: the sheet's place filter, then a tap on the cell.
    page.locator("#sheet-toggle").tap()
    with page.expect_navigation():
        page.select_option("#time-filter select[name=cell]", "130984-Z01-01")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    assert page.locator("body.sheet-open").count() == 0
    lon, lat = empty_spot("130984-Z01-01")
    page.locator(".map-area .folium-map").tap(position=screen_point(page, lon, lat))
    page.wait_for_selector("#cell-card:not([hidden]) h2")
    assert "130984-Z01-01" in page.inner_text("#cell-card")
    assert_in_viewport(page, "#cell-card")
    screenshot(page, "map-wall-phone-card.png")
    page.locator("#cell-card-close").tap()
    assert page.locator("#cell-card").is_hidden()
    assert page.log.problems() == []


def test_cell_names_label_the_cells_without_overlapping(page, live_url):
    page.set_viewport_size(DESK)
    open_wall(page, live_url, "?lang=zh_Hans_CN")
    names = set(page.evaluate("""(() => { var n = []; GridWatchMap.entries.forEach(function (e) {
        if (e.spec.id !== 'cells') { return; }
        e.group.eachLayer(function (g) { g.eachLayer(function (l) {
            n.push(l.feature.properties.name); }); }); }); return n; })()"""))

    def shown_labels_apart() -> int:
        boxes = []
        for label in page.locator(".cell-label:not(.label-hidden)").all():
            text = label.inner_text()
            assert text.split(" ⚠")[0] in names, text  # a name, not a code
            boxes.append(label.bounding_box())
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                         or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
                assert apart, (a, b)
        return len(boxes)

    assert shown_labels_apart() >= 20  # most of the 44 cells are named at the city's zoom
    # Zoomed in (the + button), the cells in view are named, still without overlap.
    page.click(".leaflet-control-zoom-in")
    page.wait_for_timeout(800)  # the zoom animation, then the labels are placed again
    assert shown_labels_apart() >= 8
    assert page.log.problems() == []


def test_the_legend_explains_marks_shapes_and_hot_spots_in_plain_words(page, live_url):
    page.set_viewport_size(DESK)
    open_wall(page, live_url, "?lang=zh_Hans_CN")
    legends = page.locator(".legends")
    assert "⚠3：网格内有 3 家企业逾期未巡查" in legends.inner_text()
    # Grades C and D differ in shape as well as colour, in the legend and the tiles.
    assert page.locator(".legends .swatch.triangle").count() == 1
    assert page.locator(".legends .swatch.square").count() >= 1
    shapes = page.evaluate("""['C', 'D'].map(function (g) {
        return getComputedStyle(document.querySelector('#fig-grade-' + g + ' .grade-shape'))
            .clipPath; })""")
    assert shapes[0].startswith("polygon") and shapes[1] == "none"
    # Hot spots in plain words; the method only under "计算方法".
    hot = page.locator(".legend-block[data-layer=hotspots]")
    assert "投诉显著聚集" in hot.inner_text() and "Queen" not in hot.inner_text()
    assert "置换" not in hot.locator("p.note").inner_text()
    hot.locator("summary").click()
    assert "Getis-Ord" in hot.locator("details").inner_text()
    # The overdue tile says what it counts.
    assert page.get_attribute("#fig-overdue", "title")
    assert page.log.problems() == []


def test_choropleth_legend_in_percent(page, live_url):
    open_wall(page, live_url, "?figure=overdue_rate")
    items = page.locator("#choropleth-legend li").all_inner_texts()
    assert len(items) >= 2 and all("%" in item for item in items), items
    assert page.log.problems() == []


def test_refresh_and_filters_keep_the_view(page, live_url):
    open_wall(page, live_url)
    page.evaluate("void GridWatchMap.map.setView([38.45, 116.1], 13, {animate: false})")
    before = page.evaluate("[GridWatchMap.map.getCenter().lat, GridWatchMap.map.getZoom()]")
    page.select_option("#time-filter select[name=days]", "30")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    assert "days=30" in page.url
    page.evaluate("void GridWatchMap.refresh()")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    after = page.evaluate("[GridWatchMap.map.getCenter().lat, GridWatchMap.map.getZoom()]")
    assert after == before
    # A reload (the wall's browser restarted) comes back to the same place.
    page.reload()
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    assert page.evaluate("GridWatchMap.map.getZoom()") == 13
    assert page.log.problems() == []


def test_the_period_label_follows_the_filter(page, live_url):
    open_wall(page, live_url)
    before = page.inner_text("#period")
    page.select_option("#time-filter select[name=days]", "30")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    page.locator("#period").filter(has_not_text=before).wait_for(timeout=10000)
    assert page.inner_text("#period") != before
    assert page.log.problems() == []


# Tiles whose figure counts rows: tile id -> the element holding its number.
COUNTED = {"inspections": "inspections", "cases": "cases", "complaints": "complaints",
           "open-complaints": "open_complaints"}
# Tiles of now, on the enterprise list.
ENTERPRISE_TILES = {"enterprises": "enterprises", "overdue": "overdue", "grade-C": "grades.C",
                    "grade-D": "grades.D"}


def follow_tile(page, tile: str):
    """Open the tile's link in a new tab (Ctrl+click, as one keeps the wall open); the tab."""
    with page.context.expect_page() as opened:
        page.click(f"#fig-{tile}", modifiers=["Control"])
    tab = opened.value
    tab.wait_for_load_state()
    return tab


def rows_on_page(page, table: str) -> int:
    return page.locator(f"{table} tr.record").count()


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_every_figure_tile_drills_down_to_its_rows_for_the_period_and_place(
        page, live_url, lang):
    page.set_viewport_size(DESK)
    open_wall(page, live_url, f"?lang={lang}")
    # Choose a place and a period as a person does: the form's selects.
    with page.expect_navigation():
        page.select_option("#time-filter select[name=cell]", "130984-Z01-02")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    page.select_option("#time-filter select[name=days]", "90")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    page.locator("#fig-inspections[href*='days=90']").wait_for(state="attached")
    figure = {key: page.inner_text(f"[data-figure='{key}']") for key in (
        "inspections", "cases", "complaints", "open_complaints", "enterprises", "overdue",
        "grades.C", "grades.D", "problems_found", "problems_rectified", "spot_check_batches",
        "periodic_batches", "spot_check_pass_rate", "periodic_pass_rate")}
    for tile, key in COUNTED.items():
        tab = follow_tile(page, tile)
        assert "cell=130984-Z01-02" in tab.url
        assert ("days=90" in tab.url) == (tile != "open-complaints")
        total = number(tab.inner_text("#record-total"))
        assert total == number(figure[key]) == rows_on_page(tab, "#record-list"), tile
        tab.close()
    for tile, key in ENTERPRISE_TILES.items():
        tab = follow_tile(page, tile)
        total = number(tab.inner_text("#enterprise-total"))
        assert total == number(figure[key]) == rows_on_page(tab, "#enterprise-list"), tile
        tab.close()
    # Problems found and rectified: the sums over the inspections that found problems.
    tab = follow_tile(page, "problems")
    assert number(tab.inner_text("[data-total=problems_found]")) == number(
        figure["problems_found"])
    assert number(tab.inner_text("[data-total=problems_rectified]")) == number(
        figure["problems_rectified"])
    tab.close()
    # Spot checks and periodic testing: two lists, two pass rates, the batches of their rows.
    for tile, key in (("spot-checks", "spot_check"), ("periodic", "periodic")):
        tab = follow_tile(page, tile)
        batches = number(tab.inner_text("[data-total=batches]"))
        assert batches == number(figure[f"{key}_batches"])
        assert batches == sum(number(t) for t in tab.locator(
            "#record-list td[data-col=batches]").all_inner_texts())
        assert tab.inner_text("[data-total=pass_rate]") == figure[f"{key}_pass_rate"]
        screenshot(tab, f"records-{tile}-{lang}.png")
        tab.close()
    assert page.log.problems() == []


def test_the_big_screen_wall_hides_the_chrome_and_refreshes_itself(page, live_url):
    page.set_viewport_size(DESK)
    page.clock.install()
    open_wall(page, live_url, "?lang=zh_Hans_CN")
    with page.expect_navigation():
        page.click("#wall-mode-link")
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    assert "wall=1" in page.url
    assert page.locator("header.bar").is_hidden()
    assert page.locator("#time-filter").is_hidden()
    assert page.locator("#wall-title").is_visible()
    assert "每 60 秒自动刷新" in page.inner_text(".wall-actions")
    screenshot(page, "map-wall-big-screen.png")
    # A minute later it fetches its figures and layers again by itself.
    with page.expect_request(lambda r: "/api/v1/figures" in r.url, timeout=10000):
        page.clock.run_for(61_000)
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    # And a way back, keeping the filters.
    with page.expect_navigation():
        page.click("#leave-wall")
    assert "wall=1" not in page.url and page.locator("header.bar").is_visible()
    assert page.log.problems() == []


def test_a_grid_manager_reaches_the_editor_from_the_wall_and_the_card(page, live_url):
    page.set_viewport_size(DESK)
    open_wall(page, live_url, "?lang=zh_Hans_CN", user=("manager", "demo-manager-2026"))
    # The manager's own grid only.
    links = page.locator(".wall-actions .editor-link")
    assert links.count() == 1 and "编辑网格" in links.inner_text()
    # From a card in their grid: a link to that grid's editor.
    lon, lat = empty_spot("130984-Z01-01")
    page.locator(".map-area .folium-map").click(position=screen_point(page, lon, lat))
    page.wait_for_selector("#cell-card:not([hidden]) h2")
    with page.expect_navigation():
        page.click("#cell-card .editor-link")
    assert page.url.split("?")[0].endswith("/grid/130984-Z01/edit")
    page.go_back()
    page.wait_for_selector("body[data-drawn='true']", state="attached", timeout=30000)
    with page.expect_navigation():
        page.click(".wall-actions .editor-link")
    assert page.url.split("?")[0].endswith("/grid/130984-Z01/edit")
    assert page.log.problems() == []


def test_no_editor_link_where_the_user_may_not_redraw(page, live_url):
    page.set_viewport_size(DESK)
    open_wall(page, live_url, "?lang=zh_Hans_CN",
              user=("inspector", "demo-inspector-2026"))
    assert page.locator(".editor-link").count() == 0
    lon, lat = empty_spot("130984-Z01-01")
    page.locator(".map-area .folium-map").click(position=screen_point(page, lon, lat))
    page.wait_for_selector("#cell-card:not([hidden]) h2")
    assert page.locator("#cell-card .editor-link").count() == 0
    assert page.log.problems() == []
