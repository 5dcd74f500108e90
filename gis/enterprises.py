"""Enterprises: import from CSV/XLSX (as Excel writes them), export, and the shared upsert.

Points are lon/lat, EPSG:4326 in the database. The column contract (English or Chinese header)
is in ``COLUMNS``; unknown columns are kept in ``extra``. One transaction per import: a bad row
and nothing is written, unless ``skip_invalid``. Re-importing the same file changes nothing.
Assignment to cells happens in the database's triggers as the rows land.

When an enterprise came under supervision (``valid_from``; 纳入监管日期, a ``supervised_from``
column, else the import's ``valid_from``, else now) is when its history starts: its grade
period and its cell. An enterprise brought in with a date in the past is assigned to the cell
that covered it then, and then follows every boundary change since (``_replay``): the
database's triggers assign at the moment a row lands, and a boundary change made before the
enterprise was known had nobody to move. A date stated for an enterprise already stored moves
its start there and rebuilds its cell history from the boundaries (the bureau's first week:
enterprises loaded first, their dates of supervision brought in afterwards).
"""
from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import dates, tables
from gis.codes import MANAGEMENT_CODE, MANAGEMENT_CODE_RULE
from gis.credit_code import validate_credit_codes
from gis.crs import check_lonlat_array, finite_floats, gcj02_to_wgs84, parse_crs
from gis.errors import ImportRefused, Problem
from gis.files import write_vector
from gis.cells import ImportSummary, Progress
from gis.limits import Limits
from gis.models import GRADES, SPECIALTIES
from gis.validation import ValidationError

# field -> accepted headers (the first is the canonical English one).
COLUMNS: dict[str, tuple[str, ...]] = {
    "management_code": ("management_code", "企业管理编码", "管理编码"),
    "name": ("name", "企业名称", "名称"),
    "credit_code": ("credit_code", "统一社会信用代码", "信用代码"),
    "address": ("address", "地址", "企业地址"),
    "industry": ("industry", "行业"),
    "specialty": ("specialty", "专业"),
    "grade": ("grade", "监管等级", "等级"),
    "contact_name": ("contact_name", "联系人"),
    "contact_phone": ("contact_phone", "联系电话"),
    "products": ("products", "产品", "主要产品"),
    "staff_count": ("staff_count", "职工人数", "从业人数"),
    "key_equipment": ("key_equipment", "关键设备", "主要设备"),
    "lon": ("lon", "经度", "longitude", "lng"),
    "lat": ("lat", "纬度", "latitude"),
    "supervised_from": ("supervised_from", "纳入监管日期", "纳入监管时间", "监管起始日期"),
}
REQUIRED = ("management_code", "name", "grade", "lon", "lat")
TEXT_FIELDS = ("name", "credit_code", "address", "industry", "specialty", "contact_name",
               "contact_phone", "products", "key_equipment")
# The database's column widths (gis/models.py Enterprise), and a bound on the free-text ones,
# so a long value is a row-naming refusal rather than a database error.
MAX_LENGTH = {"management_code": 40, "name": 200, "address": 300, "industry": 100,
              "contact_name": 100, "contact_phone": 40, "products": 2000, "key_equipment": 2000}
# Staging and the upsert are set-based: COPY this many rows at a time, then one INSERT.
CHUNK = 50_000


@dataclass
class EnterpriseRow:
    management_code: str
    values: dict
    lon: float
    lat: float
    extra: dict
    # When it came under supervision, as its row says (None: the import's date, else now).
    valid_from: dt.datetime | None = None


# A date-time without an offset is the bureau's local time (gis/dates.py); the app passes its
# zone, this is the default of the domain's callers.
DEFAULT_ZONE = "Asia/Shanghai"


def read_table(path: str | Path, limits: Limits | None = None) -> pd.DataFrame:
    """CSV (UTF-8 or GBK) or XLSX into strings, within ``limits`` (gis/tables.py)."""
    return tables.read_table(path, limits)


def _map_columns(columns: list[str], source: str) -> tuple[dict[str, str], list[str]]:
    lookup = {alias.lower(): field for field, aliases in COLUMNS.items() for alias in aliases}
    mapping: dict[str, str] = {}
    extra: list[str] = []
    for col in columns:
        field = lookup.get(col.lower())
        if field is None:
            extra.append(col)
        elif field in mapping.values():
            raise ImportRefused(source, [Problem("header", f"two columns mean {field!r}")])
        else:
            mapping[col] = field
    missing = [f for f in REQUIRED if f not in mapping.values()]
    if missing:
        names = ", ".join(f"{f}/{COLUMNS[f][1]}" for f in missing)
        raise ImportRefused(source, [Problem("header", f"missing column(s): {names}")])
    return mapping, extra


def _grade(value: str) -> str | None:
    value = value.strip().upper().removesuffix("级")
    return value if value in GRADES else None


_MANAGEMENT_CODE = re.compile(MANAGEMENT_CODE)


def _texts(column: pd.Series) -> np.ndarray:
    """A column's cells as the rows see them: ``str(value).strip()`` (read_table's cells are
    strings already; a frame built otherwise may hold numbers or NaN, read as their text)."""
    values = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) != "string":
        values = [str(v) for v in column.tolist()]
    return np.fromiter(map(str.strip, values), dtype=object, count=len(values))


def _lengths(texts: np.ndarray) -> np.ndarray:
    return np.fromiter(map(len, texts), dtype=np.int64, count=texts.size)


class EnterpriseRows(Sequence):
    """Rows that passed ``parse_rows``, held as one frame (a column per field: STAGE_COLUMNS
    but source_crs, ``extra`` as dicts, ``valid_from`` None where the row states none) so
    staging them is column work, not a loop over objects. Indexing gives EnterpriseRow, for
    callers that want rows one at a time."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return EnterpriseRows(self.frame.iloc[index])
        rec = self.frame.iloc[index]
        values = {f: _none(rec[f]) for f in VALUE_FIELDS}
        return EnterpriseRow(rec["management_code"], values, float(rec["lon"]),
                             float(rec["lat"]), dict(rec["extra"]), _none(rec["valid_from"]))


# EnterpriseRow.values' keys, in the order the stage table wants them.
VALUE_FIELDS = ("name", "credit_code", "address", "industry", "specialty", "grade",
                "contact_name", "contact_phone", "products", "staff_count", "key_equipment")


def _none(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _object_frame(columns: dict) -> pd.DataFrame:
    """The rows' frame, in the order of ``_FRAME``; every column but lon/lat of objects as
    given, never inferred (staff_count stays int/None, not float; dates stay datetimes)."""
    return pd.DataFrame({k: pd.Series(columns[k], dtype=np.float64 if k in ("lon", "lat")
                                      else object, copy=False) for k in _FRAME})


_FRAME = ("management_code", *VALUE_FIELDS, "lon", "lat", "extra", "valid_from")


def rows_frame(rows: Sequence[EnterpriseRow] | EnterpriseRows | pd.DataFrame) -> pd.DataFrame:
    """The frame of ``rows``: EnterpriseRows' own, or one built from EnterpriseRow objects
    (the demo, the tests' factories and benches make a few)."""
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, EnterpriseRows):
        return rows.frame
    rows = list(rows)
    columns = {"management_code": [r.management_code for r in rows]}
    for f in VALUE_FIELDS:
        columns[f] = [r.values.get(f) for r in rows]
    columns["lon"] = [float(r.lon) for r in rows]
    columns["lat"] = [float(r.lat) for r in rows]
    columns["extra"] = [r.extra for r in rows]
    columns["valid_from"] = [r.valid_from for r in rows]
    return _object_frame(columns)


_EMPTY = object()  # an extra cell left out of its row's ``extra``


def _extras(frame: pd.DataFrame, extra_cols: list[str], keep: np.ndarray) -> list[dict]:
    """Each kept row's ``extra``: its columns outside the contract, the empty cells left
    out. Rows with the same cells share one dict (files repeat a handful of values), built
    once; cells that are not all strings (a frame not from read_table) get a dict each."""
    if not extra_cols:
        return [{}] * keep.size
    cells = [frame[c].to_numpy(dtype=object)[keep] for c in extra_cols]
    filled = [_lengths(_texts(frame[c])[keep]) > 0 for c in extra_cols]
    if not all(set(map(type, col)) <= {str} for col in cells):
        return [{c: cells[j][r] for j, c in enumerate(extra_cols) if filled[j][r]}
                for r in range(keep.size)]
    keyed = [np.where(f, col, _EMPTY) for f, col in zip(filled, cells)]
    shared: dict[tuple, dict] = {}
    extras = []
    for key in zip(*keyed):
        extra = shared.get(key)
        if extra is None:
            extra = shared[key] = {c: v for c, v in zip(extra_cols, key) if v is not _EMPTY}
        extras.append(extra)
    return extras


def parse_rows(frame: pd.DataFrame, source: str, crs: str | None = None,
               zone: str = DEFAULT_ZONE) -> tuple[EnterpriseRows, list[Problem]]:
    """Validate every row; row numbers are the spreadsheet's (the header is row 1). A
    ``supervised_from`` of a bare date is the start of that day in ``zone``.

    Each check runs over a whole column at once (a 100,000-row file is checked in a fraction
    of a second, where a loop over rows took seconds); only the values a check refuses, and
    those that need parsing one by one (credit codes, dates, coordinates that are not plain
    numbers), are looked at singly. Problems come row by row, each row's in the order of the
    checks below."""
    spec = parse_crs(crs) if crs else None
    mapping, extra_cols = _map_columns(list(frame.columns), source)
    n = len(frame)
    # Frames from read_table carry each row's line (CSV) or sheet row (XLSX) number.
    numbers = (frame.index.tolist() if frame.index.name == tables.ROW_INDEX
               else list(range(2, n + 2)))
    # Only the columns the file has are read; an absent one is empty in every row.
    get = {f: _texts(frame[col]) for col, f in mapping.items()}
    nothing = np.full(n, "", dtype=object)
    no = np.zeros(n, dtype=bool)
    errors: list[tuple[np.ndarray, list[str]]] = []  # per check: row positions, messages

    def refuse(mask: np.ndarray, message) -> None:
        at = np.flatnonzero(mask)
        if at.size:
            errors.append((at, [message(i) for i in at]))

    def stated(f: str) -> np.ndarray:
        """Positions of the rows where ``f`` is not empty."""
        return np.flatnonzero(_lengths(get[f]) > 0) if f in get else np.zeros(0, np.int64)

    for f, limit in MAX_LENGTH.items():
        if f in get and len(max(get[f], key=len, default="")) > limit:
            lengths = _lengths(get[f])
            refuse(lengths > limit, lambda i, f=f, limit=limit, lengths=lengths:
                   f"{f} is {lengths[i]} characters long; at most {limit}")
    code = get["management_code"]
    code_len = _lengths(code)
    refuse(code_len == 0, lambda i: "empty management_code")
    short = np.flatnonzero((code_len > 0) & (code_len <= 40))
    bad_code = no.copy()
    bad_code[short] = [_MANAGEMENT_CODE.fullmatch(c) is None for c in code[short]]
    refuse(bad_code, lambda i: f"management_code {code[i]!r} is not {MANAGEMENT_CODE_RULE}")
    code_checks = len(errors)  # the repeat check's place, once the others are known
    refuse(_lengths(get["name"]) == 0, lambda i: "empty name")
    grade_text = get["grade"]
    lookup = {g: _grade(g) for g in set(grade_text)}
    grade = np.fromiter(map(lookup.__getitem__, grade_text), dtype=object, count=n)
    refuse(grade == None, lambda i: f"grade {grade_text[i]!r} is not A, B, C or D")  # noqa: E711
    credit = get.get("credit_code", nothing)
    at = stated("credit_code")
    credit[at] = [c.upper() for c in credit[at]]
    reasons = np.full(n, None, dtype=object)
    reasons[at] = validate_credit_codes(credit[at])
    refuse(reasons != None, lambda i: f"credit_code {credit[i]}: {reasons[i]}")  # noqa: E711
    specialty = get.get("specialty", nothing)
    at = stated("specialty")
    odd = no.copy()
    odd[at] = [s not in SPECIALTIES for s in specialty[at]]
    refuse(odd, lambda i: f"specialty {specialty[i]!r} is not one of {', '.join(SPECIALTIES)}")
    staff = get.get("staff_count", nothing)
    at = stated("staff_count")
    odd = no.copy()
    # isdecimal, not isdigit: '²' is a digit that int() refuses.
    odd[at] = [not s.isdecimal() for s in staff[at]]
    refuse(odd, lambda i: f"staff_count {staff[i]!r} is not a whole number")
    lon_s, lat_s = get["lon"], get["lat"]
    lon, lat = finite_floats(lon_s), finite_floats(lat_s)
    why = check_lonlat_array(lon, lat)
    refuse(why != None, lambda i: f"lon/lat ({lon_s[i]}, {lat_s[i]}): {why[i]}")  # noqa: E711
    written = get.get("supervised_from", nothing)
    since = np.full(n, None, dtype=object)
    at = stated("supervised_from")
    if at.size:
        parsed: dict[str, object] = {}
        for w in set(written[at]):
            try:
                parsed[w] = dates.parse_written_datetime(w, zone, "supervised_from")
            except ValidationError as exc:
                parsed[w] = exc
        since[at] = [parsed[w] for w in written[at]]
        odd = no.copy()
        odd[at] = [isinstance(s, ValidationError) for s in since[at]]
        refuse(odd, lambda i: f"supervised_from {written[i][:40]!r}: {since[i].message}")

    clean = np.ones(n, dtype=bool)
    for at, _ in errors:
        clean[at] = False
    # A code repeats the first row with that code that was otherwise clean (a refused row is
    # not remembered); the later rows are refused. Only codes met twice can repeat.
    reached = np.flatnonzero((code_len > 40) | ((code_len > 0) & ~bad_code))
    if len(set(code[reached])) < reached.size:
        twice = reached[pd.Series(code[reached], dtype=object).duplicated(keep=False)
                        .to_numpy()]
        seen: dict[str, int] = {}
        repeats, messages = [], []
        for i in twice.tolist():
            if code[i] in seen:
                repeats.append(i)
                messages.append(f"management_code {code[i]} repeats row {seen[code[i]]}")
            elif clean[i]:
                seen[code[i]] = numbers[i]
        if repeats:
            errors.insert(code_checks, (np.array(repeats), messages))
            clean[repeats] = False

    problems: list[Problem] = []
    if errors:
        rows_at = np.concatenate([at for at, _ in errors])
        check = np.concatenate([np.full(at.size, k) for k, (at, _) in enumerate(errors)])
        messages = [m for _, ms in errors for m in ms]
        for k in np.lexsort((check, rows_at)):
            i = rows_at[k]
            where = f"row {numbers[i]}" + (f" ({code[i][:40]})" if code[i] else "")
            problems.append(Problem(where, messages[k]))

    keep = np.flatnonzero(clean)
    lon, lat = lon[keep], lat[keep]
    if spec is not None and spec.is_gcj02:
        lon, lat = gcj02_to_wgs84(lon, lat)
    none = np.full(keep.size, None, dtype=object)
    columns: dict = {"management_code": code[keep]}
    for f in VALUE_FIELDS:
        if f in TEXT_FIELDS:
            texts = ((credit if f == "credit_code" else get[f])[keep] if f in get
                     else none.copy())
            texts[texts == ""] = None
            columns[f] = texts
    columns["grade"] = grade[keep]
    columns["staff_count"] = ([int(s) if s else None for s in staff[keep]]
                              if "staff_count" in get else none.copy())
    columns["lon"], columns["lat"] = lon, lat
    columns["extra"] = _extras(frame, extra_cols, keep)
    columns["valid_from"] = since[keep]
    return EnterpriseRows(_object_frame(columns)), problems


STAGE_COLUMNS = ("management_code", "name", "credit_code", "address", "industry", "specialty",
                 "grade", "contact_name", "contact_phone", "products", "staff_count",
                 "key_equipment", "lon", "lat", "source_crs", "extra", "valid_from")


# csv.writer's QUOTE_MINIMAL: a field holding one of these is quoted, its quotes doubled.
_QUOTE = re.compile(r'[,"\r\n]')


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if _QUOTE.search(text) else text


def _csv_fields(values: list | str) -> list[str] | str:
    """A column's fields as csv.writer writes them: None empty, numbers as str, quoted where
    they hold a comma, a quote or a line break (looked for in the whole column at once). A
    column with one value in every row (a str) stays one value."""
    if isinstance(values, str):
        return _csv_field(values)
    if values.count(None) == len(values):
        return ""
    kinds = set(map(type, values))
    texts = values if kinds == {str} else ["" if v is None else str(v) for v in values]
    joined = "\x00".join(texts)
    if not any(c in joined for c in ',"\r\n'):
        return texts
    distinct = set(texts)
    if len(distinct) * 2 > len(texts):
        return list(map(_csv_field, texts))
    quoted = {t: _csv_field(t) for t in distinct}  # a column of few values, each once
    return list(map(quoted.__getitem__, texts))


def _copy_text(frame: pd.DataFrame, source_crs: str, valid_from: dt.datetime | None) -> str:
    """The CSV that COPY reads into stage_enterprise (STAGE_COLUMNS) as csv.writer wrote it
    row by row (empty fields are NULL; lon/lat as repr(float), which round-trips), built a
    column at a time."""
    n = len(frame)
    if not n:
        return ""
    columns: dict[str, list | str] = {
        f: frame[f].tolist() for f in ("management_code", *VALUE_FIELDS)}
    columns["lon"] = list(map(repr, frame["lon"].astype(float).tolist()))
    columns["lat"] = list(map(repr, frame["lat"].astype(float).tolist()))
    columns["source_crs"] = source_crs
    extra = frame["extra"].tolist()
    if not any(extra):
        columns["extra"] = "{}"
    else:
        # Rows share dicts (parse_rows' _extras): each is written once. The frame holds
        # them all while this runs, so their ids stay theirs.
        encoded: dict[int, str] = {}
        columns["extra"] = [
            encoded.get(id(e)) or encoded.setdefault(id(e), json.dumps(e, ensure_ascii=False))
            for e in extra]
    default = valid_from.isoformat() if valid_from else ""
    stated = frame["valid_from"].tolist()
    if stated.count(None) == n:
        columns["valid_from"] = default
    else:
        written: dict = {}
        columns["valid_from"] = [
            default if v is None else written.get(v) or written.setdefault(v, v.isoformat())
            for v in stated]

    # Neighbouring columns with one value in every row are joined into one field, so each
    # row joins fewer pieces. repr(float) needs no quotes.
    fields: list = []
    for c in STAGE_COLUMNS:
        field = columns[c] if c in ("lon", "lat") else _csv_fields(columns[c])
        if isinstance(field, str) and fields and isinstance(fields[-1], str):
            fields[-1] += "," + field
        else:
            fields.append(field)
    if all(isinstance(f, str) for f in fields):
        return (",".join(fields) + "\r\n") * n
    pieces = [itertools.repeat(f) if isinstance(f, str) else f for f in fields]
    return "\r\n".join(map(",".join, zip(*pieces))) + "\r\n"


def _copy_rows(session: Session, rows, source_crs: str,
               valid_from: dt.datetime | None) -> None:
    buf = io.StringIO(_copy_text(rows_frame(rows), source_crs, valid_from))
    cursor = session.connection().connection.cursor()
    cursor.copy_expert(
        f"COPY stage_enterprise ({', '.join(STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buf)


def upsert_enterprises(
    session: Session,
    rows: Sequence[EnterpriseRow] | EnterpriseRows,
    *,
    source_crs: str = "EPSG:4326",
    valid_from: dt.datetime | None = None,
    summary: ImportSummary | None = None,
    progress: Progress | None = None,
    restate: bool = False,
) -> ImportSummary:
    """Stage rows with COPY, then one upsert statement (so the assignment trigger runs once).

    A row's ``valid_from`` wins over ``valid_from`` (the default: now). A new enterprise starts
    then; one already stored keeps its start unless ``restate`` (an import that states the
    dates: ``import_enterprises``), which moves it to the date given (``_restate``). Either
    way an enterprise that starts in the past follows the boundary changes since
    (``_replay``)."""
    summary = summary or ImportSummary()
    session.execute(text("""
        CREATE TEMP TABLE IF NOT EXISTS stage_enterprise (
            management_code text PRIMARY KEY, name text, credit_code text, address text,
            industry text, specialty text, grade text, contact_name text, contact_phone text,
            products text, staff_count integer, key_equipment text, lon float8, lat float8,
            source_crs text, extra jsonb, valid_from timestamptz
        ) ON COMMIT DROP"""))
    session.execute(text("TRUNCATE stage_enterprise"))
    frame = rows_frame(rows)
    for start in range(0, len(frame), CHUNK):
        _copy_rows(session, frame.iloc[start:start + CHUNK], source_crs, valid_from)
        if progress:
            progress(min(start + CHUNK, len(frame)), len(frame))
    result = session.execute(text("""
        INSERT INTO enterprise AS e (management_code, name, credit_code, address, industry,
            specialty, grade, contact_name, contact_phone, products, staff_count, key_equipment,
            geom, source_crs, extra, valid_from)
        SELECT management_code, name, credit_code, address, industry, specialty, grade,
               contact_name, contact_phone, products, staff_count, key_equipment,
               ST_SetSRID(ST_MakePoint(lon, lat), 4326), source_crs, extra,
               coalesce(valid_from, now())
        FROM stage_enterprise
        ON CONFLICT (management_code) DO UPDATE SET
            name = EXCLUDED.name, credit_code = EXCLUDED.credit_code, address = EXCLUDED.address,
            industry = EXCLUDED.industry, specialty = EXCLUDED.specialty, grade = EXCLUDED.grade,
            contact_name = EXCLUDED.contact_name, contact_phone = EXCLUDED.contact_phone,
            products = EXCLUDED.products, staff_count = EXCLUDED.staff_count,
            key_equipment = EXCLUDED.key_equipment, geom = EXCLUDED.geom,
            source_crs = EXCLUDED.source_crs, extra = EXCLUDED.extra, updated_at = now()
        WHERE (e.name, e.credit_code, e.address, e.industry, e.specialty, e.grade,
               e.contact_name, e.contact_phone, e.products, e.staff_count, e.key_equipment,
               e.source_crs, e.extra)
              IS DISTINCT FROM
              (EXCLUDED.name, EXCLUDED.credit_code, EXCLUDED.address, EXCLUDED.industry,
               EXCLUDED.specialty, EXCLUDED.grade, EXCLUDED.contact_name, EXCLUDED.contact_phone,
               EXCLUDED.products, EXCLUDED.staff_count, EXCLUDED.key_equipment,
               EXCLUDED.source_crs, EXCLUDED.extra)
           OR NOT ST_Equals(e.geom, EXCLUDED.geom)
        RETURNING e.id, (xmax = 0) AS inserted
    """)).all()
    _keep_grade_history(session, [r.id for r in result if not r.inserted])
    inserted = [r.id for r in result if r.inserted]
    moved = _restate(session) if restate else []
    updated = {r.id for r in result if not r.inserted} | set(moved)
    summary.inserted += len(inserted)
    summary.updated += len(updated)
    summary.unchanged += len(frame) - len(inserted) - len(updated)
    own = [v for v in frame["valid_from"] if v is not None]
    stated = own + ([valid_from] if valid_from and len(own) < len(frame) else [])
    if stated:
        earliest = min(stated)
        summary.dated_from = min(summary.dated_from or earliest, earliest)
    _replay(session, inserted + moved)
    return summary


def _restate(session: Session) -> list[int]:
    """The staged enterprises already stored whose row states another start (valid_from):
    their start moves there, their first grade period with it (periods that ended before the
    new start are dropped), and their cell history is rebuilt from that day (``_replay``
    follows). Returns their ids."""
    moved = session.execute(text("""
        UPDATE enterprise e SET valid_from = s.valid_from, updated_at = now()
        FROM stage_enterprise s
        WHERE s.management_code = e.management_code AND s.valid_from IS NOT NULL
          AND s.valid_from <> e.valid_from
        RETURNING e.id""")).scalars().all()
    if not moved:
        return []
    session.execute(text("""
        DELETE FROM enterprise_grade g USING enterprise e
        WHERE e.id = ANY(:ids) AND g.enterprise_id = e.id AND g.valid_to <= e.valid_from"""),
        {"ids": moved})
    session.execute(text("""
        UPDATE enterprise_grade g SET valid_from = e.valid_from FROM enterprise e
        WHERE e.id = ANY(:ids) AND g.enterprise_id = e.id
          AND g.valid_from = (SELECT min(x.valid_from) FROM enterprise_grade x
                              WHERE x.enterprise_id = e.id)"""), {"ids": moved})
    # Rebuilt below from the boundaries: start at the new date, then each change since.
    session.execute(text("DELETE FROM enterprise_cell WHERE enterprise_id = ANY(:ids)"),
                    {"ids": moved})
    for start in session.execute(text("""
            SELECT DISTINCT valid_from FROM enterprise WHERE id = ANY(:ids)"""),
            {"ids": moved}).scalars():
        session.execute(text("""
            SELECT gw_assign(:t, ARRAY(SELECT id FROM enterprise
                                       WHERE id = ANY(:ids) AND valid_from = :t))"""),
            {"t": start, "ids": moved})
    return moved


def _replay(session: Session, ids: list[int]) -> None:
    """Assign the enterprises ``ids`` again at every moment a territorial boundary changed
    after their start, in order (gw_assign: a moment whose answer is unchanged writes
    nothing). The triggers assign an enterprise when its row lands, at its start; a boundary
    change between that start and now happened before the enterprise was known and moved
    nobody: without this, an enterprise brought in with a past date stayed in the cell of its
    first day."""
    if not ids or not session.execute(text("""
            SELECT EXISTS (SELECT 1 FROM cell_version
                           WHERE coalesce(valid_to, valid_from) > (
                               SELECT min(e.valid_from) FROM enterprise e
                               JOIN stage_enterprise s ON s.management_code = e.management_code))
            """)).scalar():
        return  # nothing changed after the earliest start (a big import dated now: cheap)
    for moment in session.execute(text("""
            WITH mine AS (SELECT id, geom, valid_from FROM enterprise WHERE id = ANY(:ids))
            SELECT DISTINCT m.t FROM cell_version cv
            JOIN cell c ON c.id = cv.cell_id AND c.kind = 'territorial'
            CROSS JOIN LATERAL (VALUES (cv.valid_from), (cv.valid_to)) AS m(t)
            WHERE m.t IS NOT NULL AND m.t > (SELECT min(valid_from) FROM mine)
              AND EXISTS (SELECT 1 FROM mine e WHERE e.geom && cv.geom AND e.valid_from < m.t)
            ORDER BY m.t"""), {"ids": ids}).scalars():
        session.execute(text("""
            SELECT gw_assign(:t, ARRAY(SELECT id FROM enterprise
                                       WHERE id = ANY(:ids) AND valid_from < :t))"""),
            {"t": moment, "ids": ids})


def _keep_grade_history(session: Session, updated: list[int]) -> None:
    """The staged enterprises' grade history (enterprise_grade) follows their grade: a new
    enterprise's starts when it came under supervision; a changed grade (only ``updated``, the
    stored enterprises the upsert changed, can have one) closes the old period now and opens
    the new one. A period not yet begun (an enterprise scheduled to come under supervision
    later) is corrected in place: it has no past to keep."""
    if updated:
        changed = ("FROM enterprise e WHERE e.id = ANY(:ids) AND g.enterprise_id = e.id"
                   " AND g.valid_to IS NULL AND g.grade <> e.grade")
        session.execute(text(f"UPDATE enterprise_grade g SET grade = e.grade {changed}"
                             " AND g.valid_from >= now()"), {"ids": updated})
        session.execute(text(f"UPDATE enterprise_grade g SET valid_to = now() {changed}"
                             " AND g.valid_from < now()"), {"ids": updated})
    session.execute(text("""
        INSERT INTO enterprise_grade (enterprise_id, grade, valid_from)
        SELECT e.id, e.grade,
               CASE WHEN EXISTS (SELECT 1 FROM enterprise_grade g WHERE g.enterprise_id = e.id)
                    THEN now() ELSE e.valid_from END
        FROM enterprise e JOIN stage_enterprise s ON s.management_code = e.management_code
        WHERE NOT EXISTS (SELECT 1 FROM enterprise_grade g
                          WHERE g.enterprise_id = e.id AND g.valid_to IS NULL)"""))


def import_enterprises(
    session: Session,
    path: str | Path,
    *,
    crs: str | None = None,
    skip_invalid: bool = False,
    valid_from: dt.datetime | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
    zone: str = DEFAULT_ZONE,
) -> ImportSummary:
    """``flask enterprises import``: validate all rows, then upsert in the caller's transaction.
    The file is read within ``limits`` (rows, columns, line length, XLSX cells). Each
    enterprise is under supervision from its row's ``supervised_from`` (纳入监管日期), else
    ``valid_from``, else now; a date stated for a stored enterprise moves its start there.
    ``summary.dated_from``: the earliest date stated (the caller flags a past one)."""
    dates.require_aware(valid_from)
    frame = read_table(path, limits)
    rows, problems = parse_rows(frame, str(path), crs, zone)
    if problems and not skip_invalid:
        raise ImportRefused(str(path), problems)
    spec = parse_crs(crs) if crs else None
    summary = ImportSummary(refused=len({p.where for p in problems}), problems=problems)
    return upsert_enterprises(session, rows, source_crs=str(spec) if spec else "EPSG:4326",
                              valid_from=valid_from, summary=summary, progress=progress,
                              restate=True)


ENTERPRISES_SQL = """
    SELECT e.management_code, e.name, e.credit_code, e.address, e.industry, e.specialty,
           e.grade, e.contact_name, e.contact_phone, c.code AS cell_code,
           coalesce(ec.on_edge, false) AS on_edge, e.geom
    FROM enterprise e
    LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
    LEFT JOIN cell c ON c.id = ec.cell_id
    ORDER BY e.management_code
"""


SEARCH_SQL = """
    WITH hit AS (
        SELECT e.id, e.management_code, e.name, e.grade, e.address, ec.cell_id,
               ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat,
               (CAST(:cells AS bigint[]) IS NULL
                OR ec.cell_id = ANY(CAST(:cells AS bigint[]))) AS visible
        FROM enterprise e
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE e.name ILIKE :p OR e.management_code ILIKE :p OR e.credit_code ILIKE :p
           OR e.address ILIKE :p
    )
    SELECT h.management_code, h.name, h.grade, h.address, c.code AS cell_code,
           c.name AS cell_name, h.lon, h.lat
    FROM hit h LEFT JOIN cell c ON c.id = h.cell_id
    WHERE h.visible
    -- A typed code first, then names that begin with the words typed.
    ORDER BY upper(h.management_code) = upper(:q) DESC, h.name ILIKE :start DESC,
             h.management_code
    LIMIT :lim"""

# The matches the user may not see, counted by the station answering for them, with the
# people to ask (their names and phones are on the responsibility plates, public by design):
# never a name, code or anything else of the enterprises themselves.
OUTSIDE_SQL = """
    WITH hit AS (
        SELECT ec.cell_id FROM enterprise e
        LEFT JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE (e.name ILIKE :p OR e.management_code ILIKE :p OR e.credit_code ILIKE :p
               OR e.address ILIKE :p)
          AND CAST(:cells AS bigint[]) IS NOT NULL
          AND (ec.cell_id IS NULL OR NOT ec.cell_id = ANY(CAST(:cells AS bigint[])))
    ), place AS (
        SELECT h.cell_id, coalesce(c.station_id, g.station_id) AS station_id FROM hit h
        LEFT JOIN cell c ON c.id = h.cell_id LEFT JOIN cell g ON g.id = c.parent_id
    )
    SELECT count(*) AS n, s.name AS station, s.phone AS station_phone,
           chief.name AS chief, chief.phone AS chief_phone
    FROM place LEFT JOIN station s ON s.id = place.station_id
    LEFT JOIN LATERAL (
        SELECT p.name, p.phone FROM responsibility r
        JOIN cell sc ON sc.id = r.cell_id AND sc.station_id = s.id AND sc.level = 2
        JOIN person p ON p.id = r.person_id
        WHERE r.role = 'station_chief' AND r.valid @> now()
        ORDER BY r.id LIMIT 1
    ) chief ON true
    GROUP BY s.id, s.name, s.phone, chief.name, chief.phone
    ORDER BY n DESC, s.name"""


def _like(value: str) -> str:
    """``value`` for LIKE, its wildcards matching literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, query: str, limit: int = 20,
           cells: list[int] | None = None) -> dict:
    """Enterprises whose name, management code, credit code or address contains ``query``.

    ``enterprises``: up to ``limit`` of those the user may see (``cells``:
    gis.policy.visible_cells; None: all), filtered in SQL before the limit, so an inspector
    gets a full page of their own. ``outside``: how many more match outside the user's area,
    by station, with whom to ask there (a station of None: outside every station's grid, the
    city bureau's to answer) — counts only, nothing of the enterprises. The query is a bound
    parameter."""
    query = query.strip()
    params = {"p": f"%{_like(query)}%", "start": f"{_like(query)}%", "q": query,
              "lim": limit, "cells": cells}
    found = [dict(r._mapping) for r in session.execute(text(SEARCH_SQL), params)]
    outside = [dict(r._mapping) for r in session.execute(text(OUTSIDE_SQL), params)]
    return {"enterprises": found, "outside": {"count": sum(o["n"] for o in outside),
                                              "by_station": outside}}


def enterprises_frame(session: Session) -> gpd.GeoDataFrame:
    return gpd.read_postgis(text(ENTERPRISES_SQL), session.connection(), geom_col="geom",
                            crs=4326)


def export_enterprises(session: Session, path: str | Path) -> int:
    frame = enterprises_frame(session)
    # The key is always present: null cell_code means "outside every cell".
    frame["cell_code"] = frame["cell_code"].astype(object).where(frame["cell_code"].notna(), None)
    write_vector(frame, path)
    return len(frame)


def outside_cells(session: Session) -> list[dict]:
    """Enterprises that no territorial cell covers now (listed, never dropped)."""
    return [dict(r._mapping) for r in session.execute(text("""
        SELECT e.management_code, e.name, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
        FROM enterprise e JOIN enterprise_cell_current ec ON ec.enterprise_id = e.id
        WHERE ec.cell_id IS NULL
        ORDER BY e.management_code"""))]


__all__ = ["import_enterprises", "export_enterprises", "outside_cells", "read_table",
           "parse_rows", "upsert_enterprises", "COLUMNS"]
