"""Reading uploaded tables (CSV as Excel saves it, XLSX) within bounds, before they are read whole.

The bounds (``gis.limits.Limits``) are checked while reading, so a hostile file is refused
before memory grows: an XLSX's archive sizes and declared sheet dimensions first, then its rows
as they stream; a CSV's line lengths, columns and rows before pandas sees any of it. Errors are
``ValidationError`` with a ``code`` and ``params`` so the web layer says them in the user's
language, naming the line or row and the limit.

Encodings: Excel on Chinese Windows saves CSV as GBK (GB18030 is its superset); elsewhere UTF-8,
often with a BOM. Big5, Shift-JIS and even Latin-1 bytes often *decode* as GB18030 without an
error, into strings of rare characters, so a successful decode is not enough: each line's
characters are judged for plausibility (``implausible_line``) and the first line that reads as
garbage is named.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import itertools
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from gis.errors import FileFormatError, ImportRefused, RowProblem
from gis.limits import Limits
from gis.validation import ValidationError

ROW_INDEX = "row"  # frames from read_table are indexed by the row/line number users see


class TableRefused(ValidationError, FileFormatError):
    """A table file refused before it was read whole: where, why, and the limit."""


def _refuse(field: str, code: str, message: str, **params) -> TableRefused:
    return TableRefused(field, message, code, **params)


# --- encodings ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)  # at most the distinct characters of a file
def _gb2312_weight(ch: str) -> float:
    """How unlikely ``ch`` is in real Chinese business text: 0 (common) .. 1 (garbage).

    GB2312's rows 1-3 (punctuation, numerals, full-width forms) and its level-1 hanzi (the 3,755
    characters that make up 99.9 % of running text) are common; level-2 hanzi (place and person
    names use a few) count half; other ideographs (GBK's extension) three quarters; kana, Greek,
    Cyrillic, bopomofo, box drawing, private use and the rest count fully. Big5 or Shift-JIS
    read as GBK lands mostly in the last three groups."""
    try:
        b = ch.encode("gb2312")
    except UnicodeEncodeError:
        if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
            return 0.75
        if ch in "\u00b7\u2014\u2026\u201c\u201d\u2018\u2019\u3001\u3002\uff5e\u00d7\u00a0\u2022":
            return 0.0
        return 1.0
    if len(b) != 2:
        return 0.0
    row = b[0]
    if row in (0xA1, 0xA2, 0xA3) or 0xB0 <= row <= 0xD7:
        return 0.0
    if 0xD8 <= row <= 0xF7:
        return 0.5
    return 1.0


def implausible_line(line: str) -> bool:
    """True when a decoded line reads like another encoding's bytes: at least two characters'
    worth of unlikely ones, making up 40 % or more of its non-ASCII characters."""
    weights = [_gb2312_weight(ch) for ch in line if ord(ch) > 0x7F]
    if not weights:
        return False
    bad = sum(weights)
    return bad >= 2 and bad / len(weights) >= 0.4


def decode_text(raw: bytes) -> str:
    """UTF-8 (BOM or not) or GBK/GB18030 text, or ValidationError naming the first line that is
    neither (a byte sequence that does not decode, or one that decodes into garbage)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        # The lines before the undecodable byte may already be garbage: name the first.
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        _check_plausible(raw[:line_start].decode("gb18030", errors="replace"))
        raise _encoding_error(raw.count(b"\n", 0, exc.start) + 1) from None
    _check_plausible(text)
    return text


def _encoding_error(line: int) -> TableRefused:
    return _refuse("file", "encoding", f"line {line}: not UTF-8 or GBK/GB18030 text (another "
                   "encoding, such as Big5, Shift-JIS or Latin-1?); save the file as UTF-8",
                   line=line)


def _check_plausible(text: str) -> None:
    for number, line in enumerate(text.split("\n"), start=1):
        if implausible_line(line):
            raise _encoding_error(number)


# --- CSV ----------------------------------------------------------------------------------

# Records are read this many at a time where each line is one record (no quotes).
_CHUNK = 10_000


def _delimiter(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",\t;").delimiter
    except csv.Error:
        return ","


def _csv_records(text: str, limits: Limits
                 ) -> tuple[list[int], list[list[str]], TableRefused | None]:
    """The non-blank records with their first line's number, and the refusal that stopped
    reading, if one did (raised by the caller once the records before it are checked, as a
    reader going record by record would have). A line longer than ``max_line_bytes`` is
    refused before the csv module splits it. Reading stops after ``max_upload_rows`` + 2
    records: enough to refuse the file for its rows without holding more of it."""
    sep = _delimiter(text)

    def lines():
        for number, line in enumerate(io.StringIO(text, newline=""), start=1):
            # UTF-8 bytes: the unit of the setting, and what the user's editor shows.
            if len(line) > limits.max_line_bytes // 4 and \
                    len(line.encode("utf-8")) > limits.max_line_bytes:
                raise _refuse(f"line {number}", "line_too_long",
                              f"longer than {limits.max_line_bytes} bytes",
                              limit=limits.max_line_bytes)
            yield line

    csv.field_size_limit(max(limits.max_line_bytes, 1024))
    # No line can be too long (4 bytes a character at most): the lines go to the reader
    # without a Python step each.
    short = (len(text) <= limits.max_line_bytes // 4 or max(
        map(len, io.StringIO(text, newline="")), default=0) <= limits.max_line_bytes // 4)
    reader = csv.reader(io.StringIO(text, newline="") if short else lines(), delimiter=sep)
    numbers: list[int] = []
    records: list[list[str]] = []
    enough = limits.max_upload_rows + 2
    if short and '"' not in text:
        # Without quotes each line is one record (a blank one too): line numbers count.
        line = 1
        while len(records) < enough:
            chunk = list(itertools.islice(reader, _CHUNK))
            if not chunk:
                break
            firsts = range(line, line + len(chunk))
            line += len(chunk)
            if all(map(str.strip, map("".join, chunk))):
                numbers.extend(firsts)
                records.extend(chunk)
            else:
                for number, fields in zip(firsts, chunk):
                    if "".join(fields).strip():
                        numbers.append(number)
                        records.append(fields)
        return numbers[:enough], records[:enough], None
    try:
        first = reader.line_num + 1
        for fields in reader:
            if "".join(fields).strip():
                numbers.append(first)
                records.append(fields)
                if len(records) >= enough:
                    break
            first = reader.line_num + 1
    except csv.Error as exc:
        # Only a quoted field running on past max_line_bytes gets here.
        return numbers, records, _refuse(
            f"line {reader.line_num}", "line_too_long",
            f"longer than {limits.max_line_bytes} bytes ({exc})", limit=limits.max_line_bytes)
    except TableRefused as exc:
        return numbers, records, exc
    return numbers, records, None


def _check_record(where: str, columns: int, is_data: bool, rows_so_far: int,
                  limits: Limits) -> None:
    """One record of either format, before it is kept: its columns, and (a data row, not the
    header) whether the upload already holds as many rows as it may."""
    if columns > limits.max_columns:
        raise _refuse(where, "too_many_columns", f"{columns} columns; at most "
                      f"{limits.max_columns}", count=columns, limit=limits.max_columns)
    if is_data and rows_so_far >= limits.max_upload_rows:
        raise _refuse(where, "too_many_rows", f"more than {limits.max_upload_rows} rows in one "
                      "upload", limit=limits.max_upload_rows)


def read_csv(raw: bytes, limits: Limits) -> pd.DataFrame:
    """A CSV's rows as strings, header as given; index: each record's line number."""
    if b"\x00" in raw[:4096]:
        raise _refuse("file", "binary", "binary file; expected CSV or XLSX")
    text = decode_text(raw)
    numbers, records, stop = _csv_records(text, limits)
    if not records:
        if stop:
            raise stop
        return _frame([], [], [])
    # The first record that breaks a bound, as a reader checking one record at a time
    # finds it: its columns, then (a data row) the upload's rows, then its fields.
    widths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    header = [f.strip() for f in records[0]]
    is_data = np.arange(len(records)) > 0
    wrong = ((widths > limits.max_columns)
             | (is_data & (np.arange(len(records)) - 1 >= limits.max_upload_rows))
             | (is_data & (widths > len(header))))
    if wrong.any():
        k = int(np.argmax(wrong))
        _check_record(f"line {numbers[k]}", len(records[k]), k > 0, k - 1, limits)
        raise _refuse(f"line {numbers[k]}", "extra_fields",
                      f"{widths[k]} fields, the header has {len(header)}",
                      count=int(widths[k]), header=len(header))
    if stop:
        raise stop
    rows = records[1:]
    if len(rows) and widths[1:].min() < len(header):
        rows = [r if len(r) == len(header) else r + [""] * (len(header) - len(r))
                for r in rows]
    return _frame(header, rows, numbers[1:], apostrophes="'" in text)


# --- XLSX ---------------------------------------------------------------------------------

def _check_archive(raw: bytes, limits: Limits) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise _refuse("file", "unreadable", f"cannot read as XLSX: {exc}") from None
    # The central directory's sizes bound what zipfile will inflate (it stops there), so a
    # zip bomb is refused here without inflating anything.
    total = sum(i.file_size for i in archive.infolist())
    if total > limits.max_uncompressed_bytes:
        raise _refuse("file", "too_large_uncompressed",
                      f"{total} bytes once uncompressed; at most "
                      f"{limits.max_uncompressed_bytes}", count=total,
                      limit=limits.max_uncompressed_bytes)


def _cell_text(value) -> str:
    # As pandas' read_excel(dtype=str) gives them: 5.0 -> "5", dates as ISO text.
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def read_xlsx(raw: bytes, limits: Limits) -> pd.DataFrame:
    """The first sheet's rows as strings, header as given; index: the sheet's row numbers."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    _check_archive(raw, limits)
    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        sheet = book.worksheets[0]
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds
        raise _refuse("file", "unreadable", f"cannot read as XLSX: {exc}") from None
    try:
        rows_declared, cols_declared = sheet.max_row, sheet.max_column
        if rows_declared and cols_declared:
            ref = f"A1:{get_column_letter(cols_declared)}{rows_declared}"
            cells = rows_declared * cols_declared
            if cells > limits.max_xlsx_cells:
                raise _refuse("file", "too_many_cells",
                              f"the sheet declares {ref}, {cells} cells; at most "
                              f"{limits.max_xlsx_cells}", ref=ref, count=cells,
                              limit=limits.max_xlsx_cells)
        # Rows are read as they are, never padded to what the sheet claims.
        sheet.reset_dimensions()
        header: list[str] | None = None
        rows, numbers = [], []
        cells = 0
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            values = list(values)
            while values and (values[-1] is None or values[-1] == ""):
                values.pop()
            if not values:
                continue
            _check_record(f"row {number}", len(values), header is not None, len(numbers),
                          limits)
            cells += len(values)
            if cells > limits.max_xlsx_cells:
                raise _refuse("file", "too_many_cells", f"more than {limits.max_xlsx_cells} "
                              "cells", ref="", count=cells, limit=limits.max_xlsx_cells)
            if header is None:
                header = [_cell_text(v).strip() for v in values]
                continue
            if len(values) > len(header):
                header += [""] * (len(values) - len(header))
            texts = [_cell_text(v) for v in values]
            rows.append(texts + [""] * (len(header) - len(texts)))
            numbers.append(number)
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet
        raise _refuse("file", "unreadable", f"cannot read as XLSX: {exc}") from None
    finally:
        book.close()
    return _frame(header or [], rows, numbers)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV/formula
# injection): what we write gets a leading apostrophe (``spreadsheet_text``), so it stays
# text; what we read back loses it, so an export imports again unchanged.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value):
    """``value`` made safe for a spreadsheet cell: text starting with = + - @ (or a tab or a
    carriage return) gets a leading apostrophe; other values are returned as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _unquote(value):
    if isinstance(value, str) and value[:1] == "'" and value[1:2] and \
            value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def _frame(header: list[str], rows: list[list[str]], numbers: list[int],
           apostrophes: bool = True) -> pd.DataFrame:
    """The rows as a frame named after ``header``, cells losing the apostrophe that guarded a
    formula (``apostrophes``: whether any cell may start with one; a CSV whose text has
    none skips looking)."""
    columns, seen = [], {}
    for i, name in enumerate(header):
        name = name or f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        columns.append(name)
    frame = pd.DataFrame(rows, columns=range(len(columns)), dtype=str,
                         index=pd.Index(numbers, name=ROW_INDEX, dtype="int64"))
    for i in range(len(columns) if apostrophes and len(frame) else 0):
        cells = frame[i].tolist()
        # One search finds whether any cell of the column starts with an apostrophe.
        if ("\x00" + "\x00".join(cells)).find("\x00'") >= 0:
            frame[i] = pd.Series([_unquote(v) for v in cells], index=frame.index, dtype=str)
    frame.columns = columns
    return frame


# --- columns ------------------------------------------------------------------------------

def map_columns(columns: list[str], aliases: dict[str, tuple[str, ...]],
                required: tuple[str, ...], source: str) -> dict[str, str]:
    """{column as the file names it: field} for the columns ``aliases`` knows (field -> the
    headers that mean it, the canonical English one first, then the Chinese one; case, spaces
    and full-width forms do not matter); other columns (remarks, a sequence number) are the
    file's own. ImportRefused when two columns mean one field or a ``required`` one is
    missing (a tuple in ``required``: any one of those fields)."""
    lookup = {_header(alias): f for f, names in aliases.items() for alias in names}
    mapping: dict[str, str] = {}
    for col in columns:
        f = lookup.get(_header(col))
        if f is None:
            continue
        if f in mapping.values():
            raise ImportRefused(source, [RowProblem("header", f"two columns mean {f!r}", 1,
                                                    ValidationError("file", f"two columns mean "
                                                                    f"{f!r}", "two_columns",
                                                                    column=f))])
        mapping[col] = f
    missing = [f for f in required if not (set(f) if isinstance(f, tuple) else {f})
               & set(mapping.values())]
    if missing:
        names = ", ".join(" | ".join(f"{g}/{aliases[g][1]}" for g in
                                     (f if isinstance(f, tuple) else (f,))) for f in missing)
        raise ImportRefused(source, [RowProblem("header", f"missing column(s): {names}", 1,
                                                ValidationError("file", "missing column(s): "
                                                                + names, "missing_columns",
                                                                columns=names))])
    return mapping


def _header(name: str) -> str:
    return unicodedata.normalize("NFKC", str(name)).strip().lower()


def is_xlsx(raw: bytes) -> bool:
    return raw[:4] == b"PK\x03\x04"  # XLSX is a zip, whatever the file is called


def read_table(path: str | Path, limits: Limits | None = None) -> pd.DataFrame:
    """CSV (UTF-8 or GBK) or XLSX into strings, one row per data row, header as given, within
    ``limits``. The index holds each row's line (CSV) or row (XLSX) number."""
    limits = limits or Limits()
    path = Path(path)
    if not path.exists():
        raise _refuse("file", "missing", f"{path}: no such file")
    raw = path.read_bytes()
    return read_xlsx(raw, limits) if is_xlsx(raw) else read_csv(raw, limits)
