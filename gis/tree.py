"""The shape of the cell tree: one root, its cities, and a cell's ancestor at a level.

A deployment holds one city (the city is the root, level 1) or a province (docs/province.md):
an optional level-0 cell above several cities. Code that means "everything" asks for the root
(``root_path``); code that means "the city of this" asks for the level-1 ancestor; code that
groups by a level asks for the ancestor at that level (``ANCESTOR_AT``), never for a position
in the path, which starts one step higher in a province.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

PROVINCE, CITY, GRID, CELL = 0, 1, 2, 3

# The id of the ancestor at level ``depth`` of a cell at ``level`` whose path (gw_cell_path,
# root first) is ``path``; NULL when the cell is above that level.
ANCESTOR_AT = "({path})[cardinality({path}) - ({level}) + ({depth})]"


def ancestor_at(path: str, level: str, depth: str) -> str:
    """SQL for the ancestor at ``depth`` (``ANCESTOR_AT`` with its parts filled in)."""
    return ANCESTOR_AT.format(path=path, level=level, depth=depth)


def root(session: Session):
    """(id, code, name, level) of the live root: the province, else the city; None before
    any cell exists. Several live level-1 cells without a province (a deployment being
    assembled) answer the first: every role at a city reads that city alone only once the
    province exists."""
    return session.execute(text("""
        SELECT id, code, name, level FROM cell
        WHERE parent_id IS NULL AND retired_at IS NULL AND kind = 'territorial'
        ORDER BY level, code LIMIT 1""")).one_or_none()


def root_path(session: Session) -> tuple[int, ...]:
    """The path of the root: where "everything" (reference data, a point outside every cell,
    the whole map) is judged by gis/policy.py; empty before any cell exists."""
    row = root(session)
    return (row.id,) if row is not None else ()


def has_province(session: Session) -> bool:
    return bool(session.execute(text(
        "SELECT EXISTS (SELECT 1 FROM cell WHERE level = 0 AND retired_at IS NULL)")).scalar())


def cities(session: Session, visible: list[int] | None = None) -> list:
    """(id, code, name) of the live cities (level 1) among ``visible`` (None: all), by code."""
    return session.execute(text("""
        SELECT id, code, name FROM cell
        WHERE level = 1 AND retired_at IS NULL AND kind = 'territorial'
          AND (CAST(:cells AS bigint[]) IS NULL OR id = ANY(CAST(:cells AS bigint[])))
        ORDER BY code"""), {"cells": visible}).all()


def top_level(session: Session, visible: list[int] | None) -> int | None:
    """The level of the topmost live territorial cells among ``visible`` (None: the root's);
    None when there are none. A provincial reader's is 0, a city's reader's 1."""
    return session.execute(text("""
        SELECT min(level) FROM cell
        WHERE retired_at IS NULL AND kind = 'territorial'
          AND (CAST(:cells AS bigint[]) IS NULL OR id = ANY(CAST(:cells AS bigint[])))"""),
        {"cells": visible}).scalar()


def city_path_of_township(session: Session, township_id: int) -> tuple[int, ...]:
    """The path of the city a township lies in (the live city whose boundary covers a point
    of the township); the root's when none does. A township leader's responsibility is judged
    there: inside that city (gis/people.py)."""
    row = session.execute(text("""
        SELECT gw_cell_path(c.id) FROM township t
        JOIN cell_current c ON c.level = 1 AND c.kind = 'territorial'
             AND ST_Covers(c.geom, ST_PointOnSurface(t.geom))
        WHERE t.id = :t ORDER BY c.code LIMIT 1"""), {"t": township_id}).scalar()
    return tuple(row) if row else root_path(session)
