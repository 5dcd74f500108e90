"""What only changes when the data does, computed once per change: the map wall's layers,
tiles, figures, cell figures and hot spots.

**Versions.** Each table the wall reads carries statement-level triggers
(gis/sql/dataversion.sql) that record every write; ``versions`` reads every table's version in
one query. The versions live in PostgreSQL, so every process of the app sees a commit at the
same moment, and a transaction's writes change the version exactly when (and only when) its
data becomes visible.

**Time.** A few answers change without a write: the owner of a cell *now* changes when a dated
responsibility begins or ends, a boundary when a dated version does, a complaint becomes
overdue at its due time, and inspections become overdue with the day. A cached answer is keyed
by the caller's day (``today`` is part of every key the callers build) and by the next such
moment of the tables it reads (``HORIZONS``): once it passes, the key changes.

**The cache.** ``DataCache`` is the process's memory of answers, bounded in bytes, least
recently used out first; a key being computed is computed once, whoever else asks waits for
it. The app puts its cache on each request's session (``session.info[SESSION_KEY]``);
``memo`` without one (a CLI command, a job) simply computes.

A key names the answer and everything it depends on besides the data (place, period, day,
filters); ``memo`` adds the versions of ``tables`` (default: all of ``TRACKED``).
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from typing import Any, Callable, Iterable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

SESSION_KEY = "gridwatch.datacache"
# Set on a session that will not write (a GET request's): its versions are read once.
READ_ONLY = "gridwatch.datacache.read_only"
_VERSIONS = "gridwatch.datacache.versions"

# The tables with the trigger (gis/sql/dataversion.sql): what the wall and its figures read.
TRACKED = ("person", "township", "station", "cell", "cell_version", "responsibility",
           "enterprise", "enterprise_cell", "grade_interval", "inspection", "rectification",
           "complaint", "spot_check", "enforcement_case", "warning_rule")
# Outlines, names, stations and owners of cells: what a layer of boundaries alone reads.
BOUNDARIES = ("cell", "cell_version", "responsibility", "person", "station")
# Where enterprises are, their grade and whether they are overdue for inspection.
ENTERPRISE_STATUS = ("enterprise", "enterprise_cell", "inspection", "grade_interval")

# The next moment after now() when time alone changes what a table says "now".
HORIZONS = {
    "responsibility": """
        SELECT min(b) FROM responsibility, LATERAL (VALUES (valid_from), (valid_to)) v(b)
        WHERE b > now()""",
    "cell_version": """
        SELECT min(b) FROM cell_version, LATERAL (VALUES (valid_from), (valid_to)) v(b)
        WHERE b > now()""",
    "complaint": """
        SELECT min(due_at) FROM complaint WHERE status <> 'closed' AND due_at > now()""",
}

# Fold data_change into data_version when it holds more rows than this (reading the versions
# counts them).
COMPACT_ABOVE = 2000
DEFAULT_SIZE = 64 * 1024


class DataCache:
    """Answers by key, bounded by ``max_bytes`` (each entry's size as its caller estimates it),
    least recently used dropped first. Thread-safe; one computation per key at a time."""

    def __init__(self, max_bytes: int = 128 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._entries: OrderedDict = OrderedDict()  # key -> (value, size)
        self._bytes = 0
        self._pending: dict = {}
        self._lock = threading.Lock()
        self._horizons: dict = {}  # (table, version) -> next moment (None: none)
        self.hits = self.misses = 0

    def get(self, key, compute: Callable[[], Any], size: Callable[[Any], int] | None = None):
        """The value under ``key``, computed by ``compute()`` when missing. Whoever asks for
        a key being computed waits for that computation instead of starting another."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]
            self.misses += 1
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = _Pending()
        if not owner:
            pending.done.wait()
            if pending.ok:
                return pending.value
            return compute()  # the computation waited for failed: its error was its caller's
        try:
            value = compute()
        except BaseException:
            with self._lock:
                self._pending.pop(key, None)
            pending.done.set()
            raise
        nbytes = (size or _size)(value)
        with self._lock:
            self._pending.pop(key, None)
            if nbytes <= self.max_bytes // 4:
                old = self._entries.pop(key, None)
                if old is not None:
                    self._bytes -= old[1]
                self._entries[key] = (value, nbytes)
                self._bytes += nbytes
                while self._bytes > self.max_bytes and self._entries:
                    _, (_, dropped) = self._entries.popitem(last=False)
                    self._bytes -= dropped
        pending.value, pending.ok = value, True
        pending.done.set()
        return value

    def peek(self, key):
        """The value under ``key`` if it is there, else None (nothing computed)."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else entry[0]

    def horizon(self, session: Session, table: str, version) -> dt.datetime | None:
        """The next moment time alone changes what ``table`` says now (HORIZONS), as of its
        ``version``; asked again once it has passed."""
        memo_key = (table, version)
        now = dt.datetime.now(dt.timezone.utc)
        with self._lock:
            found = self._horizons.get(memo_key, False)
        if found is not False and (found is None or found > now):
            return found
        moment = session.execute(text(HORIZONS[table])).scalar()
        with self._lock:
            if len(self._horizons) > 256:
                self._horizons.clear()
            self._horizons[memo_key] = moment
        return moment

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._horizons.clear()

    @property
    def size(self) -> int:
        return self._bytes


class _Pending:
    __slots__ = ("done", "ok", "value")

    def __init__(self):
        self.done = threading.Event()
        self.ok = False
        self.value = None


def _size(value) -> int:
    if isinstance(value, (bytes, str)):
        return len(value)
    return getattr(value, "nbytes", DEFAULT_SIZE)


def versions(session: Session) -> dict[str, tuple[int, int | None]]:
    """Every tracked table's version: table -> (version, last change's id). A table never
    written has none (absent). Read once by a session marked READ_ONLY (a request that
    writes nothing asks for them a dozen times)."""
    if session.info.get(READ_ONLY) and _VERSIONS in session.info:
        return session.info[_VERSIONS]
    query = text("""
        SELECT tbl, version, last_change, (SELECT count(*) FROM data_change) AS waiting
        FROM gw_data_versions()""")
    rows = session.execute(query).all()
    if rows and rows[0].waiting > COMPACT_ABOVE and compact(session):
        # Read again: what is computed now is kept under the versions as they stay.
        rows = session.execute(query).all()
    found = {r.tbl: (int(r.version), r.last_change) for r in rows}
    if session.info.get(READ_ONLY):
        session.info[_VERSIONS] = found
    return found


def compact(session: Session) -> int:
    """Fold data_change into data_version (the versions stay what they are), in a transaction
    of its own so the request's stays read-only; inside a test's transaction, in it."""
    bind = session.get_bind()
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            folded = conn.execute(text("SELECT gw_data_compact()")).scalar()
            conn.commit()
            return folded
    return session.execute(text("SELECT gw_data_compact()")).scalar()


def stamp(session: Session, tables: Iterable[str] = TRACKED,
          cache: DataCache | None = None) -> tuple:
    """What ``tables`` are now: their versions and, for those that time changes, the next
    moment it will. Equal stamps: the same data."""
    tables = tuple(sorted(set(tables)))
    found = versions(session)
    out = []
    for table in tables:
        version = found.get(table)
        out.append((table, version))
        if table in HORIZONS and cache is not None:
            moment = cache.horizon(session, table, version)
            out.append((table + "@", moment.isoformat() if moment else None))
    return tuple(out)


def cache_of(session: Session) -> DataCache | None:
    return session.info.get(SESSION_KEY)


def memo(session: Session, key: tuple, compute: Callable[[], Any],
         tables: Iterable[str] = TRACKED, size: Callable[[Any], int] | None = None):
    """``compute()``'s answer for ``key`` while ``tables`` stay as they are, from the session's
    cache; without one, computed every time. The answer is shared: callers do not change it."""
    cache = cache_of(session)
    if cache is None:
        return compute()
    return cache.get((key, stamp(session, tables, cache)), compute, size)
