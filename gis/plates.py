"""Responsibility plates (明示牌): the sign on every enterprise's wall that tells the public who
supervises it and how to complain.

A plate shows the enterprise's name, management code and supervision grade, the cell's owner
(网格责任人, the responsible inspector) with a phone, the station chief (站长) with the station,
the township leader (属地责任人) and the enterprise's principal (企业主体责任人) — the three
responsibilities, as the lookup answers them — the 12365 hotline and a QR code opening the
public complaint page for that enterprise (``complaint_url``).

Who answers is read from the dated responsibilities, the same rules the lookup follows
(gis/sql/lookup.sql ``gw_answer``): the enterprise's cell at the moment (``enterprise_cell``),
its owner falling back up the tree (``gw_cell_owner``, 属地兜底), the chief of the first
second-level grid above the cell and that grid's station, the leaders of the township
covering the enterprise (lowest code on a shared edge) and the principal. ``CHAIN`` states
that once, as SQL over a *set* of enterprises, so one plate, a station's batch and the
comparison of two dates (``plates_changed``) are one query each, never a loop over
enterprises (tests/test_plates.py checks it against ``gis.lookup.enterprise_responsible``).

Plates are printed from HTML: the pages' print CSS, and the same HTML made into a PDF by
WeasyPrint (``render_pdf``), which shapes Chinese with Pango and embeds the subset of the CJK
font used (docs/plates.md says why WeasyPrint and which fonts). Every function runs in the
caller's transaction; permissions are the caller's ("view" at the enterprise or the cell).
"""
from __future__ import annotations

import datetime as dt
import io
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import dates

HOTLINE = "12365"
SIZES = ("a4", "a5")
# The public complaint page's address for one enterprise (app: the complaints blueprint).
COMPLAINT_PATH = "/public/complaints/new?enterprise="


def complaint_url(base_url: str, management_code: str) -> str:
    """The address a plate's QR code opens: ``<base>/public/complaints/new?enterprise=<code>``
    (the code percent-encoded: management codes may hold '/' and '.')."""
    return base_url.rstrip("/") + COMPLAINT_PATH + quote(management_code, safe="")


# --- QR codes ---------------------------------------------------------------------------------

def qr_code(url: str):
    """The QR code of ``url`` (segno; error correction M, which survives a scuffed or dirty
    plate on a workshop wall: up to 15 % of the code may be lost)."""
    import segno

    return segno.make(url, error="m", micro=False)


def qr_svg(url: str) -> str:
    """The QR code as an inline ``<svg>`` sized by CSS (a viewBox, no width or height), with
    the quiet zone of four modules the standard asks for."""
    return qr_code(url).svg_inline(scale=1, border=4, omitsize=True, svgclass="qr",
                                   lineclass=None)


def qr_png(url: str, scale: int = 10) -> bytes:
    """The QR code as a PNG, ``scale`` pixels a module, with a four-module quiet zone."""
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


# --- who is named: the chain at a moment, for a set of enterprises ----------------------------

# The enterprises a query is about: ``scope(id, geom)``, one of these (each with its
# parameters). Enterprises are taken where they are now (enterprise_cell_current).
SCOPE_ONE = """
    scope AS (SELECT e.id, e.geom FROM enterprise e WHERE e.management_code = :code)"""
SCOPE_IDS = """
    scope AS (SELECT e.id, e.geom FROM enterprise e
              WHERE e.id = ANY(CAST(:ids AS bigint[])))"""
# A cell and every cell inside it (a level-3 cell, a station's grid, the city).
SCOPE_PLACE = """
    down(id) AS (
        SELECT CAST(:place AS bigint)
        UNION
        SELECT c.id FROM cell c JOIN down ON c.parent_id = down.id
    ),
    scope AS (SELECT e.id, e.geom FROM enterprise_cell_current ec
              JOIN enterprise e ON e.id = ec.enterprise_id
              WHERE ec.cell_id IN (SELECT id FROM down))"""
# What a reader may read (gis.policy.visible_cells; NULL: everything, enterprises outside
# every cell included).
SCOPE_VISIBLE = """
    scope AS (SELECT e.id, e.geom FROM enterprise e
              LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
              WHERE CAST(:cells AS bigint[]) IS NULL
                 OR ec.cell_id = ANY(CAST(:cells AS bigint[])))"""

# The township each enterprise lies in (it has no dated history: one answer for any moment).
TOWN = """
    town AS MATERIALIZED (
        SELECT s.id AS enterprise_id,
               (SELECT t.id FROM township t WHERE ST_Covers(t.geom, s.geom)
                ORDER BY t.code LIMIT 1) AS township_id
        FROM scope s
    )"""


def chain(name: str, at: str) -> str:
    """CTEs naming who answers for each enterprise of ``scope`` at the SQL moment ``at``: the
    CTE ``<name>`` has enterprise_id, cell_id, owner_id, owner_cell_id (where the ownership
    comes from: the cell or, lacking an owner, an ancestor), grid_id (the second-level grid
    above), station_id, chief_id, leader_ids (sorted), principal_id and grade. Owners and
    chiefs once per cell, township leaders (ids and a JSON list of code, name and phone) once
    per township."""
    return f"""
    {name}_in AS (
        SELECT s.id AS enterprise_id, ec.cell_id FROM scope s
        LEFT JOIN enterprise_cell ec ON ec.enterprise_id = s.id AND ec.valid @> {at}
    ),
    {name}_cell AS MATERIALIZED (
        SELECT d.cell_id, o.person_id AS owner_id, o.from_cell_id AS owner_cell_id,
               g.id AS grid_id, g.station_id,
               (SELECT r.person_id FROM responsibility r
                WHERE r.cell_id = g.id AND r.role = 'station_chief' AND r.valid @> {at}
                LIMIT 1) AS chief_id
        FROM (SELECT DISTINCT cell_id FROM {name}_in WHERE cell_id IS NOT NULL) d
        LEFT JOIN LATERAL gw_cell_owner(d.cell_id, {at}) o ON true
        LEFT JOIN LATERAL (
            SELECT a.id, a.station_id FROM cell a
            WHERE a.id = ANY(gw_cell_path(d.cell_id)) AND a.level = 2
            ORDER BY a.id LIMIT 1) g ON true
    ),
    {name}_leaders AS MATERIALIZED (
        SELECT r.township_id, array_agg(r.person_id ORDER BY r.person_id) AS ids,
               jsonb_agg(jsonb_build_object('code', p.code, 'name', p.name, 'phone', p.phone)
                         ORDER BY r.person_id) AS people
        FROM responsibility r JOIN person p ON p.id = r.person_id
        WHERE r.role = 'township_leader' AND r.valid @> {at}
        GROUP BY r.township_id
    ),
    {name} AS (
        SELECT i.enterprise_id, i.cell_id, c.owner_id, c.owner_cell_id, c.grid_id,
               c.station_id, c.chief_id, l.ids AS leader_ids, l.people AS leaders,
               -- By the enterprise's own index: the period index (responsibility_one_holder)
               -- is keyed on coalesce(...) and took 0.3 ms a probe.
               (SELECT r.person_id FROM responsibility r
                WHERE r.enterprise_id = i.enterprise_id AND r.role = 'principal'
                  AND r.valid_from <= {at} AND (r.valid_to IS NULL OR r.valid_to > {at})
                LIMIT 1) AS principal_id,
               (SELECT g.grade FROM enterprise_grade g
                WHERE g.enterprise_id = i.enterprise_id AND g.valid @> {at}
                LIMIT 1) AS grade
        FROM {name}_in i
        JOIN town t ON t.enterprise_id = i.enterprise_id
        LEFT JOIN {name}_cell c ON c.cell_id = i.cell_id
        LEFT JOIN {name}_leaders l ON l.township_id = t.township_id
    )"""


AT = "coalesce(CAST(:at AS timestamptz), now())"

# What a plate shows, for each enterprise of the scope, at :at (NULL: now).
PLATES_SQL = """
    WITH RECURSIVE {scope}, {town}, {chain}
    SELECT e.id, e.management_code, e.name, e.address, coalesce(m.grade, e.grade) AS grade,
           c.code AS cell_code, c.name AS cell_name, g.code AS grid_code, g.name AS grid_name,
           st.name AS station_name, st.phone AS station_phone,
           o.code AS owner_code, o.name AS owner_name, o.phone AS owner_phone,
           oc.code AS owner_cell_code,
           ch.code AS chief_code, ch.name AS chief_name, ch.phone AS chief_phone,
           tw.code AS township_code, tw.name AS township_name,
           coalesce(m.leaders, '[]') AS leaders,
           pr.name AS principal_name
    FROM m
    JOIN enterprise e ON e.id = m.enterprise_id
    JOIN town t ON t.enterprise_id = m.enterprise_id
    LEFT JOIN township tw ON tw.id = t.township_id
    LEFT JOIN cell c ON c.id = m.cell_id
    LEFT JOIN cell g ON g.id = m.grid_id
    LEFT JOIN station st ON st.id = m.station_id
    LEFT JOIN person o ON o.id = m.owner_id
    LEFT JOIN cell oc ON oc.id = m.owner_cell_id
    LEFT JOIN person ch ON ch.id = m.chief_id
    LEFT JOIN person pr ON pr.id = m.principal_id
    ORDER BY c.code NULLS LAST, e.management_code"""


def _plates(session: Session, scope: str, params: dict, at: dt.datetime | None) -> list[dict]:
    dates.require_aware(at, "at")
    sql = PLATES_SQL.format(scope=scope, town=TOWN, chain=chain("m", AT))
    rows = [dict(r._mapping) for r in session.execute(text(sql), {**params, "at": at})]
    for r in rows:
        r["inherited"] = r["owner_cell_code"] not in (None, r["cell_code"])
        r["hotline"] = HOTLINE
    return rows


def plate(session: Session, management_code: str, at: dt.datetime | None = None
          ) -> dict | None:
    """What the enterprise's plate shows at ``at`` (default now); None: no such enterprise.
    Keys: management_code, name, address, grade; cell_code/name, grid_code/name,
    station_name/phone; owner_code/name/phone (``inherited`` when the cell has no owner of
    its own and it falls to ``owner_cell_code``); chief_code/name/phone; township_code/name
    and ``leaders`` [{code, name, phone}]; principal_name; hotline."""
    rows = _plates(session, SCOPE_ONE, {"code": management_code}, at)
    return rows[0] if rows else None


def plates_in(session: Session, cell_id: int, at: dt.datetime | None = None) -> list[dict]:
    """The plates of every enterprise now in the cell or any cell inside it (a level-3 cell,
    a station's second-level grid), by cell code, then management code."""
    return _plates(session, SCOPE_PLACE, {"place": cell_id}, at)


def plates_of(session: Session, enterprise_ids: list[int],
              at: dt.datetime | None = None) -> list[dict]:
    """The plates of these enterprises (the reprint list's), in the same order."""
    return _plates(session, SCOPE_IDS, {"ids": list(enterprise_ids)}, at)


def count_in(session: Session, cell_id: int) -> int:
    """How many enterprises are now in the cell or inside it (one plate each)."""
    return session.execute(text(f"""
        WITH RECURSIVE {SCOPE_PLACE} SELECT count(*) FROM scope"""),
        {"place": cell_id}).scalar()


# --- plates to reprint -------------------------------------------------------------------------

REASONS = ("new", "owner", "station_chief", "township_leader", "principal", "grade", "contact")

# Each enterprise of the scope whose plate differs between the moment just before :since and
# now: who is named (owner, chief, township leaders, principal), the grade, or — the same
# people named — one of them whose name or phone was edited since (a person's fields have no
# history: ``updated_at`` later than ``created_at`` says that something was edited, so the
# plate is listed to be checked).
CHANGED_SQL = """
    WITH RECURSIVE {scope}, {town}, {before}, {now},
    edited AS MATERIALIZED (
        SELECT coalesce(array_agg(p.id), '{{}}') AS ids FROM person p
        WHERE p.updated_at >= :since AND p.updated_at > p.created_at
    )
    SELECT e.id, e.management_code, e.name, e.address, e.valid_from > :since AS new,
           c.code AS cell_code, c.name AS cell_name,
           b.owner_id IS DISTINCT FROM n.owner_id AS owner,
           b.chief_id IS DISTINCT FROM n.chief_id AS station_chief,
           b.leader_ids IS DISTINCT FROM n.leader_ids AS township_leader,
           b.principal_id IS DISTINCT FROM n.principal_id AS principal,
           b.grade IS DISTINCT FROM n.grade AS grade,
           {named} && (SELECT ids FROM edited) AS contact,
           bo.name AS owner_before, nw.name AS owner_now, nw.phone AS owner_phone,
           bc.name AS chief_before, nc.name AS chief_now, b.grade AS grade_before,
           n.grade AS grade_now
    FROM n JOIN b ON b.enterprise_id = n.enterprise_id
    JOIN enterprise e ON e.id = n.enterprise_id
    LEFT JOIN cell c ON c.id = n.cell_id
    LEFT JOIN person bo ON bo.id = b.owner_id
    LEFT JOIN person nw ON nw.id = n.owner_id
    LEFT JOIN person bc ON bc.id = b.chief_id
    LEFT JOIN person nc ON nc.id = n.chief_id
    WHERE e.valid_from > :since
       OR b.owner_id IS DISTINCT FROM n.owner_id
       OR b.chief_id IS DISTINCT FROM n.chief_id
       OR b.leader_ids IS DISTINCT FROM n.leader_ids
       OR b.principal_id IS DISTINCT FROM n.principal_id
       OR b.grade IS DISTINCT FROM n.grade
       OR {named} && (SELECT ids FROM edited)
    ORDER BY c.code NULLS LAST, e.management_code"""

# Everyone the plate names now, as an array (compared with the people edited since).
NAMED = ("(ARRAY[n.owner_id, n.chief_id, n.principal_id] "
         "|| coalesce(n.leader_ids, CAST('{}' AS bigint[])))")
# Just before :since, so a change taking effect at that very moment (a handover "from 1 March"
# begins at midnight) counts as one.
BEFORE = "(CAST(:since AS timestamptz) - interval '1 microsecond')"


def plates_changed(session: Session, since: dt.datetime, *, place: int | None = None,
                   cells: list[int] | None = None) -> list[dict]:
    """The plates to reprint: enterprises now in ``place`` (a cell id and everything inside
    it) or, without it, in ``cells`` (gis.policy.visible_cells; None: all), whose plate
    differs from the one it had just before ``since`` — by cell code, then management code.
    Each row has ``reasons`` (of ``REASONS``; "new" alone for an enterprise supervised since
    then) and the owner and chief before and now. One statement: PostgreSQL compares the two
    moments for a whole city at once."""
    dates.require_aware(since, "since")
    scope, params = (SCOPE_PLACE, {"place": place}) if place is not None \
        else (SCOPE_VISIBLE, {"cells": cells})
    sql = CHANGED_SQL.format(scope=scope, town=TOWN, before=chain("b", BEFORE),
                             now=chain("n", "now()"), named=NAMED)
    rows = []
    for r in session.execute(text(sql), {**params, "since": since}):
        row = dict(r._mapping)
        flags = {k: row.pop(k) for k in REASONS}
        row["reasons"] = ["new"] if flags["new"] else [k for k in REASONS if flags[k]]
        rows.append(row)
    return rows


# --- PDF ---------------------------------------------------------------------------------------

def render_pdf(html: str) -> bytes:
    """A self-contained HTML document (styles inline, no outside resources) as PDF bytes, by
    WeasyPrint: the page size comes from its ``@page`` rule, text stays text (the fonts'
    subsets are embedded)."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Plates carry everything inline (styles, the QR as SVG): nothing is fetched, so no text
    # on a plate can make the server read a file or call another host.
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf()
