"""The month plan of inspections (月度巡查计划) of a cell: which of its enterprises must be
visited in a given month.

An enterprise is in the plan when its next inspection falls due in the month or fell due
before it (overdue at the month's start). Due is the wall's rule (gis/wall.py
``ENTERPRISES_CTE``): the last inspection (else the day the enterprise was registered) plus the
interval of its grade. The plan is the one the month opened with: inspections from the month's
first day on do not take an enterprise out of it, they show as done (``inspected_in_month``).
The enterprises are those of the cell (and the cells inside it) now.

One path for the page, the XLSX file and ``flask plan month``: ``month_plan`` and
``plan_xlsx``.
"""
from __future__ import annotations

import datetime as dt
import io
import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import dates
from gis.errors import ValidationError
from gis.policy import cells_within
from gis.tables import spreadsheet_text
from gis.wall import ENTERPRISES_CTE

_MONTH = re.compile(r"(\d{4})-(\d{1,2})")


def parse_month(value, field: str = "month") -> dt.date:
    """A month typed as YYYY-MM: its first day (within gis.dates' years)."""
    found = _MONTH.fullmatch(str(value or "").strip())
    if not found or not 1 <= int(found[2]) <= 12:
        raise ValidationError(field, "not a month (YYYY-MM)", "not_month")
    return dates.parse_date(dt.date(int(found[1]), int(found[2]), 1), field)


def month_end(first: dt.date) -> dt.date:
    return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def month_plan(session: Session, cell_id: int, month: dt.date, today: dt.date) -> list[dict]:
    """The plan of the cell ``cell_id`` (and the cells inside it) for the month whose first
    day is ``month``, as the month opened (see the module), knowing inspections up to
    ``today`` (the bureau's). Each row: management_code, name, grade, address, contact_name,
    contact_phone, cell_code, last_inspected (before the month), due_on, overdue_at_start,
    days_overdue (at the month's start), inspected_in_month (the first inspection in the month
    up to today, or None). Ordered by due date, then code."""
    month = month.replace(day=1)
    end = month_end(month)
    # The wall's rule, asked on the eve of the month (or today, for a month still to come).
    eve = min(month - dt.timedelta(days=1), today)
    cells = cells_within(session, [cell_id])
    rows = session.execute(text(f"""
        WITH {ENTERPRISES_CTE}
        SELECT s.management_code, s.name, s.grade, s.address, s.contact_name,
               s.contact_phone, s.cell_code, s.last_inspected, s.due_on, s.interval_days,
               s.due_on < CAST(:month AS date) AS overdue_at_start,
               greatest(CAST(:month AS date) - s.due_on, 0) AS days_overdue,
               (SELECT min(i.inspected_on) FROM inspection i
                WHERE i.enterprise_id = s.id AND i.inspected_on >= CAST(:month AS date)
                  AND i.inspected_on <= least(CAST(:end AS date), CAST(:real_today AS date))
               ) AS inspected_in_month
        FROM enterprise_status s
        WHERE s.due_on <= CAST(:end AS date)
        ORDER BY s.due_on, s.management_code"""), {
        "cells": cells, "month": month, "end": end, "today": eve, "real_today": today,
        "bbox": None}).all()
    return [dict(r._mapping) for r in rows]


# The file's columns: (key of a month_plan row, Chinese header). The bureau's spreadsheets
# are Chinese whatever the reader's language.
COLUMNS = (
    ("number", "序号"),
    ("management_code", "企业管理编码"),
    ("name", "企业名称"),
    ("grade", "监管等级"),
    ("address", "地址"),
    ("contact_name", "联系人"),
    ("contact_phone", "联系电话"),
    ("cell_code", "所在网格"),
    ("last_inspected", "上次巡查日期"),
    ("due_on", "应巡查日期"),
    ("days_overdue", "月初逾期天数"),
    ("inspected_in_month", "本月巡查日期"),
)


def plan_xlsx(rows: list[dict], *, cell_code: str, cell_name: str, month: dt.date) -> bytes:
    """The plan as an XLSX workbook: one sheet named by the month, Chinese headers in the
    first row, one enterprise a row, dates as dates; printed pages are headed by the cell and
    the month. Every text a person or a file gave goes through ``spreadsheet_text``."""
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = f"{month:%Y-%m}"
    # Printing only: &-codes are the header's own markup, so the names' ampersands doubled.
    sheet.oddHeader.center.text = (f"{cell_name}（{cell_code}）{month.year}年{month.month}月"
                                   "巡查计划").replace("&", "&&")
    sheet.append([header for _key, header in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for n, row in enumerate(rows, start=1):
        values = {**row, "number": n,
                  "days_overdue": row["days_overdue"] or None}
        sheet.append([spreadsheet_text(values.get(key)) for key, _header in COLUMNS])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"
    widths = {"A": 6, "B": 18, "C": 30, "D": 8, "E": 36, "F": 10, "G": 16, "H": 18, "I": 13,
              "J": 13, "K": 12, "L": 13}
    for column, width in widths.items():
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
