"""Logging in, a protected page and the audit log, in headless Chromium, in both languages."""
import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = [
    pytest.mark.browser,
    # The threaded test server may drop a connection the browser abandoned mid-file.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

TEXT = {
    "zh_Hans_CN": {"login": "登录", "wrong": "用户名或密码错误", "audit": "操作日志",
                   "forbidden": "没有权限", "logged_in": "登录"},
    "en": {"login": "Log in", "wrong": "Wrong username or password", "audit": "Audit log",
           "forbidden": "do not have permission", "logged_in": "Logged in"},
}


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_wrong_password_is_refused_in_the_users_language(page, live_url, lang):
    page.goto(f"{live_url}/login?lang={lang}")
    assert page.inner_text("h1") == TEXT[lang]["login"]
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not-the-password-1")
    page.click("form button[type=submit]")
    assert TEXT[lang]["wrong"] in page.inner_text("[role=alert]")
    screenshot(page, f"login-refused-{lang}.png")
    # The 401 answer itself is the expected failure; nothing else may fail.
    assert [p for p in page.log.problems() if "/login" not in p and "401" not in p] == []


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_protected_audit_log_after_login_shows_the_login(page, live_url, lang):
    page.goto(f"{live_url}/?lang={lang}")
    page.goto(f"{live_url}/admin/audit")
    assert "/login" in page.url  # protected: redirected to log in first
    sign_in(page, live_url, "admin", "demo-admin-2026", None)
    assert page.url.endswith("/admin/audit")
    assert page.inner_text("h1") == TEXT[lang]["audit"]
    rows = page.inner_text("#audit")
    assert "admin" in rows and TEXT[lang]["logged_in"] in rows
    page.fill("input[name=username]", "admin")
    page.select_option("select[name=action]", "login")
    page.click(".filters button[type=submit]")
    assert "action=login" in page.url
    screenshot(page, f"audit-{lang}.png")
    assert page.log.problems() == []


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_leader_is_refused_the_audit_log(page, live_url, lang):
    sign_in(page, live_url, "leader", "demo-leader-2026", f"/?lang={lang}")
    response = page.goto(f"{live_url}/admin/audit")
    assert response.status == 403
    assert TEXT[lang]["forbidden"] in page.inner_text("main")
