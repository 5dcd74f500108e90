"""gis.tables.read_csv reads whole columns and chunks of records (issue 17) where it went cell
by cell: the same frames and the same refusals (where, code, message, params) as the
record-by-record reader, which is kept here as the oracle."""
from __future__ import annotations

import csv
import io
import random

import pandas as pd
import pytest

from gis import tables
from gis.limits import Limits
from gis.tables import (ROW_INDEX, TableRefused, _check_record, _refuse, _unquote,
                        decode_text, read_csv)


# --- the oracle: read_csv as it was before issue 17 ----------------------------------------

def old_csv_records(text: str, limits: Limits):
    start = text[:4096]
    try:
        sep = csv.Sniffer().sniff(start, delimiters=",\t;").delimiter
    except csv.Error:
        sep = ","

    def lines():
        for number, line in enumerate(io.StringIO(text, newline=""), start=1):
            if len(line) > limits.max_line_bytes // 4 and \
                    len(line.encode("utf-8")) > limits.max_line_bytes:
                raise _refuse(f"line {number}", "line_too_long",
                              f"longer than {limits.max_line_bytes} bytes",
                              limit=limits.max_line_bytes)
            yield line

    csv.field_size_limit(max(limits.max_line_bytes, 1024))
    reader = csv.reader(lines(), delimiter=sep)
    try:
        first = reader.line_num + 1
        for fields in reader:
            if any(f.strip() for f in fields):
                yield first, fields
            first = reader.line_num + 1
    except csv.Error as exc:
        raise _refuse(f"line {reader.line_num}", "line_too_long",
                      f"longer than {limits.max_line_bytes} bytes ({exc})",
                      limit=limits.max_line_bytes) from None


def old_frame(header, rows, numbers):
    rows = [[_unquote(v) for v in row] for row in rows]
    columns, seen = [], {}
    for i, name in enumerate(header):
        name = name or f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        columns.append(name)
    return pd.DataFrame(rows, columns=columns, dtype=str,
                        index=pd.Index(numbers, name=ROW_INDEX, dtype="int64"))


def old_read_csv(raw: bytes, limits: Limits) -> pd.DataFrame:
    if b"\x00" in raw[:4096]:
        raise _refuse("file", "binary", "binary file; expected CSV or XLSX")
    text = decode_text(raw)
    header = None
    rows, numbers = [], []
    for number, fields in old_csv_records(text, limits):
        _check_record(f"line {number}", len(fields), header is not None, len(numbers), limits)
        if header is None:
            header = [f.strip() for f in fields]
            continue
        if len(fields) > len(header):
            raise _refuse(f"line {number}", "extra_fields",
                          f"{len(fields)} fields, the header has {len(header)}",
                          count=len(fields), header=len(header))
        rows.append(fields + [""] * (len(header) - len(fields)))
        numbers.append(number)
    return old_frame(header or [], rows, numbers)


def outcome(read, raw, limits):
    try:
        return read(raw, limits)
    except TableRefused as exc:
        return exc


def same(raw: bytes | str, limits: Limits | None = None):
    raw = raw.encode("utf-8") if isinstance(raw, str) else raw
    limits = limits or Limits()
    old, new = outcome(old_read_csv, raw, limits), outcome(read_csv, raw, limits)
    if isinstance(old, TableRefused):
        assert isinstance(new, TableRefused), new
        assert (new.field, new.code, new.message, new.params) == \
            (old.field, old.code, old.message, old.params)
    else:
        assert not isinstance(new, TableRefused), new
        pd.testing.assert_frame_equal(new, old)
        assert list(new.columns) == list(old.columns)
    return new


GOOD = "management_code,name,grade,lon,lat\r\nA1,甲,B,116.1,38.4\r\nA2,乙,C,116.2,38.5\r\n"

FILES = [
    GOOD, GOOD.replace("\r\n", "\n"), GOOD.replace("\r\n", "\r"), GOOD.rstrip(),
    "", "\r\n", "\n\n\n", " , ,\n", "a,b\n", "a,b\n\n", "a\n1\n2\n",
    # blank records: empty lines, whitespace, delimiters only; at the start, middle, end
    "\n\na,b\n1,2\n\n , \n3,4\n,\n\t,\n", "a,b\n1,2\n,,\n", "a,b\n1,2\n\u3000,\u00a0\n5,6\n",
    # short rows are padded, long rows refused (naming the line after blank ones)
    "a,b,c\n1\n2,3\n4,5,6\n", "a,b\n1,2,3\n", "a,b\n\n\n1,2\n1,2,3\n",
    # quotes: fields spanning lines, doubled quotes, delimiters inside
    'a,b\n"x\ny",2\n"q ""w""",3\n"1,2",4\n', 'a,b\n"multi\r\nline\r\nfield",2\r\n3,4\r\n',
    'a,b\n"unterminated,2\n3,4\n', 'a,"b\nc"\n1,2\n',
    # other delimiters
    "a;b;c\n1;2;3\n4;5;6\n", "a\tb\n1\t2\n", "a;b\n1,5;2\n",
    # formula guards and apostrophes
    "a,b\n'=1+1,'+x\n'-3,'@y\n'abc,'\n''=z,' =w\n", "a,b\nO'Brien,x\n'\t1,'\r\n",
    # headers: empty, repeated, spaced, full-width
    ",a,a,a.1, b ,\n1,2,3,4,5,6\n", "a,a,a\n1,2,3\n", " 企业名称 ,　经度\n1,2\n",
    # odd characters a line reader might split on, and NUL past the first 4 KiB's check
    "a,b\n1\u2028x,2\n3\x0b,4\x0c\n5\x1c,\x85\n", "a,b\n1,2\n" + "x,y\n" * 1100 + "\x00,1\n",
    # a bare CR inside a line, CRLF and LF mixed
    "a,b\r\n1,2\n3,4\r5,6\r\n",
]


@pytest.mark.parametrize("text", FILES)
def test_files_read_as_before(text):
    same(text)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_encodings_read_as_before(encoding):
    same(GOOD.replace("甲", "河间市“诚信”五金").encode(encoding))


@pytest.mark.parametrize("limits", [
    Limits(max_upload_rows=1), Limits(max_upload_rows=2), Limits(max_upload_rows=3),
    Limits(max_columns=2), Limits(max_columns=3), Limits(max_line_bytes=20),
    Limits(max_line_bytes=40), Limits(max_line_bytes=1024),
])
@pytest.mark.parametrize("text", [
    GOOD, "a,b\n1,2\n\n3,4\n5,6\n7,8,9\n", "a,b,c,d\n1,2\n3,4,5,6,7\n",
    "a,b\n1," + "x" * 30 + "\n2,3\n", "a,b\n1,2\n3,4\n5," + "长" * 400 + "\n",
    'a,b\n1,"' + "q" * 2000 + '"\n2,3\n', 'a,b\n1,"' + "x\n" * 700 + '"\n2,3\n',
    "a,b\n" + "1,2\n" * 5 + "1,2,3\n", "a," * 5 + "b\n1,2\n",
])
def test_limits_refuse_as_before(text, limits):
    same(text, limits)


def test_the_limit_on_rows_is_met_exactly_as_before():
    body = "a,b\n" + "".join(f"{i},{i}\n" for i in range(30))
    for rows in (29, 30, 31):
        same(body, Limits(max_upload_rows=rows))
    same(body + "\n\n, \n", Limits(max_upload_rows=30))
    same(body + "1,2,3\n", Limits(max_upload_rows=30))


def test_big_files_in_chunks_as_before():
    rng = random.Random(5)
    lines = ["management_code,name,grade,lon,lat"]
    for i in range(25_000):
        r = rng.random()
        if r < 0.001:
            lines.append(" , ,,")
        elif r < 0.002:
            lines.append("")
        elif r < 0.003:
            lines.append(f"'=X{i},名{i}")
        else:
            lines.append(f"BI-{i},企业{i},{rng.choice('ABCD')},{rng.uniform(115, 116):.6f},"
                         f"{rng.uniform(38, 39):.6f}")
    text = "\r\n".join(lines) + "\r\n"
    frame = same(text)
    assert len(frame) > 24_000
    same(text, Limits(max_upload_rows=20_000))
    same(text.replace("BI-7,", '"BI\n-7",'))


def test_read_table_on_a_file(tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(GOOD.encode("utf-8"))
    pd.testing.assert_frame_equal(tables.read_table(path),
                                  old_read_csv(GOOD.encode("utf-8"), Limits()))
