"""Words in messages: a refused field is named as people call it, in the request's language
("经度：应为数字", never "lon：应为数字"), with the language's punctuation; every reason the
code gives has its words; 404s of the API and Open311 are in the request's language too."""
import ast
import importlib
import pathlib
import re

import pytest
from babel.messages.pofile import read_po

from app.errors import FIELD_LABELS, domain_message, problem_text
from gis.errors import ValidationError
from gis.users import UserError
from gis.validation import Field
from tests.factories import login, small_world

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("app", "gis", "layers") for p in (ROOT / d).rglob("*.py"))
MODULES = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in SOURCES
           if p.name != "__init__.py" and "demo" not in p.parts]
CJK = r"[\u3400-\u9fff\uff00-\uffef]"


def schema_fields() -> set[str]:
    """Every field a form, query string or JSON body is validated against (dicts of Field)."""
    names = set()
    for module in MODULES:
        for value in vars(importlib.import_module(module)).values():
            if isinstance(value, dict) and value and all(isinstance(v, Field)
                                                         for v in value.values()):
                names |= set(value)
    return names


def raised() -> list[tuple[str, int, str | None, str | None, list[str]]]:
    """(path, line, field literal or None, code or None, parameter names) of every
    ValidationError and UserError the code raises."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            if name == "ValidationError" and len(node.args) >= 2:
                field, code = node.args[0], node.args[2] if len(node.args) > 2 else kw.get("code")
            elif name == "UserError" and node.args:
                field = node.args[2] if len(node.args) > 2 else kw.get("field")
                code = node.args[1] if len(node.args) > 1 else kw.get("code")
            else:
                continue
            # A code computed at run time (f"expected_{kind}", a variable) is checked where it
            # is made; "<dynamic>" marks it.
            literal = (lambda n: n.value if isinstance(n, ast.Constant) else "<dynamic>")
            found.append((str(path.relative_to(ROOT)), node.lineno,
                          literal(field) if field is not None else None,
                          literal(code) if code is not None else None,
                          [k for k in kw if k not in ("code", "field")]))
    return found


def test_the_scans_find_what_they_should():
    assert {"lon", "lat", "comment", "valid_from", "place", "username"} <= schema_fields()
    codes = {code for *_x, code, _p in raised()}
    assert {"required", "not_date", "no_such_cell", "place_code", "later_version"} <= codes


def test_every_field_a_message_can_name_has_a_label():
    fields = schema_fields() | {f for _p, _l, f, _c, _k in raised() if f and f != "<dynamic>"}
    assert sorted(fields - set(FIELD_LABELS)) == [], \
        "give each field a label in app/errors.py FIELD_LABELS"


def test_every_reason_the_code_gives_has_its_words(app):
    """A code without words here shows the domain's English to a Chinese reader."""
    missing = []
    with app.test_request_context("/?lang=zh_Hans_CN"):
        for path, line, _field, code, params in raised():
            if code == "<dynamic>" or path == "app/cli.py":
                continue  # the command line speaks English
            if code == "invalid" and params == []:
                # A boundary's problem as gis.files words it (GEOS's reasons among them),
                # after the cell's code: still English (the editor's upload messages).
                continue
            english = "ENGLISH FALLBACK"
            if code is None or problem_text(code, {p: "甲" for p in params} | {
                    "n": 1, "count": 1, "limit": 1, "first": "1900-01-01",
                    "last": "2199-12-31", "other": "from", "role": "leader",
                    "choices": "甲, 乙"}, english) == english:
                missing.append(f"{path}:{line} code={code!r}")
    assert missing == []


# An ASCII identifier inside a Chinese message: "comment", "valid_from", "lon".
IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_.-])([a-z][a-z0-9]*(?:_[a-z0-9]+)*)(?![A-Za-z0-9_-])")


@pytest.mark.parametrize("lang", ["zh_Hans_CN"])
def test_no_validation_message_in_chinese_holds_a_field_identifier(app, lang):
    identifiers = {f for f in FIELD_LABELS if len(f) > 1}
    bad = []
    params = {"n": 8, "count": 3, "limit": 2, "first": "1900-01-01", "last": "2199-12-31",
              "choices": "甲, 乙", "cell": "网格甲", "grid": "网格乙", "item": "甲",
              "name": "李伟", "role": "leader", "other": "from", "line": 3, "header": 2}
    codes = {code for *_x, code, _p in raised() if code} - {"invalid", "<dynamic>"}
    with app.test_request_context(f"/?lang={lang}"):
        for field in sorted(identifiers):
            for code in sorted(codes):
                message = domain_message(ValidationError(field, "english", code, **params))
                words = set(IDENTIFIER.findall(message)) & identifiers
                if words or not message.startswith(str(FIELD_LABELS[field]) + "："):
                    bad.append(message)
    assert bad == []


def test_the_scan_would_catch_an_identifier():
    assert IDENTIFIER.findall("未提交：comment：必填") == ["comment"]
    assert IDENTIFIER.findall("经度：应为数字；EPSG:4326，130984-Z01-01") == []


def test_a_user_error_names_its_field_in_words(app):
    with app.test_request_context("/?lang=zh_Hans_CN"):
        message = domain_message(UserError("place 'x y': ...", "place_code", "place",
                                           cell="x y"))
        assert message == ("所辖网格（网格编码）：“x y”不是网格编码；网格编码须为 1–32 位英文字母、"
                           "数字、“-”或“_”，如 130984-Z01-01")
    with app.test_request_context("/?lang=en"):
        assert domain_message(UserError("no such user", "no_such_user", "username",
                                        name="ghost")) == "username: there is no user ghost"


def test_a_place_in_a_file_is_said_in_the_language(app):
    from app.errors import field_message
    with app.test_request_context("/?lang=zh_Hans_CN"):
        assert field_message("line 7", "超过 65536 字节") == "第 7 行：超过 65536 字节"
        assert field_message("row 12", "必填") == "第 12 行：必填"
        assert field_message("row 3 (HJ-9)", "必填") == "第 3 行（HJ-9）：必填"
    with app.test_request_context("/?lang=en"):
        assert field_message("line 7", "too long") == "line 7: too long"


# --- through the app, as clients see them ---------------------------------------------------

@pytest.fixture
def admin(client, session):
    small_world(session)
    login(client, "admin")
    return client


@pytest.mark.parametrize("lang, lon, comment", [
    ("zh_Hans_CN", "经度：应为数字", "原因：必填"),
    ("en", "longitude: expected a number", "why: required"),
])
def test_api_400s_name_fields_in_the_requests_language(admin, lang, lon, comment):
    answer = admin.get(f"/api/v1/lookup?lon=abc&lat=38.45&lang={lang}").get_json()
    assert answer["error"] == {"status": 400, "code": "expected_float", "field": "lon",
                               "message": lon}
    answer = admin.post(f"/api/v1/grid/S1/commit?lang={lang}", json={"geometries": {}})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"] == comment


def test_a_form_error_page_names_the_field_in_chinese(admin):
    page = admin.post("/account/tokens?lang=zh_Hans_CN", data={"name": ""})
    assert page.status_code == 400
    assert "名称：必填" in page.get_data(as_text=True)


CATALOGUE = ROOT / "app/translations/zh_Hans_CN/LC_MESSAGES/messages.po"
# ASCII punctuation touching a Chinese character (or a placeholder that ends in Chinese text):
# Chinese writes ：，；（） there.
ASCII_PUNCT = re.compile(rf"{CJK}\s*[,:;()]|[,:;(]\s*{CJK}|\)\s*{CJK}")


def test_the_chinese_catalogue_uses_full_width_punctuation():
    with open(CATALOGUE, "rb") as fh:
        catalogue = read_po(fh, locale="zh_Hans_CN")
    bad = [m.string for m in catalogue if m.id and isinstance(m.string, str)
           and ASCII_PUNCT.search(re.sub(r"%\(\w+\)[sd]", "", m.string))]
    assert bad == []


# --- 404s of the API -------------------------------------------------------------------------

NOT_FOUND = {"zh_Hans_CN": re.compile(CJK), "en": re.compile(r"^[\x00-\x7f]+$")}


def _api_404_urls(app) -> list[str]:
    """Each GET rule under /api/ and /open311/ with made-up values, and a path that matches
    nothing there."""
    urls = ["/api/v1/no-such-thing", "/open311/v2/services.json", "/api/v2/lookup"]
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith(("/api/", "/open311/")):
            continue
        if not rule.arguments:
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = re.sub(rf"<(?:\w+:)?{arg}>", "987654" if "int:" + arg in rule.rule
                         else "NOPE-404", url)
        urls.append(url)
    return urls


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_api_404s_are_json_in_the_requests_language(app, admin, lang):
    seen = 0
    for url in _api_404_urls(app):
        response = admin.get(url, query_string={"lang": lang})
        if response.status_code != 404:
            continue
        seen += 1
        assert response.is_json, url
        body = response.get_json()
        # Open311's addresses answer in the GeoReport v2 standard's shape, the API in its own.
        message = (body[0]["description"] if url.startswith("/open311/")
                   else body["error"]["message"])
        assert NOT_FOUND[lang].search(message), (url, message)
    assert seen >= 6


@pytest.mark.parametrize("lang, words", [("zh_Hans_CN", "不在任何网格内"),
                                         ("en", "outside every cell")])
def test_a_point_outside_every_cell_is_said_in_the_requests_language(admin, lang, words):
    answer = admin.get("/api/v1/lookup", query_string={"lon": 116.5, "lat": 38.45,
                                                       "lang": lang})
    assert answer.status_code == 404
    error = answer.get_json()["error"]
    assert words in error["message"] and error["nearest_cell"]["code"] in error["message"]


@pytest.mark.parametrize("path", ["/api/v1/me", "/tiles/cells/0/0/0.pbf"])
def test_without_a_login_the_api_and_tiles_answer_401_json_in_the_language(client, path):
    answer = client.get(path, query_string={"lang": "en"})
    assert answer.status_code == 401 and answer.get_json()["error"]["message"] == "Please log in."
    answer = client.get(path, query_string={"lang": "zh_Hans_CN"})
    assert answer.get_json()["error"]["message"] == "请先登录。"
