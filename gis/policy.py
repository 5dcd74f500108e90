"""Who may do what, where: the one place permission rules live.

A role is held at a place (a cell); it reaches that cell and every cell inside it. A target is
described by its *path*: the ids of the cells from the city (level 1) down to the target cell
(for an enterprise, down to its current cell). Views ask ``can(grants, action, path)`` through
one decorator (``app.auth.require``); nothing else decides.

| action              | who                                                                 |
|---------------------|---------------------------------------------------------------------|
| view                | admin anywhere; leader, grid_manager, inspector at or above the target; |
|                     | an inspector also reads the rest of their station's grid (parent)    |
| edit_grid           | grid_manager of a grid strictly containing the target cell          |
| edit_owner          | grid_manager of a grid strictly containing the target cell          |
| record_inspection   | inspector of a cell containing the enterprise                       |
| handle_complaint    | inspector of a cell containing the complaint's place                |
| admin               | admin (users, roles, reference data)                                |
"""
from __future__ import annotations

from dataclasses import dataclass

ACTIONS = ("view", "edit_grid", "edit_owner", "record_inspection", "handle_complaint", "admin")


@dataclass(frozen=True)
class Grant:
    """A role at a place. ``place_path``: cell ids from the city down to the place (empty for
    the placeless admin role)."""

    role: str
    place_path: tuple[int, ...] = ()
    place_code: str | None = None

    @property
    def place(self) -> int | None:
        return self.place_path[-1] if self.place_path else None


def _within(place: int | None, path: tuple[int, ...]) -> bool:
    return place is not None and place in path


def can(grants: list[Grant] | tuple[Grant, ...], action: str, path: tuple[int, ...] = ()) -> bool:
    """True when any grant allows ``action`` on the target whose cell path is ``path``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    for g in grants:
        if g.role == "admin":
            if action in ("admin", "view"):
                return True
            continue
        if action == "view":
            if _within(g.place, path):
                return True
            # Inspectors read their whole station's grid: the parent of their cell.
            if g.role == "inspector" and len(g.place_path) >= 2 and \
                    _within(g.place_path[-2], path):
                return True
        elif action in ("edit_grid", "edit_owner"):
            if g.role == "grid_manager" and _within(g.place, path) and path[-1] != g.place:
                return True
        elif action in ("record_inspection", "handle_complaint"):
            if g.role == "inspector" and _within(g.place, path):
                return True
    return False


def has_role(grants, role: str) -> bool:
    return any(g.role == role for g in grants)
