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


REFUSED = {
    "zh_Hans_CN": {"bad_code": "“130984 Z01”不是网格编码", "form": "1–32 位英文字母",
                   "field": "所辖网格（网格编码）：", "no_cell": "没有编码为“130984-Z99”的网格",
                   "created": "已创建用户", "role_added": "添加角色"},
    "en": {"bad_code": "“130984 Z01” is not a cell code", "form": "1–32 ASCII letters",
           "field": "place (cell code): ", "no_cell": "there is no cell “130984-Z99”",
           "created": "created", "role_added": "Role added"},
}


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_a_bad_place_code_keeps_the_form_and_says_what_is_wrong(page, live_url, lang):
    """Typed by hand: a place code with a space, then one that does not exist; each time the
    form comes back with what was typed and the reason in the page's language."""
    words = REFUSED[lang]
    username = "wangfang-" + lang[:2].lower()
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, live_url, "admin", "demo-admin-2026", f"/admin/users?lang={lang}")
    form = page.locator("#new-user")
    form.locator("input[name=username]").type(username)
    form.locator("input[name=display_name]").type("王芳")
    form.locator("input[name=password]").type("first-pass-1")
    form.locator("select[name=role]").select_option("inspector")
    form.locator("input[name=place]").type("130984 Z01")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    problem = page.locator("#new-user-problem")
    assert words["field"] + words["bad_code"] in problem.inner_text()
    assert words["form"] in problem.inner_text() and "130984-Z01-01" in problem.inner_text()
    form = page.locator("#new-user")  # the page again, with what was typed
    assert form.locator("input[name=username]").input_value() == username
    assert form.locator("input[name=display_name]").input_value() == "王芳"
    assert form.locator("select[name=role]").input_value() == "inspector"
    place = form.locator("input[name=place]")
    assert place.input_value() == "130984 Z01"
    assert place.get_attribute("aria-invalid") == "true"
    assert form.locator("input[name=password]").input_value() == ""  # never sent back
    screenshot(page, f"users-bad-place-{lang}.png")
    assert page.locator("#users").inner_text().count(username) == 0  # nothing written
    # Corrected by hand: the user is created.
    place.fill("130984-Z01-01")
    form.locator("input[name=password]").type("first-pass-1")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert words["created"] in page.inner_text(".flash")
    assert "130984-Z01-01" in page.locator("#users tr", has_text=username).inner_text()
    # A role at a cell that does not exist: refused the same way, the typed code kept.
    add = page.locator("#add-role")
    add.locator("#role-username").type(username)
    add.locator("select[name=role]").select_option("leader")
    add.locator("input[name=place]").type("130984-Z99")
    with page.expect_navigation():
        add.locator("button[type=submit]").click()
    assert words["no_cell"] in page.inner_text("#add-role-problem")
    add = page.locator("#add-role")
    assert add.locator("#role-username").input_value() == username
    assert add.locator("input[name=place]").input_value() == "130984-Z99"
    assert add.locator("select[name=role]").input_value() == "leader"
    add.locator("input[name=place]").fill("130984-Z01")
    with page.expect_navigation():
        add.locator("button[type=submit]").click()
    assert words["role_added"] in page.inner_text(".flash")
    assert page.locator("#users tr", has_text=username).locator("code").count() == 2
    # Only the refusals' own 400 answers failed.
    assert [p for p in page.log.problems() if " 400 " not in f" {p} " and "400 http" not in p] \
        == []


def _lock_out(username: str) -> None:
    """Failed logins for ``username`` from this computer, as gis.users counts them: it waits
    15 minutes. (Typing ten wrong passwords would lock the whole test server's address.)"""
    import hashlib

    from gis.db import make_engine
    from tests.browser.conftest import LIVE_DATABASE

    engine = make_engine(LIVE_DATABASE["url"])
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO login_throttle (key, failures, last_failure_at, blocked_until) "
            "VALUES (%s, 12, now(), now() + interval '15 minutes') "
            "ON CONFLICT (key) DO UPDATE SET blocked_until = EXCLUDED.blocked_until",
            (f"name:{hashlib.sha256(username.encode()).hexdigest()}|127.0.0.1",))
    engine.dispose()


def test_an_admin_unlocks_a_user_who_failed_to_log_in(page, browser, live_url):
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, live_url, "admin", "demo-admin-2026", "/admin/users?lang=zh_Hans_CN")
    form = page.locator("#new-user")
    form.locator("input[name=username]").type("zhaolei")
    form.locator("input[name=display_name]").type("赵磊")
    form.locator("input[name=password]").type("zhao-pass-1")
    form.locator("select[name=role]").select_option("leader")
    form.locator("input[name=place]").type("130984-Z02")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    _lock_out("zhaolei")
    other = browser.new_context(locale="zh-CN")
    user = other.new_page()
    user.goto(f"{live_url}/login?lang=zh_Hans_CN")
    user.fill("input[name=username]", "zhaolei")
    user.fill("input[name=password]", "zhao-pass-1")
    user.click("form button[type=submit]")
    assert "失败次数过多" in user.inner_text("[role=alert]")  # even the right password waits
    page.reload()
    row = page.locator("#users tr", has_text="zhaolei")
    assert "登录失败次数过多" in row.inner_text()
    with page.expect_navigation():
        row.locator("form.unlock button").click()
    assert "zhaolei 现在可以重新登录" in page.inner_text(".flash")
    assert page.locator("#users tr", has_text="zhaolei").locator("form.unlock").count() == 0
    user.fill("input[name=username]", "zhaolei")
    user.fill("input[name=password]", "zhao-pass-1")
    with user.expect_navigation():
        user.click("form button[type=submit]")
    assert "/login" not in user.url
    other.close()


AUDIT = {
    "zh_Hans_CN": {"menu": "操作日志", "created": "创建用户", "target": "用户", "role": "角色",
                   "place": "所辖网格", "unlocked": "解除登录锁定", "via": "（网页）"},
    "en": {"menu": "Audit log", "created": "User created", "target": "User", "role": "Role",
           "place": "Place", "unlocked": "Failed logins cleared", "via": "(web)"},
}


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_the_audit_log_reads_as_labelled_fields(page, live_url, lang):
    """After the users were made by hand: the log, reached from the menu, names each action
    and labels each detail in the page's language; no JSON, no escapes."""
    words = AUDIT[lang]
    page.set_viewport_size({"width": 1920, "height": 1080})
    sign_in(page, live_url, "admin", "demo-admin-2026", f"/admin/users?lang={lang}")
    form = page.locator("#new-user")
    form.locator("input[name=username]").type(f"liuyang-{lang[:2].lower()}")
    form.locator("input[name=display_name]").type("刘洋")
    form.locator("input[name=password]").type("liu-pass-1")
    form.locator("select[name=role]").select_option("inspector")
    form.locator("input[name=place]").type("130984-Z01-02")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    with page.expect_navigation():
        page.get_by_role("link", name=words["menu"]).click()
    page.locator("select[name=action]").select_option(label=words["created"])
    with page.expect_navigation():
        page.click(".filters button[type=submit]")
    row = page.locator("#audit tr", has_text=f"liuyang-{lang[:2].lower()}").first
    text_ = row.inner_text()
    assert words["created"] in text_ and words["target"] in text_ and words["via"] in text_
    details = row.locator(".detail")
    assert details.locator("dt").all_inner_texts() == [words["role"], words["place"]]
    assert details.locator("dd").all_inner_texts()[1] == "130984-Z01-02"
    table = page.inner_text("#audit")
    assert "{" not in table and "\\u" not in table and "inspector" not in table
    screenshot(page, f"audit-log-{lang}.png")
    # Every action is offered by its name.
    options = page.locator("select[name=action] option").all_inner_texts()
    assert words["unlocked"] in options and "user_unlocked" not in options
    assert page.log.problems() == []


def test_the_audit_log_on_a_phone(browser, live_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, locale="zh-CN")
    page = context.new_page()
    sign_in(page, live_url, "admin", "demo-admin-2026", "/admin/users?lang=zh_Hans_CN")
    form = page.locator("#new-user")
    form.locator("input[name=username]").tap()
    form.locator("input[name=username]").type("sunjing")
    form.locator("input[name=display_name]").type("孙静")
    form.locator("input[name=password]").type("sun-pass-12")
    form.locator("input[name=place]").type("130984-Z03")
    with page.expect_navigation():
        form.locator("button[type=submit]").tap()
    assert page.locator("#users tr", has_text="sunjing").is_visible()
    with page.expect_navigation():
        page.get_by_role("link", name="操作日志").tap()
    entry = page.locator("#audit tr", has_text="sunjing").first
    assert entry.locator(".detail dt").all_inner_texts() == ["角色", "所辖网格"]
    # Read entry by entry: nothing wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    screenshot(page, "audit-log-phone.png")
    context.close()
