"""Small polygons and points built in code, written through the project's own write paths."""
from __future__ import annotations

import datetime as dt

import shapely
from sqlalchemy import text

from gis.enterprises import EnterpriseRow, upsert_enterprises
from gis.cells import CellRecord, upsert_cells

# A 0.1° x 0.1° square city near Hejian, cut into two level-3 cells at lon 116.05.
CITY = shapely.box(116.0, 38.4, 116.1, 38.5)
WEST = shapely.box(116.0, 38.4, 116.05, 38.5)
EAST = shapely.box(116.05, 38.4, 116.1, 38.5)


def multi(geom):
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])


def add_cells(session, *specs, valid_from: dt.datetime | None = None):
    """specs: (code, level, geometry, parent_code) tuples, parents first or in any order."""
    records = [CellRecord(code=c, name=f"cell {c}", level=lvl, geom=multi(g), parent_code=p,
                          where=f"cell {c}") for c, lvl, g, p in specs]
    return upsert_cells(session, records, valid_from=valid_from)


def two_cell_city(session, valid_from=None):
    return add_cells(session, ("C", 1, CITY, None), ("C-S", 2, CITY, "C"),
                     ("C-S-01", 3, WEST, "C-S"), ("C-S-02", 3, EAST, "C-S"),
                     valid_from=valid_from)


def add_enterprises(session, *points, grade="B", valid_from=None):
    """points: (management_code, lon, lat)."""
    rows = [EnterpriseRow(code, {"name": f"enterprise {code}", "credit_code": None,
                                 "address": None, "industry": None, "specialty": None,
                                 "grade": grade, "contact_name": None, "contact_phone": None,
                                 "products": None, "staff_count": None, "key_equipment": None},
                          lon, lat, {}) for code, lon, lat in points]
    return upsert_enterprises(session, rows, valid_from=valid_from)


def cell_of(session, code, at=None):
    """(cell code or None, on_edge) of an enterprise at ``at`` (default now)."""
    row = session.execute(text("""
        SELECT c.code, ec.on_edge FROM enterprise e
        JOIN enterprise_cell ec ON ec.enterprise_id = e.id
             AND ec.valid @> coalesce(CAST(:at AS timestamptz), now())
        LEFT JOIN cell c ON c.id = ec.cell_id
        WHERE e.management_code = :code"""), {"code": code, "at": at}).one_or_none()
    return None if row is None else (row[0], row[1])


def three_villages(session):
    """One township over small_world's S1 and three villages across it (116.0-116.03,
    116.03-116.05, 116.05-116.1; S1-01 and S1-02 meet at 116.05): for village moves."""
    session.execute(text("""
        INSERT INTO township (code, name, geom)
        VALUES ('130984100000', '镇', ST_Multi(ST_MakeEnvelope(116, 38.4, 116.2, 38.5, 4326)))"""))
    for i, (x0, x1) in enumerate([(116.0, 116.03), (116.03, 116.05), (116.05, 116.1)]):
        session.execute(text("""
            INSERT INTO village (code, name, township_id, geom)
            SELECT :c, :n, id, ST_Multi(ST_MakeEnvelope(:x0, 38.4, :x1, 38.5, 4326))
            FROM township"""), {"c": f"13098410000{i}", "n": f"村{i}", "x0": x0, "x1": x1})


def small_world(session, valid_from=None):
    """A city with two stations' grids and three cells, one enterprise and one complaint in
    cell S1-01, one enterprise in S2-01, a checklist, and one user per role and place.
    Every password is PASSWORD."""
    from gis.users import create_user

    add_cells(session,
              ("C", 1, shapely.box(116.0, 38.4, 116.2, 38.5), None),
              ("S1", 2, shapely.box(116.0, 38.4, 116.1, 38.5), "C"),
              ("S2", 2, shapely.box(116.1, 38.4, 116.2, 38.5), "C"),
              ("S1-01", 3, shapely.box(116.0, 38.4, 116.05, 38.5), "S1"),
              ("S1-02", 3, shapely.box(116.05, 38.4, 116.1, 38.5), "S1"),
              ("S2-01", 3, shapely.box(116.1, 38.4, 116.2, 38.5), "S2"),
              valid_from=valid_from)
    add_enterprises(session, ("E1", 116.02, 38.45), ("E2", 116.15, 38.45),
                    valid_from=valid_from)
    session.execute(text("""
        INSERT INTO checklist_item (code, title, sort_order) VALUES ('Q01', '证照齐全', 1),
               ('Q02', '出厂检验', 2)"""))
    session.execute(text("""
        INSERT INTO complaint (number, received_at, geom, text, status, cell_id)
        SELECT 'K1', now(), ST_SetSRID(ST_Point(116.02, 38.45), 4326), '投诉', 'received', id
        FROM cell WHERE code = 'S1-01'"""))
    person = session.execute(text(
        "INSERT INTO person (name, phone) VALUES ('巡查员甲', '13800000000') RETURNING id")).scalar()
    for username, role, place in USERS:
        create_user(session, username, PASSWORD, role=role, place=place,
                    person_id=person if role == "inspector" else None)
    return person


PASSWORD = "secret-pass-1"
USERS = [
    ("admin", "admin", None),
    ("city-leader", "leader", "C"),
    ("s1-leader", "leader", "S1"),
    ("s1-manager", "grid_manager", "S1"),
    ("s2-manager", "grid_manager", "S2"),
    ("c1-inspector", "inspector", "S1-01"),
    ("c2-inspector", "inspector", "S2-01"),
]


def login(client, username, password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password})
