"""What the history says to a person (gis/history.py): cells by name, people by display name,
the villages a change moved from one cell to another, and the changes of a grid in order."""
import datetime as dt

import pytest
from sqlalchemy import text

from gis import history, redraw
from tests.factories import small_world, three_villages

LONG_AGO = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=60)


@pytest.fixture
def world(session):
    small_world(session, valid_from=LONG_AGO)
    three_villages(session)
    session.execute(text("UPDATE app_user SET display_name = '张网格' "
                         "WHERE username = 's1-manager'"))


def move(session, village, target, comment):
    proposal = redraw.village_moves(session, "S1", {village: target})
    return redraw.commit(session, proposal, username="s1-manager", comment=comment,
                         valid_from=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))


def test_a_change_names_the_villages_it_moved_and_who_made_it(session, world):
    change = move(session, "130984100001", "S1-02", "移交村1")
    record = history.change_record(session, change)
    assert record["who"] == "张网格" and record["username"] == "s1-manager"
    assert [(v["name"], v["from_code"], v["from_name"], v["to_code"]) for v in
            record["villages"]] == [("村1", "S1-01", "cell S1-01", "S1-02")]
    assert [(c["code"], c["name"]) for c in record["cells"]] == [
        ("S1-01", "cell S1-01"), ("S1-02", "cell S1-02")]
    assert record["cells"][0]["area_after_km2"] < record["cells"][0]["area_before_km2"]
    assert record["parent_name"] == "cell S1" and record["previous"] is None


def test_a_cells_history_says_which_villages_came_and_went(session, world):
    change = move(session, "130984100001", "S1-02", "移交村1")
    west, east = history.cell_history(session, "S1-01"), history.cell_history(session, "S1-02")
    assert west["name"] == "cell S1-01" and west["parent_code"] == "S1"
    assert [v["name"] for v in west["versions"][0]["villages_out"]] == ["村1"]
    assert [v["name"] for v in east["versions"][0]["villages_in"]] == ["村1"]
    assert west["versions"][0]["who"] == "张网格" and west["versions"][0]["change_id"] == change
    assert west["versions"][1]["villages_in"] == west["versions"][1]["villages_out"] == []
    assert redraw.history(session, "S1-01")["versions"][0]["villages_out"]


def test_changes_of_a_grid_link_to_each_other_and_to_their_revert(session, world):
    first = move(session, "130984100001", "S1-02", "移交村1")
    undo = redraw.revert(session, first, username="s1-manager", comment="撤销")
    first_record = history.change_record(session, first)
    undo_record = history.change_record(session, undo)
    assert first_record["next"] == undo and undo_record["previous"] == first
    assert first_record["reverted_by"] == undo and undo_record["reverts"] == first
    assert [(v["from_code"], v["to_code"]) for v in undo_record["villages"]] == [
        ("S1-02", "S1-01")]
    assert [c["id"] for c in history.grid_changes(session, "S1")] == [undo, first]
    assert history.change_record(session, 10 ** 9) is None


def test_the_change_page_and_the_history_page(client, session, world):
    from tests.factories import login

    change = move(session, "130984100001", "S1-02", "移交村1")
    login(client, "s1-leader")
    page = client.get(f"/grid/changes/{change}?lang=en").get_data(as_text=True)
    assert "张网格" in page and "村1" in page and "cell S1-02" in page
    assert "Redraw in the grid editor" not in page  # a leader views, edits nothing
    assert client.get("/grid/changes/999999").status_code == 404
    login(client, "s1-manager")
    page = client.get("/cells/S1-01/history?lang=en").get_data(as_text=True)
    assert "村1 to cell S1-02" in page and "/grid/S1/edit" in page
    assert f"/grid/changes/{change}" in page
    login(client, "s2-manager")
    assert client.get(f"/grid/changes/{change}").status_code in (403, 404)


def test_the_editor_history_and_change_pages_are_chinese_in_chinese(client, session, world):
    import json
    import re

    from tests.factories import login
    from tests.test_i18n import english_words

    change = move(session, "130984100001", "S1-02", "移交村1")
    session.execute(text("UPDATE cell SET name = '网格' || code"))  # names are data, as people's
    login(client, "s1-manager")
    for path in ("/grid/S1/edit", "/cells/S1-01/history", f"/grid/changes/{change}"):
        html = client.get(path + "?lang=zh_Hans_CN").get_data(as_text=True)
        assert english_words(html) - {"GCJ", "WGS", "GPS", "Shapefile", "GeoPackage", "UTC",
                                      "Asia", "Shanghai", "zip", "geojson", "gpkg",
                                      "code"} == set(), path
    editor = client.get("/grid/S1/edit?lang=zh_Hans_CN").get_data(as_text=True)
    config = json.loads(re.search(r'id="editor-config">(.*?)</script>', editor, re.S).group(1))
    texts = " ".join(config["texts"].values())
    assert re.findall(r"[A-Za-z]{3,}", re.sub(r"\{\w+\}", "", texts)) == []
