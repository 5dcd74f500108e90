"""The append-only audit log: every write says who, when, what and from where."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text
from sqlalchemy.orm import Session

# An entry's flag: something a reviewer must see. "backdated": a change dated before it was
# made (gis/policy.py dated_change); "imported": records of before brought in from the bureau's
# previous systems (docs/history-import.md).
FLAGS = ("backdated", "imported")
IMPORTED = "imported"
# Clocks and a form filled in slowly: a moment this close to now is not "the past".
_SKEW = dt.timedelta(minutes=5)


def imported_if_past(when: dt.datetime | None, now: dt.datetime | None = None) -> str | None:
    """The flag of an import whose rows take effect from ``when`` (None: now): "imported" when
    that lies in the past (history brought in), else None."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return IMPORTED if when is not None and when < now - _SKEW else None


def record(session: Session, action: str, *, target: str | None = None,
           detail: dict | None = None, user_id: int | None = None,
           username: str | None = None, remote_addr: str | None = None,
           via: str = "web", flag: str | None = None) -> None:
    """Add one entry in the caller's transaction, so the entry and the write stand or fall
    together."""
    session.execute(text("""
        INSERT INTO audit_log (user_id, username, action, target, detail, remote_addr, via,
                               flag)
        VALUES (:uid, :u, :a, :t, CAST(:d AS jsonb), :ip, :via, :flag)"""), {"flag": flag,
        "uid": user_id, "u": username, "a": action, "t": (target or "")[:200] or None,
        "d": json.dumps(detail or {}, ensure_ascii=False, default=str), "ip": remote_addr,
        "via": via})


def entries(session: Session, *, username: str | None = None, action: str | None = None,
            contains: str | None = None, since: dt.datetime | None = None,
            until: dt.datetime | None = None, flagged: bool = False, flag: str | None = None,
            limit: int = 100, offset: int = 0) -> list[dict]:
    """Filtered entries, newest first, from ``since`` to ``until`` (both included); ``flagged``:
    only those with a flag, ``flag``: only those with this one (``FLAGS``). Every filter is a
    bound parameter; LIKE wildcards in ``contains`` are escaped so they match literally."""
    if contains:
        contains = contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT id, at, username, action, target, detail, remote_addr, via, flag FROM audit_log
        WHERE (CAST(:u AS text) IS NULL OR username = :u)
          AND (CAST(:a AS text) IS NULL OR action = :a)
          AND (CAST(:c AS text) IS NULL OR target ILIKE '%' || :c || '%'
               OR detail::text ILIKE '%' || :c || '%')
          AND (CAST(:s AS timestamptz) IS NULL OR at >= :s)
          AND (CAST(:e AS timestamptz) IS NULL OR at <= :e)
          AND (NOT :flagged OR flag IS NOT NULL)
          AND (CAST(:flag AS text) IS NULL OR flag = :flag)
        ORDER BY at DESC, id DESC LIMIT :lim OFFSET :off"""), {
        "u": username, "a": action, "c": contains, "s": since, "e": until, "flagged": flagged,
        "flag": flag, "lim": limit, "off": offset})]


def actions(session: Session) -> list[str]:
    return list(session.execute(text(
        "SELECT DISTINCT action FROM audit_log ORDER BY action")).scalars())


def person_names(session: Session, ids) -> dict[int, str]:
    """Names of the people entries name by ``person_id`` (one query for a page)."""
    ids = sorted({i for i in ids if isinstance(i, int)})
    if not ids:
        return {}
    return dict(session.execute(text("SELECT id, name FROM person WHERE id = ANY(:ids)"),
                                {"ids": ids}).all())
