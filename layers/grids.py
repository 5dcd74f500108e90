"""The city and its second-level territorial grids (one per supervision station): heavy
outlines."""
from gis.datacache import BOUNDARIES
from gis.wall import cell_rows
from layers import Layer, LayerQuery, LegendItem, N_, PopupField, feature_collection, register
from layers.palette import GRID_LINE


def query(session, q: LayerQuery) -> dict:
    rows = cell_rows(session, cells=q.cells, window=q.window, today=q.today, at=q.at,
                     levels=(1, 2))
    return feature_collection(rows, lambda r: {
        "code": r["code"], "name": r["name"], "level": r["level"], "station": r["station"],
        "owner_name": r["owner_name"], "owner_phone": r["owner_phone"]})


LAYER = register(Layer(
    id="grids",
    title=N_("Second-level grids"),
    render="polygons",
    query=query,
    legend=(LegendItem(N_("Second-level grid (station)"), GRID_LINE, "line"),),
    popup=(PopupField(N_("Grid"), "name"), PopupField(N_("Station"), "station"),
           PopupField(N_("Station chief"), "owner_name"),
           PopupField(N_("Phone"), "owner_phone", "tel")),
    style={"color": GRID_LINE, "weight": 3.5, "fill": False, "interactive": False},
    depends=BOUNDARIES,  # outlines, stations and owners: no figure
))
