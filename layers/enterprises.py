"""Enterprises by supervision grade A-D: one colour and one shape per grade, everywhere."""
from gis.datacache import ENTERPRISE_STATUS
from gis.wall import (enterprise_count, enterprise_extent, enterprise_geojson,
                      enterprise_points, enterprise_tile)
from layers import Layer, LayerQuery, LegendItem, N_, PopupField, register
from layers.palette import GRADE_COLORS, GRADE_SHAPES

# The tables the enterprise layers (and their tiles) read.
ENTERPRISE_LAYER = (*ENTERPRISE_STATUS, "cell", "responsibility", "person")

POPUP = (
    PopupField(N_("Enterprise"), "name"), PopupField(N_("Management code"), "code", "record"),
    PopupField(N_("Credit code"), "credit_code"), PopupField(N_("Grade"), "grade"),
    PopupField(N_("Industry"), "industry"), PopupField(N_("Contact"), "contact_name"),
    PopupField(N_("Phone"), "contact_phone", "tel"),
    PopupField(N_("Last inspection"), "last_inspected", "date"),
    PopupField(N_("Cell"), "cell_name"), PopupField(N_("Cell owner"), "owner_name"),
    PopupField(N_("Owner's phone"), "owner_phone", "tel"),
)


def query(session, q: LayerQuery) -> str:
    return enterprise_geojson(session, cells=q.cells, today=q.today)


def count(session, q: LayerQuery) -> int:
    return enterprise_count(session, cells=q.cells)


def extent(session, q: LayerQuery) -> list | None:
    return enterprise_extent(session, cells=q.cells)


def prepare(session, q: LayerQuery):
    return enterprise_points(session, cells=q.cells, today=q.today)


def tiles(session, q: LayerQuery, z: int, x: int, y: int) -> bytes:
    return enterprise_tile(session, z, x, y, cells=q.cells, today=q.today,
                           layer="enterprises")


LAYER = register(Layer(
    id="enterprises",
    title=N_("Enterprises by grade"),
    render="points",
    query=query,
    count=count,
    tiles=tiles,
    extent=extent,
    prepare=prepare,
    # Status, cell and owner of each enterprise: not complaints, spot checks or cases.
    depends=ENTERPRISE_LAYER,
    legend=(LegendItem(N_("Grade A (lowest risk)"), GRADE_COLORS["A"], GRADE_SHAPES["A"]),
            LegendItem(N_("Grade B"), GRADE_COLORS["B"], GRADE_SHAPES["B"]),
            LegendItem(N_("Grade C"), GRADE_COLORS["C"], GRADE_SHAPES["C"]),
            LegendItem(N_("Grade D (highest risk)"), GRADE_COLORS["D"], GRADE_SHAPES["D"])),
    popup=POPUP,
    style={"colorBy": "grade", "colors": GRADE_COLORS, "shapeBy": "grade",
           "shapes": GRADE_SHAPES, "radius": 5, "weight": 1, "color": "#ffffff",
           "fillOpacity": 0.9},
))
