"""A complaint counts on the bureau's day it was received, in the figures, the lists, the cell
figures and the heat map alike: one received at 01:00 in Hejian (17:00 UTC the day before)
belongs to the Hejian day."""
import datetime as dt
import json

from sqlalchemy import text

from gis import dates
from gis.wall import Window, cell_rows, map_figures, record_rows
from layers import REGISTRY, LayerQuery
from tests.factories import small_world

ZONE = "Asia/Shanghai"
DAY = dt.date(2026, 6, 2)


def add_complaint(session, when_utc: str):
    session.execute(text("""
        INSERT INTO complaint (number, received_at, geom, text, status, cell_id)
        SELECT 'K-night', CAST(:t AS timestamptz), ST_SetSRID(ST_Point(116.05, 38.45), 4326),
               '夜间投诉', 'received', id FROM cell WHERE code = 'S1-01'"""), {"t": when_utc})


def counted(session, window: Window) -> dict:
    figures = map_figures(session, cells=None, window=window, today=DAY)
    totals, _ = record_rows(session, "complaints", cells=None, window=window, today=DAY)
    per_cell = sum(r["complaints"] for r in cell_rows(session, cells=None, window=window,
                                                      today=DAY))
    heat = REGISTRY["complaints"].query(session, LayerQuery(
        cells=None, window=window, today=DAY, at=None, params={}))
    features = json.loads(heat)["features"] if isinstance(heat, str) else heat["features"]
    return {"figure": figures["complaints"], "list": totals["rows"], "cells": per_cell,
            "heat": len(features)}


def test_a_complaint_at_one_in_the_morning_local_is_that_local_day(session):
    small_world(session)
    add_complaint(session, "2026-06-01T17:00:00+00")
    local_day = Window(DAY, DAY, ZONE)
    assert counted(session, local_day) == {"figure": 1, "list": 1, "cells": 1, "heat": 1}
    day_before = Window(DAY - dt.timedelta(days=1), DAY - dt.timedelta(days=1), ZONE)
    assert counted(session, day_before) == {"figure": 0, "list": 0, "cells": 0, "heat": 0}


def test_the_default_window_ends_on_the_bureaus_today():
    # From 16:00 UTC it is already the next day in Hejian: the last-30-days window ends there.
    window = Window.last(30, zone=ZONE)
    assert window.end == dates.today(ZONE) and window.zone == ZONE
