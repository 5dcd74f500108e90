"""The people pages in headless Chromium, as a person uses them: an administrator at a desk
(1920×1080, Chinese) imports a roster through the file chooser, finds a new inspector by
typing, and hands everything they answer for to a colleague picked from the suggestions; a
station's grid manager on a phone (390×844, English, touch) hands a cell's owner over to the
colleague who answers for nothing. Each handover shows the plates to reprint, and the lookup
answers with the new person from then on. The list and a person's page in both languages at
both sizes, with nothing outside the server and no console error."""
import io

import openpyxl
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
LANGS = {"zh": "zh_Hans_CN", "en": "en"}


@pytest.fixture(scope="module")
def server(database_url):
    """A demo city of its own: the handovers here change who answers for cells."""
    for base, db_url in serve_demo("_people"):
        engine = create_engine(db_url)
        yield base, engine
        engine.dispose()


def open_page(browser, base, viewport, lang, touch=False):
    return new_page(browser, base, viewport, touch=touch,
                    locale="zh-CN" if lang == "zh" else "en",
                    device_scale_factor=2 if touch else 1)


def owner_code(engine, cell):
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT p.code FROM cell c CROSS JOIN LATERAL gw_cell_owner(c.id, now()) o
            JOIN person p ON p.id = o.person_id WHERE c.code = :c"""), {"c": cell}).scalar()


def roster_file(tmp_path) -> str:
    book = openpyxl.Workbook()
    for row in (["人员编号", "姓名", "单位", "职务", "电话", "用户名", "负责网格"],
                ["130984-RY901", "韩立军", "米各庄质量监督所", "网格责任人", "13931700901",
                 "citymanager", "130984-Z02-01"],
                ["130984-RY902", "杜晓燕", "米各庄质量监督所", "网格责任人", "13931700902",
                 "", ""]):
        book.active.append(row)
    path = tmp_path / "人员名册.xlsx"
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_an_admin_imports_a_roster_and_hands_an_inspector_over(browser, server, tmp_path):
    base, engine = server
    context, page = open_page(browser, base, DESK, "zh")
    sign_in(page, base, "admin", "demo-admin-2026", "/?lang=zh_Hans_CN")
    with page.expect_navigation():
        page.click("nav.menu a.people-link")
    assert page.inner_text("h1").startswith("人员")
    with page.expect_navigation():
        page.click("#import-roster")
    page.set_input_files("#roster-file", roster_file(tmp_path))
    with page.expect_navigation():
        page.click("#do-import")
    result = page.inner_text("#import-result")
    assert "新增人员：2" in result and "关联账号：1" in result and "指定网格：1" in result
    assert owner_code(engine, "130984-Z02-01") == "130984-RY901"
    screenshot(page, "people-import-desk-zh.png")

    # Find the new inspector by typing a part of the name, as one would.
    with page.expect_navigation():
        page.click("text=返回人员列表")
    page.fill("#people-search input[name=q]", "韩立")
    with page.expect_navigation():
        page.click("#people-search button[type=submit]")
    assert page.locator("#people tr.person").count() == 1
    with page.expect_navigation():
        page.click("#people tr.person a >> text=韩立军")
    assert "130984-Z02-01" in page.inner_text("#current-duties")
    assert "citymanager" in page.inner_text("#accounts")

    with page.expect_navigation():
        page.click("#start-handover")
    picker = page.locator("#handover-form input[name=successor]")
    picker.click()
    picker.type("杜晓", delay=60)
    page.locator("#successor-suggestions button[data-code='130984-RY902']").click()
    assert picker.input_value() == "130984-RY902"
    assert "杜晓燕" in page.inner_text("#handover-form .picked")
    page.fill("#handover-form input[name=comment]", "调往米各庄所机关")
    with page.expect_navigation():
        page.click("#do-handover")
    assert "/people/handovers/" in page.url
    plates = page.locator("#plates-list tr:not(.head)")
    assert plates.count() >= 1 and "130984-Z02-01" in page.inner_text("#plates-list")
    assert "网格责任人" in page.inner_text("#plates-list")
    assert owner_code(engine, "130984-Z02-01") == "130984-RY902"
    screenshot(page, "people-handover-desk-zh.png")
    # The lookup names the new owner, with the person's code.
    with engine.connect() as conn:
        lon, lat = conn.execute(text("""
            SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom))
            FROM cell_current WHERE code = '130984-Z02-01'""")).one()
    answer = page.request.get(f"{base}/api/v1/lookup?lon={lon}&lat={lat}").json()
    assert answer["owner"]["code"] == "130984-RY902" and answer["owner"]["name"] == "杜晓燕"
    assert page.log.problems() == []
    context.close()


def test_a_grid_manager_hands_a_cell_over_on_a_phone(browser, server):
    base, engine = server
    cell = "130984-Z01-02"
    with engine.connect() as conn:
        owner = conn.execute(text("""
            SELECT p.code, p.name FROM cell c CROSS JOIN LATERAL gw_cell_owner(c.id, now()) o
            JOIN person p ON p.id = o.person_id WHERE c.code = :c"""), {"c": cell}).one()
        # The demo's colleague at the same station who answers for nothing today.
        idle = conn.execute(text("""
            SELECT p.code, p.name FROM person p
            WHERE p.unit = (SELECT unit FROM person WHERE code = :o) AND p.active_to IS NULL
              AND NOT EXISTS (SELECT 1 FROM responsibility r WHERE r.person_id = p.id
                              AND r.valid @> now())
            ORDER BY p.code LIMIT 1"""), {"o": owner.code}).one()
    context, page = open_page(browser, base, PHONE, "en", touch=True)
    sign_in(page, base, "manager", "demo-manager-2026", "/?lang=en")
    with page.expect_navigation():
        page.locator("nav.menu a.people-link").tap()
    page.locator("#people-search input[name=q]").tap()
    page.keyboard.type(owner.name)
    with page.expect_navigation():
        page.locator("#people-search button[type=submit]").tap()
    with page.expect_navigation():
        page.locator(f"#people tr.person[data-code='{owner.code}'] a").first.tap()
    assert cell in page.inner_text("#current-duties")
    screenshot(page, "people-owner-phone-en.png")
    with page.expect_navigation():
        page.locator("#start-handover").tap()
    picker = page.locator("#handover-form input[name=successor]")
    picker.tap()
    page.keyboard.type(idle.name[:2], delay=60)
    page.locator(f"#successor-suggestions button[data-code='{idle.code}']").tap()
    page.locator("#handover-form input[name=comment]").tap()
    page.keyboard.type("Moved to the office")
    with page.expect_navigation():
        page.locator("#do-handover").tap()
    assert "Plates to reprint" in page.inner_text("#plates")
    assert page.locator("#plates-list tr:not(.head)").count() >= 1
    box = page.locator("#plates-list").bounding_box()
    assert box["width"] <= PHONE["width"]  # the table stacks: nothing scrolls sideways
    assert owner_code(engine, cell) == idle.code
    screenshot(page, "people-handover-phone-en.png")
    assert page.log.problems() == []
    context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", ["desk", "phone"])
def test_the_list_and_a_person_read_well_at_both_sizes(browser, server, lang, size):
    base, engine = server
    viewport = DESK if size == "desk" else PHONE
    context, page = open_page(browser, base, viewport, lang, touch=size == "phone")
    sign_in(page, base, "leader", "demo-leader-2026", f"/people?lang={LANGS[lang]}")
    if "/people" not in page.url:
        page.goto(f"{base}/people?lang={LANGS[lang]}")
    assert page.locator("#people tr.person").count() == 50  # a page of the staff
    assert page.locator("#add-person").count() == 0  # a leader adds no one
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"]
    screenshot(page, f"people-list-{size}-{lang}.png")
    link = page.locator("#people tr.person a").nth(40)
    if size == "phone":
        with page.expect_navigation():
            link.tap()
    else:
        with page.expect_navigation():
            link.click()
    assert page.locator("#current-duties").count() == 1
    assert page.locator("#assign-form").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    screenshot(page, f"people-person-{size}-{lang}.png")
    assert page.log.problems() == []
    context.close()
