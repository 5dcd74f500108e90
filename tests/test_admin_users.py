"""The users page: a refused form comes back with what was typed and the reason in the user's
language, naming the field and the code; failed logins are shown and cleared."""
import re

import pytest
from sqlalchemy import text

from gis import users
from tests.factories import login, small_world
from tests.test_i18n import english_words


@pytest.fixture
def admin(client, session):
    small_world(session)
    login(client, "admin")
    return client


def _input(html: str, form: str, name: str) -> str:
    """The tag of the input (or select) ``name`` (or with that id) in the form ``form``."""
    section = html[html.index(f'id="{form}"'):]
    section = section[:section.index("</form>")]
    return re.search(rf'<(?:input|select)[^>]*(?:name|id)="{name}"[^>]*>', section).group(0)


def _value(html: str, form: str, name: str) -> str:
    match = re.search(r'value="([^"]*)"', _input(html, form, name))
    return match.group(1) if match else ""


@pytest.mark.parametrize("place, words", [
    ("S1 01", "所辖网格（网格编码）：“S1 01”不是网格编码；网格编码须为 1–32 位英文字母、数字、“-”或“_”"),
    ("S9-99", "所辖网格（网格编码）：没有编码为“S9-99”的网格；请填写现有网格的编码"),
    ("<b>S1</b>", "“&lt;b&gt;S1&lt;/b&gt;”不是网格编码"),
])
def test_a_new_user_with_a_bad_place_is_refused_keeping_the_form(admin, session, place, words):
    page = admin.post("/admin/users?lang=zh_Hans_CN", data={
        "username": "zhoujie", "password": "long-pass-1", "display_name": "周杰",
        "role": "inspector", "place": place})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert words in html
    assert _value(html, "new-user", "username") == "zhoujie"
    assert _value(html, "new-user", "display_name") == "周杰"
    assert 'value="inspector" selected' in html
    assert 'aria-invalid="true"' in _input(html, "new-user", "place")
    assert _value(html, "new-user", "password") == ""  # a password is never sent back
    assert english_words(html[html.index("<main>"):]) == set()
    assert session.execute(text(
        "SELECT count(*) FROM app_user WHERE username = 'zhoujie'")).scalar() == 0


@pytest.mark.parametrize("data, field, words", [
    ({"role": "admin", "place": "S1"}, "place", "系统管理员角色不绑定网格，请留空"),
    ({"role": "leader", "place": ""}, "place", "角色须填写所辖网格的编码"),
    ({"role": "leader", "place": "S1", "password": "short"}, "password",
     "密码：至少 8 个字符"),
    ({"role": "leader", "place": "S1", "username": "admin"}, "username", "用户 admin 已存在"),
])
def test_every_refusal_of_the_new_user_form_says_why_in_chinese(admin, data, field, words):
    form = {"username": "zhoujie", "password": "long-pass-1", "display_name": "周杰", **data}
    html = admin.post("/admin/users?lang=zh_Hans_CN", data=form).get_data(as_text=True)
    assert words in html
    assert 'aria-invalid="true"' in _input(html, "new-user", field)


def test_a_role_at_a_cell_that_does_not_exist_keeps_the_add_role_form(admin):
    page = admin.post("/admin/users/s1-leader/roles?lang=en",
                      data={"role": "leader", "place": "S9"})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "place (cell code): there is no cell “S9”" in html
    assert _value(html, "add-role", "role-username") == "s1-leader"
    assert _value(html, "add-role", "place") == "S9"


def test_a_role_for_a_user_who_does_not_exist(admin):
    html = admin.post("/admin/users/ghost/roles?lang=zh_Hans_CN",
                      data={"role": "leader", "place": "S1"}).get_data(as_text=True)
    assert "用户名：没有用户 ghost" in html


def test_a_weak_reset_password_is_refused_on_its_row(admin):
    html = admin.post("/admin/users/s1-leader/password?lang=zh_Hans_CN",
                      data={"password": "abcdefgh"}).get_data(as_text=True)
    assert 'id="password-s1-leader-problem"' in html and "密码：须由字母与数字或符号组合" in html


def test_failed_logins_are_shown_and_cleared_by_an_admin(admin, client, session):
    rules = users.ThrottleRules(max_failures=1)
    for _ in range(3):
        users.login(session, "s1-leader", "wrong", client="10.0.0.9", rules=rules)
    html = admin.get("/admin/users?lang=zh_Hans_CN").get_data(as_text=True)
    row = html[html.index('data-username="s1-leader"'):]
    row = row[:row.index("</tr>")]
    assert "登录失败次数过多，须等待至" in row and "解除锁定" in row
    assert admin.post("/admin/users/s1-leader/unlock").status_code == 302
    assert users.login(session, "s1-leader", "secret-pass-1", client="10.0.0.9",
                       rules=rules).identity is not None
    entry = session.execute(text(
        "SELECT username, target FROM audit_log WHERE action = 'user_unlocked'")).one()
    assert entry == ("admin", "user s1-leader")
