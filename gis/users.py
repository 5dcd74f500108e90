"""Users, their roles at places, API tokens, login with throttling, and sessions.

Passwords: werkzeug's salted scrypt/pbkdf2 hashes, never stored plain. API tokens: 256 random
bits shown once; only their SHA-256 is stored (a token is a key, not a password, so a fast
hash is right: it has full entropy and must be checked on every API call).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from gis.codes import CELL_CODE_RULE, is_cell_code
from gis.errors import GridWatchError
from gis.models import ROLES
from gis.policy import Grant

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
MIN_PASSWORD = 8
TOKEN_PREFIX = "gw_"


class UserError(GridWatchError):
    """A user, role or token request that cannot be done, with the reason (English, for the
    command line); ``code``, ``field`` and ``params`` let the web say it in the user's
    language, naming the form field."""

    def __init__(self, message: str, code: str | None = None, field: str | None = None,
                 **params):
        super().__init__(message)
        self.code = code
        self.field = field
        self.params = params


@dataclass
class Identity:
    """The logged-in principal as the app sees it."""

    id: int
    username: str
    display_name: str | None
    locale: str | None
    grants: tuple[Grant, ...]
    via: str = "web"
    # token_identity wrote api_token.last_used_at: the caller must commit.
    token_touched: bool = False
    # The browser session (user_session) this identity came from; None for tokens and the CLI.
    sid: str | None = None
    # session_identity wrote user_session.last_seen_at: the caller must commit.
    session_touched: bool = False

    # Flask-Login's protocol, kept here so the web layer needs no wrapper class.
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        # What Flask-Login keeps in the cookie: the session id makes it revocable.
        return f"{self.id}:{self.sid}" if self.sid else str(self.id)

    @property
    def roles(self) -> list[str]:
        return sorted({g.role for g in self.grants})


def _password_problem(password: str) -> UserError | None:
    if len(password) < MIN_PASSWORD:
        return UserError(f"password must have at least {MIN_PASSWORD} characters",
                         "password_short", "password", n=MIN_PASSWORD)
    if password.isdigit() or password.isalpha():
        return UserError("password must mix letters with digits or symbols", "password_mix",
                         "password")
    return None


def check_password_strength(password: str) -> str | None:
    problem = _password_problem(password)
    return str(problem) if problem else None


def _cell_id(session: Session, code: str | None) -> int | None:
    if code is None:
        return None
    if not is_cell_code(code):
        raise UserError(f"place {code!r}: a cell code is {CELL_CODE_RULE}", "place_code",
                        "place", cell=code)
    cell_id = session.execute(text(
        "SELECT id FROM cell WHERE code = :c AND retired_at IS NULL"), {"c": code}).scalar()
    if cell_id is None:
        raise UserError(f"place {code!r}: no such cell", "no_such_cell", "place", cell=code)
    return cell_id


def create_user(session: Session, username: str, password: str, *, role: str | None = None,
                place: str | None = None, display_name: str | None = None,
                person_id: int | None = None, granted_by: str | None = None) -> int:
    if not USERNAME_RE.match(username or ""):
        raise UserError(f"username {username!r}: 2-64 lower-case letters, digits, '.', '_', '-'",
                        "username_form", "username")
    problem = _password_problem(password)
    if problem:
        raise problem
    if session.execute(text("SELECT 1 FROM app_user WHERE username = :u"),
                       {"u": username}).scalar():
        raise UserError(f"user {username!r} exists already", "user_exists", "username",
                        name=username)
    user_id = session.execute(text("""
        INSERT INTO app_user (username, password_hash, display_name, person_id)
        VALUES (:u, :h, :d, :p) RETURNING id"""), {
        "u": username, "h": generate_password_hash(password), "d": display_name,
        "p": person_id}).scalar()
    if role:
        add_role(session, username, role, place, granted_by=granted_by)
    return user_id


def user_id(session: Session, username: str) -> int:
    uid = session.execute(text("SELECT id FROM app_user WHERE username = :u"),
                          {"u": username}).scalar()
    if uid is None:
        raise UserError(f"user {username!r}: no such user", "no_such_user", "username",
                        name=username)
    return uid


def add_role(session: Session, username: str, role: str, place: str | None = None,
             granted_by: str | None = None) -> None:
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}", "choices", "role",
                        choices=", ".join(ROLES))
    if role == "admin" and place:
        raise UserError("the admin role has no place", "admin_no_place", "place")
    if role != "admin" and not place:
        raise UserError(f"the {role} role needs a place (--place CELL_CODE)", "needs_place",
                        "place", role=role)
    uid = user_id(session, username)
    session.execute(text("""
        INSERT INTO user_role (user_id, role, cell_id, granted_by) VALUES (:u, :r, :c, :b)
        ON CONFLICT DO NOTHING"""),
        {"u": uid, "r": role, "c": _cell_id(session, place), "b": granted_by})


def remove_role(session: Session, username: str, role: str, place: str | None = None) -> int:
    """Remove a role; the user's sessions end with it (they log in again to what is left)."""
    uid = user_id(session, username)
    removed = session.execute(text("""
        DELETE FROM user_role WHERE user_id = :u AND role = :r
        AND coalesce(cell_id, 0) = coalesce(:c, 0)"""),
        {"u": uid, "r": role, "c": _cell_id(session, place)}).rowcount
    if removed:
        end_sessions(session, uid, "role_removed")
    return removed


def set_password(session: Session, username: str, password: str, *,
                 keep_sid: str | None = None, why: str = "password_reset") -> None:
    """A new password; ends every session of the user but ``keep_sid`` (whoever knew the old
    password, or holds a copied cookie, is out) and forgets the name's failed logins."""
    problem = _password_problem(password)
    if problem:
        raise problem
    uid = user_id(session, username)
    session.execute(text("UPDATE app_user SET password_hash = :h WHERE id = :u"),
                    {"h": generate_password_hash(password), "u": uid})
    end_sessions(session, uid, why, keep_sid=keep_sid)
    clear_throttle(session, username)


def cell_path(session: Session, cell_id: int | None = None, *,
              code: str | None = None) -> tuple[int, ...]:
    """Cell ids from the root (the province, else the city) down to the cell ``cell_id``, or
    the cell named ``code`` (retired or not: its history is still judged at its place); empty
    for None or no such cell. The one way Python asks for a path (gw_cell_path,
    gis/sql/cells.sql, is the one way SQL does)."""
    if code is not None:
        return tuple(session.execute(text("SELECT gw_cell_path(id) FROM cell WHERE code = :c"),
                                     {"c": code}).scalar() or ())
    if cell_id is None:
        return ()
    return tuple(session.execute(text("SELECT gw_cell_path(:cell)"), {"cell": cell_id}).scalar())


GRANTS_SQL = """
    (SELECT coalesce(json_agg(json_build_object('role', r.role, 'path', gw_cell_path(r.cell_id),
                                                'code', c.code, 'level', c.level)
                                  ORDER BY r.id), '[]')
     FROM user_role r LEFT JOIN cell c ON c.id = r.cell_id WHERE r.user_id = u.id)
"""


def _grants(rows) -> tuple[Grant, ...]:
    return tuple(Grant(g["role"], tuple(g["path"] or ()), g["code"], g.get("level"))
                 for g in rows)


def grants(session: Session, uid: int) -> tuple[Grant, ...]:
    return _grants(session.execute(text(f"SELECT {GRANTS_SQL} FROM app_user u WHERE u.id = :u"),
                                   {"u": uid}).scalar() or [])


def identity(session: Session, uid: int, via: str = "web") -> Identity | None:
    """The user with all their grants, in one query (it runs on every request)."""
    row = session.execute(text(f"""
        SELECT u.id, u.username, u.display_name, u.locale, {GRANTS_SQL} AS grants
        FROM app_user u WHERE u.id = :u AND u.active"""), {"u": uid}).one_or_none()
    if row is None:
        return None
    return Identity(row.id, row.username, row.display_name, row.locale, _grants(row.grants),
                    via)


def hash_sid(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def start_session(session: Session, uid: int, *, remote_addr: str | None,
                  user_agent: str | None) -> str:
    """A new browser session for ``uid``; returns its id for the cookie (only its hash is
    kept, so the table cannot be used to impersonate anyone)."""
    sid = secrets.token_urlsafe(32)
    # The user's sessions that ended or lapsed a month ago have told their story.
    session.execute(text("""
        DELETE FROM user_session WHERE user_id = :u
          AND (ended_at < now() - interval '30 days'
               OR last_seen_at < now() - interval '30 days')"""), {"u": uid})
    session.execute(text("""
        INSERT INTO user_session (user_id, sid_hash, remote_addr, user_agent)
        VALUES (:u, :h, :ip, :ua)"""), {"u": uid, "h": hash_sid(sid),
                                        "ip": (remote_addr or "")[:64] or None,
                                        "ua": (user_agent or "")[:200] or None})
    return sid


def session_identity(session: Session, uid: int, sid: str, idle: dt.timedelta
                     ) -> Identity | None:
    """The user of a browser session, in one query (it runs on every request): only while the
    session is not ended, was used within ``idle`` and the user is active. ``last_seen_at`` is
    refreshed at most once a minute, so most requests write nothing."""
    row = session.execute(text(f"""
        WITH s AS (
            SELECT id, user_id, last_seen_at FROM user_session
            WHERE sid_hash = :h AND user_id = :u AND ended_at IS NULL
              AND last_seen_at > now() - :idle
        ), touch AS (
            UPDATE user_session x SET last_seen_at = now() FROM s
            WHERE x.id = s.id AND s.last_seen_at < now() - interval '1 minute'
            RETURNING x.id
        )
        SELECT u.id, u.username, u.display_name, u.locale, {GRANTS_SQL} AS grants,
               (SELECT count(*) FROM touch) AS touched
        FROM s JOIN app_user u ON u.id = s.user_id AND u.active"""),
        {"h": hash_sid(sid), "u": uid, "idle": idle}).one_or_none()
    if row is None:
        return None
    return Identity(row.id, row.username, row.display_name, row.locale, _grants(row.grants),
                    sid=sid, session_touched=row.touched > 0)


def end_sessions(session: Session, uid: int, why: str, *, keep_sid: str | None = None,
                 session_id: int | None = None, sid: str | None = None) -> int:
    """End the user's sessions (all, all but ``keep_sid``, the one numbered ``session_id`` or
    the one whose id is ``sid``); returns how many. Their cookies stop working at once."""
    return session.execute(text("""
        UPDATE user_session SET ended_at = now(), ended_why = :why
        WHERE user_id = :u AND ended_at IS NULL
          AND (CAST(:keep AS text) IS NULL OR sid_hash <> :keep)
          AND (CAST(:id AS bigint) IS NULL OR id = :id)
          AND (CAST(:sid AS text) IS NULL OR sid_hash = :sid)"""), {
        "u": uid, "why": why[:32], "keep": hash_sid(keep_sid) if keep_sid else None,
        "id": session_id, "sid": hash_sid(sid) if sid else None}).rowcount


def sessions(session: Session, uid: int, idle: dt.timedelta,
             current_sid: str | None = None) -> list[dict]:
    """The user's live sessions, newest first; ``current`` marks the one asking."""
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT id, created_at, last_seen_at, remote_addr, user_agent,
               sid_hash = :cur AS current
        FROM user_session WHERE user_id = :u AND ended_at IS NULL
          AND last_seen_at > now() - :idle
        ORDER BY created_at DESC, id DESC"""), {
        "u": uid, "idle": idle, "cur": hash_sid(current_sid) if current_sid else ""})]


def change_own_password(session: Session, uid: int, current: str, new: str, *, sid: str,
                        client: str, rules: ThrottleRules) -> str | None:
    """The user's own password change, proving the current one (throttled like a login, so a
    stolen cookie cannot be used to guess it). Ends the user's other sessions. Returns None,
    or why not: "bad_credentials", "throttled"."""
    username = session.execute(text("SELECT username FROM app_user WHERE id = :u"),
                               {"u": uid}).scalar_one()
    checked, reason, _retry = check_login(session, username, current, client=client,
                                          rules=rules)
    if checked != uid:
        return reason
    set_password(session, username, new, keep_sid=sid, why="password_changed")
    return None


@dataclass(frozen=True)
class ThrottleRules:
    """How failed logins slow down guessing without letting a stranger lock anyone out.

    Failures are counted per *name and client* (after ``max_failures`` of them, each further
    try from that client for that name waits 2^(n - max_failures) seconds, at most
    ``lockout``) and per *client* (``client_max_failures`` failures across any names within
    ``lockout`` of each other lock that client out for ``lockout``). No count belongs to an
    account alone: someone typing the admin's name from elsewhere slows only themselves."""

    max_failures: int = 5
    client_max_failures: int = 20
    lockout: dt.timedelta = dt.timedelta(minutes=15)


# A name's count starts over after this long without a failure.
NAME_MEMORY = dt.timedelta(days=1)


@dataclass
class LoginResult:
    identity: Identity | None
    reason: str | None = None  # "bad_credentials" | "throttled"
    retry_after: dt.datetime | None = None
    # The username names an active user: only for the audit log, never for the answer.
    known: bool = False


def _name_hash(username: str) -> str:
    return hashlib.sha256(username.lower().encode()).hexdigest()


def _name_key(username: str, client: str) -> str:
    return f"name:{_name_hash(username)}|{client[:64]}"


def _client_key(client: str) -> str:
    return f"client:{client[:64]}"


_dummy: tuple = (None, "")


def dummy_hash() -> str:
    """A hash of nothing, made like real ones, for unknown names: checking a password against
    it costs what checking a real user's costs, so the answer's timing names nobody. Made once
    per ``generate_password_hash`` (tests make cheaper hashes)."""
    global _dummy
    if _dummy[0] is not generate_password_hash:
        _dummy = (generate_password_hash, generate_password_hash(secrets.token_urlsafe(16)))
    return _dummy[1]


def _blocked_until(session: Session, keys: list[str]) -> dt.datetime | None:
    return session.execute(text("""
        SELECT max(blocked_until) FROM login_throttle
        WHERE key = ANY(:k) AND blocked_until > now()"""), {"k": keys}).scalar()


def _count_failure(session: Session, username: str, client: str, rules: ThrottleRules) -> None:
    # One upsert per key: failures racing each other all count, none overwrites another.
    lockout = rules.lockout.total_seconds()
    # Keys nobody failed with for NAME_MEMORY count from zero anyway: drop a few each time,
    # so a sweep over many names leaves no lasting trace.
    session.execute(text("""
        DELETE FROM login_throttle WHERE key IN (
            SELECT key FROM login_throttle
            WHERE last_failure_at < now() - :memory * interval '1 second'
              AND (blocked_until IS NULL OR blocked_until < now())
            LIMIT 100 FOR UPDATE SKIP LOCKED)"""), {"memory": NAME_MEMORY.total_seconds()})
    for key, memory, blocked in (
            (_name_key(username, client), NAME_MEMORY.total_seconds(),
             "CASE WHEN {n} >= :max THEN now() + least(power(2, {n} - :max), :cap)"
             " * interval '1 second' END"),
            (_client_key(client), lockout,
             "CASE WHEN {n} >= :cmax THEN now() + :cap * interval '1 second' END")):
        # The count starts over when the last failure is older than the key's memory.
        n = ("CASE WHEN t.last_failure_at < now() - :memory * interval '1 second' THEN 1"
             " ELSE t.failures + 1 END")
        session.execute(text(f"""
            INSERT INTO login_throttle AS t (key, failures, last_failure_at, blocked_until)
            VALUES (:key, 1, now(), {blocked.format(n="1")})
            ON CONFLICT (key) DO UPDATE SET failures = {n}, last_failure_at = now(),
                blocked_until = {blocked.format(n=n)}"""), {
            "key": key, "memory": memory, "max": rules.max_failures,
            "cmax": rules.client_max_failures, "cap": lockout})


def check_login(session: Session, username: str, password: str, *, client: str,
                rules: ThrottleRules) -> tuple[int | None, str | None, dt.datetime | None]:
    """(user id or None, reason, retry after) for a password typed for ``username`` from
    ``client`` (its IP address). Known and unknown names cost the same: the throttle is
    looked up by keys that do not depend on the name existing, and an unknown name is
    checked against ``dummy_hash``."""
    blocked = _blocked_until(session, [_name_key(username, client), _client_key(client)])
    if blocked is not None:
        # No password check while blocked: a guess now tells nothing, right or wrong.
        return None, "throttled", blocked
    row = session.execute(text(
        "SELECT id, password_hash FROM app_user WHERE username = :u AND active"),
        {"u": username}).one_or_none()
    matches = check_password_hash(row.password_hash if row else dummy_hash(), password)
    if row is None or not matches:
        _count_failure(session, username, client, rules)
        return None, "bad_credentials", None
    session.execute(text("DELETE FROM login_throttle WHERE key = :k"),
                    {"k": _name_key(username, client)})
    return row.id, None, None


def login(session: Session, username: str, password: str, *, client: str,
          rules: ThrottleRules) -> LoginResult:
    """Check a password (see ``check_login``); unknown users and wrong passwords answer
    alike, and so do they while throttled."""
    uid, reason, retry_after = check_login(session, username, password, client=client,
                                           rules=rules)
    if uid is None:
        known = session.execute(text(
            "SELECT 1 FROM app_user WHERE username = :u AND active"),
            {"u": username}).scalar() is not None
        return LoginResult(None, reason, retry_after, known)
    session.execute(text("UPDATE app_user SET last_login_at = now() WHERE id = :u"),
                    {"u": uid})
    return LoginResult(identity(session, uid), known=True)


def clear_throttle(session: Session, username: str) -> None:
    """Forget failed logins for ``username`` from every client (a new password was set);
    client lock-outs stay."""
    session.execute(text("DELETE FROM login_throttle WHERE key LIKE :k"),
                    {"k": f"name:{_name_hash(username)}|%"})


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, username: str, name: str = "api") -> tuple[int, str]:
    """Make a new token; returns (id, token). The token is shown this once, never stored."""
    uid = user_id(session, username)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = session.execute(text("""
        INSERT INTO api_token (user_id, name, token_hash, prefix) VALUES (:u, :n, :h, :p)
        RETURNING id"""), {"u": uid, "n": name[:100], "h": hash_token(token),
                            "p": token[:10]}).scalar()
    return token_id, token


def token_identity(session: Session, token: str) -> Identity | None:
    """The token's user, in one query. ``last_used_at`` is refreshed at most once a minute:
    writing it on every call would turn each API read into a write."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(text(f"""
        WITH t AS (
            SELECT id, user_id, last_used_at FROM api_token
            WHERE token_hash = :h AND revoked_at IS NULL
        ), touch AS (
            UPDATE api_token a SET last_used_at = now() FROM t
            WHERE a.id = t.id
              AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
            RETURNING a.id
        )
        SELECT u.id, u.username, u.display_name, u.locale, {GRANTS_SQL} AS grants,
               (SELECT count(*) FROM touch) AS touched
        FROM t JOIN app_user u ON u.id = t.user_id AND u.active"""),
        {"h": hash_token(token)}).one_or_none()
    if row is None:
        return None
    return Identity(row.id, row.username, row.display_name, row.locale, _grants(row.grants),
                    via="api", token_touched=row.touched > 0)


def revoke_token(session: Session, token_id: int, *, owner_id: int | None = None) -> bool:
    """Revoke a token; with ``owner_id`` only that user's own token."""
    return session.execute(text("""
        UPDATE api_token SET revoked_at = now()
        WHERE id = :t AND revoked_at IS NULL AND (:o IS NULL OR user_id = :o)"""),
        {"t": token_id, "o": owner_id}).rowcount == 1


def tokens(session: Session, uid: int) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_token
        WHERE user_id = :u ORDER BY id DESC"""), {"u": uid})]


def list_users(session: Session, idle: dt.timedelta = dt.timedelta(hours=8)) -> list[dict]:
    """Users with their roles, the person each is (``person_code``, ``person_name``), how
    many sessions each has that were used within ``idle`` and not ended, and until when
    failed logins make their name wait (``locked_until``, from some computer; None when it
    need not)."""
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT u.id, u.username, u.display_name, u.active, u.last_login_at,
               pe.code AS person_code, pe.name AS person_name,
               (SELECT count(*) FROM user_session s WHERE s.user_id = u.id
                AND s.ended_at IS NULL AND s.last_seen_at > now() - :idle) AS sessions,
               -- The name's keys, as _name_key makes them ("name:<sha256 of the name>|...").
               (SELECT max(t.blocked_until) FROM login_throttle t
                WHERE t.key LIKE 'name:' || encode(sha256(convert_to(lower(u.username), 'UTF8')),
                                                   'hex') || '|%'
                  AND t.blocked_until > now()) AS locked_until,
               coalesce(string_agg(r.role || coalesce('@' || c.code, ''), ', '
                                   ORDER BY r.role, c.code), '') AS roles,
               coalesce(json_agg(json_build_object('role', r.role, 'place', c.code)
                                 ORDER BY r.role, c.code) FILTER (WHERE r.id IS NOT NULL),
                        '[]') AS grants
        FROM app_user u
        LEFT JOIN person pe ON pe.id = u.person_id
        LEFT JOIN user_role r ON r.user_id = u.id
        LEFT JOIN cell c ON c.id = r.cell_id
        GROUP BY u.id, pe.id ORDER BY u.username"""), {"idle": idle})]


def set_locale(session: Session, uid: int, locale: str) -> None:
    session.execute(text("UPDATE app_user SET locale = :l WHERE id = :u"),
                    {"l": locale, "u": uid})
