"""Redrawing the second-level grids under the city (station boundaries): whole villages and
townships move to a level-3 cell the manager picks, outlines and files redraw both levels;
children stay inside their parents (a cell the new edge cuts is named), a village handed to
another station needs its target cell, only a city-level grid manager may, and the change is
dated: lookups at an earlier date answer the old grid."""
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
import shapely
from sqlalchemy import text

from gis import redraw
from gis.redraw_level2 import CityProposal, CityRedraw, Level2Error, NotValid
from tests.factories import PASSWORD, add_enterprises, cell_of, login, small_world

BUREAU = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime.now(dt.timezone.utc)
MONTH_AGO = NOW - dt.timedelta(days=30)
# Yesterday at 02:00 in the bureau's zone: within the 48 hours a grid manager may date a change
# back; the day before is still the old grid.
DAY = (NOW.astimezone(BUREAU) - dt.timedelta(days=1)).date()
CHANGE_AT = dt.datetime.combine(DAY, dt.time(2, 0), tzinfo=BUREAU)

# Townships and villages, west to east (lon; every one spans lat 38.4-38.5). The small world's
# cells: S1-01 = 116.00-116.05 (V11, V12), S1-02 = 116.05-116.10 (V13, V31, V32) in station
# grid S1; S2-01 = 116.10-116.20 (V21, V22) in S2.
T1, T2, T3 = "130984100000", "130984200000", "130984300000"
V11, V12, V13 = "130984100001", "130984100002", "130984100003"
V21, V22 = "130984200001", "130984200002"
V31, V32 = "130984300001", "130984300002"
PLACES = [(T1, "甲镇", [(V11, "一村", 116.0, 116.03), (V12, "二村", 116.03, 116.05),
                       (V13, "三村", 116.05, 116.07)]),
          (T2, "乙镇", [(V21, "乙一村", 116.1, 116.13), (V22, "乙二村", 116.13, 116.2)]),
          (T3, "丙乡", [(V31, "丙一村", 116.07, 116.085), (V32, "丙二村", 116.085, 116.1)])]


def box(x0, x1):
    return shapely.MultiPolygon([shapely.box(x0, 38.4, x1, 38.5)])


@pytest.fixture
def world(session):
    """The small world a month old, with villages and townships, owners for S1-02 and S2-01,
    a grid manager at the city, and W1 in V31, W2 and Y1 in V32, X3 in V21."""
    small_world(session, valid_from=MONTH_AGO)
    from gis.users import create_user

    create_user(session, "city-manager", PASSWORD, role="grid_manager", place="C")
    for township, name, villages in PLACES:
        x0, x1 = villages[0][2], villages[-1][3]
        session.execute(text("""
            INSERT INTO township (code, name, geom)
            VALUES (:c, :n, ST_Multi(ST_MakeEnvelope(:x0, 38.4, :x1, 38.5, 4326)))"""),
            {"c": township, "n": name, "x0": x0, "x1": x1})
        for code, vname, vx0, vx1 in villages:
            session.execute(text("""
                INSERT INTO village (code, name, township_id, geom)
                SELECT :c, :n, id, ST_Multi(ST_MakeEnvelope(:x0, 38.4, :x1, 38.5, 4326))
                FROM township WHERE code = :t"""),
                {"c": code, "n": vname, "t": township, "x0": vx0, "x1": vx1})
    add_enterprises(session, ("W1", 116.08, 38.45), ("W2", 116.09, 38.42),
                    ("Y1", 116.097, 38.47), ("X3", 116.12, 38.45), valid_from=MONTH_AGO)
    for person, cell in (("网格员甲", "S1-02"), ("网格员乙", "S2-01")):
        session.execute(text("""
            WITH p AS (INSERT INTO person (name, phone) VALUES (:n, '03171234567') RETURNING id)
            INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
            SELECT p.id, 'department', 'owner', c.id, :t FROM p, cell c WHERE c.code = :c"""),
            {"n": person, "c": cell, "t": MONTH_AGO})


def errors(report):
    return sorted((f.kind, f.cell) for f in report.errors)


# -- moving villages and townships ---------------------------------------------------------

def test_a_village_moved_to_a_cell_of_another_station_redraws_both_levels(session, world):
    job = CityRedraw(session, CityProposal("C", villages={V32: "S2-01"}))
    assert sorted(job.plan.geometries) == ["S1", "S1-02", "S2", "S2-01"]
    assert job.plan.geometries["S1"].equals(box(116.0, 116.085))
    assert job.plan.geometries["S2-01"].equals(box(116.085, 116.2))
    assert job.check().findings == []
    effect = job.effect()
    grids = {g["code"]: g for g in effect["grids"]}
    assert (grids["S1"]["enterprises_before"], grids["S1"]["enterprises_after"]) == (4, 2)
    assert (grids["S2"]["enterprises_before"], grids["S2"]["enterprises_after"]) == (2, 4)
    assert (grids["S1"]["villages_before"], grids["S1"]["villages_after"]) == (5, 4)
    assert (grids["S2"]["villages_before"], grids["S2"]["villages_after"]) == (2, 3)
    assert effect["rises"] == ["S2"] and effect["falls"] == ["S1"]
    [village] = effect["villages"]
    assert (village["code"], village["name"], village["from_cell"], village["to_cell"],
            village["from_grid"], village["to_grid"], village["enterprises"]) == (
        V32, "丙二村", "S1-02", "S2-01", "S1", "S2", 2)
    assert {(m["management_code"], m["from_grid"], m["to_grid"]) for m in effect["moves"]} == {
        ("W2", "S1", "S2"), ("Y1", "S1", "S2")}
    assert effect["between_grids"] == 2
    owners = {o["name"]: o for o in effect["owners"]}
    assert (owners["网格员甲"]["enterprises_before"], owners["网格员甲"]["enterprises_after"]) \
        == (3, 1)
    assert (owners["网格员乙"]["enterprises_before"], owners["网格员乙"]["enterprises_after"]) \
        == (2, 4)
    assert owners["网格员乙"]["workload_change"] == pytest.approx(2 * 365 / 180, abs=0.1)
    change = job.commit(username="city-manager", comment="丙二村划归乙站")
    assert cell_of(session, "W2") == ("S2-01", False)
    assert cell_of(session, "W2", NOW - dt.timedelta(days=1)) == ("S1-02", False)
    assert cell_of(session, "W1") == ("S1-02", False)
    summary = session.execute(text("SELECT summary FROM grid_change WHERE id = :i"),
                              {"i": change}).scalar()
    assert summary["grids"] == ["S1", "S2"] and summary["cells"] == ["S1-02", "S2-01"]
    assert summary["villages"] == [{"code": V32, "name": "丙二村", "from_cell": "S1-02",
                                    "to_cell": "S2-01", "from_grid": "S1", "to_grid": "S2"}]
    # History: the old versions closed at the change, never overwritten.
    for code in ("S1", "S2", "S1-02", "S2-01"):
        versions = redraw.history(session, code)["versions"]
        assert [v["change_id"] for v in versions] == [change, None]
        assert versions[1]["valid_to"] == versions[0]["valid_from"]
    assert redraw.history(session, "S1-01")["versions"][0]["change_id"] is None


def test_a_whole_township_moves_with_its_villages_and_a_village_may_go_its_own_way(
        session, world):
    job = CityRedraw(session, CityProposal("C", townships={T3: "S2-01"}))
    assert job.check().findings == []
    assert job.plan.geometries["S1-02"].equals(box(116.05, 116.07))
    assert job.plan.geometries["S2"].equals(box(116.07, 116.2))
    assert [v["code"] for v in job.effect()["villages"]] == [V31, V32]
    # A village named on its own overrides its township's target.
    job = CityRedraw(session, CityProposal("C", townships={T3: "S2-01"},
                                           villages={V31: "S1-02"}))
    assert [v.code for v in job.plan.villages] == [V32]
    change = CityRedraw(session, CityProposal("C", townships={T3: "S2-01"})).commit(
        username="city-manager", comment="丙乡整体划归乙站")
    assert cell_of(session, "W1") == ("S2-01", False)
    assert session.execute(text("SELECT summary -> 'townships' FROM grid_change WHERE id = :i"),
                           {"i": change}).scalar() == [T3]


def test_moves_inside_one_station_from_the_city_are_level3_changes_only(session, world):
    job = CityRedraw(session, CityProposal("C", villages={V12: "S1-02"}))
    assert sorted(job.plan.geometries) == ["S1-01", "S1-02"]
    assert job.check().findings == []
    assert all(not g["changed"] for g in job.effect()["grids"])


def test_a_cell_left_with_nothing_is_refused(session, world):
    report = CityRedraw(session, CityProposal("C", villages={
        V13: "S2-01", V31: "S2-01", V32: "S2-01"})).check()
    assert ("empty", "S1-02") in errors(report)


@pytest.mark.parametrize("proposal, code, field", [
    (CityProposal("C", villages={"130984999999": "S2-01"}), "no_village", "moves"),
    (CityProposal("C", townships={"130984999000": "S2-01"}), "no_township", "townships"),
    (CityProposal("C", villages={V32: "S2"}), "not_a_target", "moves"),
    (CityProposal("C", villages={V32: "S9-01"}), "not_a_target", "moves"),
    (CityProposal("C", {"S1-01": box(116.0, 116.04)} | {"NOPE": box(116.0, 116.1)}),
     "not_in_city", "geometries"),
    (CityProposal("S1", villages={V32: "S2-01"}), "not_city", "grid"),
])
def test_what_cannot_be_worked_out_is_refused_naming_it(session, world, proposal, code, field):
    with pytest.raises(Level2Error) as refused:
        CityRedraw(session, proposal).check()
    assert (refused.value.code, refused.value.field) == (code, field)


# -- outlines: villages need a target cell, children stay inside their parents ---------------

def test_a_village_the_new_edge_hands_to_another_station_needs_a_target_cell(session, world):
    outlines = {"S1": box(116.0, 116.085), "S2": box(116.085, 116.2)}
    report = CityRedraw(session, CityProposal("C", dict(outlines))).check()
    [finding] = report.errors
    assert (finding.kind, finding.params["village"], finding.params["name"]) == (
        "village_needs_cell", V32, "丙二村")
    assert (finding.params["from_grid"], finding.params["to_grid"]) == ("S1", "S2")
    assert V32 in finding.message and "丙二村" in finding.message
    assert 116.085 < finding.lon < 116.1
    with pytest.raises(NotValid, match="丙二村"):
        CityRedraw(session, CityProposal("C", dict(outlines))).commit(
            username="city-manager", comment="缺少目标网格")
    # With its target cell the cells follow the village and everything fits.
    job = CityRedraw(session, CityProposal("C", dict(outlines), villages={V32: "S2-01"}))
    assert job.check().findings == []
    assert job.plan.geometries["S1-02"].equals(box(116.05, 116.085))
    job.commit(username="city-manager", comment="按新边界调整")
    assert cell_of(session, "Y1") == ("S2-01", False)


def test_a_cell_the_new_edge_cuts_is_an_error_naming_it(session, world):
    # The new S1/S2 edge at 116.095 runs through S1-02 (and through V32, whose point inside
    # stays in S1, so no village changes station).
    outlines = {"S1": box(116.0, 116.095), "S2": box(116.095, 116.2)}
    report = CityRedraw(session, CityProposal("C", dict(outlines))).check()
    [cut] = [f for f in report.errors if f.kind == "cut"]
    assert cut.cell == "S1-02" and cut.params == {"name": "cell S1-02", "grid": "S1"}
    assert "S1-02 cell S1-02 would be cut by the new edge of grid S1" in cut.message
    assert 116.095 < cut.lon < 116.1 and 4.7e6 < cut.area_m2 < 5.0e6  # 436 m × 11.1 km
    # S2's new strip belongs to none of its cells yet.
    assert ("gap", None) in errors(report)
    # Redrawn in the same change, the cells fit their grids: no error.
    both = CityProposal("C", {**outlines, "S1-02": box(116.05, 116.095),
                              "S2-01": box(116.095, 116.2)})
    job = CityRedraw(session, both)
    assert job.check().errors == []
    assert {m["management_code"] for m in job.effect()["moves"]} == {"Y1"}
    job.commit(username="city-manager", comment="以河为界")
    assert cell_of(session, "Y1") == ("S2-01", False)


def test_a_cell_redrawn_beyond_its_new_grid_is_outside_its_parent(session, world):
    report = CityRedraw(session, CityProposal("C", {
        "S1": box(116.0, 116.095), "S2": box(116.095, 116.2), "S2-01": box(116.095, 116.2),
        "S1-02": box(116.05, 116.1)})).check()
    assert ("outside_parent", "S1-02") in errors(report)
    assert ("overlap", "S1-02 / S2-01") not in errors(report)  # other grids' cells: not here


def test_second_level_grids_must_not_overlap_or_leave_gaps_in_the_city(session, world):
    report = CityRedraw(session, CityProposal("C", {"S1": box(116.0, 116.105)})).check()
    assert ("overlap", "S1 / S2") in errors(report)
    report = CityRedraw(session, CityProposal("C", {"S1": box(116.0, 116.09)})).check()
    assert ("gap", None) in errors(report)
    assert [f.params["grid"] for f in report.errors if f.kind == "gap"] == ["C"]


# -- history, concurrency, revert, dates ------------------------------------------------------

def test_a_boundary_someone_changed_meanwhile_is_a_conflict(session, world):
    versions = {c: v["version_id"] for c, v in redraw.current_children(session, "S1").items()}
    redraw.commit(session, redraw.Proposal("S1", {"S1-01": box(116.0, 116.06),
                                                  "S1-02": box(116.06, 116.1)}),
                  username="s1-manager", comment="站内调整")
    with pytest.raises(redraw.Conflict, match="S1-02"):
        CityRedraw(session, CityProposal("C", villages={V32: "S2-01"},
                                         expected_versions=versions)).commit(
            username="city-manager", comment="迟到的改动")


def test_a_revert_restores_both_levels_as_a_new_change(session, world):
    change = CityRedraw(session, CityProposal("C", townships={T3: "S2-01"})).commit(
        username="city-manager", comment="试行", valid_from=NOW - dt.timedelta(days=2))
    undo = redraw.revert(session, change, username="city-manager", comment="撤销试行")
    assert undo != change
    assert cell_of(session, "W1") == ("S1-02", False)
    assert cell_of(session, "W1", NOW - dt.timedelta(days=1)) == ("S2-01", False)
    versions = redraw.history(session, "S2")["versions"]
    assert len(versions) == 3 and versions[0]["reverts"] == change
    assert redraw.current_children(session, "S1")["S1-02"]["geometry"].equals(
        box(116.05, 116.1))


def test_a_change_dated_in_the_past_keeps_its_date(session, world):
    with pytest.raises(redraw.LaterVersion):
        CityRedraw(session, CityProposal("C", villages={V32: "S2-01"})).commit(
            username="admin", comment="太早", valid_from=MONTH_AGO - dt.timedelta(days=1))


@pytest.fixture
def moved(client, session, world):
    """V32 handed from S1 to S2 at 02:00 local time on DAY, by the city's manager through the
    editor's API."""
    login(client, "city-manager")
    response = client.post("/api/v1/grid/C/commit", json={
        "moves": {V32: "S2-01"}, "comment": "丙二村划归乙站",
        "valid_from": f"{DAY.isoformat()}T02:00:00"})
    assert response.status_code == 201, response.get_json()
    assert session.execute(text("""
        SELECT cv.valid_from FROM cell_version cv JOIN cell c ON c.id = cv.cell_id
        WHERE c.code = 'S2' ORDER BY cv.valid_from DESC LIMIT 1""")).scalar() == CHANGE_AT
    login(client, "city-leader")
    return client


def _lookup(client, day):
    answer = client.get("/api/v1/lookup", query_string={"lon": 116.09, "lat": 38.42,
                                                        "at": day.isoformat()})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    return body["cell"]["code"], body["ancestors"][0]["code"]


def _wall_edge(client, day):
    """The east edge of grid S1 as /map?at=day draws it."""
    page = client.get(f"/map?at={day.isoformat()}")
    assert page.status_code == 200 and f'"at": "{day.isoformat()}"' in page.get_data(
        as_text=True)
    grids = client.get(f"/api/v1/layers/grids.geojson?at={day.isoformat()}").get_json()
    [s1] = [f for f in grids["features"] if f["properties"]["code"] == "S1"]
    return round(shapely.geometry.shape(s1["geometry"]).bounds[2], 6)


def _cli_edge(runner, tmp_path, day):
    import geopandas as gpd

    path = tmp_path / f"cells-{day}.geojson"
    result = runner.invoke(args=["grid", "export", str(path), "--at", day.isoformat()])
    assert result.exit_code == 0, result.output
    frame = gpd.read_file(path)
    return round(frame[frame["code"] == "S1"].geometry.iloc[0].bounds[2], 6)


def _cli_lookup(runner, day):
    result = runner.invoke(args=["lookup", "116.09", "38.42", "--at", day.isoformat()])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    return lines[0].split()[1], lines[1].split()[1]


def test_at_lookups_answer_the_old_grid_before_the_change_and_the_new_one_after(
        moved, runner, tmp_path):
    before, after = DAY - dt.timedelta(days=1), DAY
    assert _lookup(moved, before) == ("S1-02", "S1")
    assert _lookup(moved, after) == ("S2-01", "S2")
    assert _cli_lookup(runner, before) == ("S1-02", "S1")
    assert _cli_lookup(runner, after) == ("S2-01", "S2")
    assert _wall_edge(moved, before) == 116.1
    assert _wall_edge(moved, after) == 116.085
    assert _cli_edge(runner, tmp_path, before) == 116.1
    assert _cli_edge(runner, tmp_path, after) == 116.085
    history = moved.get("/cells/S2/history", headers={"Accept": "application/json"}).get_json()
    assert [v["comment"] for v in history["versions"]] == ["丙二村划归乙站", None]


# -- the web editor: who may, what it says ----------------------------------------------------

@pytest.mark.parametrize("username, preview, commit", [
    ("city-manager", 200, 201),
    ("admin", 200, 403),  # admins: corrections dated in the past, with a reason
    ("s1-manager", 403, 403),  # a station's manager, even for a village leaving their grid
    ("s2-manager", 403, 403),
    ("city-leader", 403, 403),
    ("c1-inspector", 403, 403),
])
def test_only_a_grid_manager_at_the_city_redraws_second_level_grids(client, session, world,
                                                                     username, preview, commit):
    login(client, username)
    assert client.get("/grid/C/edit").status_code == (200 if preview == 200 else 403)
    assert client.post("/api/v1/grid/C/preview", json={"moves": {V32: "S2-01"}}).status_code \
        == preview
    before = session.execute(text("SELECT count(*) FROM grid_change")).scalar()
    done = client.post("/api/v1/grid/C/commit", json={"moves": {V32: "S2-01"},
                                                      "comment": "丙二村划归乙站"})
    assert done.status_code == commit, done.get_json()
    after = session.execute(text("SELECT count(*) FROM grid_change")).scalar()
    assert after == before + (1 if commit == 201 else 0)


def test_an_admin_records_a_past_change_with_a_reason_flagged_in_the_audit_log(
        client, session, world):
    login(client, "admin")
    done = client.post("/api/v1/grid/C/commit", json={
        "moves": {V32: "S2-01"}, "comment": "补录：按市政府文件",
        "valid_from": (NOW - dt.timedelta(days=5)).isoformat(),
        "backdate_reason": "文件上月已生效"})
    assert done.status_code == 201, done.get_json()
    entry = session.execute(text("""
        SELECT username, action, flag, detail FROM audit_log
        WHERE action = 'grid_changed' ORDER BY id DESC LIMIT 1""")).one()
    assert (entry.username, entry.flag) == ("admin", "backdated")
    assert entry.detail["villages"] == [V32] and entry.detail["grids"] == ["S1", "S2"]


def test_preview_commit_and_history_through_the_editor_api(client, session, world):
    login(client, "city-manager")
    page = client.get("/grid/C/edit").get_data(as_text=True)
    assert 'id="target-cell"' in page and "S2-01" in page and "optgroup" in page
    villages = client.get("/api/v1/grid/C/level2/villages.geojson").get_json()
    props = {f["properties"]["code"]: f["properties"] for f in villages["features"]}
    assert (props[V32]["cell"], props[V32]["grid"], props[V32]["township"]) == (
        "S1-02", "S1", T3)
    grids = client.get("/api/v1/grid/C/level2/grids.geojson").get_json()
    assert sorted(f["properties"]["code"] for f in grids["features"]) == ["S1", "S2"]
    assert client.get("/api/v1/grid/C/level2/rivers.geojson").status_code == 404
    preview = client.post("/api/v1/grid/C/preview", json={"townships": {T3: "S2-01"}})
    body = preview.get_json()
    assert body["validation"]["ok"], body
    assert sorted(body["geometries"]) == ["S1", "S1-02", "S2", "S2-01"]
    assert body["levels"]["S1"] == 2 and body["levels"]["S1-02"] == 3
    assert [v["code"] for v in body["effect"]["villages"]] == [V31, V32]
    done = client.post("/api/v1/grid/C/commit", json={
        "townships": {T3: "S2-01"}, "comment": "丙乡划归乙站",
        "valid_from": (NOW - dt.timedelta(hours=12)).isoformat(),
        "expected_versions": body["expected_versions"]})
    assert done.status_code == 201, done.get_json()
    change = done.get_json()["change"]
    assert {c["code"] for c in done.get_json()["cells"]} == {"S1", "S1-02", "S2", "S2-01"}
    history = client.get("/cells/S2/history", headers={"Accept": "application/json"})
    assert [v["change_id"] for v in history.get_json()["versions"]] == [change, None]
    entry = session.execute(text("""
        SELECT detail FROM audit_log WHERE action = 'grid_changed'
        ORDER BY id DESC LIMIT 1""")).scalar()
    assert entry["townships"] == [T3] and entry["villages"] == [V31, V32]
    # The same request again started from versions that are gone: someone else's change.
    again = client.post("/api/v1/grid/C/commit", json={
        "moves": {V13: "S2-01"}, "comment": "再来", "expected_versions": body[
            "expected_versions"]})
    assert again.status_code == 409 and "S1" in again.get_json()["error"]["message"]
    # Reverted from the history: both levels back.
    undo = client.post(f"/api/v1/grid/changes/{change}/revert", json={"comment": "撤销"})
    assert undo.status_code == 201, undo.get_json()
    assert cell_of(session, "W1") == ("S1-02", False)


@pytest.mark.parametrize("lang, says", [
    ("zh_Hans_CN", ["丙二村", "请选择", "二级网格"]),
    ("en", ["丙二村", "choose the level-3 cell", "goes from grid S1 to grid S2"]),
])
def test_the_editor_says_what_is_missing_in_the_users_language(client, world, lang, says):
    login(client, "city-manager")
    client.post("/account/language", data={"lang": lang})
    outlines = {c: json.loads(shapely.to_geojson(g)) for c, g in (
        ("S1", box(116.0, 116.085)), ("S2", box(116.085, 116.2)))}
    body = client.post("/api/v1/grid/C/preview", json={"geometries": outlines}).get_json()
    [finding] = body["validation"]["errors"]
    assert finding["kind"] == "village_needs_cell"
    assert all(s in finding["message"] for s in says), finding["message"]
    refused = client.post("/api/v1/grid/C/commit", json={"geometries": outlines,
                                                         "comment": "x"})
    assert refused.status_code == 400
    assert all(s in refused.get_json()["error"]["message"] for s in says)
    unknown = client.post("/api/v1/grid/C/preview", json={"moves": {V32: "S2"}})
    assert unknown.status_code == 400 and "S2" in unknown.get_json()["error"]["message"]
    if lang == "zh_Hans_CN":
        assert "level-3" not in unknown.get_json()["error"]["message"]


# -- grid redraw --------------------------------------------------------------------------------

def _file(tmp_path, name, cells):
    import geopandas as gpd

    path = tmp_path / name
    gpd.GeoDataFrame({"code": list(cells)}, geometry=list(cells.values()),
                     crs=4326).to_file(path)
    return str(path)


def test_cli_redraws_two_second_level_grids_under_the_city(runner, session, world, tmp_path):
    path = _file(tmp_path, "stations.geojson", {"S1": box(116.0, 116.085),
                                               "S2": box(116.085, 116.2)})
    # Today's refusal ("level 1; redraw works inside a second-level grid") is gone; what the
    # change lacks is the village's target cell, named.
    missing = runner.invoke(args=["grid", "redraw", path, "--comment", "按河道划界",
                                  "--user", "city-manager"])
    assert missing.exit_code == 1
    assert "village_needs_cell" in missing.output and V32 in missing.output \
        and "丙二村" in missing.output and "nothing written" in missing.output
    refused = runner.invoke(args=["grid", "redraw", path, "--comment", "按河道划界",
                                  "--move-village", f"{V32}=S2-01", "--user", "s1-manager"])
    assert refused.exit_code == 1 and "not allowed to edit grid C" in refused.output
    dry = runner.invoke(args=["grid", "redraw", path, "--comment", "试算", "--move-village",
                              f"{V32}=S2-01", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"village {V32} 丙二村: S1-02 -> S2-01 (2 enterprise(s))" in dry.output
    assert "grid S2: 2 -> 4 enterprises" in dry.output and "nothing written" in dry.output
    assert "owner 网格员乙: 2 -> 4 enterprises" in dry.output
    done = runner.invoke(args=["grid", "redraw", path, "--comment", "按河道划界",
                               "--move-village", f"{V32}=S2-01", "--user", "city-manager",
                               "--valid-from", CHANGE_AT.isoformat()])
    assert done.exit_code == 0, done.output
    assert "committed change" in done.output and "in grid C" in done.output
    assert cell_of(session, "Y1") == ("S2-01", False)
    assert cell_of(session, "Y1", CHANGE_AT - dt.timedelta(minutes=1)) == ("S1-02", False)
    change = session.execute(text(
        "SELECT id, username, parent_code, valid_from FROM grid_change ORDER BY id DESC LIMIT 1"
    )).one()
    assert (change.username, change.parent_code, change.valid_from) == (
        "city-manager", "C", CHANGE_AT)
    assert [v["change_id"] for v in redraw.history(session, "S1")["versions"]] == [
        change.id, None]
    audit = session.execute(text("""
        SELECT username, via, detail FROM audit_log WHERE action = 'grid_changed'
        ORDER BY id DESC LIMIT 1""")).one()
    assert (audit.username, audit.via) == ("city-manager", "cli")
    assert audit.detail["villages"] == [V32]


def test_cli_file_with_both_levels_and_moves_without_a_file(runner, session, world, tmp_path):
    path = _file(tmp_path, "both.geojson", {
        "S1": box(116.0, 116.095), "S2": box(116.095, 116.2),
        "S1-02": box(116.05, 116.095), "S2-01": box(116.095, 116.2)})
    cut = _file(tmp_path, "cut.geojson", {"S1": box(116.0, 116.095),
                                          "S2": box(116.095, 116.2)})
    failed = runner.invoke(args=["grid", "redraw", cut, "--comment", "x"])
    assert failed.exit_code == 1 and "cut S1-02" in failed.output
    done = runner.invoke(args=["grid", "redraw", path, "--comment", "以河为界", "--valid-from",
                               (NOW - dt.timedelta(hours=1)).isoformat(), "--reason", "补录"])
    assert done.exit_code == 0, done.output
    assert cell_of(session, "Y1") == ("S2-01", False)
    township = runner.invoke(args=["grid", "redraw", "--move-township", f"{T3}=S2-01",
                                   "--comment", "丙乡整体划归乙站", "--user", "city-manager"])
    assert township.exit_code == 0, township.output
    assert cell_of(session, "W1") == ("S2-01", False)


def test_cli_moves_inside_one_station_stay_that_stations_redraw(runner, session, world):
    done = runner.invoke(args=["grid", "redraw", "--move-village", f"{V12}=S1-02",
                               "--comment", "二村划入二网格", "--user", "s1-manager"])
    assert done.exit_code == 0, done.output
    assert "committed change" in done.output and "in grid S1" in done.output
    nothing = runner.invoke(args=["grid", "redraw", "--comment", "x"])
    assert nothing.exit_code == 2 and "--move-village" in nothing.output
    bad = runner.invoke(args=["grid", "redraw", "--move-village", "S1-02", "--comment", "x"])
    assert bad.exit_code == 2 and "CODE=CELL" in bad.output


def test_a_grid_outline_reshaped_in_the_editor_takes_its_neighbour_along(client, world):
    """Dragging S1's east edge west: S2 takes what S1 leaves (gis/outline.py), and the
    village the new edge hands over still needs its cell."""
    login(client, "city-manager")
    drawn = {"outlines": {"S1": json.loads(shapely.to_geojson(box(116.0, 116.085)))}}
    body = client.post("/api/v1/grid/C/preview", json=drawn).get_json()
    assert [f["kind"] for f in body["validation"]["errors"]] == ["village_needs_cell"]
    body = client.post("/api/v1/grid/C/preview", json={**drawn,
                                                       "moves": {V32: "S2-01"}}).get_json()
    assert body["validation"]["ok"], body["validation"]
    assert shapely.geometry.shape(body["geometries"]["S2"]).equals(box(116.085, 116.2))


def test_boundaries_uploaded_to_the_city_editor_are_read_and_previewed(client, world, tmp_path):
    login(client, "city-manager")
    path = _file(tmp_path, "stations.geojson", {"S1": box(116.0, 116.085),
                                               "S2": box(116.085, 116.2)})
    with open(path, "rb") as f:
        read = client.post("/api/v1/grid/C/boundaries",
                           data={"file": (f, "stations.geojson")})
    assert read.status_code == 200, read.get_json()
    geometries = read.get_json()["geometries"]
    assert sorted(geometries) == ["S1", "S2"]
    body = client.post("/api/v1/grid/C/preview", json={
        "geometries": geometries, "moves": {V32: "S2-01"}}).get_json()
    assert body["validation"]["ok"], body["validation"]
    # Both levels in one file: the cells along the new edge redrawn with it.
    path = _file(tmp_path, "both.geojson", {
        "S1": box(116.0, 116.095), "S2": box(116.095, 116.2),
        "S1-02": box(116.05, 116.095), "S2-01": box(116.095, 116.2)})
    with open(path, "rb") as f:
        read = client.post("/api/v1/grid/C/boundaries", data={"file": (f, "both.geojson")})
    assert sorted(read.get_json()["geometries"]) == ["S1", "S1-02", "S2", "S2-01"]
    body = client.post("/api/v1/grid/C/preview", json={
        "geometries": read.get_json()["geometries"]}).get_json()
    assert body["validation"]["ok"], body["validation"]


def test_an_edge_with_rounded_coordinates_snaps_to_the_villages_it_follows(
        client, runner, session, world, tmp_path):
    """An outline drawn on the map, or exported with coordinates rounded to 6 decimals, is off
    the villages' vertices by centimetres: snapped to them, it leaves no sliver against the
    cells along it."""
    off = {"S1": box(116.0, 116.0850004), "S2": box(116.0849996, 116.2)}
    login(client, "city-manager")
    body = client.post("/api/v1/grid/C/preview", json={
        "geometries": {c: json.loads(shapely.to_geojson(g)) for c, g in off.items()},
        "moves": {V32: "S2-01"}}).get_json()
    assert body["validation"]["ok"], body["validation"]
    assert shapely.geometry.shape(body["geometries"]["S1"]).equals(box(116.0, 116.085))
    path = _file(tmp_path, "rounded.geojson", off)
    done = runner.invoke(args=["grid", "redraw", path, "--comment", "按村界划分",
                               "--move-village", f"{V32}=S2-01"])
    assert done.exit_code == 0, done.output
    assert redraw.current_children(session, "C")["S1"]["geometry"].equals(box(116.0, 116.085))


def test_the_change_and_the_histories_name_the_villages_at_both_levels(client, session, world):
    login(client, "city-manager")
    done = client.post("/api/v1/grid/C/commit", json={"townships": {T3: "S2-01"},
                                                      "comment": "丙乡划归乙站"})
    change = done.get_json()["change"]
    page = client.get(f"/grid/changes/{change}", headers={"Accept": "application/json"})
    villages = page.get_json()["villages"]
    assert [(v["code"], v["from_code"], v["to_code"]) for v in villages] == [
        (V31, "S1-02", "S2-01"), (V32, "S1-02", "S2-01")]
    for code, side in (("S2", "villages_in"), ("S2-01", "villages_in"),
                       ("S1", "villages_out"), ("S1-02", "villages_out")):
        history = client.get(f"/cells/{code}/history",
                             headers={"Accept": "application/json"}).get_json()
        assert [v["code"] for v in history["versions"][0][side]] == [V31, V32], code
    assert "丙二村" in client.get(f"/grid/changes/{change}").get_data(as_text=True)
