"""Who may do what, where: the one place permission rules live.

A role is held at a place (a cell); it reaches that cell and every cell inside it. A target is
described by its *path*: the ids of the cells from the root down to the target cell (for an
enterprise, down to its current cell). The root is the city (level 1) of a one-city deployment,
or the province (level 0) above several cities (docs/province.md): a role held at the root
reaches everything, a role held in a city reaches nothing outside it. Views ask
``can(grants, action, path)`` through one decorator (``app.auth.require``); nothing else
decides.

Reading has one rule, ``readable_places``: the map wall, its layers and figures, the enterprise
lists, the search and an enterprise's responsible chain all filter by ``visible_cells`` (many
targets) or ask ``can(grants, "view", path)`` (one target), both built on it. What the point
lookup reveals outside one's area is decided in docs/security.md ("What each role may read").

| action              | who                                                                 |
|---------------------|---------------------------------------------------------------------|
| view                | see ``readable_places``: admin and roles at the root everything;     |
|                     | leader, grid_manager, inspector at or above the target; an inspector |
|                     | also reads the rest of their station's grid (parent)                 |
| edit_grid           | grid_manager of a grid strictly containing the target cell          |
| edit_owner          | grid_manager of a grid strictly containing the target cell; admin    |
|                     | anywhere (the roster is theirs to set up)                            |
| open_editor         | who may edit_grid there, and admin (for corrections dated in the    |
|                     | past, see ``dated_change``; previews write nothing)                 |
| record_inspection   | inspector of a cell containing the enterprise                       |
| handle_complaint    | inspector of a cell containing the complaint's place; grid_manager  |
|                     | at or above it (assign, handle, close, reassign: gis/complaints.py) |
| intake_complaint    | admin; any role held at a city or above; hotline (the 12365         |
|                     | operators' role) anywhere: take complaints in by Open311, staff     |
|                     | entry and the hotline's files (the public page needs no login)      |
| rectify             | inspector of a cell containing the enterprise; grid_manager at or   |
|                     | above it (整改: recording that a problem was corrected)              |
| verify_rectification| inspector of the same station's grid (the parent of their cell, as  |
|                     | ``readable_places``); grid_manager at or above (复查验收). Never the |
|                     | one who recorded the correction: gis/rectification.py refuses that   |
| admin               | admin (users, roles, reference data, roster imports, linking        |
|                     | accounts to people, bringing the past in: app/history.py)            |
| manage_people       | admin and any grid_manager: add people to the roster, export it     |
| draw                | admin anywhere; leader at or above the place (双随机 draws, gis/draws.py) |
| record_testing      | admin anywhere; grid_manager at or above the enterprise's cell      |
|                     | (sampled batches as the laboratory reports them, gis/testing.py)     |
| handle_case         | admin anywhere; grid_manager at or above the enterprise's cell      |
|                     | (enforcement cases, 案件: open and advance them, gis/cases.py)      |
| raise_urgent        | admin and hotline anywhere; leader, grid_manager, inspector at or   |
|                     | above the place; an inspector also in the rest of their station's   |
|                     | grid (urgent events, 应急处置, gis/urgent.py; the place of a point  |
|                     | outside every cell is the city)                                     |
| handle_urgent       | as raise_urgent, the hotline aside: acknowledge, report on site,    |
|                     | close; and whoever's person was alerted about the event, wherever   |
|                     | (``can_handle_urgent``)                                             |
| report_gaps         | admin anywhere; leader and grid_manager at or above the place (the  |
|                     | gap report, 问责依据, gis/gaps.py: read within ``report_cells``;     |
|                     | an inspector may not)                                               |
| read_assessment     | admin anywhere; leader and grid_manager at or above the place (the  |
|                     | quantified assessment and responsibility letters, gis/assessment.py:|
|                     | read within ``assessment_cells``)                                    |
| record_letter       | admin anywhere; grid_manager at or above the letter's place (责任状) |

A redraw changes cells *inside* a grid, old and new ones alike: ``can(..., inside=True)``
asks about any cell strictly inside the cell at ``path``, so a grid's own manager (or one
above) may redraw it. Redrawing the second-level grids (station boundaries, and with them their
level-3 cells: gis/redraw_level2.py) is a redraw inside the city, so only a grid manager at the
city may; a station's manager may not, even for a village leaving their own grid.

Changes dated in the past (``dated_change``): within a short grace window the ordinary rule,
flagged; further back only an administrator with a reason, flagged.

People (gis/people.py) are judged by what they answer for: a responsibility is an ``edit_owner``
at its place (a cell; an enterprise's current cell; a township: inside the city, so a grid
manager at the city), and a person's name and phones may be edited by whoever may reassign
everything they now answer for (``can_edit_person``). The roster of the bureau's and
governments' staff is read by every user (their names and phones are on the responsibility
plates); an enterprise's principal only by those who may read the enterprise.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text

from gis import datacache

ACTIONS = ("view", "edit_grid", "edit_owner", "open_editor", "record_inspection",
           "handle_complaint", "admin", "manage_people", "draw", "rectify",
           "verify_rectification")
ACTIONS += ("record_testing", "handle_case")
ACTIONS += ("intake_complaint",)


@dataclass(frozen=True)
class Grant:
    """A role at a place. ``place_path``: cell ids from the root down to the place (empty for
    the placeless admin role); ``place_level``: the place's level (0 the province, 1 a city),
    when known."""

    role: str
    place_path: tuple[int, ...] = ()
    place_code: str | None = None
    place_level: int | None = None

    @property
    def place(self) -> int | None:
        return self.place_path[-1] if self.place_path else None

    @property
    def at_root(self) -> bool:
        """Held at the top of the tree (the province, or the city of a one-city deployment)."""
        return len(self.place_path) == 1

    @property
    def at_city_or_above(self) -> bool:
        return self.at_root or (self.place_level is not None and self.place_level <= 1)


def _within(place: int | None, path: tuple[int, ...]) -> bool:
    return place is not None and place in path


def readable_places(grants: list[Grant] | tuple[Grant, ...]) -> tuple[int, ...] | None:
    """The cells whose subtrees the user may read; None for everything (what lies outside
    every cell included).

    Admins and any role held at the root (the province, or the city of a one-city
    deployment) read everything. Everyone else reads the places of their roles (a city's
    leader their city, nothing of another), and an inspector also the rest of their station's
    grid (the parent of their cell): they stand in for each other there.
    """
    places = set()
    for g in grants:
        if g.role == "admin" or g.at_root:
            return None
        if g.place is None:
            continue
        places.add(g.place)
        if g.role == "inspector" and len(g.place_path) >= 2:
            places.add(g.place_path[-2])
    return tuple(sorted(places))


def visible_cells(session, grants: list[Grant] | tuple[Grant, ...]) -> list[int] | None:
    """Ids of every cell the user may read (``readable_places`` and everything inside them,
    retired cells included: their history stays readable); None for everything. Queries
    filter their enterprises, complaints and cells by it."""
    places = readable_places(grants)
    if places is None:
        return None
    return cells_within(session, list(places))


def cells_within(session, places: list[int], *, live: bool = False) -> list[int]:
    """Ids of the cells ``places`` and every cell inside them (retired ones too, unless
    ``live``): the one walk down the tree Python asks for. Kept while the cells do not change
    (gis/datacache.py): a city's user in a province asks for its ~4,000 cells on every
    request, a walk of tens of milliseconds among 50,000 (docs/province.md). The list is
    shared: callers pass it on, never change it."""
    if not places:
        return []
    key = ("cells_within", tuple(sorted(set(places))), live)
    return datacache.memo(session, key, lambda: list(session.execute(text("""
        WITH RECURSIVE down(id) AS (
            SELECT id FROM cell WHERE id = ANY(CAST(:p AS bigint[]))
            UNION
            SELECT c.id FROM cell c JOIN down ON c.parent_id = down.id
        ) SELECT d.id FROM down d JOIN cell c ON c.id = d.id
        WHERE NOT CAST(:live AS boolean) OR c.retired_at IS NULL"""),
        {"p": list(places), "live": live}).scalars()), tables=("cell",))


def can(grants: list[Grant] | tuple[Grant, ...], action: str, path: tuple[int, ...] = (), *,
        inside: bool = False) -> bool:
    """True when any grant allows ``action`` on the target whose cell path is ``path``, or with
    ``inside`` on any cell strictly inside that one (a grid's cells, present and future)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if action == "view":
        places = readable_places(grants)
        return places is None or any(_within(p, path) for p in places)
    if action in URGENT_ACTIONS:
        return any(_urgent_rule(g, action, path) for g in grants)
    if action == "report_gaps":
        return any(_report_rule(g, path) for g in grants)
    if action in ("read_assessment", "record_letter"):
        return any(_assessment_rule(g, action, path) for g in grants)
    if action == "intake_complaint":
        # Complaints come from anywhere and are routed on arrival (gis/complaints.py): who
        # takes them in answers for a whole city (or the province), not for a place.
        return any(g.role in ("admin", "hotline") or g.at_city_or_above for g in grants)
    for g in grants:
        if g.role == "admin":
            # The editor's page and previews, for corrections dated in the past
            # (``dated_change``): an admin commits nothing else there.
            if action in ("admin", "open_editor", "manage_people", "edit_owner", "draw"):
                return True
            if action in ("record_testing", "handle_case"):
                return True
            continue
        if action in ("record_testing", "handle_case"):
            if g.role == "grid_manager" and _within(g.place, path):
                return True
            continue
        if action == "manage_people":
            if g.role == "grid_manager":
                return True
            continue
        if action == "draw":
            if g.role == "leader" and _within(g.place, path):
                return True
            continue
        if action in ("edit_grid", "edit_owner", "open_editor"):
            if g.role == "grid_manager" and _within(g.place, path) and (
                    inside or path[-1] != g.place):
                return True
        elif action == "record_inspection":
            if g.role == "inspector" and _within(g.place, path):
                return True
        elif action == "handle_complaint":
            if g.role in ("inspector", "grid_manager") and _within(g.place, path):
                return True
        elif action == "rectify":
            if g.role in ("inspector", "grid_manager") and _within(g.place, path):
                return True
        elif action == "verify_rectification":
            if g.role == "grid_manager" and _within(g.place, path):
                return True
            # The rest of their station's grid, as they read it (``readable_places``).
            if g.role == "inspector" and len(g.place_path) >= 2 and \
                    _within(g.place_path[-2], path):
                return True
    return False


# Urgent events (gis/urgent.py): minutes count, so whoever answers for or watches over the place
# may raise one and act on it; the hotline raises them from calls.
URGENT_ACTIONS = ("raise_urgent", "handle_urgent")
ACTIONS += URGENT_ACTIONS


def _urgent_rule(g: Grant, action: str, path: tuple[int, ...]) -> bool:
    if g.role == "admin" or (g.role == "hotline" and action == "raise_urgent"):
        return True
    if g.role in ("leader", "grid_manager", "inspector") and _within(g.place, path):
        return True
    # The rest of their station's grid, as they read it (``readable_places``).
    return g.role == "inspector" and len(g.place_path) >= 2 and _within(g.place_path[-2], path)


def can_handle_urgent(grants, path: tuple[int, ...], alerted: bool) -> bool:
    """May the user acknowledge, report arrival at, or close an urgent event at ``path``?
    ``alerted``: the user's person was alerted about it (then yes, wherever they work: an
    escalation reaches people whose roles lie elsewhere, or who have none)."""
    return alerted or can(grants, "handle_urgent", path)


# The quantified assessment (量化考核, gis/assessment.py) and responsibility letters (责任状):
# leaders and managers read the figures of the places they lead or manage; letters are
# recorded by admins and by grid managers at or above the place signed for.
ASSESSMENT_ROLES = ("admin", "leader", "grid_manager")
ACTIONS += ("read_assessment", "record_letter")


def _assessment_rule(g: Grant, action: str, path: tuple[int, ...]) -> bool:
    if g.role == "admin":
        return True
    roles = ASSESSMENT_ROLES if action == "read_assessment" else ("grid_manager",)
    return g.role in roles and _within(g.place, path)


def assessment_cells(session, grants) -> list[int] | None:
    """The cells whose assessment and letters the user may read: ``visible_cells`` of their
    grants of ``ASSESSMENT_ROLES`` alone (an inspector's role reads none); None: everything."""
    kept = [g for g in grants if g.role in ASSESSMENT_ROLES]
    return visible_cells(session, kept) if kept else []


# The gap report (gis/gaps.py) names who answered for every late inspection, rectification and
# complaint: for those who lead or manage a place, not for inspectors (it is about them).
REPORT_ROLES = ("admin", "leader", "grid_manager")
ACTIONS += ("report_gaps",)


def _report_rule(g: Grant, path: tuple[int, ...]) -> bool:
    return g.role == "admin" or (g.role in REPORT_ROLES and _within(g.place, path))


def report_cells(session, grants) -> list[int] | None:
    """The cells whose gaps the user may report on: what the roles of ``REPORT_ROLES`` read
    (``visible_cells`` of those grants alone: a leader who is an inspector elsewhere reports
    on the place they lead); None: everything; [] for whoever holds none of them."""
    kept = [g for g in grants if g.role in REPORT_ROLES]
    return visible_cells(session, kept) if kept else []


def can_somewhere(grants, action: str) -> bool:
    """May the user do ``action`` anywhere at all (at the place of one of their roles)? A page
    that starts such work (an upload whose rows are each judged by ``can``) opens for them."""
    return any(can((g,), action, g.place_path) for g in grants)


def can_edit_person(grants, places: list[tuple[tuple[int, ...], bool]]) -> bool:
    """May the user change a person's name, unit and phones? ``places``: (path, inside) of
    each responsibility the person holds now, as ``edit_owner`` judges it. An admin always; a
    grid manager when they may reassign every one of them, so a manager cannot change the
    phone on another grid's plates; one who may ``manage_people`` for a person who answers
    for nothing yet (just added)."""
    if has_role(grants, "admin"):
        return True
    if not can(grants, "manage_people"):
        return False
    return all(can(grants, "edit_owner", path, inside=inside) for path, inside in places)


def has_role(grants, role: str) -> bool:
    return any(g.role == role for g in grants)


# A change dated this little before "now" is the same moment (clocks, a slow form): not
# backdated.
_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Dated:
    """May a change dated ``valid_from`` be made? ``flag`` is set when it is allowed but must
    stand out in the audit log (and, later, the gap report): it rewrites what the past says."""

    allowed: bool
    flag: str | None = None
    needs_reason: bool = False


def dated_change(grants, action: str, path: tuple[int, ...], valid_from: dt.datetime | None,
                 now: dt.datetime, grace: dt.timedelta, reason: str | None = None, *,
                 inside: bool = False) -> Dated:
    """A write (``edit_grid``/``edit_owner``) taking effect at ``valid_from``.

    Moving a boundary or an owner into the past moves past inspections into other cells and
    changes who was responsible: the record leaders are assessed on. So: at or after now, the
    ordinary rule; in the past but within ``grace`` (a form filled in yesterday), the ordinary
    rule, flagged "backdated"; further back, only an administrator, with a reason, flagged.
    """
    ordinary = can(grants, action, path, inside=inside)
    if valid_from is None or valid_from >= now - _SKEW:
        return Dated(ordinary)
    if valid_from >= now - grace and ordinary:
        return Dated(True, "backdated")
    if has_role(grants, "admin"):
        return Dated(bool(reason and reason.strip()), "backdated", needs_reason=True)
    return Dated(False, "backdated")


def can_see_job(grants, user_id: int | None, job_user_id: int | None) -> bool:
    """A background job (an import) is seen by the user who queued it and by admins: its
    result lists rows of a file only they sent."""
    return has_role(grants, "admin") or (user_id is not None and user_id == job_user_id)
