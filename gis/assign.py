"""Assignment of enterprises to cells: the Python face of the SQL in migration 0002.

The rule, in one place (docs/assignment.md explains it for users):
  1. an enterprise belongs to the deepest territorial cell whose boundary, valid at the moment
     asked about, covers its point (ST_Covers, so a point exactly on a boundary counts);
  2. if several cells of that level cover it (a shared edge), the lowest cell code wins and the
     assignment is marked ``on_edge``;
  3. an enterprise outside every cell is recorded with no cell, and listed by
     ``gis.enterprises.outside_cells``.
Triggers apply the rule on every insert or move of an enterprise and every new or closed
boundary version; ``assign_all`` recomputes everything (after a bulk load with triggers off,
or to check that nothing drifted) and writes only rows whose answer changed.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session


def assign_all(db: Session | Connection, at: dt.datetime | None = None) -> int:
    """Recompute every enterprise's cell as of ``at`` (default: now). Returns rows changed."""
    return db.execute(
        text("SELECT gw_assign(coalesce(CAST(:at AS timestamptz), now()), NULL)"), {"at": at}
    ).scalar()


def assign_some(db: Session | Connection, ids: list[int], at: dt.datetime | None = None) -> int:
    return db.execute(
        text("SELECT gw_assign(coalesce(CAST(:at AS timestamptz), now()), CAST(:ids AS bigint[]))"),
        {"at": at, "ids": ids},
    ).scalar()


def current_assignment(db: Session | Connection) -> dict[str, tuple[str | None, bool]]:
    """management_code -> (cell code or None, on_edge), for every enterprise now."""
    rows = db.execute(text("""
        SELECT e.management_code, c.code, ec.on_edge
        FROM enterprise e
        JOIN enterprise_cell ec ON ec.enterprise_id = e.id AND ec.valid @> now()
        LEFT JOIN cell c ON c.id = ec.cell_id
    """))
    return {r[0]: (r[1], r[2]) for r in rows}
