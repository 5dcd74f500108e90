"""The gap report at a desk (1920×1080, Chinese): the demo leader opens 问责依据 from the menu,
types the period, shows it, sees the gaps grouped by person with their days, and opens an
enterprise from a row. Nothing is fetched from outside the server, no console error, no 4xx."""
import datetime as dt

import pytest

from tests.browser.conftest import new_page, screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
DESK = {"width": 1920, "height": 1080}


def type_date(page, selector: str, day: dt.date) -> None:
    """Type a date into a date field as a person does, segment by segment in the order the
    browser shows them: year, month, day in Chinese; Chromium may keep its own (American)
    order whatever the page's language, month, day, year. A year may have six digits, so the
    year moves on to the next segment by hand; a month or a day moves on by itself."""
    box = page.locator(selector).bounding_box()
    for order in ("mdy", "ymd"):
        page.fill(selector, "")  # empty, so a wrong guess leaves nothing behind
        page.click(selector, position={"x": 6, "y": box["height"] / 2})  # the first segment
        for part in order:
            if part == "y":
                page.keyboard.type(f"{day:%Y}")
                if part != order[-1]:
                    page.keyboard.press("ArrowRight")
            else:
                page.keyboard.type(f"{day:%m}" if part == "m" else f"{day:%d}")
        if page.input_value(selector) == day.isoformat():
            return
    raise AssertionError(f"{selector}: typed {day}, reads {page.input_value(selector)}")


def test_a_leader_reads_the_gap_report_by_person_and_opens_an_enterprise(browser, live_url):
    context, page = new_page(browser, live_url, DESK)
    sign_in(page, live_url, "leader", "demo-leader-2026", "/?lang=zh_Hans_CN")
    with page.expect_navigation():
        page.click("nav.menu a.gaps-link")
    assert page.inner_text("h1").startswith("问责依据")

    today = dt.date.today()
    start = today - dt.timedelta(days=119)
    type_date(page, "#gap-from", start)
    type_date(page, "#gap-to", today)
    with page.expect_navigation():
        page.click("#gap-submit")
    assert f"from={start.isoformat()}" in page.url and f"to={today.isoformat()}" in page.url

    summary = page.locator("#gap-summary")
    count, days = int(summary.get_attribute("data-count")), int(
        summary.get_attribute("data-days"))
    assert count > 0 and days > 0
    people = page.locator("section.gap-person")
    assert people.count() > 1
    # Each person's rows and their total days, as the heading says them.
    rows = 0
    for i in range(people.count()):
        person = people.nth(i)
        assert person.locator("h2").inner_text().strip()
        n = person.locator("tr.gap").count()
        assert n > 0 and f"{n} 段" in person.locator(".gap-total").inner_text()
        rows += n
    assert rows == count
    first = people.first
    assert first.get_attribute("data-person")
    assert first.locator("a.cell-link").first.get_attribute("href").startswith("/cells/")
    screenshot(page, "gap-report-desk-zh.png")

    link = first.locator("a.enterprise-link").first
    code = first.locator("tr.gap").first.get_attribute("data-enterprise")
    name = link.inner_text()
    with page.expect_navigation():
        link.click()
    assert page.url.endswith(f"/enterprises/{code}")
    assert name in page.inner_text("h1")
    assert page.log.problems() == []
    context.close()
