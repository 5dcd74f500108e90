"""The overview page in a real headless Chromium, offline, in both languages."""
import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    # The threaded test server may drop a connection the browser abandoned mid-file.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def test_overview_shows_the_demo_city_in_chinese(page, live_url):
    sign_in(page, live_url, "leader", "demo-leader-2026", "/?lang=zh_Hans_CN")
    assert page.inner_text(".brand") == "网格通"
    assert page.inner_text("#fig-cells") == "53"
    assert page.inner_text("#fig-enterprises [data-figure=enterprises]") == "1,203"
    assert "企业监管等级分布" in page.inner_text("main")
    screenshot(page, "overview-zh.png")
    assert page.log.problems() == []


def test_overview_in_english(page, live_url):
    sign_in(page, live_url, "leader", "demo-leader-2026", "/?lang=en")
    assert page.inner_text(".brand") == "GridWatch"
    assert "Enterprises by supervision grade" in page.inner_text("main")
    screenshot(page, "overview-en.png")
    assert page.log.problems() == []


def test_overview_shows_cases_year_on_year_and_the_overdue_count(page, live_url):
    sign_in(page, live_url, "leader", "demo-leader-2026", "/?lang=zh_Hans_CN")
    # The demo city has about an eighth fewer cases than the year before (README: 404 vs 462;
    # the exact share moves with the day the demo was loaded on).
    import re

    change = re.search(r"同比 ([+-]\d+(?:\.\d)?)%", page.inner_text("#fig-cases"))
    assert change and -20 < float(change.group(1)) < -5
    overdue = int(page.inner_text("#fig-overdue [data-figure=overdue]").replace(",", ""))
    assert overdue > 0
    # The tile drills down to the overdue enterprises, by a real click.
    with page.expect_navigation():
        page.click("#fig-overdue")
    assert "overdue=true" in page.url
    assert int(page.inner_text("#enterprise-total").replace(",", "")) == overdue
    assert page.log.problems() == []


# Each activity tile of the overview -> (the element with its number, the page's total).
OVERVIEW_TILES = {
    "inspections": ("inspections", "#record-total"),
    "problems": ("problems_found", "[data-total=problems_found]"),
    "spot-checks": ("spot_check_batches", "[data-total=batches]"),
    "periodic": ("periodic_batches", "[data-total=batches]"),
    "cases": ("cases", "#record-total"),
    "complaints": ("complaints", "#record-total"),
    "open-complaints": ("open_complaints", "#record-total"),
    "enterprises": ("enterprises", "#enterprise-total"),
    "grade-D": ("grades.D", "#enterprise-total"),
}


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_every_overview_figure_leads_to_the_rows_behind_it(page, live_url, lang):
    sign_in(page, live_url, "leader", "demo-leader-2026", f"/?lang={lang}")
    for tile, (key, total) in OVERVIEW_TILES.items():
        shown = page.inner_text(f"#fig-{tile} [data-figure='{key}']")
        with page.expect_navigation():
            page.click(f"#fig-{tile}")
        assert page.inner_text(total) == shown, (tile, page.url)
        page.go_back()
    # Spot checks and periodic supervisory testing: two figures, two pass rates.
    assert page.locator("#fig-spot-checks [data-figure=spot_check_pass_rate]").count() == 1
    assert page.locator("#fig-periodic [data-figure=periodic_pass_rate]").count() == 1
    assert page.log.problems() == []
