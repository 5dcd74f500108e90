"""A province-sized deployment for benchmarks (docs/province.md): many cities side by side under
one province cell, tens of thousands of cells, a million or more enterprises, in set-based SQL.

``generate_province(session)`` writes, into an empty (freshly migrated or wiped) database, in
the caller's transaction:

* the province (level 0, ``PROV``), ``cities`` cities (level 1, ``C01`` …) laid out four
  abreast, each cut into ``grids_per_city`` second-level grids with a station each
  (``C01-G01`` …), each grid into ``cells_per_grid`` level-3 cells (``C01-G01-0001`` …):
  rectangles, so every shared edge is exact;
* a person owning every level-3 cell and a station chief for every grid, a mayor per city;
* ``enterprises`` enterprises (``E0000001`` …) at random points strictly inside the cells,
  graded A–D, under supervision from ``start``; each one's assignment row is written from the
  cell it was drawn in (what gw_assign answers for a point inside one cell: the assignment
  trigger is off during that one insert, and ``check_assignment`` compares a sample with
  gw_assign's own answer);
* ``inspections_per_enterprise`` inspections each (on average) in the year before ``today``,
  and ``complaints_per_enterprise`` complaints, routed to the cell they fall in.

Everything is drawn from ``seed`` (``setseed`` and arithmetic on row numbers): the same
arguments write the same province. The default is the size the issue names: 12 cities, 168
grids (counties), 50,400 level-3 cells, 1,500,000 enterprises.

Benches import it: ``from gis.demo.province import generate_province``. It answers a
``Province`` with the codes to log in at (a city, a grid, a cell) and the counts.
"""
from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

PROVINCE_CODE = "PROV"
# A prefecture-level city's extent in degrees (about 90 km x 80 km), and the gap between cities.
CITY_WIDTH, CITY_HEIGHT, GAP = 0.9, 0.7, 0.02
ORIGIN = (113.5, 40.0)  # the north-west corner of the first city (lon, lat)
GRADES = (("A", 0.15), ("B", 0.45), ("C", 0.30), ("D", 0.10))


@dataclass
class Province:
    """What ``generate_province`` wrote: codes of a city, a grid and a cell (the first of
    each) for users of one city, and the counts."""

    province: str
    cities: list[str]
    city: str
    grid: str
    cell: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _split(n: int) -> tuple[int, int]:
    """(columns, rows) near a square whose product is at least ``n``."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return cols, math.ceil(n / cols)


def generate_province(session: Session, *, cities: int = 12, grids_per_city: int = 14,
                      cells_per_grid: int = 300, enterprises: int = 1_500_000,
                      inspections_per_enterprise: float = 1.0,
                      complaints_per_enterprise: float = 0.05, seed: int = 2009,
                      today: dt.date | None = None,
                      echo: Callable[[str], None] = lambda m: None) -> Province:
    """Write a province (module docstring) into an empty database, in the caller's
    transaction; ANALYZE is the caller's (after commit)."""
    today = today or dt.date.today()
    start = dt.datetime.combine(today - dt.timedelta(days=400), dt.time(),
                                tzinfo=dt.timezone.utc)
    gcols, grows = _split(grids_per_city)
    ccols, crows = _split(cells_per_grid)
    timings: dict[str, float] = {}

    def step(name: str, sql: str, **params) -> None:
        # One statement at a time (";" never occurs inside these), each timed; the tables
        # written are analysed before the next step plans against them.
        for n, statement in enumerate(s for s in sql.split(";") if s.strip()):
            began = time.perf_counter()
            session.execute(text(statement), params)
            key = f"{name}.{n + 1}"
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - began

    if session.execute(text("SELECT EXISTS (SELECT 1 FROM cell)")).scalar():
        raise ValueError("generate_province writes into an empty database")
    # One stream of random numbers, in one backend, without parallel workers: the same seed
    # draws the same province.
    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    session.execute(text("SET LOCAL work_mem = '256MB'"))
    session.execute(text("SELECT setseed(:s)"), {"s": (seed % 10_000) / 10_000})
    shape = {"cities": cities, "gpc": grids_per_city, "gcols": gcols, "grows": grows,
             "cpg": cells_per_grid, "ccols": ccols, "crows": crows, "w": CITY_WIDTH,
             "h": CITY_HEIGHT, "gap": GAP, "x0": ORIGIN[0], "y0": ORIGIN[1], "start": start}

    # The layout, one row a level-3 cell: its city, grid and cell numbers and its box.
    step("layout", """
        CREATE TEMP TABLE gw_layout ON COMMIT DROP AS
        SELECT ci, gi, ki,
               x0 + (ci % 4) * (w + gap) + (gi % gcols) * (w / gcols)
                  + (ki % ccols) * (w / gcols / ccols) AS x,
               y0 - (ci / 4) * (h + gap) - (gi / gcols) * (h / grows)
                  - (ki / ccols + 1) * (h / grows / crows) AS y,
               w / gcols / ccols AS dx, h / grows / crows AS dy
        FROM (SELECT CAST(:x0 AS float8) AS x0, CAST(:y0 AS float8) AS y0,
                     CAST(:w AS float8) AS w, CAST(:h AS float8) AS h,
                     CAST(:gap AS float8) AS gap, CAST(:gcols AS int) AS gcols,
                     CAST(:grows AS int) AS grows, CAST(:ccols AS int) AS ccols,
                     CAST(:crows AS int) AS crows) k,
             generate_series(0, CAST(:cities AS int) - 1) ci,
             generate_series(0, CAST(:gpc AS int) - 1) gi,
             generate_series(0, CAST(:cpg AS int) - 1) ki""", **shape)
    step("cells", """
        INSERT INTO station (code, name, phone)
        SELECT format('C%s-G%s', lpad((ci + 1)::text, 2, '0'), lpad((gi + 1)::text, 2, '0')),
               format('第%s市第%s监督所', ci + 1, gi + 1), '0311-12365'
        FROM (SELECT DISTINCT ci, gi FROM gw_layout) g ORDER BY ci, gi;
        INSERT INTO cell (code, name, level, kind) VALUES (:prov, '演示省', 0, 'territorial');
        INSERT INTO cell (code, name, level, kind, parent_id)
        SELECT format('C%s', lpad((ci + 1)::text, 2, '0')), format('第%s市', ci + 1), 1,
               'territorial', (SELECT id FROM cell WHERE code = :prov)
        FROM generate_series(0, CAST(:cities AS int) - 1) ci ORDER BY ci;
        INSERT INTO cell (code, name, level, kind, parent_id, station_id)
        SELECT s.code, s.name || '网格', 2, 'territorial', c.id, s.id
        FROM station s JOIN cell c ON c.code = split_part(s.code, '-', 1) ORDER BY s.code;
        INSERT INTO cell (code, name, level, kind, parent_id, station_id)
        SELECT format('%s-%s', g.code, lpad((l.ki + 1)::text, 4, '0')),
               format('%s第%s网格', g.name, l.ki + 1), 3, 'territorial', g.id, g.station_id
        FROM gw_layout l
        JOIN cell g ON g.code = format('C%s-G%s', lpad((l.ci + 1)::text, 2, '0'),
                                       lpad((l.gi + 1)::text, 2, '0'))
        ORDER BY l.ci, l.gi, l.ki""", prov=PROVINCE_CODE, **shape)
    # Boundaries: level 3 from the layout, every level above as the box of its cells (the
    # boxes tile exactly, so a union would be the same rectangle).
    step("boundaries", """
        CREATE TEMP TABLE gw_box ON COMMIT DROP AS
        SELECT c.id, c.code, ST_MakeEnvelope(l.x, l.y, l.x + l.dx, l.y + l.dy, 4326) AS geom
        FROM gw_layout l
        JOIN cell c ON c.code = format('C%s-G%s-%s', lpad((l.ci + 1)::text, 2, '0'),
                                       lpad((l.gi + 1)::text, 2, '0'),
                                       lpad((l.ki + 1)::text, 4, '0'));
        INSERT INTO gw_box
        SELECT p.id, p.code, ST_SetSRID(ST_Extent(b.geom)::geometry, 4326)
        FROM gw_box b JOIN cell c ON c.id = b.id JOIN cell p ON p.id = c.parent_id
        GROUP BY p.id, p.code;
        INSERT INTO gw_box
        SELECT p.id, p.code, ST_SetSRID(ST_Extent(b.geom)::geometry, 4326)
        FROM gw_box b JOIN cell c ON c.id = b.id AND c.level = 2
        JOIN cell p ON p.id = c.parent_id GROUP BY p.id, p.code;
        INSERT INTO gw_box
        SELECT p.id, p.code, ST_SetSRID(ST_Union(b.geom), 4326)
        FROM gw_box b JOIN cell c ON c.id = b.id AND c.level = 1
        JOIN cell p ON p.id = c.parent_id GROUP BY p.id, p.code""", **shape)
    # A statement a grid, the tables analysed before each: the version trigger plans its
    # assignment pass on them, and without statistics of the rows just written it probes them
    # blindly (4,216 versions in one statement: 8.8 s; by grids, analysed: well under 1 s).
    parents = session.execute(text("""
        SELECT DISTINCT coalesce(c.parent_id, 0) FROM cell c ORDER BY 1""")).scalars().all()
    for parent in parents:
        _analyze(session, "cell", "cell_version", "cell_piece")
        step("versions", """
            INSERT INTO cell_version (cell_id, geom, valid_from, comment, created_by)
            SELECT b.id, ST_Multi(b.geom), :start, 'generated province', 'generate_province'
            FROM gw_box b JOIN cell c ON c.id = b.id
            WHERE coalesce(c.parent_id, 0) = :parent ORDER BY b.code""",
             parent=parent, **shape)
    echo("province: cells written")
    # People: a mayor per city, a chief per station (owner of its grid), an owner per cell.
    step("people", """
        INSERT INTO person (code, name, unit, position)
        SELECT 'RY-' || c.code, '责任人' || c.code,
               CASE c.level WHEN 1 THEN c.name || '人民政府' ELSE c.name END,
               CASE c.level WHEN 1 THEN '市长' WHEN 2 THEN '所长' ELSE '网格责任人' END
        FROM cell c WHERE c.level >= 1 ORDER BY c.code;
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
        SELECT p.id, CASE c.level WHEN 1 THEN 'government' ELSE 'department' END, 'owner',
               c.id, :start
        FROM cell c JOIN person p ON p.code = 'RY-' || c.code WHERE c.level >= 1;
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
        SELECT p.id, 'department', 'station_chief', c.id, :start
        FROM cell c JOIN person p ON p.code = 'RY-' || c.code WHERE c.level = 2""", **shape)
    echo("province: people written")
    # Enterprises: a random level-3 cell each (by its row number in the layout), a random
    # point strictly inside it.
    _analyze(session, "cell", "cell_version", "gw_box")
    session.execute(text("""
        CREATE TEMP TABLE gw_cell_no ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY c.code) - 1 AS no, c.id, b.geom
        FROM cell c JOIN gw_box b ON b.id = c.id WHERE c.level = 3;
        ALTER TABLE gw_cell_no ADD PRIMARY KEY (no)"""))
    n_cells = session.execute(text("SELECT count(*) FROM gw_cell_no")).scalar()
    session.execute(text("ALTER TABLE enterprise DISABLE TRIGGER enterprise_assign_insert"))
    step("enterprises", """
        CREATE TEMP TABLE gw_drawn ON COMMIT DROP AS
        SELECT n, floor(random() * :cells)::bigint AS no, random() AS u, random() AS v,
               random() AS g
        FROM generate_series(1, CAST(:n AS int)) n;
        INSERT INTO enterprise (management_code, name, address, industry, grade, geom,
                                valid_from, source_crs)
        SELECT 'E' || lpad(d.n::text, 7, '0'), '演示企业' || d.n, '演示地址' || d.n,
               (ARRAY['电线电缆', '汽车零部件', '保温建材', '食品加工', '玻璃制品'])[d.n % 5 + 1],
               CASE WHEN d.g < 0.15 THEN 'A' WHEN d.g < 0.60 THEN 'B'
                    WHEN d.g < 0.90 THEN 'C' ELSE 'D' END,
               ST_SetSRID(ST_MakePoint(
                   ST_XMin(k.geom) + (0.02 + 0.96 * d.u) * (ST_XMax(k.geom) - ST_XMin(k.geom)),
                   ST_YMin(k.geom) + (0.02 + 0.96 * d.v) * (ST_YMax(k.geom) - ST_YMin(k.geom))),
                   4326),
               :start, 'EPSG:4326'
        FROM gw_drawn d JOIN gw_cell_no k ON k.no = d.no
        -- Written cell by cell, as cities' imports arrive (codes are in no spatial order).
        ORDER BY d.no, d.n""",
         cells=n_cells, n=enterprises, start=start)
    session.execute(text("ALTER TABLE enterprise ENABLE TRIGGER enterprise_assign_insert"))
    _analyze(session, "enterprise", "gw_drawn", "gw_cell_no")
    step("assignment", """
        INSERT INTO enterprise_cell (enterprise_id, cell_id, on_edge, valid_from)
        SELECT e.id, k.id, false, e.valid_from
        FROM enterprise e JOIN gw_drawn d ON e.management_code = 'E' || lpad(d.n::text, 7, '0')
        JOIN gw_cell_no k ON k.no = d.no;
        INSERT INTO enterprise_grade (enterprise_id, grade, valid_from, reason)
        SELECT id, grade, valid_from, '生成的初始分级' FROM enterprise""")
    echo(f"province: {enterprises:,} enterprises written")
    _analyze(session, "enterprise_cell", "enterprise_grade")
    n_inspections = int(enterprises * inspections_per_enterprise)
    session.execute(text("""
        INSERT INTO checklist_item (code, title, sort_order)
        VALUES ('Q01', '证照齐全', 1) ON CONFLICT DO NOTHING"""))
    step("inspections", """
        INSERT INTO inspection (enterprise_id, inspected_on, results, problems_found, problems,
                                rectification_deadline, rectification_status)
        SELECT e.id, CAST(:today AS date) - floor(random() * 365)::int,
               '{"Q01": "pass"}', x.found, CASE WHEN x.found > 0 THEN '发现问题' END,
               CASE WHEN x.found > 0 THEN CAST(:today AS date) + 30 END,
               CASE WHEN x.found > 0 THEN 'open' ELSE 'none' END
        FROM (SELECT floor(random() * :enterprises)::bigint + 1 AS k,
                     CASE WHEN random() < 0.1 THEN 1 ELSE 0 END AS found
              FROM generate_series(1, CAST(:n AS int))) x
        JOIN enterprise e ON e.id = x.k + (SELECT min(id) - 1 FROM enterprise)""",
         n=n_inspections, enterprises=enterprises, today=today)
    n_complaints = int(enterprises * complaints_per_enterprise)
    step("complaints", """
        INSERT INTO complaint (number, received_at, geom, location_source, text, status,
                               enterprise_id, cell_id,
                               cell_version_id, assigned_cell_id, outside_grid, due_at,
                               updated_at)
        SELECT 'K' || lpad(x.n::text, 7, '0'), x.at,
               e.geom, 'point', '演示投诉',
               CASE WHEN x.closed THEN 'closed' ELSE 'received' END, e.id, ec.cell_id,
               v.id, ec.cell_id, false, x.at + interval '7 days', x.at
        FROM (SELECT n, floor(random() * :enterprises)::bigint + 1 AS k,
                     CAST(:today AS date) - random() * 365 * interval '1 day'
                         + interval '9 hours' AS at,
                     random() < 0.7 AS closed
              FROM generate_series(1, CAST(:n AS int)) n) x
        JOIN enterprise e ON e.id = x.k + (SELECT min(id) - 1 FROM enterprise)
        JOIN enterprise_cell ec ON ec.enterprise_id = e.id AND ec.valid_to IS NULL
        JOIN cell_version v ON v.cell_id = ec.cell_id AND v.valid_to IS NULL;
        UPDATE complaint SET closed_at = received_at + interval '3 days' WHERE status = 'closed'
        """, n=n_complaints, enterprises=enterprises, today=today)
    echo("province: records written")
    codes = session.execute(text(
        "SELECT code FROM cell WHERE level = 1 ORDER BY code")).scalars().all()
    counts = dict(session.execute(text("""
        SELECT 'cities', count(*) FILTER (WHERE level = 1) FROM cell UNION ALL
        SELECT 'level-2 grids', count(*) FILTER (WHERE level = 2) FROM cell UNION ALL
        SELECT 'level-3 cells', count(*) FILTER (WHERE level = 3) FROM cell UNION ALL
        SELECT 'enterprises', count(*) FROM enterprise UNION ALL
        SELECT 'inspections', count(*) FROM inspection UNION ALL
        SELECT 'complaints', count(*) FROM complaint""")).all())
    return Province(PROVINCE_CODE, list(codes), codes[0], f"{codes[0]}-G01",
                    f"{codes[0]}-G01-0001", counts, timings)


def _analyze(session: Session, *tables: str) -> None:
    for table in tables:
        if session.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar():
            session.execute(text(f"ANALYZE {table}"))


def check_assignment(session: Session, sample: int = 2000) -> int:
    """How many of ``sample`` enterprises (spread over the ids) gw_assign would place in
    another cell than the one the generator wrote: 0 for a sound province. Read-only: it runs
    the rule's own query in a savepoint and rolls it back."""
    with session.begin_nested() as nested:
        ids = session.execute(text("""
            SELECT array_agg(id) FROM (
                SELECT id FROM enterprise ORDER BY id % 997, id LIMIT :n) s"""),
            {"n": sample}).scalar() or []
        changed = session.execute(text("SELECT gw_assign(now(), CAST(:ids AS bigint[]))"),
                                  {"ids": ids}).scalar()
        nested.rollback()
    return int(changed or 0)
