"""Professional grids (专业网格: food, special equipment, civil metrology), one layer each: the
second-level grid and its level-3 cells.

Each covers the whole city over the territorial grid, and the three may share their outlines,
so they are off until a user turns one on (drawn dashed, in the specialty's colour, above the
territorial cells so a click reaches them); a click on a cell opens its card like a territorial
cell's. Cells are labelled with their names; the grid, which is their union, is not."""
from gis.datacache import BOUNDARIES
from gis.wall import cell_rows
from layers import Layer, LayerQuery, LegendItem, N_, PopupField, feature_collection, register
from layers.palette import SPECIALTY_COLORS

SPECIALTIES = {  # specialty -> message id of the layer's title
    "food": N_("Professional grid: food"),
    "special_equipment": N_("Professional grid: special equipment"),
    "metrology": N_("Professional grid: civil metrology"),
}


def _query(specialty: str):
    def query(session, q: LayerQuery) -> dict:
        rows = cell_rows(session, cells=q.cells, window=q.window, today=q.today, at=q.at,
                         levels=(2, 3), kind="professional", specialty=specialty)
        return feature_collection(rows, lambda r: {
            "code": r["code"], "name": r["name"], "level": r["level"],
            "label": r["name"] if r["level"] == 3 else None,
            "grid": r["parent_name"] if r["level"] == 3 else r["name"],
            "owner_name": r["owner_name"], "owner_phone": r["owner_phone"]})
    return query


for _specialty, _title in SPECIALTIES.items():
    register(Layer(
        id=f"professional_{_specialty}",
        title=_title,
        render="polygons",
        query=_query(_specialty),
        legend=(LegendItem(N_("Professional cell (one responsible inspector)"),
                           SPECIALTY_COLORS[_specialty], "dashed"),),
        popup=(PopupField(N_("Cell"), "name"), PopupField(N_("Grid"), "grid"),
               PopupField(N_("Owner"), "owner_name"),
               PopupField(N_("Phone"), "owner_phone", "tel")),
        style={"color": SPECIALTY_COLORS[_specialty], "weight": 3, "dashArray": "8 6",
               "fillOpacity": 0.04, "fillColor": SPECIALTY_COLORS[_specialty]},
        show=False,
        label="label",
        card=True,
        depends=BOUNDARIES,  # outlines and owners: no figure
    ))
