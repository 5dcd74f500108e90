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


def test_admin_creates_a_user_removes_a_role_and_resets_the_password(page, browser, live_url):
    """The users page by hand: typed forms and the buttons on each row."""
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, live_url, "admin", "demo-admin-2026", "/admin/users?lang=zh_Hans_CN")
    form = page.locator("form[action$='/admin/users']")
    form.locator("input[name=username]").fill("field-test")
    form.locator("input[name=display_name]").fill("试用巡查员")
    form.locator("input[name=password]").fill("first-pass-1")
    form.locator("select[name=role]").select_option("inspector")
    form.locator("input[name=place]").fill("130984-Z01-01")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    row = page.locator("#users tr", has_text="field-test")
    assert "130984-Z01-01" in row.inner_text()
    add = page.locator("#add-role")
    add.locator("#role-username").fill("field-test")
    add.locator("select[name=role]").select_option("leader")
    add.locator("input[name=place]").fill("130984-Z01")
    with page.expect_navigation():
        add.locator("button[type=submit]").click()
    assert row.locator("code").count() == 2  # inspector at the cell, leader at the grid
    # Remove the inspector role with its own button.
    with page.expect_navigation():
        row.locator("form.role", has_text="130984-Z01-01").locator("button").click()
    assert "130984-Z01-01" not in row.inner_text() and "130984-Z01" in row.inner_text()
    # A new password typed on the row; the old one no longer opens the account.
    row.locator("form.reset-password input[name=password]").fill("second-pass-2")
    with page.expect_navigation():
        row.locator("form.reset-password button").click()
    assert "field-test" in page.inner_text(".flash")
    other = browser.new_context()
    user = other.new_page()
    user.goto(f"{live_url}/login")
    user.fill("input[name=username]", "field-test")
    user.fill("input[name=password]", "second-pass-2")
    with user.expect_navigation():
        user.click("form button[type=submit]")
    assert "/login" not in user.url
    other.close()
    assert page.log.problems() == []
