"""Key figures of the city (the numbers the pilot city reports), computed in SQL."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

FIGURES_SQL = """
SELECT
  (SELECT count(*) FROM cell c WHERE c.retired_at IS NULL AND c.level = 2
       AND c.kind = 'territorial') AS territorial_grids,
  (SELECT count(*) FROM cell c WHERE c.retired_at IS NULL AND c.level = 2
       AND c.kind = 'professional') AS professional_grids,
  (SELECT count(*) FROM cell c WHERE c.retired_at IS NULL AND c.level = 3) AS cells,
  (SELECT count(*) FROM township) AS townships,
  (SELECT count(*) FROM village) AS villages,
  (SELECT count(*) FROM enterprise) AS enterprises,
  (SELECT count(*) FROM enterprise_cell_current WHERE cell_id IS NULL)
      AS enterprises_outside,
  (SELECT count(*) FROM enterprise_cell_current WHERE on_edge) AS enterprises_on_edge,
  (SELECT count(*) FROM inspection
       WHERE inspected_on > current_date - 365) AS inspections_last_year,
  (SELECT coalesce(sum(problems_found), 0) FROM inspection
       WHERE inspected_on > current_date - 365) AS problems_found,
  (SELECT coalesce(sum(problems_found), 0) FROM inspection
       WHERE inspected_on > current_date - 365
       AND rectification_status = 'done') AS problems_rectified,
  (SELECT coalesce(sum(batches), 0) FROM spot_check
       WHERE checked_on > current_date - 365 AND level = 'city') AS spot_check_batches,
  (SELECT coalesce(sum(passed), 0) FROM spot_check
       WHERE checked_on > current_date - 365 AND level = 'city') AS spot_check_passed,
  (SELECT coalesce(sum(batches), 0) FROM spot_check
       WHERE checked_on > current_date - 365 AND level <> 'city') AS sampling_batches,
  (SELECT coalesce(sum(passed), 0) FROM spot_check
       WHERE checked_on > current_date - 365 AND level <> 'city') AS sampling_passed,
  (SELECT count(*) FROM enforcement_case WHERE opened_on > current_date - 365) AS cases,
  (SELECT count(*) FROM enforcement_case WHERE opened_on > current_date - 730
       AND opened_on <= current_date - 365) AS cases_year_before,
  (SELECT count(*) FROM complaint WHERE status <> 'closed') AS open_complaints
"""


def city_figures(session: Session, today: dt.date | None = None) -> dict:
    """The city's figures; ``cases_yoy`` is the change on the year before (同比), ``overdue``
    the enterprises overdue for inspection now (the wall's rule, gis/wall.py)."""
    from gis.wall import Window, map_figures

    figures = dict(session.execute(text(FIGURES_SQL)).one()._mapping)
    before = figures["cases_year_before"]
    figures["cases_yoy"] = (figures["cases"] - before) / before if before else None
    figures["overdue"] = map_figures(session, cells=None, window=Window.last(365, today),
                                     today=today or dt.date.today())["overdue"]
    figures["grades"] = dict(session.execute(text(
        "SELECT grade, count(*) FROM enterprise GROUP BY grade ORDER BY grade")).all())
    for kind in ("spot_check", "sampling"):
        batches = figures[f"{kind}_batches"]
        figures[f"{kind}_pass_rate"] = figures[f"{kind}_passed"] / batches if batches else None
    return figures
