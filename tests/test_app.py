"""The Flask adapter: factory configuration, pages answer, Chinese by default."""
import os
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo

from app import create_app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def logged_in(client, session):
    from tests.factories import login, small_world

    small_world(session)
    assert login(client, "admin").status_code == 302
    return client


def test_index_answers_in_chinese_by_default(logged_in):
    page = logged_in.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "网格通" in html and "企业监管等级分布" in html


def test_lang_parameter_switches_to_english_and_sticks(logged_in):
    assert "GridWatch" in logged_in.get("/?lang=en").get_data(as_text=True)
    assert "Enterprises by supervision grade" in logged_in.get("/").get_data(as_text=True)


def test_healthz_checks_the_database(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_environment_overrides_defaults_in_the_factory(monkeypatch):
    monkeypatch.setenv("GRIDWATCH_MAX_CONTENT_LENGTH", "1024")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1:1/y")
    app = create_app({"TESTING": True, "ENV": "development"})
    assert app.config["MAX_CONTENT_LENGTH"] == 1024
    assert app.config["DATABASE_URL"] == "postgresql://x@127.0.0.1:1/y"


def test_production_refuses_the_default_secret_key(monkeypatch):
    monkeypatch.setenv("GRIDWATCH_ENV", "production")
    with pytest.raises(RuntimeError, match="GRIDWATCH_SECRET_KEY"):
        create_app()


def test_every_setting_is_documented():
    import app.settings as settings

    doc = Path(ROOT, "docs", "configuration.md").read_text(encoding="utf-8")
    names = [n for n in dir(settings) if n.isupper()]
    assert names and [n for n in names if f"`{n}`" not in doc] == []


def test_every_user_visible_string_has_a_chinese_translation():
    mo = os.path.join(ROOT, "app", "translations", "zh_Hans_CN", "LC_MESSAGES", "messages.mo")
    with open(mo, "rb") as fh:
        catalog = read_mo(fh)
    method_map = [("app/**.py", "python"), ("gis/**.py", "python"),
                  ("layers/**.py", "python"), ("templates/**.html", "jinja2")]
    missing = []
    for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT, method_map=method_map,
            keywords={"_": None, "_l": None, "N_": None, "gettext": None}):
        msgid = message if isinstance(message, str) else message[0]
        entry = catalog.get(msgid)
        if entry is None or not entry.string:
            missing.append(msgid)
    assert missing == [], "untranslated (run scripts/update-translations.sh): " + repr(missing)
