"""Whose cell is this spot, and who answers for it — now or on any past date.

Coordinates are lon/lat; ``crs`` "wgs84" (EPSG:4326) or "gcj02" (Chinese map apps, converted
here before the lookup). The answer is built by ``gw_lookup`` / ``gw_answer`` in PostgreSQL
(gis/sql/lookup.sql) in one round trip.
"""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import crs
from gis.crs import check_lonlat, gcj02_to_wgs84, parse_coordinate
from gis.dates import as_of
from gis.errors import GridWatchError
from gis.validation import ValidationError

CRS_CHOICES = ("wgs84", "gcj02")
# check_lonlat's reasons -> (validation code the web layer translates, parameter to blame)
REASON_CODES = {
    crs.REASON_SWAPPED: ("swapped", "lon"),
    crs.REASON_ZERO: ("null_island", "lon"),
    crs.REASON_OUTSIDE_CHINA: ("outside_china", "lon"),
    crs.REASON_LON_RANGE: ("out_of_range", "lon"),
    crs.REASON_LAT_RANGE: ("out_of_range", "lat"),
}


class OutsideEveryCell(GridWatchError):
    def __init__(self, nearest: dict | None):
        self.nearest = nearest
        where = (f"; the nearest is {nearest['code']} ({nearest['name']}), "
                 f"{nearest['distance_m']:,.0f} m away" if nearest else "")
        super().__init__(f"the point is outside every cell{where}")


def parse_at(value: str | None, zone: str) -> dt.datetime | None:
    """An "as of" date or date-time (``at``), by gis.dates' rules: a bare date means the end of
    that day in the bureau's zone ("who was responsible on 1 March" is answered as things stood
    when that day closed, so a change made that day counts); no zone means the bureau's."""
    return as_of(value, zone, "at")


def parse_point(lon: str | None, lat: str | None, crs_name: str | None
                ) -> tuple[float, float, str, tuple[float, float]]:
    """Validate a user's coordinates; returns WGS84 (lon, lat), the CRS name and the point as
    typed (parsed, before any conversion), which the answer echoes."""
    crs_name = (crs_name or "wgs84").lower()
    if crs_name not in CRS_CHOICES:
        raise ValidationError("crs", "one of wgs84, gcj02", "choices", choices="wgs84, gcj02")
    parsed = []
    for name, value in (("lon", lon), ("lat", lat)):
        if value is None or str(value).strip() == "":
            raise ValidationError(name, "required", "required")
        try:
            parsed.append(parse_coordinate(value))
        except ValueError:
            raise ValidationError(name, "expected a number", "expected_float") from None
    lon, lat = parsed
    reason = check_lonlat(lon, lat)
    if reason:
        code, field = REASON_CODES.get(reason, ("invalid", "lon"))
        raise ValidationError(field, f"({lon}, {lat}): {reason}", code)
    x, y = lon, lat
    if crs_name == "gcj02":
        x, y = gcj02_to_wgs84(x, y)
    return float(x), float(y), crs_name, (lon, lat)


LOOKUP_SQL = """
    SELECT gw_lookup(%(lon)s, %(lat)s, coalesce(CAST(%(at)s AS timestamptz), now()))::text"""
# gw_lookup writes json text with these first (gis/sql/lookup.sql), so the answer is told
# apart without parsing it: reading a key of 4 kB of json in SQL parses all of it.
OUTSIDE_PREFIX = '{"outside" :'
EDGE_PREFIX = '{"on_edge" : true'

EDGE_RULE = "a point on a shared edge belongs to the cell with the lowest code"


def lookup(conn, lon: float, lat: float, at: dt.datetime | None = None,
           extra: dict | None = None) -> str:
    """The cell, people and surroundings of a WGS84 point at ``at`` (default now), as the JSON
    text PostgreSQL wrote, with ``extra``'s keys and ``edge_rule`` added.

    ``conn`` is a DBAPI connection (gis.db.read_connection): this is the inspectors' hot path,
    so the document goes from the database to the client without being parsed and rebuilt
    (merging in SQL, jsonb ``||``, cost more than the rest of the statement's overhead).
    Raises OutsideEveryCell, which carries the nearest cell.
    """
    with conn.cursor() as cur:
        cur.execute(LOOKUP_SQL, {"lon": lon, "lat": lat, "at": at})
        document = cur.fetchone()[0]
    if document.startswith(OUTSIDE_PREFIX):
        raise OutsideEveryCell(json.loads(document).get("nearest_cell"))
    on_edge = document.startswith(EDGE_PREFIX)
    added = dict(extra or {}, edge_rule=EDGE_RULE if on_edge else None)
    # The document is a JSON object: its members, then the added ones.
    return document[:-1] + ", " + json.dumps(added, ensure_ascii=False)[1:]


def places_extent(session: Session, codes: list[str]
                  ) -> tuple[float, float, float, float] | None:
    """(minx, miny, maxx, maxy), lon/lat EPSG:4326, of the current boundaries of the cells
    named ``codes``; None for none (the caller shows the city)."""
    if not codes:
        return None
    row = session.execute(text("""
        SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b)
        FROM (SELECT ST_Extent(geom) AS b FROM cell_current WHERE code = ANY(:codes)) x"""),
        {"codes": list(codes)}).one()
    return None if row[0] is None else tuple(row)


def enterprise_responsible(session: Session, management_code: str,
                           at: dt.datetime | None = None,
                           cells: list[int] | None = None) -> dict | None:
    """The same chain for an enterprise, through the cell it was assigned to at ``at``, plus
    the enterprise's own responsible person and its contacts. None when the enterprise does
    not exist or is not now in ``cells`` (gis.policy.visible_cells; None: all): the same
    answer, so codes outside one's area cannot be probed. Visibility follows the enterprise's
    current cell, as the lists do, whatever ``at`` asks about."""
    row = session.execute(text("""
        SELECT e.id, e.management_code, e.name, e.grade, e.credit_code, e.address,
               e.contact_name, e.contact_phone, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat,
               ec.cell_id, ec.on_edge, ec.valid @> coalesce(CAST(:at AS timestamptz), now())
                   AS assigned
        FROM enterprise e
        LEFT JOIN enterprise_cell ec ON ec.enterprise_id = e.id
             AND ec.valid @> coalesce(CAST(:at AS timestamptz), now())
        WHERE e.management_code = :code
          AND (CAST(:cells AS bigint[]) IS NULL OR EXISTS (
               SELECT 1 FROM enterprise_cell_current now_in WHERE now_in.enterprise_id = e.id
                  AND now_in.cell_id = ANY(CAST(:cells AS bigint[]))))"""),
        {"code": management_code, "at": at, "cells": cells}).one_or_none()
    if row is None:
        return None
    answer: dict = {}
    if row.cell_id is not None:
        answer = session.execute(text(
            "SELECT gw_cell_answer(:c, :lon, :lat, coalesce(CAST(:at AS timestamptz), now()))"),
            {"c": row.cell_id, "lon": row.lon, "lat": row.lat, "at": at}).scalar()
        answer["on_edge"] = row.on_edge
    principal = session.execute(text("""
        SELECT gw_person_json(r.person_id, 'principal', 'enterprise') FROM responsibility r
        WHERE r.enterprise_id = :e AND r.role = 'principal'
          AND r.valid @> coalesce(CAST(:at AS timestamptz), now())"""),
        {"e": row.id, "at": at}).scalar()
    answer.setdefault("responsibilities", {})["enterprise"] = [principal] if principal else []
    answer["enterprise"] = {
        "management_code": row.management_code, "name": row.name, "grade": row.grade,
        "credit_code": row.credit_code, "address": row.address,
        "contact": {"name": row.contact_name, "phone": row.contact_phone},
        "lon": row.lon, "lat": row.lat, "assigned": row.cell_id is not None}
    return json.loads(json.dumps(answer, default=str))
