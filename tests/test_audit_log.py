"""The audit log reads in Chinese: every action the code records has a name, every detail a
label, every target kind a word; details are labelled fields (never raw JSON or \\u escapes),
values are escaped, times and the day filters are the bureau's local time."""
import ast
import datetime as dt
import json
import pathlib
import re

import pytest
import shapely
from sqlalchemy import text

from app.admin import ACTION_LABELS, DETAIL_LABELS, TARGET_KINDS
from tests.factories import login, small_world
from tests.test_i18n import english_words

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("app", "gis", "layers") for p in (ROOT / d).rglob("*.py"))
# Keywords of record() that are columns of the entry, not details.
COLUMNS = {"target", "flag", "detail", "user_id", "username", "remote_addr", "via"}


def _name(func) -> str:
    return getattr(func, "attr", getattr(func, "id", ""))


def _calls():
    """(path, call) for every call that writes an audit entry: app.auth.record(action, ...),
    gis.audit.record(session, action, ...), and the CLI's helpers that call them with the
    action they are given (_user_command(work, action, ...), _run_import(label, ...) ->
    "<label>_imported")."""
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and _name(node.func) in (
                    "record", "_user_command", "_run_import"):
                yield path, node


def _action(path, call):
    """The action a call records; None for a call that forwards a variable it was given (the
    helpers' own bodies), which the helpers' call sites are read for."""
    name = _name(call.func)
    if name == "record" and isinstance(call.func, ast.Attribute) and \
            _name(call.func.value) in ("audit", "audit_log"):
        arg = call.args[1] if len(call.args) > 1 else None
    elif name == "record" and isinstance(call.func, ast.Name):
        arg = call.args[0] if call.args else None
    elif name == "_user_command":
        arg = call.args[1]
    elif name == "_run_import":
        return f"{call.args[0].value}_imported"
    else:
        return None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Name) and arg.id in ("action", "audit_action"):
        return None
    if isinstance(arg, ast.JoinedStr) and path.name == "cli.py":
        return None  # _run_import's f"{label}_imported", read at its call sites
    raise AssertionError(f"{path.relative_to(ROOT)}:{call.lineno}: write the audit action as "
                         "a literal, so its label can be checked")


def _detail_keys(call):
    keys = {kw.arg for kw in call.keywords if kw.arg and kw.arg not in COLUMNS}
    for kw in call.keywords:
        if kw.arg == "detail" or kw.arg is None:
            keys |= _literal_keys(kw.value)
    return keys


def _literal_keys(node) -> set[str]:
    """String keys a detail expression spells out: dict literals' keys and the strings a
    comprehension iterates over ({k: result[k] for k in ("inserted", ...)})."""
    keys = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Dict):
            keys |= {k.value for k in sub.keys if isinstance(k, ast.Constant)}
        if isinstance(sub, ast.comprehension):
            keys |= {n.value for n in ast.walk(sub.iter) if isinstance(n, ast.Constant)
                     and isinstance(n.value, str)}
    return keys


def _target_kinds(call) -> set[str]:
    kinds = set()
    for kw in call.keywords:
        if kw.arg != "target":
            continue
        value = kw.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            kinds.add(value.value)
        elif isinstance(value, ast.JoinedStr) and isinstance(value.values[0], ast.Constant):
            kinds.add(value.values[0].value.rstrip())
    if _name(call.func) == "_user_command" and len(call.args) > 2 and \
            isinstance(call.args[2], ast.JoinedStr):
        kinds.add(call.args[2].values[0].value.rstrip())
    return kinds


def recorded_actions() -> set[str]:
    return {a for path, call in _calls() if (a := _action(path, call))}


def test_the_scan_finds_the_actions_it_should():
    found = recorded_actions()
    # One of each way of recording: a view, the domain, the CLI's helpers.
    assert {"login", "grid_changed", "enterprises_imported", "cells_imported", "user_created",
            "token_revoked", "user_unlocked"} <= found


def test_every_action_the_code_records_has_a_label():
    assert sorted(recorded_actions() - set(ACTION_LABELS)) == [], \
        "give each new audit action a label in app/admin.py ACTION_LABELS"


def test_every_detail_the_code_records_has_a_label():
    from gis import redraw

    keys = set()
    for _path, call in _calls():
        keys |= _detail_keys(call)
    # What redraw.audit_detail returns is spread into grid_changed's details.
    keys |= set(redraw.audit_detail(1, redraw.Proposal("S1"), "c", None))
    # _run_import's summary counts.
    keys |= {"inserted", "updated", "unchanged", "refused"}
    assert sorted(keys - set(DETAIL_LABELS)) == [], \
        "give each new detail a label in app/admin.py DETAIL_LABELS"


def test_every_target_kind_has_a_word():
    kinds = set()
    for _path, call in _calls():
        kinds |= _target_kinds(call)
    kinds.discard("")
    assert kinds and sorted(kinds - set(TARGET_KINDS)) == []


# --- the page --------------------------------------------------------------------------------

@pytest.fixture
def admin(client, session):
    small_world(session, valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    login(client, "admin")
    return client


def _audit(client, lang="zh_Hans_CN", **args):
    response = client.get("/admin/audit", query_string={"lang": lang, **args})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _row(html: str, action: str) -> str:
    [row] = re.findall(rf'<tr>\s*<td class="when">(?:(?!</tr>).)*data-action="{action}"'
                       r'(?:(?!</tr>).)*</tr>', html, re.S)
    return row


def _do_many_things(client, session):
    """Real writes through the app: users, roles, an owner dated in the past, intervals, a
    complaint, an inspection, a redraw, a token, a failed login."""
    client.post("/admin/users", data={"username": "liwei", "password": "long-pass-1",
                                      "display_name": "李伟", "role": "inspector",
                                      "place": "S1-01"})
    client.post("/admin/users/liwei/roles", data={"role": "leader", "place": "S1"})
    client.post("/admin/users/liwei/roles/remove", data={"role": "leader", "place": "S1"})
    client.post("/admin/users/liwei/password", data={"password": "other-pass-2"})
    client.post("/admin/users/liwei/unlock")
    person = session.execute(text(
        "INSERT INTO person (name, phone) VALUES ('王建国', '13931745678') RETURNING id")).scalar()
    assert client.put("/api/v1/cells/S1-01/owner", json={
        "person_id": person, "valid_from": "2026-03-02T02:00",
        "backdate_reason": "镇政府文件补录"}).status_code == 200
    assert client.put("/api/v1/reference/grade-intervals", json={"D": 60}).status_code == 200
    assert client.post("/api/v1/reference/checklist-items", json={
        "code": "Q09", "title": "<b>标识</b>"}).status_code == 201
    edge = {"S1-01": shapely.box(116.0, 38.4, 116.04, 38.5),
            "S1-02": shapely.box(116.04, 38.4, 116.1, 38.5)}
    assert client.post("/api/v1/grid/S1/commit", json={
        "geometries": {c: json.loads(shapely.to_geojson(g)) for c, g in edge.items()},
        "comment": "<script>alert(1)</script>平衡工作量", "valid_from": "2026-03-02",
        "backdate_reason": "补录"}).status_code == 201
    client.post("/account/tokens", data={"name": "手机"})
    client.post("/account/language", data={"lang": "zh_Hans_CN"})
    client.application.test_client().post("/login", data={"username": "s1-leader",
                                                          "password": "wrong-pass-9"})


def test_the_log_in_chinese_names_actions_and_labels_every_detail(admin, session):
    _do_many_things(admin, session)
    html = _audit(admin)
    assert english_words(html[html.index("<main>"):]) == set()
    owner = _row(html, "cell_owner_set")
    assert "更换网格责任人" in owner and "王建国" in owner and "追溯生效" in owner
    assert "<dt>生效时间</dt>" in owner and "2026年3月2日 02:00:00" in owner
    assert "<dt>追溯生效理由</dt>" in owner and "镇政府文件补录" in owner
    intervals = _row(html, "grade_intervals_set")
    assert "<dt>D级巡查间隔（天）</dt>" in intervals and "<dd>60</dd>" in intervals
    created = _row(html, "user_created")
    assert "创建用户" in created and "用户 <span" in created
    assert re.search(r"<dt>角色</dt><dd>[^<a-z]+</dd>", created)  # the role in words
    changed = _row(html, "grid_changed")
    assert "调整网格边界" in changed and "S1-01和S1-02" in changed
    assert "解除登录锁定" in html and "更改语言" in html
    failed = _row(html, "login_failed")
    assert "<dt>原因</dt><dd>用户名或密码错误</dd>" in failed and "用户 <span" in failed
    change = re.search(r"<dt>变更编号</dt><dd[^>]*>(\d+)</dd>", changed)
    assert change and "," not in change.group(1)  # a record's number, not a quantity
    # Labelled fields, not JSON: no braces, quotes around keys or \u escapes anywhere.
    table = html[html.index('id="audit"'):]
    assert "{" not in table and "\\u" not in table and '"valid_from"' not in table


def test_values_are_escaped(admin, session):
    _do_many_things(admin, session)
    html = _audit(admin)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;平衡工作量" in html
    assert "<b>标识</b>" not in html and "&lt;b&gt;标识&lt;/b&gt;" in html


def test_the_log_in_english_says_it_in_english(admin, session):
    _do_many_things(admin, session)
    html = _audit(admin, lang="en")
    owner = _row(html, "cell_owner_set")
    assert "Cell owner changed" in owner and "<dt>Takes effect on</dt>" in owner
    assert "Mar 2, 2026, 2:00:00" in owner
    assert "User <span" in _row(html, "user_created")


def test_times_are_shown_and_filtered_in_the_bureaus_zone(admin, session):
    # 18:30 UTC on 1 March is 02:30 on 2 March in Beijing.
    session.execute(text("""
        INSERT INTO audit_log (at, username, action, target, detail, via)
        VALUES ('2026-03-01 18:30:00+00', 'cli', 'cells_imported', 'cells.geojson',
                '{"inserted": 3, "valid_from": "2026-03-01 18:00:00+00:00"}', 'cli')"""))
    html = _audit(admin, since="2026-03-02", until="2026-03-02")
    row = _row(html, "cells_imported")
    assert "2026年3月2日 02:30:00" in row  # the time of the entry
    assert "2026年3月2日 02:00:00" in row  # the date-time it recorded
    assert "<dd>3</dd>" in row and "（命令行）" in row
    for outside in ({"since": "2026-03-01", "until": "2026-03-01"}, {"since": "2026-03-03"}):
        assert 'data-action="cells_imported"' not in _audit(admin, **outside)


def test_the_action_filter_offers_every_action_by_its_name(admin):
    html = _audit(admin)
    select = html[html.index('name="action"'):html.index("</select>")]
    for action, label in ACTION_LABELS.items():
        assert f'value="{action}"' in select
    assert "调整网格边界" in select and "grid_changed</option>" not in select
