"""Per-user rate limits on bulk reads: a token bucket per user and kind of read.

A bucket holds up to ``burst`` reads and refills at ``per_minute``; a read takes one, and when
none is left the answer is how long until one is (HTTP 429 with Retry-After). A person at work
never empties it (the burst covers the map wall loading every layer many times over); a
script walking every enterprise code does, and is then held to the refill rate.

The buckets live in PostgreSQL (table ``read_bucket``), one row per user and kind, updated by
one statement that locks the row: every gunicorn worker, on any host, takes from the same
bucket. A bucket in each worker's memory would cost no round trip, but a user would get
``workers`` times the limit, and a limit that depends on the deployment is no limit. The
price is one write per limited read; the point lookup, the inspectors' hot path, is not
limited (docs/security.md says what it reveals instead).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Rate:
    """``burst`` reads at once, refilled at ``per_minute``; either at 0 turns the limit off."""

    burst: int
    per_minute: float

    @property
    def off(self) -> bool:
        return self.burst <= 0 or self.per_minute <= 0


# The bucket refilled since its last read, capped at the burst: one expression, used twice.
_REFILLED = """least(:burst, b.tokens + greatest(0, extract(epoch FROM
                   coalesce(CAST(:now AS timestamptz), now()) - b.updated_at))
                   * :per_second)"""

TAKE_SQL = f"""
    INSERT INTO read_bucket AS b (user_id, kind, tokens, updated_at)
    VALUES (:user, :kind, :burst - 1, coalesce(CAST(:now AS timestamptz), now()))
    ON CONFLICT (user_id, kind) DO UPDATE
        SET tokens = {_REFILLED} - 1,
            updated_at = coalesce(CAST(:now AS timestamptz), now())
        WHERE {_REFILLED} >= 1
    RETURNING b.tokens"""

WAIT_SQL = f"""
    SELECT (1 - {_REFILLED}) / :per_second FROM read_bucket b
    WHERE b.user_id = :user AND b.kind = :kind"""


def take(session: Session, user_id: int, kind: str, rate: Rate,
         now: dt.datetime | None = None) -> float:
    """Take one read from ``user_id``'s ``kind`` bucket and commit, so the read counts
    whatever becomes of the rest of the request. Returns 0 when the read may go, else the
    seconds until it may (nothing is taken then). ``now`` (default: the database's clock) is
    for tests that replay a day.
    """
    if rate.off:
        return 0.0
    params = {"user": user_id, "kind": kind, "burst": float(rate.burst), "now": now,
              "per_second": rate.per_minute / 60.0}
    taken = session.execute(text(TAKE_SQL), params).first() is not None
    # Refused, the row is unchanged: the wait is what its refill still lacks.
    wait = 0.0 if taken else session.execute(text(WAIT_SQL), params).scalar()
    session.commit()
    return 0.0 if taken else max(float(wait or 0.0), 0.001)


# Pages open to anyone (the public complaint form, its status page, Open311 reads without a
# token) have no user to key a bucket by: they key it by kind and client address instead, in
# a table of their own (``client_bucket``), with the same refill rule.
_CLIENT_REFILLED = _REFILLED.replace("b.", "c.")

TAKE_CLIENT_SQL = f"""
    INSERT INTO client_bucket AS c (key, tokens, updated_at)
    VALUES (:key, :burst - 1, coalesce(CAST(:now AS timestamptz), now()))
    ON CONFLICT (key) DO UPDATE
        SET tokens = {_CLIENT_REFILLED} - 1,
            updated_at = coalesce(CAST(:now AS timestamptz), now())
        WHERE {_CLIENT_REFILLED} >= 1
    RETURNING c.tokens"""

WAIT_CLIENT_SQL = f"""
    SELECT (1 - {_CLIENT_REFILLED}) / :per_second FROM client_bucket c WHERE c.key = :key"""


def take_client(session: Session, kind: str, client: str, rate: Rate,
                now: dt.datetime | None = None) -> float:
    """``take`` for a client no login names: the bucket of ``kind`` for the address
    ``client`` (one household behind one address shares it). Commits, as ``take`` does."""
    if rate.off:
        return 0.0
    params = {"key": f"{kind}:{client}"[:160], "burst": float(rate.burst), "now": now,
              "per_second": rate.per_minute / 60.0}
    taken = session.execute(text(TAKE_CLIENT_SQL), params).first() is not None
    wait = 0.0 if taken else session.execute(text(WAIT_CLIENT_SQL), params).scalar()
    session.commit()
    return 0.0 if taken else max(float(wait or 0.0), 0.001)
