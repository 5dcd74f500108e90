"""The overview's figures (the numbers the pilot city reports), computed in SQL.

The activity figures are the map wall's (``gis.wall.map_figures``) over the last 365 days, so
the overview, the wall and the lists behind both count the same rows; the structure of the
grid (grids, cells, townships, villages) is the city's whole; the roster's gaps are today's."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.people import gap_counts
from gis.wall import Window, map_figures

# The overview's period: a year back from today, and the year before it for 同比.
OVERVIEW_DAYS = 365

STRUCTURE_SQL = """
SELECT
  (SELECT count(*) FROM cell c WHERE c.retired_at IS NULL AND c.level = 2
       AND c.kind = 'territorial') AS territorial_grids,
  (SELECT count(*) FROM cell c WHERE c.retired_at IS NULL AND c.level = 2
       AND c.kind = 'professional') AS professional_grids,
  (SELECT count(*) FROM cell c WHERE c.retired_at IS NULL AND c.level = 3) AS cells,
  (SELECT count(*) FROM township) AS townships,
  (SELECT count(*) FROM village) AS villages,
  (SELECT count(*) FROM enterprise_cell_current WHERE cell_id IS NULL)
      AS enterprises_outside,
  (SELECT count(*) FROM enterprise_cell_current WHERE on_edge) AS enterprises_on_edge
"""


def city_figures(session: Session, cells: list[int] | None = None,
                 today: dt.date | None = None, zone: str = "UTC") -> dict:
    """The overview's figures for the cells ``cells`` (None: the whole city): the wall's
    figures over the last ``OVERVIEW_DAYS`` days (``cases_yoy`` is the change on the same
    days a year before, 同比), and the grid's structure."""
    window = Window.last(OVERVIEW_DAYS, today, zone)
    today = window.end
    figures = dict(session.execute(text(STRUCTURE_SQL)).one()._mapping)
    figures.update(map_figures(session, cells=cells, window=window, today=today))
    figures["cases_yoy"] = figures["cases_change"]
    figures["days"], figures["period"] = OVERVIEW_DAYS, window
    # Gaps in the roster today (gis/people.py): cells among ``cells`` without an owner of
    # their own, people who answer for nothing, people who left but still answer.
    figures["roster"] = gap_counts(session, cells, accounts=False, zone=zone)
    return figures
