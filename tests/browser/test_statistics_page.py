"""The statistics page (统计分析) in headless Chromium, offline, at 1920x1080 and on a phone:
a leader opens it from the menu, changes the level and the period, sorts a column by its
heading, follows a number to its rows (the same count), sees the chart drawn by the vendored
ECharts without a console error, and prints the month's report with its charts."""
from __future__ import annotations

import pytest

from tests.browser.conftest import new_page, screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

DESK = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}


def number(text: str) -> float:
    return float(text.strip().replace(",", ""))


def values(page, key: str) -> list[float | None]:
    cells = page.locator(f"#stats-table tbody tr.unit td[data-key='{key}']")
    return [None if v == "" else float(v)
            for v in (cells.nth(i).get_attribute("data-value") for i in range(cells.count()))]


def chart_drawn(page, attribute: str = "chart") -> None:
    page.wait_for_selector(f"body[data-{attribute}='drawn']", state="attached", timeout=30000)


def test_a_leader_reads_sorts_and_follows_the_statistics(browser, live_url):
    context, page = new_page(browser, live_url, DESK)
    try:
        sign_in(page, live_url, "leader", "demo-leader-2026", "/?lang=zh_Hans_CN")
        with page.expect_navigation():
            page.click("header a.statistics-link")
        assert "/statistics" in page.url
        chart_drawn(page)
        assert page.locator("#stats-chart canvas").count() >= 1
        # The stations of the city, by default, with their total.
        assert page.locator("#stats-table tbody tr.unit").count() == 10
        assert "巡查完成率" in page.inner_text("#stats-table thead")

        # Another level and another period, chosen as a person does.
        with page.expect_navigation():
            page.select_option("#stats-filter select[name=level]", "cell")
        chart_drawn(page)
        assert page.locator("#stats-table tbody tr.unit").count() == 44
        with page.expect_navigation():
            page.select_option("#stats-filter select[name=period]", "quarter")
        previous = page.locator("#stats-filter select[name=from] option").nth(1)
        label = previous.inner_text()
        with page.expect_navigation():
            page.select_option("#stats-filter select[name=from]", previous.get_attribute("value"))
        chart_drawn(page)
        assert "period=quarter" in page.url and "level=cell" in page.url
        assert label in page.inner_text("#stats-period")

        # Sorting by a column: a click on its heading, and again for the other way.
        page.click("#stats-table thead button.sort[data-key=inspections]")
        page.wait_for_selector("#stats-table[data-sorted-by=inspections]", state="attached")
        ascending = values(page, "inspections")
        assert ascending == sorted(ascending)
        page.click("#stats-table thead button.sort[data-key=inspections]")
        page.wait_for_selector("#stats-table[data-sorted-dir=descending]", state="attached")
        descending = values(page, "inspections")
        assert descending == sorted(descending, reverse=True) and descending != ascending
        # The chart shows another figure when asked.
        page.select_option("#chart-figure", "complaints")
        chart_drawn(page)
        screenshot(page, "statistics-desk.png")

        # A number leads to its rows: the busiest cell's inspections.
        first = page.locator("#stats-table tbody tr.unit").first
        code = first.get_attribute("data-code")
        link = first.locator("td[data-key=inspections] a")
        shown = number(link.inner_text())
        with page.expect_navigation():
            link.click()
        assert "/records/inspections" in page.url and f"unit={code}" in page.url
        total = number(page.inner_text("#record-total"))
        assert total == shown
        assert page.locator("#record-list tr.record").count() == min(total, 50)
        page.go_back()

        # The month's report: its words and both charts, drawn as SVG for printing.
        with page.expect_navigation():
            page.select_option("#stats-filter select[name=period]", "month")
        with page.expect_navigation():
            page.click("#stats-report")
        chart_drawn(page)
        chart_drawn(page, "testing-chart")
        assert page.locator("#stats-chart svg").count() >= 1
        assert page.locator("#stats-testing-chart svg").count() >= 1
        words = page.inner_text("#report-inspections")
        # (The demo holds a year: July's year before has no figure, and says so.)
        assert "巡查完成率" in words and ("同比" in words or "去年同期无数据" in words)
        assert "环比" in words
        assert "监督抽查" in page.inner_text("#report-testing")
        page.emulate_media(media="print")
        assert not page.locator("header.bar").is_visible()
        pdf = page.pdf(path=artifact("statistics-report.pdf"), format="A4")
        assert pdf.startswith(b"%PDF")
        assert page.log.problems() == []
    finally:
        context.close()


def artifact(name: str) -> str:
    import os

    from tests.browser.conftest import ARTIFACTS

    os.makedirs(ARTIFACTS, exist_ok=True)
    return os.path.join(ARTIFACTS, name)


def test_on_a_phone_the_table_scrolls_inside_the_page(browser, live_url):
    context, page = new_page(browser, live_url, PHONE, touch=True)
    try:
        sign_in(page, live_url, "leader", "demo-leader-2026", "/statistics?lang=zh_Hans_CN")
        chart_drawn(page)
        # The page keeps the phone's width; the wide table scrolls in its own box.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        box = page.locator(".stats-scroll").bounding_box()
        assert box["width"] <= PHONE["width"]
        assert page.locator("#stats-table").bounding_box()["width"] > box["width"]
        assert page.locator("#stats-chart canvas").first.bounding_box()["width"] <= PHONE["width"]
        # Readable: the summary's numbers are large enough to read.
        size = page.locator("#stats-summary .figure .value").first.evaluate(
            "e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 16
        screenshot(page, "statistics-phone.png")
        assert page.log.problems() == []
    finally:
        context.close()
