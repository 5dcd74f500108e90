"""Users, their roles at places, API tokens, login with lock-out, and the audit log.

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

from gis.errors import GridWatchError
from gis.models import ROLES
from gis.policy import Grant

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
MIN_PASSWORD = 8
TOKEN_PREFIX = "gw_"


class UserError(GridWatchError):
    """A user, role or token request that cannot be done, with the reason."""


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

    # Flask-Login's protocol, kept here so the web layer needs no wrapper class.
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def roles(self) -> list[str]:
        return sorted({g.role for g in self.grants})


def check_password_strength(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"password must have at least {MIN_PASSWORD} characters"
    if password.isdigit() or password.isalpha():
        return "password must mix letters with digits or symbols"
    return None


def _cell_id(session: Session, code: str | None) -> int | None:
    if code is None:
        return None
    cell_id = session.execute(text(
        "SELECT id FROM cell WHERE code = :c AND retired_at IS NULL"), {"c": code}).scalar()
    if cell_id is None:
        raise UserError(f"place {code!r}: no such cell")
    return cell_id


def create_user(session: Session, username: str, password: str, *, role: str | None = None,
                place: str | None = None, display_name: str | None = None,
                person_id: int | None = None, granted_by: str | None = None) -> int:
    if not USERNAME_RE.match(username or ""):
        raise UserError(f"username {username!r}: 2-64 lower-case letters, digits, '.', '_', '-'")
    problem = check_password_strength(password)
    if problem:
        raise UserError(problem)
    if session.execute(text("SELECT 1 FROM app_user WHERE username = :u"),
                       {"u": username}).scalar():
        raise UserError(f"user {username!r} exists already")
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
        raise UserError(f"user {username!r}: no such user")
    return uid


def add_role(session: Session, username: str, role: str, place: str | None = None,
             granted_by: str | None = None) -> None:
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    if role == "admin" and place:
        raise UserError("the admin role has no place")
    if role != "admin" and not place:
        raise UserError(f"the {role} role needs a place (--place CELL_CODE)")
    uid = user_id(session, username)
    session.execute(text("""
        INSERT INTO user_role (user_id, role, cell_id, granted_by) VALUES (:u, :r, :c, :b)
        ON CONFLICT DO NOTHING"""),
        {"u": uid, "r": role, "c": _cell_id(session, place), "b": granted_by})


def remove_role(session: Session, username: str, role: str, place: str | None = None) -> int:
    uid = user_id(session, username)
    return session.execute(text("""
        DELETE FROM user_role WHERE user_id = :u AND role = :r
        AND coalesce(cell_id, 0) = coalesce(:c, 0)"""),
        {"u": uid, "r": role, "c": _cell_id(session, place)}).rowcount


def set_password(session: Session, username: str, password: str) -> None:
    problem = check_password_strength(password)
    if problem:
        raise UserError(problem)
    uid = user_id(session, username)
    session.execute(text("""
        UPDATE app_user SET password_hash = :h, failed_logins = 0, locked_until = NULL
        WHERE id = :u"""), {"h": generate_password_hash(password), "u": uid})


def cell_path(session: Session, cell_id: int | None) -> tuple[int, ...]:
    """Cell ids from the city down to ``cell_id`` (empty for None)."""
    if cell_id is None:
        return ()
    return tuple(session.execute(text("SELECT gw_cell_path(:cell)"), {"cell": cell_id}).scalar())


GRANTS_SQL = """
    (SELECT coalesce(json_agg(json_build_object('role', r.role, 'path', gw_cell_path(r.cell_id),
                                                'code', c.code) ORDER BY r.id), '[]')
     FROM user_role r LEFT JOIN cell c ON c.id = r.cell_id WHERE r.user_id = u.id)
"""


def _grants(rows) -> tuple[Grant, ...]:
    return tuple(Grant(g["role"], tuple(g["path"] or ()), g["code"]) for g in rows)


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


@dataclass
class LoginResult:
    identity: Identity | None
    reason: str | None = None  # "bad_credentials" | "locked"
    locked_until: dt.datetime | None = None


def login(session: Session, username: str, password: str, *, max_failures: int,
          lockout: dt.timedelta) -> LoginResult:
    """Check a password; after ``max_failures`` wrong ones in a row the account is locked for
    ``lockout``. Unknown users and wrong passwords answer alike (no user enumeration)."""
    row = session.execute(text("""
        SELECT id, password_hash, failed_logins, locked_until, now() AS now
        FROM app_user WHERE username = :u AND active FOR UPDATE"""),
        {"u": username}).one_or_none()
    if row is None:
        # Spend the same time as a real check, so timing does not reveal which users exist.
        check_password_hash(generate_password_hash("x"), password)
        return LoginResult(None, "bad_credentials")
    if row.locked_until is not None and row.locked_until > row.now:
        return LoginResult(None, "locked", row.locked_until)
    if not check_password_hash(row.password_hash, password):
        failures = row.failed_logins + 1
        locked = row.now + lockout if failures >= max_failures else None
        session.execute(text("""
            UPDATE app_user SET failed_logins = :f, locked_until = :l WHERE id = :u"""),
            {"f": 0 if locked else failures, "l": locked, "u": row.id})
        if locked:
            return LoginResult(None, "locked", locked)
        return LoginResult(None, "bad_credentials")
    session.execute(text("""
        UPDATE app_user SET failed_logins = 0, locked_until = NULL, last_login_at = now()
        WHERE id = :u"""), {"u": row.id})
    return LoginResult(identity(session, row.id))


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


def list_users(session: Session) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT u.id, u.username, u.display_name, u.active, u.last_login_at, u.locked_until,
               coalesce(string_agg(r.role || coalesce('@' || c.code, ''), ', '
                                   ORDER BY r.role, c.code), '') AS roles,
               coalesce(json_agg(json_build_object('role', r.role, 'place', c.code)
                                 ORDER BY r.role, c.code) FILTER (WHERE r.id IS NOT NULL),
                        '[]') AS grants
        FROM app_user u
        LEFT JOIN user_role r ON r.user_id = u.id
        LEFT JOIN cell c ON c.id = r.cell_id
        GROUP BY u.id ORDER BY u.username"""))]


def set_locale(session: Session, uid: int, locale: str) -> None:
    session.execute(text("UPDATE app_user SET locale = :l WHERE id = :u"),
                    {"l": locale, "u": uid})
