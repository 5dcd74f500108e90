"""The overview page in a real headless Chromium, offline, in both languages."""
import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_overview_shows_the_demo_city_in_chinese(page, live_url):
    page.goto(live_url + "/?lang=zh_Hans_CN")
    assert page.inner_text(".brand") == "网格通"
    assert page.inner_text("#fig-cells") == "53"
    assert page.inner_text("#fig-enterprises") == "1,203"
    assert "企业监管等级分布" in page.inner_text("main")
    screenshot(page, "overview-zh.png")
    assert page.log.problems() == []


def test_overview_in_english(page, live_url):
    page.goto(live_url + "/?lang=en")
    assert page.inner_text(".brand") == "GridWatch"
    assert "Enterprises by supervision grade" in page.inner_text("main")
    screenshot(page, "overview-en.png")
    assert page.log.problems() == []
