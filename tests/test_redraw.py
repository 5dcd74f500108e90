"""Redrawing cells: validation finds each problem with its place and size, the effect lists who
moves and whose workload changes, commits keep history, concurrent edits are refused, reverts
are new changes, and past dates still answer."""
import datetime as dt
import json

import pytest
import shapely
from sqlalchemy import text

from gis import redraw
from tests.factories import add_enterprises, cell_of, login, small_world, three_villages

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC)
WEEK_AGO = NOW - dt.timedelta(days=7)


def box(*b):
    return shapely.MultiPolygon([shapely.box(*b)])


@pytest.fixture
def world(session):
    small_world(session, valid_from=WEEK_AGO - dt.timedelta(days=30))
    # S1-01 = lon 116.00-116.05, S1-02 = 116.05-116.10 (grid S1 = 116.00-116.10).
    add_enterprises(session, ("W1", 116.042, 38.45), ("W2", 116.047, 38.42),
                    ("X1", 116.07, 38.45), valid_from=WEEK_AGO - dt.timedelta(days=30))


def edge_at(lon):
    return {"S1-01": box(116.0, 38.4, lon, 38.5), "S1-02": box(lon, 38.4, 116.1, 38.5)}


def kinds(report):
    return sorted((f.level, f.kind) for f in report.findings)


def test_a_clean_edge_move_validates(session, world):
    report = redraw.check(session, redraw.Proposal("S1", edge_at(116.04)))
    assert report.findings == []


def test_overlap_is_found_with_place_and_size(session, world):
    proposal = redraw.Proposal("S1", {"S1-01": box(116.0, 38.4, 116.06, 38.5)})
    report = redraw.check(session, proposal)
    overlap = [f for f in report.errors if f.kind == "overlap"][0]
    assert overlap.cell == "S1-01 / S1-02"
    assert 116.05 < overlap.lon < 116.06 and 38.4 < overlap.lat < 38.5
    assert 9.5e6 < overlap.area_m2 < 9.9e6  # 0.01° × 0.1° at 38.45°N ≈ 0.872 × 11.1 km


def test_gap_and_uncovered_enterprises_are_found(session, world):
    proposal = redraw.Proposal("S1", {"S1-01": box(116.0, 38.4, 116.04, 38.5)})
    report = redraw.check(session, proposal)
    gap = [f for f in report.errors if f.kind == "gap"][0]
    assert 116.04 < gap.lon < 116.05 and gap.area_m2 > 8e6
    uncovered = {f.message for f in report.errors if f.kind == "uncovered"}
    assert uncovered == {"enterprise W1 would be in no cell", "enterprise W2 would be in no cell"}


def test_outside_the_parent_and_invalid_geometry(session, world):
    bowtie = shapely.MultiPolygon([shapely.Polygon(
        [(116.0, 38.4), (116.05, 38.5), (116.05, 38.4), (116.0, 38.5)])])
    report = redraw.check(session, redraw.Proposal("S1", {
        "S1-01": bowtie, "S1-02": box(116.05, 38.4, 116.15, 38.5)}))
    assert ("error", "invalid") in kinds(report)
    invalid = [f for f in report.errors if f.kind == "invalid"][0]
    assert "Self-intersection" in invalid.message and invalid.lon == pytest.approx(116.025)
    outside = [f for f in report.errors if f.kind == "outside_parent"][0]
    assert outside.cell == "S1-02" and outside.lon > 116.1


def test_tolerance_ignores_slivers(session, world):
    # A sliver of ~0.5 m² between the cells (5e-10° × 11 km): rounding, not an error, at the
    # default 1 m²; a real gap at a tolerance of 0.01 m².
    proposal = redraw.Proposal("S1", edge_at(116.05))
    proposal.geometries["S1-01"] = box(116.0, 38.4, 116.0499999995, 38.5)
    assert redraw.check(session, proposal).errors == []
    assert [f.kind for f in redraw.check(session, proposal, tolerance_m2=0.01).errors] \
        == ["gap"]


def test_multipart_cell_is_a_warning_to_confirm(session, world):
    parts = shapely.MultiPolygon([shapely.box(116.0, 38.4, 116.04, 38.5),
                                  shapely.box(116.06, 38.4, 116.1, 38.42)])
    rest = shapely.MultiPolygon([shapely.box(116.04, 38.4, 116.06, 38.5),
                                 shapely.box(116.06, 38.42, 116.1, 38.5)])
    proposal = redraw.Proposal("S1", {"S1-01": parts, "S1-02": shapely.union(
        rest, shapely.box(116.04, 38.4, 116.06, 38.5))})
    report = redraw.check(session, proposal)
    assert ("warning", "multipart") in kinds(report) and report.errors == []
    with pytest.raises(redraw.RedrawError, match="confirm the warnings"):
        redraw.commit(session, proposal, username="u", comment="two pieces")
    assert redraw.commit(session, proposal, username="u", comment="two pieces",
                         confirm_warnings=True)


def test_effect_lists_moves_and_workload(session, world):
    effect = redraw.effect(session, redraw.Proposal("S1", edge_at(116.04)))
    moves = {(m["management_code"], m["from_cell"], m["to_cell"]) for m in effect["moves"]}
    assert moves == {("W1", "S1-01", "S1-02"), ("W2", "S1-01", "S1-02")}
    cells = {c["code"]: c for c in effect["cells"]}
    assert (cells["S1-01"]["enterprises_before"], cells["S1-01"]["enterprises_after"]) == (3, 1)
    # Grade B: 365/180 ≈ 2.03 inspections a year each.
    assert cells["S1-02"]["workload_after"] == pytest.approx(3 * 365 / 180, abs=0.1)
    assert effect["rises"] == ["S1-02"] and effect["falls"] == ["S1-01"]
    assert cells["S1-02"]["deviation"] > 0 > cells["S1-01"]["deviation"]


def test_a_large_grid_lists_the_cells_the_change_touches_alone(session, world, monkeypatch):
    # S1-02 split in two first, so that S1-03 is a cell the edge move leaves alone.
    redraw.commit(session, redraw.Proposal(
        "S1", {"S1-02": box(116.05, 38.4, 116.1, 38.45), "S1-03": box(116.05, 38.45, 116.1, 38.5)},
        new_cells={"S1-03": "北半"}), username="u", comment="split", confirm_warnings=True,
        valid_from=NOW - dt.timedelta(days=1))
    proposal = redraw.Proposal("S1", {
        "S1-01": box(116.0, 38.4, 116.04, 38.5),
        "S1-02": shapely.MultiPolygon([shapely.union(shapely.box(116.04, 38.4, 116.05, 38.5),
                                                     shapely.box(116.05, 38.4, 116.1, 38.45))])})
    whole = redraw.effect(session, proposal)
    assert [c["code"] for c in whole["cells"]] == ["S1-01", "S1-02", "S1-03"]
    monkeypatch.setattr(redraw, "WHOLE_GRID_CELLS", 2)
    touched = redraw.effect(session, proposal)
    assert touched["moves"] == whole["moves"] and len(whole["moves"]) == 2
    assert touched["rises"] == whole["rises"] == ["S1-02"]
    # The same figures for the cells it lists; no average of the grid, so no deviation.
    assert touched["average_workload"] is None
    no_deviation = ("deviation", "deviation_before")
    assert [{k: v for k, v in c.items() if k not in no_deviation} for c in touched["cells"]] \
        == [{k: v for k, v in c.items() if k not in no_deviation} for c in whole["cells"][:2]]
    assert all(c["deviation"] is None for c in touched["cells"])


def test_commit_moves_only_what_changed_and_keeps_history(session, world):
    untouched = session.execute(text("""
        SELECT count(*) FROM enterprise_cell ec JOIN enterprise e ON e.id = ec.enterprise_id
        WHERE e.management_code IN ('E1', 'X1', 'E2')""")).scalar()
    change = redraw.commit(session, redraw.Proposal("S1", edge_at(116.04)), username="s1-manager",
                           comment="balance the workload")
    assert cell_of(session, "W1") == ("S1-02", False)
    assert cell_of(session, "W1", WEEK_AGO) == ("S1-01", False)
    assert cell_of(session, "E1") == ("S1-01", False)
    assert session.execute(text("""
        SELECT count(*) FROM enterprise_cell ec JOIN enterprise e ON e.id = ec.enterprise_id
        WHERE e.management_code IN ('E1', 'X1', 'E2')""")).scalar() == untouched
    history = redraw.history(session, "S1-01")
    assert [v["change_id"] for v in history["versions"]] == [change, None]
    assert history["versions"][0]["comment"] == "balance the workload"
    assert history["versions"][1]["valid_to"] is not None


def test_a_comment_is_required(session, world):
    with pytest.raises(redraw.RedrawError, match="comment"):
        redraw.commit(session, redraw.Proposal("S1", edge_at(116.04)), username="u",
                      comment="  ")


def test_second_of_two_concurrent_edits_is_refused(session, world):
    versions = {c: v["version_id"] for c, v in redraw.current_children(session, "S1").items()}
    first = redraw.Proposal("S1", edge_at(116.04), expected_versions=dict(versions))
    second = redraw.Proposal("S1", edge_at(116.06), expected_versions=dict(versions))
    redraw.commit(session, first, username="a", comment="first")
    with pytest.raises(redraw.Conflict, match="changed by someone else"):
        redraw.commit(session, second, username="b", comment="second")


def test_scheduled_change_takes_effect_on_its_date(session, world):
    soon = NOW + dt.timedelta(days=10)
    redraw.commit(session, redraw.Proposal("S1", edge_at(116.04)), username="u",
                  comment="from next week", valid_from=soon)
    assert cell_of(session, "W1") == ("S1-01", False)
    assert cell_of(session, "W1", soon + dt.timedelta(hours=1)) == ("S1-02", False)


def test_revert_is_a_new_change_restoring_the_old_boundaries(session, world):
    change = redraw.commit(session, redraw.Proposal("S1", edge_at(116.04)), username="u",
                           comment="move", valid_from=WEEK_AGO)
    undo = redraw.revert(session, change, username="u", comment="undo")
    assert undo != change
    assert cell_of(session, "W1") == ("S1-01", False)
    assert cell_of(session, "W1", WEEK_AGO + dt.timedelta(days=1)) == ("S1-02", False)
    versions = redraw.history(session, "S1-01")["versions"]
    assert len(versions) == 3 and versions[0]["reverts"] == change


def test_village_moves_keep_cells_gap_free(session, world):
    three_villages(session)
    proposal = redraw.village_moves(session, "S1", {"130984100001": "S1-02"})
    assert set(proposal.geometries) == {"S1-01", "S1-02"}
    assert redraw.check(session, proposal).findings == []
    assert {m["management_code"] for m in redraw.effect(session, proposal)["moves"]} == {
        "W1", "W2"}
    with pytest.raises(redraw.RedrawError, match="not a cell of grid"):
        redraw.village_moves(session, "S1", {"130984100001": "S2-01"})


def test_api_preview_and_commit_and_conflict(client, session, world):
    login(client, "s1-manager")
    body = {"geometries": {c: json.loads(shapely.to_geojson(g))
                           for c, g in edge_at(116.04).items()}}
    preview = client.post("/api/v1/grid/S1/preview", json=body).get_json()
    assert preview["validation"]["ok"] and len(preview["effect"]["moves"]) == 2
    stale = {c: v["version_id"] for c, v in redraw.current_children(session, "S1").items()}
    done = client.post("/api/v1/grid/S1/commit",
                       json={**body, "comment": "平衡工作量", "expected_versions": stale})
    assert done.status_code == 201
    again = client.post("/api/v1/grid/S1/commit",
                        json={**body, "comment": "again", "expected_versions": stale})
    assert again.status_code == 409 and "someone else" in again.get_json()["error"]["message"]
    bad = client.post("/api/v1/grid/S1/commit", json={
        "geometries": {"S1-01": json.loads(shapely.to_geojson(box(116.0, 38.4, 116.03, 38.5)))},
        "comment": "gap"})
    assert bad.status_code == 400 and "no cell" in bad.get_json()["error"]["message"]
    history = client.get("/cells/S1-01/history", headers={"Accept": "application/json"})
    assert len(history.get_json()["versions"]) == 2


def test_cli_redraw_dry_run_then_commit(runner, session, world, tmp_path):
    import geopandas as gpd

    path = tmp_path / "edge.geojson"
    gpd.GeoDataFrame({"code": ["S1-01", "S1-02"]}, geometry=list(edge_at(116.04).values()),
                     crs=4326).to_file(path)
    dry = runner.invoke(args=["grid", "redraw", str(path), "--comment", "试算", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "W1: S1-01 -> S1-02" in dry.output and "nothing written" in dry.output
    assert cell_of(session, "W1") == ("S1-01", False)
    refused = runner.invoke(args=["grid", "redraw", str(path), "--comment", "x",
                                  "--user", "s2-manager"])
    assert refused.exit_code == 1 and "not allowed" in refused.output
    done = runner.invoke(args=["grid", "redraw", str(path), "--comment", "平衡",
                               "--user", "s1-manager"])
    assert done.exit_code == 0, done.output
    assert cell_of(session, "W1") == ("S1-02", False)
    assert session.execute(text(
        "SELECT username FROM grid_change ORDER BY id DESC LIMIT 1")).scalar() == "s1-manager"
    gap = tmp_path / "gap.geojson"
    gpd.GeoDataFrame({"code": ["S1-01"]}, geometry=[box(116.0, 38.4, 116.02, 38.5)],
                     crs=4326).to_file(gap)
    failed = runner.invoke(args=["grid", "redraw", str(gap), "--comment", "gap"])
    assert failed.exit_code == 1 and "gap" in failed.output


def test_split_a_cell_in_two_and_merge_two_cells(session, world):
    split = redraw.Proposal("S1", {"S1-02": box(116.05, 38.4, 116.1, 38.44),
                                   "S1-03": box(116.05, 38.44, 116.1, 38.5)},
                            new_cells={"S1-03": "北半"})
    report = redraw.check(session, split)
    assert report.errors == [] and [f.kind for f in report.warnings] == ["no_owner"]
    redraw.commit(session, split, username="u", comment="split", confirm_warnings=True,
                  valid_from=NOW - dt.timedelta(days=2))
    assert cell_of(session, "X1") == ("S1-03", False)
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
        SELECT p.id, 'department', 'owner', c.id, :t FROM person p, cell c
        WHERE c.code = 'S1-03' LIMIT 1"""), {"t": NOW - dt.timedelta(days=2)})
    merge = redraw.Proposal("S1", {"S1-02": box(116.05, 38.4, 116.1, 38.5)}, retire={"S1-03"})
    redraw.commit(session, merge, username="u", comment="merge back")
    assert session.execute(text("""
        SELECT valid_to IS NOT NULL FROM responsibility r JOIN cell c ON c.id = r.cell_id
        WHERE c.code = 'S1-03'""")).scalar()  # the retired cell's owner period is closed
    assert cell_of(session, "X1") == ("S1-02", False)
    retired = session.execute(text(
        "SELECT retired_at IS NOT NULL FROM cell WHERE code = 'S1-03'")).scalar()
    assert retired
    with pytest.raises(redraw.RedrawError, match="never reused"):
        redraw.commit(session, redraw.Proposal(
            "S1", {"S1-02": box(116.05, 38.4, 116.1, 38.45), "S1-03": box(116.05, 38.45,
                                                                          116.1, 38.5)},
            new_cells={"S1-03": "again"}), username="u", comment="reuse",
            confirm_warnings=True, valid_from=NOW + dt.timedelta(days=1))


def test_a_redraw_is_staged_once_for_its_validation_effect_and_commit(session, world):
    job = redraw.Redraw(session, redraw.Proposal("S1", edge_at(116.04)))
    staged, stage = [], job.stage
    job.stage = lambda: staged.append(1) or stage()
    assert job.check().findings == []
    assert {m["management_code"] for m in job.effect()["moves"]} == {"W1", "W2"}
    job.commit(username="u", comment="move")
    assert len(staged) == 1
    assert cell_of(session, "W1") == ("S1-02", False)


def test_commit_checks_the_grid_as_it_is_then_not_as_it_was_staged(session, world):
    split = redraw.Redraw(session, redraw.Proposal(
        "S1", {"S1-01": box(116.0, 38.4, 116.04, 38.5), "S1-03": box(116.04, 38.4, 116.05, 38.5)},
        new_cells={"S1-03": "新网格"}))
    assert split.check().errors == []
    # Someone else moves the S1-01/S1-02 edge in the meantime: S1-02 now reaches into S1-03.
    redraw.commit(session, redraw.Proposal("S1", edge_at(116.045)), username="b",
                  comment="other")
    with pytest.raises(redraw.RedrawError, match="overlap"):
        split.commit(username="a", comment="split", confirm_warnings=True)


def test_the_editor_and_a_file_refuse_the_same_boundaries(session, world, tmp_path):
    import geopandas as gpd

    from gis.errors import ImportRefused
    from gis.limits import Limits
    from gis.validation import ValidationError

    body = {"moves": None, "new_cells": None, "retire": None, "expected_versions": None}
    for geom, reason in ((shapely.Point(116.02, 38.45), "expected a polygon"),
                         (shapely.box(16.0, 38.4, 16.05, 38.5), "outside China")):
        with pytest.raises(ValidationError, match=reason):
            redraw.proposal_from_json(session, "S1", {**body, "geometries": {
                "S1-01": json.loads(shapely.to_geojson(geom))}}, Limits())
        path = tmp_path / "one.geojson"
        gpd.GeoDataFrame({"code": ["S1-01"]}, geometry=[geom], crs=4326).to_file(path)
        with pytest.raises(ImportRefused, match=reason):
            redraw.proposals_from_file(session, path)
    # The editor keeps a self-crossing polygon: its preview shows where it crosses.
    bowtie = shapely.Polygon([(116.0, 38.4), (116.05, 38.5), (116.05, 38.4), (116.0, 38.5)])
    proposal = redraw.proposal_from_json(session, "S1", {**body, "geometries": {
        "S1-01": json.loads(shapely.to_geojson(bowtie))}}, Limits())
    assert not proposal.geometries["S1-01"].is_valid


def test_the_same_village_move_sent_twice_on_the_same_versions_is_a_conflict(client, session,
                                                                              world):
    # Two editors moving the same village at once: the second finds the village already
    # where it wanted it, so its proposal changes nothing; it is still a 409 (someone else
    # changed the cells it started from), not a 400 "nothing changes" (bench/faults.py).
    three_villages(session)
    login(client, "s1-manager")
    started_from = {c: v["version_id"]
                    for c, v in redraw.current_children(session, "S1").items()}
    body = {"moves": {"130984100001": "S1-02"}, "expected_versions": started_from,
            "confirm_warnings": True}
    first = client.post("/api/v1/grid/S1/commit", json={**body, "comment": "第一位"})
    assert first.status_code == 201, first.get_json()
    second = client.post("/api/v1/grid/S1/commit", json={**body, "comment": "第二位"})
    assert second.status_code == 409, second.get_json()
