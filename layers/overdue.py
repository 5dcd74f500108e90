"""Enterprises overdue for inspection: a black ring around the grade dot, so they stand out
on top of the grade layer."""
from gis.wall import (enterprise_count, enterprise_extent, enterprise_geojson,
                      enterprise_points, enterprise_tile)
from layers import Layer, LayerQuery, LegendItem, N_, PopupField, register
from layers.enterprises import ENTERPRISE_LAYER, POPUP
from layers.palette import OVERDUE_COLOR


def query(session, q: LayerQuery) -> str:
    return enterprise_geojson(session, cells=q.cells, today=q.today, overdue_only=True)


def count(session, q: LayerQuery) -> int:
    return enterprise_count(session, cells=q.cells, overdue_only=True, today=q.today)


def extent(session, q: LayerQuery) -> list | None:
    return enterprise_extent(session, cells=q.cells)


def prepare(session, q: LayerQuery):
    return enterprise_points(session, cells=q.cells, today=q.today)


def tiles(session, q: LayerQuery, z: int, x: int, y: int) -> bytes:
    return enterprise_tile(session, z, x, y, cells=q.cells, today=q.today, overdue_only=True,
                           layer="overdue")


LAYER = register(Layer(
    id="overdue",
    title=N_("Overdue inspections"),
    render="points",
    query=query,
    count=count,
    tiles=tiles,
    extent=extent,
    prepare=prepare,
    # Status, cell and owner of each enterprise: not complaints, spot checks or cases.
    depends=ENTERPRISE_LAYER,
    legend=(LegendItem(N_("Overdue: no inspection within the grade's interval"),
                       OVERDUE_COLOR, "ring"),),
    popup=(*POPUP, PopupField(N_("Due since"), "due_on", "date"),
           PopupField(N_("Days overdue"), "days_overdue", "number")),
    style={"color": OVERDUE_COLOR, "radius": 9, "weight": 2.5, "fill": False},
    note=N_("Intervals: A 365, B 180, C 120, D 90 days by default (A is the lowest risk); "
            "admins change them under reference data."),
))
