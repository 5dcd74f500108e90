"""Attacks from the adversarial test of issue 10 that go through the write paths: hostile cell
codes, history rewritten by backdated changes, input that used to give a 500, empty commits,
and the headers every answer carries. Each test reproduces an attack that worked before."""
import datetime as dt
import json

import pytest
import shapely
from sqlalchemy import text

from gis import redraw
from tests.factories import add_enterprises, cell_of, login, small_world

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC)
LONG_AGO = NOW - dt.timedelta(days=400)
HOSTILE_CODE = "<img src onerror=import('//host')>"


def box(*b):
    return shapely.MultiPolygon([shapely.box(*b)])


def geojson(geom):
    return json.loads(shapely.to_geojson(geom))


@pytest.fixture
def world(session):
    small_world(session, valid_from=LONG_AGO - dt.timedelta(days=30))
    add_enterprises(session, ("W1", 116.042, 38.45), ("X1", 116.07, 38.45),
                    valid_from=LONG_AGO - dt.timedelta(days=30))


def split_s1_02(new_code):
    return {"geometries": {"S1-02": geojson(box(116.05, 38.4, 116.1, 38.44)),
                           new_code: geojson(box(116.05, 38.44, 116.1, 38.5))},
            "new_cells": {new_code: "新网格"}}


# --- 1. stored XSS through a new cell's code ------------------------------------------------

def test_a_new_cell_with_a_hostile_code_is_refused_by_the_editor(client, session, world):
    login(client, "s1-manager")
    for path, extra in (("preview", {}), ("commit", {"comment": "x", "confirm_warnings": True})):
        answer = client.post(f"/api/v1/grid/S1/{path}",
                             json={**split_s1_02(HOSTILE_CODE), **extra})
        assert answer.status_code == 400, answer.get_json()
        assert answer.get_json()["error"]["field"] in ("new_cells", "geometries")
    assert not session.execute(text("SELECT 1 FROM cell WHERE code LIKE '%<%'")).scalar()
    good = client.post("/api/v1/grid/S1/commit", json={**split_s1_02("S1-03"), "comment": "拆分",
                                                      "confirm_warnings": True})
    assert good.status_code == 201, good.get_json()


def test_the_domain_refuses_a_hostile_code_whatever_the_caller(session, world):
    proposal = redraw.Proposal("S1", {"S1-02": box(116.05, 38.4, 116.1, 38.44),
                                      HOSTILE_CODE: box(116.05, 38.44, 116.1, 38.5)},
                               new_cells={HOSTILE_CODE: "x"})
    with pytest.raises(redraw.RedrawError, match="cell code"):
        redraw.commit(session, proposal, username="cli", comment="x", confirm_warnings=True)


def test_the_database_refuses_a_hostile_code_whatever_the_path(session, world):
    from sqlalchemy.exc import IntegrityError

    for statement in ("UPDATE cell SET code = :c WHERE code = 'S1-01'",
                      "UPDATE enterprise SET management_code = :c WHERE management_code = 'E1'"):
        with pytest.raises(IntegrityError, match="code_format"):
            with session.begin_nested():
                session.execute(text(statement), {"c": "<img src onerror=alert(1)>"})


def test_a_hostile_cell_name_is_kept_as_text_but_control_characters_are_refused(
        client, session, world):
    login(client, "s1-manager")
    body = split_s1_02("S1-03")
    body["new_cells"] = {"S1-03": "坏\x00名"}
    answer = client.post("/api/v1/grid/S1/commit", json={**body, "comment": "x",
                                                        "confirm_warnings": True})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "name"
    body["new_cells"] = {"S1-03": "<script>alert(1)</script>"}
    answer = client.post("/api/v1/grid/S1/commit", json={**body, "comment": "x",
                                                        "confirm_warnings": True})
    assert answer.status_code == 201
    assert session.execute(text("SELECT name FROM cell WHERE code = 'S1-03'")).scalar() \
        == "<script>alert(1)</script>"


def test_pages_carry_a_policy_without_inline_script_and_the_other_headers(client, world):
    login(client, "admin")
    page = client.get("/map")
    policy = page.headers["Content-Security-Policy"]
    scripts = [p for p in policy.split("; ") if p.startswith("script-src")][0]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    nonce = scripts.split("'nonce-")[1].split("'")[0]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    html = page.get_data(as_text=True)
    # Every inline script carries this response's nonce; the next response has another.
    import re
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", html)
    assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline)
    assert nonce not in client.get("/map").headers["Content-Security-Policy"]
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers either
    for answer in (page, client.get("/api/v1/me"), client.get("/login")):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "same-origin"


# --- 3. history rewritten by backdated changes ---------------------------------------------

def person(session, name="新责任人"):
    return session.execute(text("INSERT INTO person (name, phone) VALUES (:n, '13900000000') "
                                "RETURNING id"), {"n": name}).scalar()


def flags(session, action):
    return session.execute(text("SELECT flag FROM audit_log WHERE action = :a ORDER BY id"),
                           {"a": action}).scalars().all()


def test_a_manager_cannot_move_an_owner_change_into_the_past(client, session, world):
    login(client, "s1-manager")
    pid = person(session)
    year_one = client.put("/api/v1/cells/S1-01/owner",
                          json={"person_id": pid, "valid_from": "0001-01-01T00:00:00+00:00"})
    assert year_one.status_code == 400  # not even a plausible date
    last_year = client.put("/api/v1/cells/S1-01/owner",
                           json={"person_id": pid, "valid_from": "2025-06-01"})
    assert last_year.status_code == 403
    assert not session.execute(text(
        "SELECT 1 FROM responsibility WHERE person_id = :p"), {"p": pid}).scalar()
    # Yesterday (within the grace window) is allowed, and flagged.
    yesterday = (NOW - dt.timedelta(hours=20)).isoformat()
    done = client.put("/api/v1/cells/S1-01/owner", json={"person_id": pid, "valid_from": yesterday})
    assert done.status_code == 200, done.get_json()
    assert flags(session, "cell_owner_set") == ["backdated"]


def test_an_admin_may_correct_history_only_with_a_reason_and_it_is_flagged(client, session,
                                                                         world):
    login(client, "admin")
    pid = person(session)
    body = {"person_id": pid, "valid_from": "2025-06-01"}
    assert client.put("/api/v1/cells/S1-01/owner", json=body).status_code == 400
    done = client.put("/api/v1/cells/S1-01/owner",
                      json={**body, "backdate_reason": "责任状 2025 年 6 月签订，补录"})
    assert done.status_code == 200, done.get_json()
    assert flags(session, "cell_owner_set") == ["backdated"]
    detail = session.execute(text("SELECT detail FROM audit_log WHERE action = 'cell_owner_set'"
                                  )).scalar()
    assert detail["backdate_reason"].startswith("责任状")
    page = client.get("/admin/audit?flagged=true")
    assert "cell_owner_set" in page.get_data(as_text=True) or "责任人" in page.get_data(
        as_text=True)


def test_a_backdated_redraw_that_moves_past_inspections_is_refused(client, session, world):
    login(client, "s1-manager")
    body = {"geometries": {"S1-01": geojson(box(116.0, 38.4, 116.04, 38.5)),
                           "S1-02": geojson(box(116.04, 38.4, 116.1, 38.5))},
            "comment": "改历史"}
    answer = client.post("/api/v1/grid/S1/commit", json={**body, "valid_from": "2025-12-01"})
    assert answer.status_code == 403
    assert cell_of(session, "W1", at=NOW - dt.timedelta(days=100)) == ("S1-01", False)
    assert not session.execute(text("SELECT 1 FROM grid_change")).scalar()
    done = client.post("/api/v1/grid/S1/commit", json=body)
    assert done.status_code == 201 and flags(session, "grid_changed") == [None]


def test_an_admin_corrects_a_past_boundary_in_the_editor_with_a_reason(client, session, world):
    login(client, "admin")
    assert client.get("/grid/S1/edit").status_code == 200
    body = {"geometries": {"S1-01": geojson(box(116.0, 38.4, 116.04, 38.5)),
                           "S1-02": geojson(box(116.04, 38.4, 116.1, 38.5))},
            "comment": "按 2025 年底批复补录"}
    assert client.post("/api/v1/grid/S1/preview",
                       json={"geometries": body["geometries"]}).status_code == 200
    assert client.post("/api/v1/grid/S1/commit", json=body).status_code == 403  # not dated
    dated = {**body, "valid_from": "2025-12-01"}
    assert client.post("/api/v1/grid/S1/commit", json=dated).status_code == 400  # no reason
    done = client.post("/api/v1/grid/S1/commit", json={**dated, "backdate_reason": "批复补录"})
    assert done.status_code == 201, done.get_json()
    assert flags(session, "grid_changed") == ["backdated"]
    assert cell_of(session, "W1", at=NOW - dt.timedelta(days=100)) == ("S1-02", False)
    change = done.get_json()["change"]
    assert client.post(f"/api/v1/grid/changes/{change}/revert",
                       json={"comment": "撤销"}).status_code == 403  # reverting is editing


def test_cli_redraw_into_the_past_needs_a_reason_and_is_flagged(runner, session, world,
                                                                tmp_path):
    import geopandas as gpd

    path = tmp_path / "edge.geojson"
    gpd.GeoDataFrame({"code": ["S1-01", "S1-02"]},
                     geometry=[box(116.0, 38.4, 116.04, 38.5), box(116.04, 38.4, 116.1, 38.5)],
                     crs=4326).to_file(path)
    args = ["grid", "redraw", str(path), "--comment", "补录", "--valid-from", "2025-12-01"]
    refused = runner.invoke(args=args)
    assert refused.exit_code != 0 and "--reason" in refused.output
    manager = runner.invoke(args=args + ["--reason", "x", "--user", "s1-manager"])
    assert manager.exit_code != 0 and "hours" in manager.output
    done = runner.invoke(args=args + ["--reason", "2025 年底调整的补录"])
    assert done.exit_code == 0, done.output
    assert flags(session, "grid_changed") == ["backdated"]
    summary = session.execute(text("SELECT summary FROM grid_change")).scalar()
    assert summary["backdated"]["reason"] == "2025 年底调整的补录"
    history = redraw.history(session, "S1-01")
    assert history["versions"][0]["backdate_reason"] == "2025 年底调整的补录"


# --- 9. input that gave a 500 ----------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "/enterprises?q=a%00b", "/map?days=3%00", "/api/v1/lookup?lon=116.0%00&lat=38.4",
    "/cells/S1%0001/history", "/api/v1/enterprises?q=%00",
])
def test_a_nul_byte_anywhere_is_a_400_naming_it(client, world, url):
    login(client, "admin")
    answer = client.get(url, headers={"Accept": "application/json"})
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert "含有控制字符" in answer.get_json()["error"]["message"]  # said in Chinese


def test_nul_in_a_json_body_and_a_form_is_a_400(client, world):
    login(client, "admin")
    answer = client.post("/api/v1/reference/checklist-items",
                         json={"code": "Q9", "title": "标题\u0000"})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "title"
    answer = client.post("/admin/users", data={"username": "x\x00", "password": "p",
                                               "role": "admin"})
    assert answer.status_code == 400


@pytest.mark.parametrize("query", ["from=0001-01-01", "to=9999-12-31", "at=0001-01-01",
                                   "from=2026-01-01&to=9999-12-31"])
def test_dates_at_the_ends_of_the_calendar_are_a_400(client, world, query):
    login(client, "admin")
    for path in ("/map", "/api/v1/figures", "/enterprises"):
        answer = client.get(f"{path}?{query}", headers={"Accept": "application/json"})
        assert answer.status_code == 400, (path, answer.status_code)


def test_a_date_without_a_zone_is_local_time_in_owner_changes_and_commits(client, session,
                                                                         world):
    login(client, "s1-manager")
    pid = person(session)
    tomorrow = (NOW + dt.timedelta(days=1)).date()
    answer = client.put("/api/v1/cells/S1-01/owner",
                        json={"person_id": pid, "valid_from": f"{tomorrow}T08:00:00"})
    assert answer.status_code == 200, answer.get_json()
    starts = session.execute(text("SELECT valid_from FROM responsibility WHERE person_id = :p"),
                             {"p": pid}).scalar()
    assert starts == dt.datetime.combine(tomorrow, dt.time(0), tzinfo=UTC)  # 08:00 +08:00
    body = {"geometries": {"S1-01": geojson(box(116.0, 38.4, 116.04, 38.5)),
                           "S1-02": geojson(box(116.04, 38.4, 116.1, 38.5))},
            "comment": "明天生效", "valid_from": str(tomorrow)}
    done = client.post("/api/v1/grid/S1/commit", json=body)
    assert done.status_code == 201, done.get_json()
    at = session.execute(text("SELECT valid_from FROM grid_change")).scalar()
    assert at == dt.datetime.combine(tomorrow, dt.time(0), tzinfo=UTC) - dt.timedelta(hours=8)


def test_non_integer_expected_versions_and_deep_json_are_a_400(client, world):
    login(client, "s1-manager")
    body = {"geometries": {"S1-01": geojson(box(116.0, 38.4, 116.04, 38.5)),
                           "S1-02": geojson(box(116.04, 38.4, 116.1, 38.5))}}
    for versions in ({"S1-01": "abc"}, {"S1-01": 1.5}, {"S1-01": [1]}):
        answer = client.post("/api/v1/grid/S1/preview", json={**body,
                                                             "expected_versions": versions})
        assert answer.status_code == 400, versions
        assert answer.get_json()["error"]["field"] == "expected_versions"
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/api/v1/grid/S1/preview", "/api/v1/grid/S1/commit",
                 "/api/v1/cells/S1-01/owner"):
        method = client.put if path.endswith("owner") else client.post
        answer = method(path, data=deep, content_type="application/json")
        assert answer.status_code == 400, (path, answer.status_code)


# --- 12. commits that change nothing ---------------------------------------------------------

def test_a_commit_that_changes_nothing_is_refused_and_leaves_no_record(client, session, world):
    login(client, "s1-manager")
    same = {c: geojson(v["geometry"])
            for c, v in redraw.current_children(session, "S1").items()}
    answer = client.post("/api/v1/grid/S1/commit", json={"geometries": same, "comment": "无变化"})
    assert answer.status_code == 400
    assert not session.execute(text("SELECT 1 FROM grid_change")).scalar()
    assert session.execute(text("SELECT count(*) FROM cell_version cv JOIN cell c "
                                "ON c.id = cv.cell_id WHERE c.code LIKE 'S1-%'")).scalar() == 2
    # One real change among unchanged ones: only the changed cells get versions.
    same["S1-01"] = geojson(box(116.0, 38.4, 116.04, 38.5))
    same["S1-02"] = geojson(box(116.04, 38.4, 116.1, 38.5))
    assert client.post("/api/v1/grid/S1/commit",
                       json={"geometries": same, "comment": "移边"}).status_code == 201


def test_an_owner_change_to_the_same_owner_writes_and_audits_nothing(client, session, world):
    login(client, "s1-manager")
    pid = person(session)
    assert client.put("/api/v1/cells/S1-01/owner", json={"person_id": pid}).status_code == 200
    again = client.put("/api/v1/cells/S1-01/owner", json={"person_id": pid})
    assert again.status_code == 200 and again.get_json()["unchanged"] is True
    assert len(flags(session, "cell_owner_set")) == 1


# --- 4. previews that stalled everyone ---------------------------------------------------------

def test_a_preview_with_too_many_vertices_is_refused_before_postgis_sees_it(app, client, world):
    from gis.limits import Limits

    app.extensions["gridwatch_limits"] = Limits(max_vertices_per_feature=1000)
    login(client, "s1-manager")
    ring = shapely.Point(116.05, 38.45).buffer(0.04, quad_segs=2000)  # 8,001 vertices
    answer = client.post("/api/v1/grid/S1/preview", json={
        "geometries": {"S1-01": geojson(shapely.MultiPolygon([ring]))}})
    assert answer.status_code == 400
    assert answer.get_json()["error"]["field"] == "S1-01"


def test_a_preview_is_cancelled_at_the_statement_timeout(app, client, world):
    from gis.limits import Limits

    app.extensions["gridwatch_limits"] = Limits(preview_statement_timeout_ms=1)
    login(client, "s1-manager")
    ring = shapely.Point(116.05, 38.45).buffer(0.2, quad_segs=20000)
    answer = client.post("/api/v1/grid/S1/preview", json={
        "geometries": {"S1-01": geojson(shapely.MultiPolygon([ring]))}})
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["field"] == "geometries"
    assert "限定时间" in answer.get_json()["error"]["message"]  # "within the time allowed"
    # The session is usable again: the next (ordinary) preview answers.
    app.extensions["gridwatch_limits"] = Limits()
    ok = client.post("/api/v1/grid/S1/preview", json={
        "geometries": {"S1-01": geojson(box(116.0, 38.4, 116.04, 38.5)),
                       "S1-02": geojson(box(116.04, 38.4, 116.1, 38.5))}})
    assert ok.status_code == 200


def test_one_user_runs_at_most_n_previews_at_once(app, client, session, engine, world):
    from gis.limits import Limits

    app.extensions["gridwatch_limits"] = Limits(preview_concurrency_per_user=2)
    login(client, "s1-manager")
    uid = session.execute(text("SELECT id FROM app_user WHERE username = 's1-manager'")).scalar()
    body = {"geometries": {"S1-01": geojson(box(116.0, 38.4, 116.04, 38.5)),
                           "S1-02": geojson(box(116.04, 38.4, 116.1, 38.5))}}
    # Two previews of this user running elsewhere (other connections hold their slots).
    with engine.connect() as other:
        with other.begin():
            for slot in range(2):
                assert other.execute(text("SELECT pg_try_advisory_xact_lock(:ns, :key)"), {
                    "ns": redraw._PREVIEW_LOCKS, "key": uid * 64 + slot}).scalar()
            busy = client.post("/api/v1/grid/S1/preview", json=body)
            assert busy.status_code == 429
    assert client.post("/api/v1/grid/S1/preview", json=body).status_code == 200


def test_the_preview_refuses_what_the_commit_would(client, session, world):
    """Found by scripts/security_probe.py: a new cell named like an existing one, or with no
    boundary, previewed as valid; the second even committed a cell without a boundary."""
    login(client, "s1-manager")
    taken = client.post("/api/v1/grid/S1/preview", json=split_s1_02("S2-01")).get_json()
    assert not taken["validation"]["ok"]
    assert [e["kind"] for e in taken["validation"]["errors"]] == ["code_taken"]
    bare = {"new_cells": {"S1-98": "无边界"}}
    preview = client.post("/api/v1/grid/S1/preview", json=bare).get_json()
    assert [e["kind"] for e in preview["validation"]["errors"]] == ["no_boundary"]
    commit = client.post("/api/v1/grid/S1/commit", json={**bare, "comment": "x",
                                                        "confirm_warnings": True})
    assert commit.status_code == 400
    assert not session.execute(text("SELECT 1 FROM cell WHERE code = 'S1-98'")).scalar()
    foreign = client.post("/api/v1/grid/S1/preview", json={
        **split_s1_02("S1-03"), "expected_versions": {"S2-01": 1}})
    assert foreign.status_code == 400
    assert foreign.get_json()["error"]["field"] == "expected_versions"


def test_a_correction_dated_before_the_current_boundary_says_so_in_chinese(client, world):
    login(client, "admin")
    answer = client.post("/api/v1/grid/S1/commit", json={
        "geometries": {"S1-01": geojson(box(116.0, 38.4, 116.04, 38.5)),
                       "S1-02": geojson(box(116.04, 38.4, 116.1, 38.5))},
        "comment": "补录", "valid_from": "2025-06-01", "backdate_reason": "批复"})
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["field"] == "valid_from" and "现行边界" in error["message"]
