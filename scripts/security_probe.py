"""An adversarial battery against a RUNNING GridWatch, for docs/security.md ("Tried and held").

    .venv/bin/python scripts/security_probe.py http://127.0.0.1:8704 \\
        --database-url postgresql://gridwatch:gridwatch@127.0.0.1:5432/gridwatch_probe_d

It logs in as the demo users (README.md), fires hostile requests in ten categories and prints a
markdown table: category, requests, held, not held (the first few failures shown). "Held" is
the expected refusal: the right 4xx, never a 500, no SQL error text in the answer, and nothing
written (the audit log and the data, read from the server's database before and after).

The database URL is the server's own: the probe reads targets (cells, enterprises, complaints,
sessions) and counts from it, and mints API tokens for the demo users with the app's own
``gis.users.create_token``. It writes nothing else there; through the server it writes only
what each role may (API tokens with a hostile name, a user with a hostile display name, a
checklist item with a hostile title: the stored half of the escaping test).

Only for the demo city, on a server of your own: the base URL is a required argument, and only
loopback addresses are accepted unless --allow-remote says otherwise. Run it once per server
start when the server does not trust X-Forwarded-For: its failed logins count against
127.0.0.1, which is locked out after LOGIN_CLIENT_MAX_FAILURES within LOGIN_LOCKOUT_MINUTES.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import http.cookies
import io
import ipaddress
import json
import re
import secrets
import socket
import sys
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# README.md, "Demo users — FOR THE DEMO ONLY".
USERS = {
    "admin": "demo-admin-2026",
    "leader": "demo-leader-2026",
    "manager": "demo-manager-2026",
    "inspector": "demo-inspector-2026",
}
MANAGER_GRID = "130984-Z01"
INSPECTOR_CELL = "130984-Z01-01"

MARKUP = "<img src=x onerror=alert(1)>\"'</script><script>alert(2)</script>"
RAW_MARKUP = re.compile(r"<img src=x|<script>alert", re.IGNORECASE)
SQL_ERROR = re.compile(
    r"psycopg|sqlalchemy|ProgrammingError|DataError|IntegrityError|InternalError|Traceback"
    r"|syntax error at or near|unterminated quoted|invalid input syntax|LINE \d+:"
    r"|\bSELECT\b[^\"]{0,200}\bFROM\b", re.IGNORECASE)
INJECTIONS = [
    "' OR 1=1--", "'; DROP TABLE app_user;--", "\" OR \"\"=\"", "%", "_", "%_%", "\\",
    "\\'", "1) OR (1=1", "1 UNION SELECT NULL--", "网格'通\u202e\ufeff", "\U0001F600",
    # 10,000 characters: gunicorn refuses the request line (over 4,094 bytes) before the app;
    # 3,000 reach it.
    "\x00", "a" * 10000, "b" * 3000, "-1", "1e309", "NaN", "${7*7}{{7*7}}", "../../etc/passwd",
]
# Audit actions a probe may cause without anything having been written: its own logins.
HARMLESS_ACTIONS = {"login", "logout", "login_failed"}


# --------------------------------------------------------------------------------------------
# HTTP: http.client, one connection per request (gunicorn's sync workers close them anyway).

@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    ms: float
    set_cookies: list = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """A browser-like client: cookies, the CSRF token of its session, an optional address it
    claims in X-Forwarded-For and an optional bearer token."""

    def __init__(self, base: str, *, xff: str | None = None, token: str | None = None,
                 timeout: float = 60):
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None
        self.xff, self.token, self.timeout = xff, token, timeout
        self.role = "anonymous"

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict | None = None, json_body=None, form: dict | None = None,
                csrf: bool = True, cookies: bool = True) -> Answer:
        hdrs = {"Accept-Language": "en", "User-Agent": "gridwatch-security-probe"}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        if form is not None:
            form = dict(form)
            if csrf and self.csrf and method != "GET":
                form.setdefault("csrf_token", self.csrf)
            body = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if csrf and self.csrf and method != "GET":
            hdrs["X-CSRFToken"] = self.csrf
        if cookies and self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.xff:
            hdrs["X-Forwarded-For"] = self.xff
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        hdrs.update(headers or {})
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        start = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, self.prefix + path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        except (BrokenPipeError, ConnectionResetError):
            # The server answered (413) and closed before the whole body was sent: read what
            # it said, if it said anything.
            try:
                resp = conn.getresponse()
                data = resp.read()
            except Exception:  # noqa: BLE001 - any failure here means no answer
                return Answer(0, {}, b"connection closed by the server", _ms(start))
        finally:
            conn.close()
        answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data,
                        _ms(start), resp.msg.get_all("Set-Cookie") or [])
        for raw in answer.set_cookies:
            jar = http.cookies.SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel.value == "" or "1970" in (morsel["expires"] or ""):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return answer

    def get(self, path: str, **kw) -> Answer:
        return self.request("GET", path, **kw)

    def refresh_csrf(self, path: str = "/login") -> None:
        found = re.search(r'name="csrf-token" content="([^"]+)"', self.get(path).text)
        self.csrf = found.group(1) if found else None

    def login(self, username: str, password: str | None = None) -> Answer:
        self.refresh_csrf("/login")
        answer = self.request("POST", "/login", form={
            "username": username, "password": password or USERS[username]})
        if answer.status == 302:
            self.role = username
            self.refresh_csrf("/account")
        return answer


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# --------------------------------------------------------------------------------------------
# The server's database: targets, tokens, and "was anything written".

class Database:
    def __init__(self, url: str):
        from sqlalchemy import create_engine

        self.engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1)
                                    if url.startswith("postgresql://") else url,
                                    isolation_level="AUTOCOMMIT")
        self.conn = self.engine.connect()

    def rows(self, sql: str, **params) -> list:
        from sqlalchemy import text

        return list(self.conn.execute(text(sql), params))

    def scalar(self, sql: str, **params):
        from sqlalchemy import text

        return self.conn.execute(text(sql), params).scalar()

    def last_audit_id(self) -> int:
        return self.scalar("SELECT coalesce(max(id), 0) FROM audit_log")

    def writes_since(self, audit_id: int) -> list[str]:
        return [f"{r.action} {r.target or ''}".strip() for r in self.rows(
            "SELECT action, target FROM audit_log WHERE id > :i ORDER BY id", i=audit_id)
            if r.action not in HARMLESS_ACTIONS]

    def fingerprint(self) -> dict:
        """What the writes of the battery could change, beyond the audit log."""
        return {
            "cell_owner": self.scalar(
                "SELECT md5(string_agg(id || ':' || coalesce(person_id, 0) || ':' || "
                "coalesce(valid_to::text, ''), ',' ORDER BY id)) FROM responsibility"),
            "cell_version": self.scalar(
                "SELECT md5(string_agg(id || ':' || coalesce(valid_to::text, ''), ',' "
                "ORDER BY id)) FROM cell_version"),
            "cell": self.scalar("SELECT count(*) FROM cell"),
            "complaint": self.scalar(
                "SELECT md5(string_agg(id || status, ',' ORDER BY id)) FROM complaint"),
            "inspection": self.scalar("SELECT count(*) FROM inspection"),
            "enterprise": self.scalar("SELECT count(*) FROM enterprise"),
            "grade_interval": self.scalar(
                "SELECT string_agg(grade || interval_days, ',' ORDER BY grade) "
                "FROM grade_interval"),
            "checklist_item": self.scalar("SELECT count(*) FROM checklist_item"),
            "user_role": self.scalar("SELECT count(*) FROM user_role"),
            "app_user": self.scalar(
                "SELECT md5(string_agg(username || password_hash, ',' ORDER BY id)) "
                "FROM app_user"),
            "grid_change": self.scalar("SELECT count(*) FROM grid_change"),
        }

    def mint_token(self, username: str, name: str) -> tuple[int, str]:
        from sqlalchemy.orm import Session

        sys.path.insert(0, str(ROOT))
        from gis.users import create_token

        with Session(self.engine) as session:
            token_id, token = create_token(session, username, name)
            session.commit()
        return token_id, token


@dataclass
class Tally:
    name: str
    requests: int = 0
    held: int = 0
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    slowest_ms: float = 0.0
    limited: int = 0

    def check(self, what: str, answer: Answer, ok: bool, reason: str = "") -> bool:
        self.requests += 1
        self.limited += answer.status == 429
        self.slowest_ms = max(self.slowest_ms, answer.ms)
        problem = None
        if answer.status >= 500:
            problem = "server error"
        elif SQL_ERROR.search(answer.text):
            problem = "SQL error text in the answer"
        elif not ok:
            problem = reason or "unexpected answer"
        if problem is None:
            self.held += 1
            return True
        snippet = re.sub(r"\s+", " ", answer.text)[:160]
        self.failures.append(f"{what} -> {answer.status} ({problem}): {snippet}")
        return False

    def fail(self, what: str, reason: str) -> None:
        """A failure found after the answer (e.g. a write seen in the database)."""
        self.held -= 1
        self.failures.append(f"{what}: {reason}")


class Probe:
    def __init__(self, base: str, db: Database, verbose: bool = False):
        self.base, self.db, self.verbose = base, db, verbose
        self.run = secrets.token_hex(3)
        self.sessions: dict[str, Client] = {}
        self.tokens: dict[str, str] = {}
        self.tallies: list[Tally] = []

    # -- set up ------------------------------------------------------------------------------
    def client(self, **kw) -> Client:
        return Client(self.base, **kw)

    def session(self, username: str) -> Client:
        if username not in self.sessions:
            c = self.client()
            answer = c.login(username)
            if answer.status != 302:
                raise SystemExit(f"cannot log in as {username}: {answer.status} "
                                 f"{answer.text[:200]} (a locked-out client? see the module "
                                 "docstring)")
            self.sessions[username] = c
        return self.sessions[username]

    def bearer(self, username: str) -> Client:
        if username not in self.tokens:
            self.tokens[username] = self.db.mint_token(username, f"probe {self.run}")[1]
        c = self.client(token=self.tokens[username])
        c.role = f"{username} (token)"
        return c

    def targets(self) -> None:
        db = self.db
        self.cells = [r.code for r in db.rows(
            "SELECT code FROM cell WHERE retired_at IS NULL ORDER BY code")]
        self.grids = [r.code for r in db.rows(
            "SELECT code FROM cell WHERE retired_at IS NULL AND level < 3 ORDER BY code")]
        self.manager_cells = {c for c in self.cells if c.startswith(MANAGER_GRID + "-")}
        self.person = db.scalar("SELECT min(id) FROM person")
        # A person and a colleague of the roster (gis/people.py), by their codes.
        self.person_code, self.other_person = [r.code for r in db.rows(
            "SELECT code FROM person ORDER BY id LIMIT 2")]
        in_cell = """SELECT e.management_code AS code, c.code AS cell FROM enterprise e
                     JOIN enterprise_cell ec ON ec.enterprise_id = e.id AND ec.valid_to IS NULL
                     JOIN cell c ON c.id = ec.cell_id"""
        self.enterprises = [(r.code, r.cell) for r in db.rows(in_cell + " ORDER BY e.id")]
        self.complaints = [(r.number, r.cell or "") for r in db.rows("""
            SELECT k.number, c.code AS cell FROM complaint k LEFT JOIN cell c ON c.id = k.cell_id
            ORDER BY k.id""")]

    def tally(self, name: str) -> Tally:
        t = Tally(name)
        self.tallies.append(t)
        return t

    def expect(self, t: Tally, c: Client, method: str, path: str, statuses, *,
               nothing_written: bool = True, **kw) -> Answer:
        before = self.db.last_audit_id() if nothing_written else 0
        answer = c.request(method, path, **kw)
        what = f"{method} {_short(path)} as {c.role}"
        ok = answer.status in statuses
        held = t.check(what, answer, ok, f"expected {sorted(statuses)}")
        if held and nothing_written:
            written = self.db.writes_since(before)
            if written:
                t.fail(what, f"{answer.status} and written: {written[:3]}")
        if self.verbose:
            print(f"{answer.status} {what}", file=sys.stderr)
        return answer

    # -- 1 -----------------------------------------------------------------------------------
    def write_permissions(self) -> None:
        t = self.tally("1. write permissions across places")
        # The probe must see a write when there is one: an allowed, audited one first.
        mark = self.db.last_audit_id()
        self.session("manager").request("POST", "/account/tokens", form={"name": "control"})
        if not any(w.startswith("token_created") for w in self.db.writes_since(mark)):
            raise SystemExit("the probe cannot see writes in the audit log: wrong database?")
        before = self.db.fingerprint()
        refused = {403, 404}
        outside_manager = [c for c in self.cells if c not in self.manager_cells]
        enterprises_outside = {
            "manager": [e for e, c in self.enterprises if not c.startswith(MANAGER_GRID)],
            "inspector": [e for e, c in self.enterprises if c != INSPECTOR_CELL],
            "leader": [e for e, _c in self.enterprises]}
        complaints_outside = {
            "manager": [n for n, c in self.complaints if not c.startswith(MANAGER_GRID)],
            "inspector": [n for n, c in self.complaints if c != INSPECTOR_CELL],
            "leader": [n for n, _c in self.complaints]}
        today = dt.date.today().isoformat()
        other_tokens = [r.id for r in self.db.rows(
            "SELECT t.id FROM api_token t JOIN app_user u ON u.id = t.user_id "
            "WHERE u.username = 'admin' ORDER BY t.id DESC LIMIT 5")]
        for role in ("leader", "manager", "inspector"):
            for c in (self.session(role), self.bearer(role)):
                api_only = c.token is not None
                cells = outside_manager if role == "manager" else self.cells
                for code in cells:
                    self.expect(t, c, "PUT", f"/api/v1/cells/{quote(code)}/owner", refused,
                                json_body={"person_id": self.person})
                for code in enterprises_outside[role][::6]:
                    self.expect(t, c, "POST", "/api/v1/inspections", refused, json_body={
                        "enterprise": code, "inspected_on": today,
                        "results": {"Q01": "pass"}})
                for number in complaints_outside[role][::2]:
                    self.expect(t, c, "PATCH", f"/api/v1/complaints/{quote(number)}", refused,
                                json_body={"status": "closed"})
                grids = [g for g in self.grids if role != "manager" or g != MANAGER_GRID]
                for grid in grids:
                    for action in ("preview", "commit"):
                        self.expect(t, c, "POST", f"/api/v1/grid/{quote(grid)}/{action}",
                                    refused, json_body={"moves": {}, "comment": "probe"})
                self.expect(t, c, "POST", "/api/v1/grid/changes/999999/revert", refused,
                            json_body={"comment": "probe"})
                self.expect(t, c, "PUT", "/api/v1/reference/grade-intervals", {403},
                            json_body={"D": 1})
                self.expect(t, c, "POST", "/api/v1/reference/checklist-items", {403},
                            json_body={"code": f"P{self.run}", "title": "probe"})
                self.expect(t, c, "POST", "/api/v1/imports/enterprises", {403},
                            body=_multipart({"file": ("e.csv", _CSV_ONE)}),
                            headers={"Content-Type": _MULTIPART})
                self.expect(t, c, "GET", "/api/v1/jobs/1", {404})
                if api_only:
                    continue
                forms = [("/admin/users", {"username": f"probe-{self.run}", "password":
                                           "probe-pass-12345", "role": "admin"}),
                         ("/admin/users/admin/roles", {"role": "leader", "place": "130984"}),
                         (f"/admin/users/{role}/roles", {"role": "admin"}),
                         ("/admin/users/admin/roles/remove", {"role": "admin"}),
                         ("/admin/users/admin/password", {"password": "taken-over-1234"})]
                for path, data in forms:
                    self.expect(t, c, "POST", path, {403}, form=data)
                for token_id in other_tokens:
                    self.expect(t, c, "POST", f"/account/tokens/{token_id}/revoke", {404},
                                form={})
                for sid in self._others_sessions(role):
                    self.expect(t, c, "POST", f"/account/sessions/{sid}/end", {404}, form={})
        self._smuggled_into_own_grid(t)
        anon = self.client()
        anon.refresh_csrf("/login")
        for method, path, kw in self._write_endpoints():
            self.expect(t, anon, method, path, {401, 302}, **kw)
        self._same_data(t, before)

    def _smuggled_into_own_grid(self, t: Tally) -> None:
        """The manager's own grid's editor, carrying villages, cells or areas of others."""
        villages = {r.cell: r.code for r in self.db.rows("""
            SELECT DISTINCT ON (c.code) c.code AS cell, v.code FROM village v
            JOIN cell_current c ON ST_Covers(c.geom, ST_PointOnSurface(v.geom))
             AND c.level = 3 AND c.kind = 'territorial'
            ORDER BY c.code, v.code""")}
        mine = sorted(self.manager_cells)[0]
        others = [c for c in villages if not c.startswith(MANAGER_GRID)]
        world = {"type": "Polygon", "coordinates": [[[115, 37], [117, 37], [117, 39], [115, 39],
                                                     [115, 37]]]}
        bodies = [{"geometries": {mine: world}}, {"new_cells": {"130984-Z01-99": "新"},
                                                  "geometries": {"130984-Z01-99": world}}]
        for other in others:
            bodies += [{"moves": {villages[other]: mine}},
                       {"moves": {villages.get(mine, ""): other}},
                       {"new_cells": {other: "夺取"}},
                       {"retire": [other]},
                       {"expected_versions": {other: 1}, "moves": {villages[other]: mine}}]
        approved = 0
        for c in (self.session("manager"), self.bearer("manager")):
            for body in bodies:
                # A preview writes nothing whatever it says: it may answer 200 with the
                # validation's findings; the commit of the same change must be refused.
                answer = self.expect(t, c, "POST", f"/api/v1/grid/{MANAGER_GRID}/preview",
                                     {200, 400, 403, 404}, json_body=body)
                if answer.status == 200 and json.loads(answer.body)["validation"]["ok"]:
                    approved += 1
                self.expect(t, c, "POST", f"/api/v1/grid/{MANAGER_GRID}/commit",
                            {400, 403, 404, 409},
                            json_body={**body, "comment": "probe", "confirm_warnings": True})
        if approved:
            t.notes.append(f"{approved} previews of changes reaching outside the grid said "
                           "\"ok\" (their commits were refused)")

    def _others_sessions(self, role: str) -> list[int]:
        return [r.id for r in self.db.rows("""
            SELECT s.id FROM user_session s JOIN app_user u ON u.id = s.user_id
            WHERE u.username <> :u AND s.ended_at IS NULL ORDER BY s.id DESC LIMIT 3""",
                                          u=role)]

    def _write_endpoints(self) -> list[tuple[str, str, dict]]:
        """One hostile call to every write endpoint of the url_map (see check_routes)."""
        cell = sorted(self.manager_cells)[0]
        who = self.person_code
        return [
            ("POST", "/api/v1/inspections", {"json_body": {
                "enterprise": self.enterprises[0][0], "inspected_on": "2026-01-02",
                "results": {"Q01": "pass"}}}),
            ("PATCH", f"/api/v1/complaints/{self.complaints[0][0]}",
             {"json_body": {"status": "closed"}}),
            ("PUT", f"/api/v1/cells/{cell}/owner", {"json_body": {"person_id": self.person}}),
            ("PUT", "/api/v1/reference/grade-intervals", {"json_body": {"D": 1}}),
            ("POST", "/api/v1/reference/checklist-items",
             {"json_body": {"code": "PX", "title": "x"}}),
            ("POST", "/api/v1/imports/enterprises",
             {"body": _multipart({"file": ("e.csv", _CSV_ONE)}),
              "headers": {"Content-Type": _MULTIPART}}),
            ("POST", f"/api/v1/grid/{MANAGER_GRID}/preview", {"json_body": {"moves": {}}}),
            ("POST", f"/api/v1/grid/{MANAGER_GRID}/commit",
             {"json_body": {"moves": {}, "comment": "probe"}}),
            ("POST", "/api/v1/grid/changes/1/revert", {"json_body": {"comment": "probe"}}),
            ("POST", f"/api/v1/grid/{MANAGER_GRID}/boundaries",
             {"body": _multipart({"file": ("b.geojson", _GEOJSON_ONE)}),
              "headers": {"Content-Type": _MULTIPART}}),
            ("POST", "/admin/users/leader/unlock", {"form": {}}),
            ("POST", "/admin/users", {"form": {"username": f"csrf-{self.run}",
                                               "password": "probe-pass-12345",
                                               "role": "admin"}}),
            ("POST", "/admin/users/leader/roles", {"form": {"role": "admin"}}),
            ("POST", "/admin/users/leader/roles/remove",
             {"form": {"role": "leader", "place": "130984"}}),
            ("POST", "/admin/users/leader/password", {"form": {"password": "taken-1234567"}}),
            ("POST", "/account/password", {"form": {
                "current_password": "x", "new_password": "taken-1234567",
                "new_password_again": "taken-1234567"}}),
            ("POST", "/account/tokens", {"form": {"name": "stolen"}}),
            ("POST", "/account/tokens/1/revoke", {"form": {}}),
            ("POST", "/account/sessions/1/end", {"form": {}}),
            ("POST", "/account/language", {"form": {"lang": "en"}}),
            # The roster (gis/people.py): its pages' forms and its API.
            ("POST", "/people", {"form": {"name": "探针"}}),
            ("POST", f"/people/{who}/edit", {"form": {"code": who, "name": "探针"}}),
            ("POST", f"/people/{who}/responsibilities",
             {"form": {"role": "owner", "target": cell}}),
            ("POST", f"/people/{who}/handover",
             {"form": {"successor": self.other_person, "comment": "probe"}}),
            ("POST", f"/people/{who}/accounts", {"form": {"username": "leader"}}),
            ("POST", f"/people/{who}/accounts/remove", {"form": {"username": "leader"}}),
            ("POST", "/people/import", {"body": _multipart({"file": ("r.csv", _ROSTER_ONE)}),
                                        "headers": {"Content-Type": _MULTIPART}}),
            ("POST", f"/cells/{cell}/owner", {"form": {"person": who}}),
            ("POST", "/api/v1/people", {"json_body": {"name": "探针"}}),
            ("PUT", f"/api/v1/people/{who}", {"json_body": {"phone": "13900000000"}}),
            ("POST", f"/api/v1/people/{who}/responsibilities",
             {"json_body": {"role": "owner", "target": cell}}),
            ("POST", f"/api/v1/people/{who}/handover",
             {"json_body": {"successor": self.other_person, "comment": "probe"}}),
            ("POST", "/api/v1/draws", {"json_body": {"place": cell, "enterprises": 1}}),
            ("POST", "/logout", {"form": {}}),
        ]

    def _same_data(self, t: Tally, before: dict) -> None:
        after = self.db.fingerprint()
        changed = [k for k in before if before[k] != after[k]]
        if changed:
            t.failures.append(f"data changed during the category: {changed}")
            t.notes.append(f"changed: {changed}")

    # -- 2 -----------------------------------------------------------------------------------
    def csrf(self) -> None:
        t = self.tally("2. CSRF")
        before = self.db.fingerprint()
        other = self.client()
        other.refresh_csrf("/login")
        for role in USERS:
            c = self.session(role)
            good = c.csrf
            variants = [("no token", None), ("wrong token", "IjEyMyI.probe.wrong"),
                        ("another session's token", other.csrf), ("empty token", "")]
            for _label, token in variants:
                for method, path, kw in self._write_endpoints():
                    kw = dict(kw)
                    if "form" in kw:
                        form = dict(kw.pop("form"))
                        if token is not None:
                            form["csrf_token"] = token
                        kw["body"] = urllib.parse.urlencode(form).encode()
                        kw["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
                    headers = dict(kw.pop("headers", {}))
                    headers["X-CSRFToken"] = token
                    c.csrf = None
                    try:
                        self.expect(t, c, method, path, {400}, headers=headers, csrf=False,
                                    **kw)
                    finally:
                        c.csrf = good
            # Still logged in: the refused logout did not log out.
            answer = c.get("/api/v1/me")
            t.check(f"GET /api/v1/me as {role} after refused logouts", answer,
                    answer.status == 200, "session lost")
        self._same_data(t, before)

    # -- 3 -----------------------------------------------------------------------------------
    def bearer_pages(self) -> None:
        t = self.tally("3. bearer tokens on account/admin pages")
        before = self.db.fingerprint()
        pages = [("GET", "/account", None), ("POST", "/account/tokens", {"name": "minted"}),
                 ("POST", "/account/password", {"current_password": USERS["admin"],
                                                "new_password": "taken-over-12345",
                                                "new_password_again": "taken-over-12345"}),
                 ("POST", "/account/language", {"lang": "en"}),
                 ("POST", "/account/tokens/1/revoke", {}),
                 ("POST", "/account/sessions/1/end", {}),
                 ("POST", "/logout", {}),
                 ("GET", "/admin/users", None), ("GET", "/admin/audit", None),
                 ("GET", "/admin/reference", None),
                 ("POST", "/admin/users", {"username": f"tok-{self.run}",
                                           "password": "probe-pass-12345", "role": "admin"}),
                 ("POST", "/admin/users/leader/roles", {"role": "admin"}),
                 ("POST", "/admin/users/leader/password", {"password": "taken-over-12345"}),
                 ("GET", "/", None), ("GET", "/map", None), ("GET", "/enterprises", None),
                 ("GET", "/lookup", None), ("GET", f"/grid/{MANAGER_GRID}/edit", None),
                 ("GET", f"/cells/{MANAGER_GRID}/history", None)]
        for role in USERS:
            token = self.bearer(role).token
            for header in (f"Bearer {token}", f"bearer {token}", f"BEARER   {token}  "):
                c = self.client()
                c.role = f"{role} ({header.split()[0]} token)"
                for method, path, form in pages:
                    answer = self.expect(t, c, method, path, {401, 403}, form=form,
                                         headers={"Authorization": header})
                    if any(_logged_in_cookie(s) for s in answer.set_cookies):
                        t.fail(f"{method} {path} as {c.role}",
                               "a logged-in session cookie was issued")
        # Tokens that are not tokens, on the API.
        for header in ("Bearer ", "Bearer x", "Bearer gw_" + "A" * 43, "Bearer ' OR 1=1--",
                       "Bearer " + "a" * 10000, "Bearer \u7f51\u683c"):
            c = self.client()
            c.role = f"forged {header[:16]!r}"
            # 431: gunicorn refuses a header line over its limit before the app sees it.
            self.expect(t, c, "GET", "/api/v1/me", {400, 401, 431},
                        headers={"Authorization": header.encode("utf-8").decode("latin-1")})
        self._same_data(t, before)

    # -- 4 -----------------------------------------------------------------------------------
    def get_endpoints(self) -> list[tuple[str, list[str]]]:
        filters = ["days", "from", "to", "at", "figure", "hotspot_variable", "hotspot_units"]
        cell = sorted(self.manager_cells)[0]
        enterprise = next(e for e, c in self.enterprises if c == INSPECTOR_CELL)
        return [
            ("/", []), ("/map", filters), ("/enterprises", filters + [
                "grade", "overdue", "cell", "q", "page"]),
            ("/lookup", []), ("/login", ["next"]), ("/account", []),
            ("/api/v1/me", []), ("/api/v1/enterprises", ["q", "limit"]),
            ("/api/v1/figures", filters), ("/api/v1/layers", filters),
            ("/api/v1/layers/enterprises.geojson", filters),
            ("/api/v1/cells.geojson", filters), ("/api/v1/enterprises.geojson", filters),
            ("/api/v1/lookup", ["lon", "lat", "at", "crs"]),
            (f"/api/v1/enterprises/{enterprise}/responsible", ["at"]),
            (f"/cells/{cell}/card", filters), (f"/cells/{cell}/history", []),
            (f"/grid/{MANAGER_GRID}/edit", []),
            (f"/api/v1/grid/{MANAGER_GRID}/cells.geojson", []),
            (f"/api/v1/grid/{MANAGER_GRID}/villages.geojson", []),
            (f"/api/v1/grid/{MANAGER_GRID}/enterprises.geojson", []),
            ("/api/v1/grid/130984/level2/villages.geojson", []), ("/grid/changes/1", []),
            ("/records/complaints", filters + ["cell", "page"]),
            (f"/enterprises/{enterprise}", []),
            ("/admin/users", []), ("/admin/audit", ["username", "action", "q", "since",
                                                    "until", "flagged", "page"]),
            ("/admin/reference", []), ("/api/v1/jobs/1", []),
            ("/tiles/enterprises/12/3370/1550.pbf", filters), ("/healthz", []),
            ("/people", ["q", "side", "gap", "page"]), (f"/people/{self.person_code}", []),
            ("/people/gaps", []), ("/people/new", []), ("/people/import", []),
            ("/people/export", ["format"]), (f"/people/{self.person_code}/edit", []),
            (f"/people/{self.person_code}/handover", []), ("/people/handovers/1", ["format"]),
            (f"/cells/{cell}/owner", []), (f"/cells/{MANAGER_GRID}/owners", []),
            ("/api/v1/people", ["q", "side", "limit"]),
            (f"/api/v1/people/{self.person_code}", []), ("/api/v1/roster/gaps", []),
            ("/api/v1/draws/1", []), ("/api/v1/draws/1/verify", []), ("/draws/1", []),
            ("/draws/1.csv", []),
        ]

    def injection(self) -> None:
        t = self.tally("4. injection in every query parameter")
        before = self.db.fingerprint()
        defaults = {"lon": "116.1", "lat": "38.4", "q": "enterprise"}
        path_params = ["/cells/{}/card", "/cells/{}/history", "/grid/{}/edit",
                       "/people/{}", "/api/v1/people/{}", "/cells/{}/owner",
                       "/api/v1/grid/{}/cells.geojson", "/api/v1/enterprises/{}/responsible",
                       "/api/v1/layers/{}.geojson", "/tiles/{}/12/3370/1550.pbf",
                       "/static/{}", "/static/vendor/{}"]
        for role in ("admin", "manager"):
            c = self.session(role)
            for path, params in self.get_endpoints():
                for param in params:
                    for payload in INJECTIONS:
                        query = {**{k: v for k, v in defaults.items() if k in params},
                                 param: payload}
                        self.expect(t, c, "GET", f"{path}?{_qs(query)}", range(200, 500),
                                    nothing_written=False)
                # A parameter the endpoint does not know.
                self.expect(t, c, "GET", f"{path}?{_qs({INJECTIONS[0]: INJECTIONS[1]})}",
                            range(200, 500), nothing_written=False)
            for template in path_params:
                for payload in INJECTIONS:
                    self.expect(t, c, "GET", template.format(quote(payload)), range(400, 500),
                                nothing_written=False)
        self._same_data(t, before)

    # -- 5 -----------------------------------------------------------------------------------
    def escaping(self) -> None:
        t = self.tally("5. escaping of stored and reflected markup")
        admin, manager = self.session("admin"), self.session("manager")
        # Stored by what each role may legitimately write.
        stored = [
            manager.request("POST", "/account/tokens", form={"name": MARKUP[:100]}),
            admin.request("POST", "/admin/users", form={
                "username": f"probe-{self.run}", "password": "probe-pass-12345",
                "display_name": MARKUP[:100], "role": "leader", "place": MANAGER_GRID}),
            admin.request("POST", "/api/v1/reference/checklist-items", json_body={
                "code": f"P{self.run}", "title": MARKUP[:200], "category": MARKUP[:100]}),
            self.client().login(MARKUP[:64], "wrong-password"),
        ]
        t.notes.append("stored: " + ", ".join(str(a.status) for a in stored))
        pages = ["/", "/map", "/enterprises", "/lookup", "/account", "/admin/users",
                 "/admin/audit", "/admin/reference", f"/grid/{MANAGER_GRID}/edit",
                 f"/cells/{MANAGER_GRID}/history", f"/cells/{sorted(self.manager_cells)[0]}/card",
                 f"/enterprises?q={quote(MARKUP[:100])}",
                 f"/admin/audit?q={quote(MARKUP[:100])}",
                 f"/login?next={quote(MARKUP)}", f"/cells/{quote(MARKUP[:30])}/history",
                 f"/nowhere/{quote(MARKUP)}", f"/map?figure={quote(MARKUP)}"]
        exports = ["/api/v1/me", "/api/v1/enterprises?q=%3Cimg", "/api/v1/cells.geojson",
                   "/api/v1/enterprises.geojson", "/api/v1/layers/enterprises.geojson",
                   "/api/v1/figures", "/api/v1/layers",
                   f"/api/v1/grid/{MANAGER_GRID}/cells.geojson",
                   f"/api/v1/grid/{MANAGER_GRID}/villages.geojson"]
        escaped_seen = 0
        for role in USERS:
            c = self.session(role)
            for path in pages + exports:
                answer = c.get(path, headers={"Accept": "text/html"})
                ctype = answer.headers.get("content-type", "")
                raw = bool(RAW_MARKUP.search(answer.text))
                escaped_seen += "&lt;img" in answer.text
                if "html" in ctype:
                    ok, reason = not raw, "raw markup in HTML"
                    if ok and answer.status == 200 and \
                            "content-security-policy" not in answer.headers:
                        ok, reason = False, "HTML without Content-Security-Policy"
                else:
                    ok = answer.headers.get("x-content-type-options") == "nosniff"
                    reason = "not HTML but without nosniff"
                t.check(f"GET {_short(path)} as {role} ({ctype.split(';')[0]})", answer,
                        ok and answer.status < 500, reason)
        t.notes.append(f"escaped markup (&lt;img) seen in {escaped_seen} answers")

    # -- 6 -----------------------------------------------------------------------------------
    def grid_codes(self) -> None:
        t = self.tally("6. hostile codes into the grid editor")
        before = self.db.fingerprint()
        codes = ["<img src=x onerror=alert(1)>", "130984-Z01-06\"><script>", "Z01 06",
                 "../130984-Z02", "网格", "A" * 33, "", "x\x00", "' OR 1=1--", "%", "a\\b",
                 "<", "Z01-06;DROP"]
        manager = self.session("manager")
        for c in (manager, self.bearer("manager")):
            for code in codes:
                for action in ("preview", "commit"):
                    path = f"/api/v1/grid/{MANAGER_GRID}/{action}"
                    bodies = [{"new_cells": {code: "新网格"}},
                              {"retire": [code]},
                              {"geometries": {code: {"type": "Polygon", "coordinates": [
                                  [[116, 38], [116.1, 38], [116.1, 38.1], [116, 38]]]}}},
                              {"moves": {"130984001001": code}}]
                    for body in bodies:
                        if action == "commit":
                            body = {**body, "comment": MARKUP}
                        self.expect(t, c, "POST", path, {400, 404}, json_body=body)
        self._same_data(t, before)

    # -- 7 -----------------------------------------------------------------------------------
    def backdating(self) -> None:
        t = self.tally("7. backdated changes by a manager")
        before = self.db.fingerprint()
        now = dt.datetime.now(dt.timezone.utc)
        dates = [(now - dt.timedelta(days=365)).isoformat(),
                 (now - dt.timedelta(days=365)).date().isoformat(),
                 (now - dt.timedelta(hours=49)).isoformat(),
                 (now - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S"),
                 (now - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                 "2001-01-01", "1970-01-01T00:00:00Z"]
        cells = sorted(self.manager_cells)
        for c in (self.session("manager"), self.bearer("manager")):
            for when in dates:
                for reason in (None, "needed for the records"):
                    for cell in cells:
                        body = {"person_id": self.person, "valid_from": when}
                        if reason:
                            body["backdate_reason"] = reason
                        self.expect(t, c, "PUT", f"/api/v1/cells/{cell}/owner", {403},
                                    json_body=body)
                    body = {"moves": {}, "comment": "backdated", "valid_from": when}
                    if reason:
                        body["backdate_reason"] = reason
                    self.expect(t, c, "POST", f"/api/v1/grid/{MANAGER_GRID}/commit", {403},
                                json_body=body)
        self._same_data(t, before)

    # -- 8 -----------------------------------------------------------------------------------
    def malformed(self) -> None:
        t = self.tally("8. malformed input")
        before = self.db.fingerprint()
        cell = sorted(self.manager_cells)[0]
        owner = f"/api/v1/cells/{cell}/owner"
        commit = f"/api/v1/grid/{MANAGER_GRID}/commit"
        preview = f"/api/v1/grid/{MANAGER_GRID}/preview"
        m, admin, insp = self.session("manager"), self.session("admin"), self.session("inspector")
        bad = {400, 404, 413, 415}
        # NUL and other control characters in the path and in parameters.
        for path in ("/cells/%00/history", "/cells/a%00b/card", "/grid/%00/edit",
                     "/api/v1/enterprises/%00/responsible", "/api/v1/layers/%00.geojson",
                     "/api/v1/lookup?lon=116%00&lat=38", "/enterprises?q=%00",
                     "/enterprises?cell=%01", "/admin/audit?username=%00",
                     "/api/v1/enterprises?q=a%00b", "/map?at=2026-01-01%00",
                     "/login?next=%00", "/%00", "/api/v1/enterprises?q=%ff%fe",
                     "/enterprises?q=%C0%AF"):
            for c in (m, admin):
                self.expect(t, c, "GET", path, {200, 302, 429} | bad, nothing_written=False)
        for c in (m, admin):
            self.expect(t, c, "PUT", "/api/v1/cells/%00/owner", bad,
                        json_body={"person_id": self.person})
            self.expect(t, c, "POST", "/admin/users/%00/password", bad | {403},
                        form={"password": "x\x00y"})
        self.expect(t, self.client(), "POST", "/login", bad | {401},
                    form={"username": "admin\x00", "password": "x"})
        # Dates at and past the ends of the calendar, naive date-times, impossible dates.
        dates = ["0001-01-01", "9999-12-31", "10000-01-01", "-0001-01-01", "2026-02-30",
                 "2026-13-01", "0000-00-00", "2026-01-01T25:00:00", "9999-12-31T23:59:59",
                 "0001-01-01T00:00:00", "2026-06-01T10:00:00", "1e9", "now", "'", ""]
        for when in dates:
            for path in (f"/map?at={quote(when)}", f"/enterprises?from={quote(when)}",
                         f"/api/v1/figures?to={quote(when)}",
                         f"/api/v1/lookup?lon=116.1&lat=38.4&at={quote(when)}",
                         f"/admin/audit?since={quote(when)}",
                         f"/api/v1/cells.geojson?at={quote(when)}"):
                self.expect(t, admin, "GET", path, {200, 429} | bad, nothing_written=False)
            # Writes the manager may not make anyway (outside Z01), or never valid.
            self.expect(t, m, "PUT", "/api/v1/cells/130984-Z02-01/owner", {400, 403},
                        json_body={"person_id": self.person, "valid_from": when})
            self.expect(t, insp, "POST", "/api/v1/inspections", {400, 403, 404}, json_body={
                "enterprise": self.enterprises[-1][0], "inspected_on": when,
                "results": {"Q01": "pass"}})
            if when in ("0001-01-01", "9999-12-31", "2026-02-30", "0000-00-00", ""):
                self.expect(t, m, "POST", commit, {400, 403}, json_body={
                    "moves": {}, "comment": "x", "valid_from": when + "T00:00:00"})
        # Deep, huge and non-object JSON; non-integer expected_versions.
        deep = ("[" * 100000 + "]" * 100000).encode()
        deep_obj = ('{"a":' * 50000 + "1" + "}" * 50000).encode()
        jtype = {"Content-Type": "application/json"}
        for path in (owner, commit, preview, "/api/v1/inspections"):
            for body in (deep, deep_obj, b"[]", b"\"x\"", b"1", b"null", b"{", b"{\"a\":NaN}",
                         b"\xff\xfe{}", b"{\"person_id\": 1e999}", b"{\"moves\": 1}"):
                self.expect(t, m, "POST" if path != owner else "PUT", path, bad | {403},
                            body=body, headers=jtype)
        for versions in ("x", 1.5, -1, 0, True, None, [], {}, 10 ** 30, "1", "1e3"):
            for path in (commit, preview):
                self.expect(t, m, "POST", path, bad, json_body={
                    "moves": {}, "comment": "x",
                    "expected_versions": {cell: versions}})
        for person in ("x", 1.5, -1, 0, True, None, [], "1; DROP", "", "0x1"):
            self.expect(t, m, "PUT", owner, bad, json_body={
                "person_id": person, "valid_from": "2001-01-01"})
        for person in (2 ** 63, 10 ** 30):  # past bigint: a 404 like any unknown person
            self.expect(t, m, "PUT", owner, {404}, json_body={"person_id": person})
        self.expect(t, m, "PUT", owner, bad, json_body={"person_id": self.person,
                                                        "surprise": "field",
                                                        "valid_from": "2001-01-01"})
        huge = b'{"moves": {}, "comment": "' + b"x" * (45 * 1024 * 1024) + b'"}'
        self.expect(t, m, "POST", commit, bad, body=huge, headers=jtype)
        self.expect(t, m, "POST", commit, bad, body=b"{" + b" " * (55 * 1024 * 1024) + b"}",
                    headers=jtype)
        # Wrong content types.
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                      "application/xml", None, "application/json; charset=latin-1"):
            for path, method in ((owner, "PUT"), (commit, "POST"), (preview, "POST")):
                self.expect(t, m, method, path, bad | {403},
                            body=json.dumps({"person_id": self.person,
                                             "valid_from": "2001-01-01",
                                             "moves": {}, "comment": "x"}).encode(),
                            headers={"Content-Type": ctype})
        for ctype in ("application/json", "text/plain", None):
            self.expect(t, admin, "POST", "/admin/users", bad, body=json.dumps(
                {"username": "json-user", "password": "probe-pass-12345", "role": "admin"}
            ).encode(), headers={"Content-Type": ctype})
        self.expect(t, admin, "POST", "/api/v1/imports/enterprises", bad,
                    body=_CSV_ONE, headers={"Content-Type": "text/csv"})
        # A long URL.
        self.expect(t, m, "GET", "/enterprises?q=" + "a" * 20000, {400, 404, 414} | {200},
                    nothing_written=False)
        self._same_data(t, before)

    # -- 9 -----------------------------------------------------------------------------------
    def login(self) -> None:
        t = self.tally("9. login throttling and logout")
        before = self.db.fingerprint()
        trusted = self._trusts_forwarded_for()
        t.notes.append("X-Forwarded-For " + ("trusted" if trusted else "not trusted"))
        # A copied cookie stops working at logout.
        for role in ("manager", "inspector"):
            victim = self.client()
            victim.login(role)
            thief = self.client()
            thief.cookies = dict(victim.cookies)
            ok = thief.get("/api/v1/me")
            t.check(f"GET /api/v1/me with {role}'s copied cookie before logout", ok,
                    ok.status == 200, "copied cookie did not work before logout (test broken)")
            victim.request("POST", "/logout", form={})
            for path in ("/api/v1/me", "/account", "/admin/users"):
                answer = thief.get(path)
                t.check(f"GET {path} with {role}'s cookie copied before logout", answer,
                        answer.status in (302, 401, 403), "the copied cookie still works")
            answer = thief.request("POST", "/account/tokens", form={"name": "after logout"},
                                   csrf=False, headers={"X-CSRFToken": victim.csrf})
            t.check(f"POST /account/tokens with {role}'s cookie copied before logout", answer,
                    answer.status in (302, 400, 401), "the copied cookie still works")
        known, unknown = "leader", f"nobody-{self.run}"
        octet = lambda: secrets.randbelow(250) + 2  # noqa: E731
        # Each name from its own client, so one name's delays do not reach the other's tries.
        attackers = {name: (f"127.{octet()}.{octet()}.{octet()}" if trusted else None)
                     for name in (known, unknown)}
        victim_at = f"127.{octet()}.{octet()}.{octet()}"
        tries = 30 if trusted else 4
        sequences = {}
        for name in (known, unknown):
            statuses = []
            for i in range(tries):
                c = self.client(xff=attackers[name])
                c.role = f"client {attackers[name] or 'this'}"
                answer = c.login(name, f"wrong-{i}")
                statuses.append(answer.status)
                t.check(f"POST /login {name} wrong password #{i + 1}", answer,
                        answer.status in (401, 429), "a wrong password was not refused")
            sequences[name] = statuses
        # The delays after the first failures run on the clock, so later statuses may differ
        # by a try or two: compare the first ones and which statuses came at all.
        first = 5
        same = sequences[known][:first] == sequences[unknown][:first] and \
            set(sequences[known]) == set(sequences[unknown])
        answer = Answer(200 if same else 418, {}, json.dumps(sequences).encode(), 0)
        t.check("known and unknown names answer alike", answer, same,
                f"known {sequences[known]} vs unknown {sequences[unknown]}")
        t.notes.append(f"{tries} wrong passwords for a known name: {_runs(sequences[known])}; "
                       f"for an unknown one: {_runs(sequences[unknown])}")
        # A session cookie signed with the published development key.
        for forged in _forged_cookies():
            c = self.client()
            c.cookies = {"session": forged}
            c.role = "forged cookie"
            for path in ("/api/v1/me", "/admin/users"):
                answer = c.get(path)
                t.check(f"GET {path} with a cookie signed by the development key", answer,
                        answer.status in (302, 401, 403), "the forged cookie was accepted")
        if trusted:
            c = self.client(xff=victim_at)
            answer = c.login(known)
            t.check(f"POST /login {known} (right password) from another client", answer,
                    answer.status == 302, "the real user is locked out")
            if answer.status == 302:
                c.request("POST", "/logout", form={})
        else:
            t.notes.append("lock-out from another client not simulated (the server does not "
                           "trust X-Forwarded-For)")
        self._same_data(t, before)

    def _trusts_forwarded_for(self) -> bool:
        marker = f"127.0.{secrets.randbelow(250) + 2}.{secrets.randbelow(250) + 2}"
        c = self.client(xff=marker)
        c.login("admin")
        seen = self.db.scalar("SELECT remote_addr FROM audit_log WHERE action = 'login' "
                              "ORDER BY id DESC LIMIT 1")
        c.request("POST", "/logout", form={})
        return seen == marker

    # -- 10 ----------------------------------------------------------------------------------
    def uploads(self) -> None:
        t = self.tally("10. hostile uploads")
        before = self.db.fingerprint()
        admin = self.bearer("admin")
        files = [("xfd.xlsx", _xlsx_declaring("A1:XFD1048576")),
                 ("bomb.xlsx", _zip_bomb(400 * 1024 * 1024)),
                 ("not-xlsx.xlsx", b"PK\x03\x04" + b"\x00" * 1000),
                 ("columns.csv", b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n"),
                 ("line.csv", b"management_code,name\nX," + b"y" * 2_000_000 + b"\n")]
        path = "/api/v1/imports/enterprises"
        for name, data in files:
            answer = self.expect(t, admin, "POST", path, {202, 400, 413, 415},
                                 body=_multipart({"file": (name, data)}),
                                 headers={"Content-Type": _MULTIPART})
            message = answer.text
            try:
                message = json.loads(answer.body)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                pass
            said = f", {message[:70]}" if answer.status != 202 else ""
            t.notes.append(f"{name} ({len(data) / 1e6:.1f} MB): {answer.status} in "
                           f"{answer.ms:,.0f} ms{said}")
            if answer.status == 202:
                self._job_fails(t, admin, name, answer)
            self._healthy(t, f"after {name}")
        sixty = b"x" * (60 * 1024 * 1024)
        for c, p in ((admin, path), (self.client(), "/login"),
                     (self.session("manager"), f"/api/v1/grid/{MANAGER_GRID}/preview")):
            answer = self.expect(t, c, "POST", p, {400, 413},
                                 body=_multipart({"file": ("big.csv", sixty)}),
                                 headers={"Content-Type": _MULTIPART})
            t.notes.append(f"60 MB to {p}: {answer.status} in {answer.ms:,.0f} ms")
            self._healthy(t, f"after 60 MB to {p}")
        t.notes.append(f"slowest answer {t.slowest_ms:,.0f} ms")
        self._same_data(t, before)

    def _job_fails(self, t: Tally, c: Client, name: str, queued: Answer) -> None:
        url = json.loads(queued.body)["status_url"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            answer = c.get(url)
            status = json.loads(answer.body).get("status") if answer.status == 200 else None
            if status in ("done", "failed"):
                t.check(f"job for {name} (queued)", answer, status == "failed",
                        "the import succeeded")
                t.notes.append(f"{name}: queued, then {status} "
                               f"({(json.loads(answer.body).get('error') or '')[:80]})")
                return
            time.sleep(0.5)
        t.failures.append(f"job for {name} still running after 120 s")

    def _healthy(self, t: Tally, when: str) -> None:
        answer = self.client(timeout=5).get("/healthz")
        t.check(f"GET /healthz {when}", answer, answer.status == 200, "not healthy")

    # -- routes ------------------------------------------------------------------------------
    def check_routes(self) -> list[str]:
        """Routes of the app's url_map that no category fires at (printed as a warning)."""
        sys.path.insert(0, str(ROOT))
        from app import create_app

        app = create_app({"SECRET_KEY": "x" * 32, "ENV": "development",
                          "JOB_WORKER_THREADS": 0})
        fired = [(m, p) for m, p, _k in self._write_endpoints()]
        fired += [("GET", p) for p, _params in self.get_endpoints()]
        missing = []
        for rule in app.url_map.iter_rules():
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if rule.endpoint == "static" or (method == "POST" and rule.rule == "/login"):
                    continue
                if not any(m == method and _matches(rule.rule, p) for m, p in fired):
                    missing.append(f"{method} {rule.rule}")
        return missing


# --------------------------------------------------------------------------------------------
# Bodies.

_MULTIPART_BOUNDARY = "gridwatchprobe" + "7" * 12
_MULTIPART = f"multipart/form-data; boundary={_MULTIPART_BOUNDARY}"
_CSV_ONE = "management_code,name,grade,lon,lat\nPROBE1,探针企业,B,116.1,38.4\n".encode()
_GEOJSON_ONE = (b'{"type": "FeatureCollection", "features": [{"type": "Feature", '
                b'"properties": {"code": "130984-Z01-01"}, "geometry": {"type": "Polygon", '
                b'"coordinates": [[[116.0, 38.4], [116.01, 38.4], [116.01, 38.41], '
                b'[116.0, 38.4]]]}}]}')
_ROSTER_ONE = "code,name\nPROBE-1,探针人员\n".encode()


def _multipart(files: dict) -> bytes:
    out = io.BytesIO()
    for field_name, (filename, data) in files.items():
        out.write(f"--{_MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; "
                  f"name=\"{field_name}\"; filename=\"{filename}\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{_MULTIPART_BOUNDARY}--\r\n".encode())
    return out.getvalue()


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
    'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
    '"xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
    'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id='
    '"rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
    'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target='
    '"worksheets/sheet1.xml"/></Relationships>')
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
               'openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{ref}"/>'
               '<sheetData>')
_SHEET_TAIL = "</sheetData></worksheet>"


def _xlsx(sheet_writer) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet_writer(sheet)
    return out.getvalue()


def _xlsx_declaring(ref: str) -> bytes:
    """A tiny workbook whose sheet declares the dimension ``ref`` (openpyxl would pad every
    row to it)."""
    def write(sheet):
        sheet.write(_SHEET_HEAD.format(ref=ref).encode())
        sheet.write(b'<row r="1"><c r="A1" t="inlineStr"><is><t>management_code</t></is></c>'
                    b'<c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>')
        sheet.write(_SHEET_TAIL.encode())
    return _xlsx(write)


def _zip_bomb(size: int) -> bytes:
    """An XLSX whose sheet inflates to ``size`` bytes of whitespace (about 1/1000 of that
    compressed)."""
    def write(sheet):
        sheet.write(_SHEET_HEAD.format(ref="A1:B2").encode())
        chunk = b" " * (1024 * 1024)
        for _ in range(size // len(chunk)):
            sheet.write(chunk)
        sheet.write(_SHEET_TAIL.encode())
    return _xlsx(write)


# --------------------------------------------------------------------------------------------
# Small helpers.

def _qs(params: dict) -> str:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())


def _short(path: str) -> str:
    return path if len(path) <= 90 else path[:70] + f"…({len(path)} chars)"


def _matches(rule: str, url: str) -> bool:
    """Whether ``url`` is a request to the url_map rule ``rule`` ("<code>.geojson" matches any
    "x.geojson")."""
    rparts, uparts = rule.strip("/").split("/"), url.split("?")[0].strip("/").split("/")
    return len(rparts) == len(uparts) and all(
        r == u or (r.startswith("<") and u.endswith(r[r.index(">") + 1:]))
        for r, u in zip(rparts, uparts))


def _logged_in_cookie(set_cookie: str) -> bool:
    """Whether a Set-Cookie header carries a Flask session naming a user (its payload is
    signed, not encrypted: readable without the key)."""
    import base64
    import zlib

    if not set_cookie.startswith("session="):
        return False
    payload = set_cookie.split("=", 1)[1].split(";")[0]
    compressed = payload.startswith(".")
    data = payload.lstrip(".").split(".")[0]
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        raw = zlib.decompress(raw) if compressed else raw
    except (ValueError, zlib.error):
        return True  # unreadable: assume the worst
    return b"_user_id" in raw


def _forged_cookies() -> list[str]:
    """Session cookies for user 1 (the demo admin) signed with settings.py's published key."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    app = Flask("forger")
    app.secret_key = "dev-only-change-me"
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    return [serializer.dumps({"_user_id": uid, "_fresh": True})
            for uid in ("1", "1:forged-session-id")]


def _runs(statuses: list[int]) -> str:
    out: list[list[int]] = []
    for s in statuses:
        if out and out[-1][0] == s:
            out[-1][1] += 1
        else:
            out.append([s, 1])
    return ", ".join(f"{n}×{s}" for s, n in out)


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


# Injection last but one: with the default READ_LIMIT_* it spends the admin's read allowance,
# and the pages the escaping test reads would answer 429. Login last: it locks clients out.
CATEGORIES = ["write_permissions", "csrf", "bearer_pages", "escaping", "grid_codes",
              "backdating", "malformed", "uploads", "injection", "login"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="the running GridWatch, e.g. http://127.0.0.1:8704")
    parser.add_argument("--database-url", required=True,
                        help="the server's database (targets, counts, API tokens)")
    parser.add_argument("--only", nargs="*", choices=CATEGORIES, help="run these categories")
    parser.add_argument("--allow-remote", action="store_true",
                        help="accept a base URL that is not a loopback address")
    parser.add_argument("--failures", type=int, default=3,
                        help="failures shown per category (default 3)")
    parser.add_argument("--verbose", action="store_true", help="every request to stderr")
    args = parser.parse_args(argv)
    if not args.allow_remote and not _is_loopback(args.base_url):
        parser.error("the base URL is not a loopback address (see --allow-remote): this probe "
                     "is for a demo server of your own")
    probe = Probe(args.base_url, Database(args.database_url), verbose=args.verbose)
    if probe.client().get("/healthz").status != 200:
        parser.error(f"{args.base_url}/healthz does not answer 200")
    probe.targets()
    started = time.monotonic()
    for name in args.only or CATEGORIES:
        step = time.monotonic()
        getattr(probe, name)()
        print(f"{probe.tallies[-1].name}: {probe.tallies[-1].requests} requests, "
              f"{time.monotonic() - step:.1f} s", file=sys.stderr)
    show = args.failures
    print("| category | requests | held | not held |")
    print("|---|---:|---:|---|")
    for t in sorted(probe.tallies, key=lambda t: int(t.name.split(".")[0])):
        bad = t.requests - t.held
        shown = "; ".join(f.replace("|", "\\|") for f in t.failures[:show])
        more = f" (+{len(t.failures) - show} more)" if len(t.failures) > show else ""
        if t.limited:
            t.notes.append(f"{t.limited} of the answers were 429 (rate limit or login throttle)")
        notes = f" <br>{'; '.join(t.notes)}" if t.notes else ""
        print(f"| {t.name} | {t.requests:,} | {t.held:,} | {bad:,}"
              f"{': ' + shown + more if shown else ''}{notes} |")
    total = sum(t.requests for t in probe.tallies)
    held = sum(t.held for t in probe.tallies)
    print(f"| **total** | **{total:,}** | **{held:,}** | **{total - held:,}** |")
    print(f"\n{total:,} requests in {time.monotonic() - started:.0f} s.")
    missing = probe.check_routes()
    if missing:
        print(f"Routes no category fires at: {', '.join(missing)}")
    else:
        print("Every route of the app's url_map was fired at (POST /login by category 9, "
              "static files with the hostile paths of category 4).")
    failed = any(t.failures for t in probe.tallies)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
