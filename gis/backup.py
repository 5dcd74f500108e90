"""Backups of the whole database: ``pg_dump`` in its custom format and ``pg_restore``.

A backup is everything in the database (cells and their dated versions, enterprises, people,
records, users, the audit log, PostGIS's and GridWatch's SQL rules), at one instant: pg_dump
reads in one repeatable-read snapshot, so a backup taken while people work is consistent.
A restore replaces, in one transaction, every object the backup holds; it is meant for an
empty database or the same GridWatch version's (``fingerprint`` compares two databases).
Point-in-time recovery for real deployments: docs/operations.md.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """pg_dump or pg_restore failed, or is missing; the message says why."""


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as libpq reads it (no ``+psycopg2``)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _program(name: str) -> str:
    # GRIDWATCH_PG_BIN: the folder of the server's version (pg_dump must be at least as new as
    # the server); else the one on PATH (Debian's wrapper picks the newest installed).
    folder = os.environ.get("GRIDWATCH_PG_BIN")
    found = str(Path(folder) / name) if folder else shutil.which(name)
    if not found or not Path(found).exists():
        raise BackupError(f"{name} not found (apt-get install postgresql-client, or set "
                          "GRIDWATCH_PG_BIN to the folder holding it)")
    return found


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: "
                          f"{(done.stderr or done.stdout).strip()[-2000:]}")


def backup(url: str, path: str | Path) -> int:
    """Write the database at ``url`` to ``path`` (custom format, compressed); returns its
    size in bytes."""
    _run([_program("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
          f"--file={path}", f"--dbname={libpq_url(url)}"])
    return Path(path).stat().st_size


def restore(url: str, path: str | Path) -> None:
    """Load the backup at ``path`` into the database at ``url``, in one transaction: every
    object it holds is dropped first when present, nothing is changed if any step fails."""
    if not Path(path).is_file():
        raise BackupError(f"{path}: no such file")
    _run([_program("pg_restore"), "--clean", "--if-exists", "--single-transaction",
          "--exit-on-error", "--no-owner", "--no-privileges", f"--dbname={libpq_url(url)}",
          str(path)])


def fingerprint(conn) -> dict[str, tuple[int, str]]:
    """Every table of schema ``public`` as (rows, MD5 of its rows' text in order) and every
    sequence's last value: two databases with equal fingerprints hold the same data, to the
    last geometry's bytes (a geometry's text is its hex EWKB). ``conn``: a DBAPI connection."""
    out: dict[str, tuple[int, str]] = {}
    with conn.cursor() as cur:
        cur.execute("""SELECT c.relname, c.relkind FROM pg_class c
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')
                         AND c.relname <> 'spatial_ref_sys'
                       ORDER BY c.relname""")
        for name, kind in cur.fetchall():
            if kind == "S":
                cur.execute(f'SELECT last_value, is_called FROM public."{name}"')
                out[name] = (0, str(cur.fetchone()))
                continue
            cur.execute(f'SELECT t::text FROM public."{name}" t ORDER BY 1')
            digest, rows = hashlib.md5(), 0
            for (row,) in cur:
                digest.update(row.encode())
                digest.update(b"\n")
                rows += 1
            out[name] = (rows, digest.hexdigest())
    return out
