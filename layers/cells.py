"""Level-3 cells: outlined and labelled with their name, a warning sign with the number of
enterprises overdue for inspection, and their owner; optionally a choropleth of one figure
(class breaks by mapclassify). A click opens the cell's card."""
from gis.classify import class_breaks
from gis.wall import cell_rows
from layers import Layer, LayerQuery, LegendItem, N_, PopupField, feature_collection, register
from layers.palette import CELL_LINE, SEQUENTIAL

# Figures a choropleth may show: key -> (message id of its name, how its classes are shown).
FIGURES = {
    "enterprises": (N_("Enterprises"), "number"),
    "overdue_rate": (N_("Overdue rate"), "percent"),
    "complaints_per_enterprise": (N_("Complaints per enterprise"), "number"),
    "pass_rate": (N_("Spot-check pass rate"), "percent"),
}
OVERDUE_MARK = "⚠"


def query(session, q: LayerQuery) -> dict:
    rows = cell_rows(session, cells=q.cells, window=q.window, today=q.today, at=q.at,
                     levels=(3,))
    figure = q.params.get("figure")
    breaks, classes = [], [None] * len(rows)
    if figure in FIGURES:
        breaks, classes = class_breaks([r[figure] for r in rows], k=5)
    collection = feature_collection(rows, lambda r: {
        "code": r["code"], "name": r["name"], "station": r["station"],
        # The permanent label: the name, and the warning sign with the overdue count if any
        # (the legend says what it means).
        "label": r["name"] + (f" {OVERDUE_MARK}{r['overdue']}" if r["overdue"] else ""),
        "owner_name": r["owner_name"], "owner_phone": r["owner_phone"],
        "owner_inherited": r["owner_inherited"], "enterprises": r["enterprises"],
        "overdue": r["overdue"], "complaints": r["complaints"],
        "inspections_required": r["inspections_required"], "area_km2": r["area_km2"],
        "overdue_rate": r["overdue_rate"], "pass_rate": r["pass_rate"],
        "complaints_per_enterprise": r["complaints_per_enterprise"]})
    for feature, klass in zip(collection["features"], classes):
        feature["properties"]["class"] = klass
        if klass is not None:
            feature["properties"]["fill"] = SEQUENTIAL[klass + (len(SEQUENTIAL) - len(breaks))]
    collection["classes"] = {"figure": figure, "breaks": breaks,
                             "format": FIGURES[figure][1] if figure in FIGURES else None,
                             "colors": SEQUENTIAL[len(SEQUENTIAL) - len(breaks):]}
    return collection


LAYER = register(Layer(
    id="cells",
    title=N_("Level-3 cells"),
    render="polygons",
    query=query,
    legend=(LegendItem(N_("Level-3 cell (one responsible inspector)"), CELL_LINE, "line"),
            LegendItem(N_("⚠ 3: three enterprises in the cell are overdue for inspection"),
                       "#a33", "mark", OVERDUE_MARK)),
    popup=(PopupField(N_("Cell"), "name"), PopupField(N_("Code"), "code"),
           PopupField(N_("Owner"), "owner_name"), PopupField(N_("Phone"), "owner_phone", "tel"),
           PopupField(N_("Station"), "station"),
           PopupField(N_("Enterprises"), "enterprises", "number"),
           PopupField(N_("Overdue"), "overdue", "number"),
           PopupField(N_("Complaints"), "complaints", "number")),
    style={"color": CELL_LINE, "weight": 1.5, "fillOpacity": 0.05, "fillColor": CELL_LINE,
           "choroplethOpacity": 0.65},
    label="label",
    card=True,
))
