"""Every write endpoint, every role, two places: the allowed role at the right place may, every
other role and every other place gets 403. Allowed writes leave an audit entry."""
import datetime as dt
import io
import json

import shapely

import pytest
from sqlalchemy import text

from tests.factories import PASSWORD, USERS, login, small_world

ALL_USERS = [u for u, _role, _place in USERS]


def _allow(*users):
    return {u: (u in users) for u in ALL_USERS}


# One sampled batch of E1 (in S1-01), as a form or JSON (gis/testing.py COLUMNS).
LAB_BATCH = {"report_number": "BG-P1", "management_code": "E1", "product": "电线",
             "sampled_on": "2026-11-20", "kind": "periodic", "result": "pass"}
URGENT_HANDLERS = _allow("admin", "city-leader", "s1-leader", "s1-manager", "c1-inspector")
# (name, method, url, kwargs for the client call, who may)
CASES = [
    ("record inspection in S1-01", "post", "/api/v1/inspections",
     {"json": {"enterprise": "E1", "inspected_on": "2026-11-20",
               "results": {"Q01": "pass", "Q02": "pass"}}},
     _allow("c1-inspector")),
    # Complaints (gis/complaints.py): handled by the inspector of the cell they were routed
    # to and grid managers above it.
    ("handle complaint in S1-01", "patch", "/api/v1/complaints/K1",
     {"json": {"status": "assigned"}}, _allow("c1-inspector", "s1-manager")),
    ("move complaint K1 on", "post", "/complaints/K1/status", {"data": {"status": "assigned"}},
     _allow("c1-inspector", "s1-manager")),
    ("hand complaint K1 to S1-02", "post", "/complaints/K1/reassign",
     {"data": {"cell": "S1-02", "comment": "属邻村企业"}}, _allow("c1-inspector", "s1-manager")),
    # Taking complaints in (Open311, staff entry, the hotline's file): admins and roles at the
    # city (and the hotline role, tests/test_open311.py); the public page needs no login.
    ("Open311 request", "post", "/open311/v2/requests.json",
     {"data": {"service_code": "quality", "description": "电线质量差", "lat": "38.45",
               "long": "116.02"}}, _allow("admin", "city-leader")),
    ("record a complaint", "post", "/complaints/new",
     {"data": {"service_code": "quality", "description": "来电：电线质量差", "enterprise": "E1"}},
     _allow("admin", "city-leader")),
    ("hotline file", "post", "/complaints/import", {"data": "HOTLINE"},
     _allow("admin", "city-leader")),
    # Bringing the past in (app/history.py): administrators only.
    ("history: old complaints", "post", "/admin/history/complaints", {"data": "HOTLINE"},
     _allow("admin")),
    # Photos: whoever may record an inspection at the enterprise's cell (app/photos.py).
    ("photo of an inspection in S1-01", "post", "/api/v1/inspections/INSPECTION/photos",
     {"data": "PHOTO"}, _allow("c1-inspector")),
    ("photo of a rectification in S1-01", "post",
     "/api/v1/rectifications/RECTIFICATION/photos", {"data": "PHOTO"}, _allow("c1-inspector")),
    # Rectifications (整改): recorded as corrected by the inspector of the enterprise's cell or
    # a grid manager above; verified by an inspector of the same station's grid or a grid
    # manager above (someone other than who recorded the correction). Never by an admin.
    ("rectify in S1-01", "post", "/api/v1/rectifications/RECTIFICATION/rectify",
     {"json": {"note": "已整改"}}, _allow("c1-inspector", "s1-manager")),
    ("rectify form in S1-01", "post", "/rectifications/RECTIFICATION/rectify",
     {"data": {"note": "已整改"}}, _allow("c1-inspector", "s1-manager")),
    ("verify in S1-01", "post", "/api/v1/rectifications/RECTIFICATION/verify",
     {"json": {"accept": True}}, _allow("c1-inspector", "s1-manager")),
    ("verify form in S1-01", "post", "/rectifications/RECTIFICATION/verify",
     {"data": {"accept": "false", "note": "仍未整改"}}, _allow("c1-inspector", "s1-manager")),
    # Owners: a grid's manager inside it; an admin anywhere (the roster is theirs to set up).
    ("owner of cell S1-02", "put", "/api/v1/cells/S1-02/owner",
     {"json": {"person_id": "PERSON"}}, _allow("s1-manager", "admin")),
    ("owner of grid S1 itself", "put", "/api/v1/cells/S1/owner",
     {"json": {"person_id": "PERSON"}}, _allow("admin")),
    ("owner of cell S1-02 by code", "put", "/api/v1/cells/S1-02/owner",
     {"json": {"person": "RY2"}}, _allow("s1-manager", "admin")),
    ("owner form of cell S1-02", "post", "/cells/S1-02/owner",
     {"data": {"person": "RY2"}}, _allow("s1-manager", "admin")),
    # People (gis/people.py): any grid manager adds people; a person is edited, handed over
    # or given a responsibility by whoever may reassign what they answer for (RY1 owns S1-02).
    ("add a person", "post", "/people", {"data": {"name": "新同事"}},
     _allow("admin", "s1-manager", "s2-manager")),
    ("add a person by the API", "post", "/api/v1/people",
     {"json": {"code": "RY9", "name": "新同事"}}, _allow("admin", "s1-manager", "s2-manager")),
    ("edit a person who owns S1-02", "post", "/people/RY1/edit",
     {"data": {"code": "RY1", "name": "改名"}}, _allow("admin", "s1-manager")),
    ("edit a person who owns S1-02 by the API", "put", "/api/v1/people/RY1",
     {"json": {"phone": "13900000009"}}, _allow("admin", "s1-manager")),
    ("give S1-01 to a person", "post", "/people/RY2/responsibilities",
     {"data": {"role": "owner", "target": "S1-01"}}, _allow("admin", "s1-manager")),
    ("give S1-01 to a person by the API", "post", "/api/v1/people/RY2/responsibilities",
     {"json": {"role": "owner", "target": "S1-01"}}, _allow("admin", "s1-manager")),
    ("hand over S1-02", "post", "/people/RY1/handover",
     {"data": {"successor": "RY2", "comment": "调岗"}}, _allow("admin", "s1-manager")),
    ("hand over S1-02 by the API", "post", "/api/v1/people/RY1/handover",
     {"json": {"successor": "RY2", "comment": "调岗"}}, _allow("admin", "s1-manager")),
    ("roster import", "post", "/people/import", {"data": "ROSTER"}, _allow("admin")),
    ("link an account to a person", "post", "/people/RY2/accounts",
     {"data": {"username": "s2-manager"}}, _allow("admin")),
    ("unlink an account from a person", "post", "/people/RY1/accounts/remove",
     {"data": {"username": "s1-leader"}}, _allow("admin")),
    ("grade intervals", "put", "/api/v1/reference/grade-intervals",
     {"json": {"D": 60}}, _allow("admin")),
    ("checklist item", "post", "/api/v1/reference/checklist-items",
     {"json": {"code": "Q99", "title": "新增项目"}}, _allow("admin")),
    ("enterprise import", "post", "/api/v1/imports/enterprises",
     {"data": "CSV"}, _allow("admin")),
    ("create user", "post", "/admin/users",
     {"data": {"username": "someone", "password": "long-pass-1", "role": "leader",
               "place": "S2"}}, _allow("admin")),
    ("add role", "post", "/admin/users/s2-manager/roles",
     {"data": {"role": "leader", "place": "S2"}}, _allow("admin")),
    ("remove role", "post", "/admin/users/s2-manager/roles/remove",
     {"data": {"role": "grid_manager", "place": "S2"}}, _allow("admin")),
    ("reset password", "post", "/admin/users/s2-manager/password",
     {"data": {"password": "other-pass-2"}}, _allow("admin")),
    ("clear failed logins", "post", "/admin/users/s2-manager/unlock", {}, _allow("admin")),
    # One's own account: everyone logged in.
    ("create own token", "post", "/account/tokens", {"data": {"name": "phone"}},
     _allow(*ALL_USERS)),
    ("own language", "post", "/account/language", {"data": {"lang": "en"}},
     _allow(*ALL_USERS)),
    ("log out", "post", "/logout", {}, _allow(*ALL_USERS)),
    ("change own password", "post", "/account/password",
     {"data": {"current_password": PASSWORD, "new_password": "other-pass-2",
               "new_password_again": "other-pass-2"}}, _allow(*ALL_USERS)),
    # A session is ended by its own user; to anyone else it does not exist.
    ("end s1-leader's session", "post", "/account/sessions/SESSION/end", {},
     {u: (True if u == "s1-leader" else 404) for u in ALL_USERS}),
    # Redrawing inside grid S1: its manager (or an admin-less manager above) only.
    # Admins preview too: they may commit corrections dated in the past (with a reason).
    ("preview a redraw of S1", "post", "/api/v1/grid/S1/preview",
     {"json": {"geometries": "EDGE"}}, _allow("s1-manager", "admin")),
    ("commit a redraw of S1", "post", "/api/v1/grid/S1/commit",
     {"json": {"geometries": "EDGE", "comment": "更均衡"}}, _allow("s1-manager")),
    # A balance suggestion writes nothing (the editor commits its moves like any redraw):
    # whoever may open S1's editor.
    ("suggest a balance for S1", "post", "/api/v1/grid/S1/rebalance",
     {"json": {}}, _allow("s1-manager", "admin")),
    ("read a boundary file for S1", "post", "/api/v1/grid/S1/boundaries",
     {"data": "BOUNDARIES"}, _allow("s1-manager", "admin")),
    ("revert a change in S1", "post", "/api/v1/grid/changes/CHANGE/revert",
     {"json": {"comment": "撤销"}}, _allow("s1-manager")),
    # The double-random draw: leaders at or above the place, and admins.
    ("draw in S1", "post", "/api/v1/draws",
     {"json": {"place": "S1", "enterprises": 1, "seed": 1,
               "roster": ["c1-inspector", "c2-inspector"]}},
     _allow("admin", "city-leader", "s1-leader")),
    # Product testing and cases (gis/testing.py, gis/cases.py): grid managers at or above the
    # enterprise's cell, and admins; an upload naming an enterprise elsewhere is refused whole.
    ("testing results of E1", "post", "/testing/import", {"data": "LAB"},
     _allow("admin", "s1-manager")),
    ("testing results of E1 by the API", "post", "/api/v1/testing/imports", {"data": "LAB"},
     _allow("admin", "s1-manager")),
    ("a batch of E1", "post", "/testing/batches", {"data": {**LAB_BATCH}},
     _allow("admin", "s1-manager")),
    ("a batch of E1 by the API", "post", "/api/v1/testing/batches", {"json": {**LAB_BATCH}},
     _allow("admin", "s1-manager")),
    ("open a case at E1", "post", "/cases/new", {"data": {"enterprise": "E1", "cause": "无证"}},
     _allow("admin", "s1-manager")),
    ("open a case at E1 by the API", "post", "/api/v1/cases",
     {"json": {"enterprise": "E1", "cause": "无证"}}, _allow("admin", "s1-manager")),
    ("move a case at E1 on", "post", "/cases/CASE/status", {"data": {"status": "investigating"}},
     _allow("admin", "s1-manager")),
    ("move a case at E1 on by the API", "post", "/api/v1/cases/CASE/status",
     {"json": {"status": "investigating"}}, _allow("admin", "s1-manager")),
    # Urgent events (gis/urgent.py): raised and handled by whoever answers for or watches over
    # the place (leaders, grid managers, inspectors at or above it, or of its station's grid),
    # admins anywhere; handled also by anyone alerted (nobody here: S1-01 has no owner).
    ("raise an urgent event in S1-01", "post", "/api/v1/urgent",
     {"json": {"event_type": "special_equipment", "lon": 116.02, "lat": 38.45,
               "description": "电梯困人"}}, URGENT_HANDLERS),
    ("raise an urgent event in S1-01 by the form", "post", "/urgent/new",
     {"data": {"event_type": "product_harm", "lon": "116.02", "lat": "38.45",
               "description": "产品伤人"}}, URGENT_HANDLERS),
    ("acknowledge an urgent event in S1-01", "post", "/api/v1/urgent/URGENT/acknowledge", {},
     URGENT_HANDLERS),
    ("acknowledge an urgent event in S1-01 by the form", "post",
     "/urgent/URGENT/acknowledge", {}, URGENT_HANDLERS),
    ("on site at an urgent event in S1-01", "post", "/api/v1/urgent/URGENT/on-site",
     {"json": {"lon": 116.02, "lat": 38.451}}, URGENT_HANDLERS),
    ("on site at an urgent event in S1-01 by the form", "post", "/urgent/URGENT/on-site",
     {"data": {"lon": "116.02", "lat": "38.451"}}, URGENT_HANDLERS),
    ("close an urgent event in S1-01", "post", "/api/v1/urgent/URGENT/close",
     {"json": {"outcome": "已处置"}}, URGENT_HANDLERS),
    ("close an urgent event in S1-01 by the form", "post", "/urgent/URGENT/close",
     {"data": {"outcome": "已处置"}}, URGENT_HANDLERS),
    # Responsibility plates (app/plates.py): a batch PDF queued in the background by whoever
    # may read the cell (leaders, grid managers, inspectors of the area, admins).
    ("plates PDF of S1-01 in the background", "post", "/plates/cell/S1-01/prepare",
     {"data": {"size": "a4"}},
     _allow("admin", "city-leader", "s1-leader", "s1-manager", "c1-inspector")),
    ("reprint PDF of S1-01 in the background", "post", "/plates/reprint/prepare",
     {"data": {"place": "S1-01", "since": "2020-01-01", "size": "a5"}},
     _allow("admin", "city-leader", "s1-leader", "s1-manager", "c1-inspector")),
    # The gap report's XLSX queued in the background (app/gaps.py): whoever may read the report
    # (leaders, grid managers, admins; not inspectors), each job filtered to the queuer's area.
    ("gap report XLSX of S1 in the background", "post", "/reports/gaps/prepare",
     {"data": {"from": "2026-01-01", "to": "2026-01-31", "place": "S1"}},
     _allow("admin", "city-leader", "s1-leader", "s1-manager", "s2-manager")),
    ("gap report XLSX of S1 by the API", "post", "/api/v1/reports/gaps/jobs",
     {"json": {"from": "2026-01-01", "to": "2026-01-31", "place": "S1"}},
     _allow("admin", "city-leader", "s1-leader", "s1-manager", "s2-manager")),
    # Statistics queued in the background (app/statistics.py): whoever reads the place; a
    # place outside one's area is no place of theirs (404).
    ("statistics XLSX of S1-01 in the background", "post", "/statistics/prepare",
     {"data": {"what": "xlsx", "level": "cell", "period": "year", "place": "S1-01"}},
     {**_allow("admin", "city-leader", "s1-leader", "s1-manager", "c1-inspector"),
      "s2-manager": 404, "c2-inspector": 404}),
    # Responsibility letters (app/assessment.py): admins anywhere, grid managers at or above
    # the place; the assessment's rules and the warnings' thresholds: admins.
    ("record a letter for S1-01", "post", "/api/v1/letters",
     {"data": {"person": "RY1", "place": "S1-01", "from": "2026-01-01", "to": "2026-12-31",
               "target_inspections_done": "0.9"}}, _allow("admin", "s1-manager")),
    ("record a letter for S1-01 by the form", "post", "/letters/new",
     {"data": {"person": "RY1", "place": "S1-01", "from": "2026-01-01", "to": "2026-12-31"}},
     _allow("admin", "s1-manager")),
    ("an assessment rule's weight", "put", "/api/v1/reference/assessment-rules/inspections_done",
     {"json": {"weight": 35}}, _allow("admin")),
    ("a warning's threshold", "put", "/api/v1/reference/warning-rules/failed_twice",
     {"json": {"threshold": 3}}, _allow("admin")),
    # A token is revoked by its owner or an admin; to anyone else it does not exist.
    ("revoke s1-leader's token", "post", "/account/tokens/TOKEN/revoke", {},
     {u: (True if u in ("s1-leader", "admin") else 404) for u in ALL_USERS}),
]
COVERED = {(m.upper(), url.replace("TOKEN", "1").replace("CHANGE", "1").replace("SESSION", "1"))
           for _n, m, url, _k, _w in CASES}
# S1's inner edge moved from 116.05 to 116.04: a valid reshape of its two cells.
EDGE = {
    "S1-01": {"type": "Polygon", "coordinates": [[[116.0, 38.4], [116.04, 38.4], [116.04, 38.5],
                                                  [116.0, 38.5], [116.0, 38.4]]]},
    "S1-02": {"type": "Polygon", "coordinates": [[[116.04, 38.4], [116.1, 38.4], [116.1, 38.5],
                                                  [116.04, 38.5], [116.04, 38.4]]]},
}


def _csv_upload():
    data = "management_code,name,grade,lon,lat\nE9,新企业,B,116.03,38.46\n".encode("gbk")
    return {"file": (io.BytesIO(data), "enterprises.csv")}


def _hotline_upload():
    data = ("工单编号,受理时间,诉求内容,诉求类别,经度,纬度\n"
            "12365-P1,2026-11-20 09:00,电子秤缺斤短两,计量问题,116.02,38.45\n").encode("gbk")
    return {"file": (io.BytesIO(data), "hotline.csv")}


def _lab_upload():
    data = ("报告编号,企业管理编码,产品名称,抽样日期,检验类别,检验结论,不合格项目\n"
            "BG-P2,E1,电线,2026-11-20,定期监督检验,不合格,导体电阻\n").encode("gbk")
    return {"file": (io.BytesIO(data), "lab.csv")}


def _case_at_e1(session, url: str) -> str:
    from gis import cases

    number = cases.open_case(session, enterprise="E1", cause="无证生产",
                             today=dt.date(2026, 11, 20))["number"]
    return url.replace("CASE", number)


def _urgent_in_s1(session, url: str) -> str:
    from gis import urgent

    number = urgent.raise_event(session, "special_equipment", 116.02, 38.45, "锅炉泄漏",
                                username="admin")["number"]
    return url.replace("URGENT", number)


def _photo_upload():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, "JPEG")
    return {"file": (io.BytesIO(buf.getvalue()), "gate.jpg")}


def _inspection_in_e1(session, url: str) -> str:
    """INSPECTION and RECTIFICATION in ``url``: an inspection of E1 (in S1-01) with one
    rectification, written directly."""
    inspection = session.execute(text("""
        INSERT INTO inspection (enterprise_id, inspector_id, inspected_on, results,
                                problems_found, rectification_status)
        SELECT e.id, u.person_id, DATE '2026-11-20', '{"Q02": "fail"}', 1, 'open'
        FROM enterprise e, app_user u
        WHERE e.management_code = 'E1' AND u.username = 'c1-inspector'
        RETURNING id""")).scalar()
    rectification = session.execute(text("""
        INSERT INTO rectification (enterprise_id, inspection_id, item_code, problem, deadline)
        SELECT enterprise_id, id, 'Q02', '出厂检验记录缺失', DATE '2026-12-20'
        FROM inspection WHERE id = :i RETURNING id"""), {"i": inspection}).scalar()
    if url.endswith("/verify"):  # a correction recorded by someone else, to be checked
        session.execute(text("""
            UPDATE rectification SET status = 'rectified', rectified_at = now(),
                   rectified_by = 'someone-else' WHERE id = :r"""), {"r": rectification})
    return url.replace("INSPECTION", str(inspection)).replace("RECTIFICATION",
                                                               str(rectification))


def _roster_upload():
    data = "人员编号,姓名,单位,负责网格\nRY3,新责任人,质量监督所,S2-01\n".encode("gbk")
    return {"file": (io.BytesIO(data), "roster.csv")}


def _roster(session):
    """RY1 owns S1-02 (since two days ago) and is the account s1-leader; RY2 answers for
    nothing yet."""
    from gis import people

    ry1 = people.create_person(session, {"code": "RY1", "name": "责任人一"})["id"]
    people.create_person(session, {"code": "RY2", "name": "责任人二"})
    people.assign(session, people.target(session, "owner", "S1-02"), ry1,
                  dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    people.link_account(session, "s1-leader", "RY1")


def _boundary_upload():
    data = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c}, "geometry": g} for c, g in EDGE.items()]})
    return {"file": (io.BytesIO(data.encode()), "edge.geojson")}


@pytest.fixture
def world(session):
    # Two days old, so a change committed yesterday can be reverted today.
    return small_world(session, valid_from=dt.datetime.now(dt.timezone.utc)
                       - dt.timedelta(days=2))


@pytest.mark.parametrize("username", ALL_USERS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_write_is_allowed_only_for_the_right_role_and_place(client, session, world, case,
                                                          username):
    _name, method, url, kwargs, who = case
    assert login(client, username).status_code == 302
    kwargs = dict(kwargs)
    if kwargs.get("data") == "CSV":
        kwargs["data"] = _csv_upload()
    if kwargs.get("data") == "BOUNDARIES":
        kwargs["data"] = _boundary_upload()
    if kwargs.get("data") == "ROSTER":
        kwargs["data"] = _roster_upload()
    if kwargs.get("data") == "PHOTO":
        kwargs["data"] = _photo_upload()
    if kwargs.get("data") == "LAB":
        kwargs["data"] = _lab_upload()
    if kwargs.get("data") == "HOTLINE":
        kwargs["data"] = _hotline_upload()
    if "CASE" in url:
        url = _case_at_e1(session, url)
    if "URGENT" in url:
        url = _urgent_in_s1(session, url)
    if "INSPECTION" in url or "RECTIFICATION" in url:
        url = _inspection_in_e1(session, url)
    _roster(session)
    if "json" in kwargs and kwargs["json"].get("person_id") == "PERSON":
        kwargs["json"] = {"person_id": world}
    if "json" in kwargs and kwargs["json"].get("geometries") == "EDGE":
        kwargs["json"] = {**kwargs["json"], "geometries": EDGE}
    if "CHANGE" in url:
        from gis import redraw

        proposal = redraw.Proposal("S1", {c: shapely.from_geojson(json.dumps(g))
                                          for c, g in EDGE.items()})
        yesterday = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
        url = url.replace("CHANGE", str(redraw.commit(session, proposal, username="s1-manager",
                                                          comment="edge west",
                                                          valid_from=yesterday)))
    if "TOKEN" in url:
        from gis.users import create_token

        url = url.replace("TOKEN", str(create_token(session, "s1-leader", "phone")[0]))
    if "SESSION" in url:
        from gis.users import start_session, user_id

        start_session(session, user_id(session, "s1-leader"), remote_addr=None, user_agent=None)
        url = url.replace("SESSION", str(session.execute(text(
            "SELECT max(id) FROM user_session")).scalar()))
    before = session.execute(text("SELECT count(*) FROM audit_log")).scalar()
    response = getattr(client, method)(url, **kwargs)
    if who[username] == 404:
        assert response.status_code == 404
    elif who[username] and url.endswith("/rebalance"):
        # Let in: the small world's grid has no villages to move, which is said as such.
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.get_json()["error"]["code"] == "not_rebalanceable"
    elif who[username]:
        assert response.status_code in (200, 201, 202, 302), response.get_data(as_text=True)
        if url.endswith(("/preview", "/boundaries")):
            return  # a preview (or reading a file for one) writes nothing to audit
        after = session.execute(text("""
            SELECT username, action, remote_addr FROM audit_log ORDER BY id DESC LIMIT 1""")).one()
        assert session.execute(text("SELECT count(*) FROM audit_log")).scalar() > before
        assert after.username == username and after.remote_addr == "127.0.0.1"
    else:
        assert response.status_code == 403, response.get_data(as_text=True)
        actions = session.execute(text(
            "SELECT action FROM audit_log WHERE id > 0 ORDER BY id DESC LIMIT 1")).scalar()
        assert actions == "login"  # nothing written, nothing audited


def test_every_write_endpoint_is_in_the_permission_matrix(app):
    writes = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            writes.add((method, rule.rule))
    public = {("POST", "/login"), ("POST", "/public/complaints/new")}
    uncovered = []
    for method, rule in sorted(writes - public):
        pattern = rule.replace("<int:", "<")
        if not any(m == method and _matches(pattern, url) for m, url in COVERED):
            uncovered.append(f"{method} {rule}")
    assert uncovered == [], "write endpoints without a permission test"


def _matches(rule: str, url: str) -> bool:
    rparts, uparts = rule.strip("/").split("/"), url.strip("/").split("/")
    return len(rparts) == len(uparts) and all(
        r.startswith("<") or r == u or _segment(r, u) for r, u in zip(rparts, uparts))


def _segment(rule_part: str, url_part: str) -> bool:
    """A converter inside a segment (Open311's requests.<any(json, xml):fmt>)."""
    import re

    pattern = "".join(".+" if p.startswith("<") else re.escape(p)
                      for p in re.split(r"(<[^>]+>)", rule_part))
    return re.fullmatch(pattern, url_part) is not None


def test_anonymous_writes_are_refused(client, world):
    for _name, method, url, kwargs, _who in CASES:
        for placeholder in ("TOKEN", "CHANGE", "SESSION", "INSPECTION", "RECTIFICATION"):
            url = url.replace(placeholder, "1")
        response = getattr(client, method)(url, **{k: v for k, v in kwargs.items()
                                                  if k != "data" or v not in ("CSV", "ROSTER",
                                                                              "PHOTO", "LAB")})
        assert response.status_code in (401, 302), url


def test_reading_is_scoped_to_the_place(client, world):
    # A station's leader finds enterprises of their station only.
    login(client, "s1-leader")
    found = client.get("/api/v1/enterprises?q=enterprise").get_json()["enterprises"]
    assert [e["management_code"] for e in found] == ["E1"]
    client.post("/logout")
    login(client, "city-leader")
    found = client.get("/api/v1/enterprises?q=enterprise").get_json()["enterprises"]
    assert [e["management_code"] for e in found] == ["E1", "E2"]


def test_inspector_reads_the_rest_of_their_station_but_not_others(session, world):
    from gis import policy
    from gis.users import grants, user_id

    from gis.fieldwork import cell_target
    g = grants(session, user_id(session, "c1-inspector"))
    assert policy.can(g, "view", cell_target(session, "S1-02")[1])
    assert not policy.can(g, "view", cell_target(session, "S2-01")[1])
    assert not policy.can(g, "record_inspection", cell_target(session, "S1-02")[1])


def test_admin_pages_are_forbidden_to_other_roles(client, world):
    login(client, "city-leader")
    for url in ("/admin/users", "/admin/audit", "/admin/reference"):
        response = client.get(url)
        assert response.status_code == 403
        assert "没有权限" in response.get_data(as_text=True)
