"""In the Chinese UI no English a user would read is left: pages are rendered and their visible
text scanned. Data (usernames, codes, free text) is marked translate="no" and skipped."""
import re
from html.parser import HTMLParser

import pytest

from tests.factories import login, small_world

# Technical words that stay as they are in Chinese UIs too.
ALLOWED = {"API", "Authorization", "Bearer", "CSV", "XLSX", "GeoJSON"}
PAGES = ["/", "/account", "/admin/users", "/admin/audit", "/admin/reference", "/no-such-page"]


class VisibleText(HTMLParser):
    VOID = {"br", "img", "input", "meta", "link", "hr", "source", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.chunks: list[str] = []

    def _skipping(self) -> bool:
        return any(skip for _tag, skip in self.stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.VOID:
            for name in ("placeholder", "title", "alt", "aria-label"):
                if attrs.get(name) and not self._skipping():
                    self.chunks.append(attrs[name])
            return
        skip = tag in ("script", "style", "code") or attrs.get("translate") == "no"
        self.stack.append((tag, skip))
        if attrs.get("title") and not self._skipping():
            self.chunks.append(attrs["title"]) if tag != "td" else None

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if not self._skipping():
            self.chunks.append(data)


def english_words(html: str) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    text = " ".join(parser.chunks)
    return {w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED}


@pytest.fixture
def admin(client, session):
    small_world(session)
    login(client, "admin")
    client.post("/account/tokens", data={"name": "phone"})  # fills the token table
    return client


@pytest.mark.parametrize("path", PAGES)
def test_chinese_pages_hold_no_untranslated_english(admin, path):
    html = admin.get(path + ("&" if "?" in path else "?") + "lang=zh_Hans_CN").get_data(
        as_text=True)
    assert english_words(html) == set()


def test_login_page_holds_no_untranslated_english(client):
    assert english_words(client.get("/login?lang=zh_Hans_CN").get_data(as_text=True)) == set()


def test_the_scan_would_catch_a_stray_literal():
    assert english_words("<p>登录 <b>Save</b></p>") == {"Save"}
    assert english_words('<p translate="no">admin</p><code>Q01</code>') == set()
