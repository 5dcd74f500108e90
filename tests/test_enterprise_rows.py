"""parse_rows and the COPY text, checked a column at a time (issue 17), against the row-by-row
implementation they replaced: the same problems in the same order, the same rows, the same
bytes for COPY. The old code is kept here as the oracle."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random

import numpy as np
import pandas as pd
import pytest

from gis import dates, tables
from gis.codes import MANAGEMENT_CODE_RULE, is_management_code
from gis.credit_code import make_credit_code, validate_credit_code
from gis.crs import check_lonlat, gcj02_to_wgs84, parse_crs
from gis.enterprises import (DEFAULT_ZONE, MAX_LENGTH, TEXT_FIELDS, EnterpriseRow,
                             EnterpriseRows, _copy_text, _grade, _map_columns, parse_rows,
                             rows_frame)
from gis.errors import Problem
from gis.models import SPECIALTIES
from gis.validation import ValidationError


# --- the oracle: parse_rows and _copy_rows as they were before issue 17 -------------------

def old_parse_rows(frame: pd.DataFrame, source: str, crs: str | None = None,
                   zone: str = DEFAULT_ZONE) -> tuple[list[EnterpriseRow], list[Problem]]:
    spec = parse_crs(crs) if crs else None
    mapping, extra_cols = _map_columns(list(frame.columns), source)
    inverse = {v: k for k, v in mapping.items()}
    rows: list[EnterpriseRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    numbers = (frame.index if frame.index.name == tables.ROW_INDEX
               else range(2, len(frame) + 2))
    for rowno, rec in zip(numbers, frame.to_dict("records")):
        get = (lambda f: str(rec.get(inverse[f], "")).strip() if f in inverse else "")
        code = get("management_code")
        where = f"row {rowno}" + (f" ({code[:40]})" if code else "")
        errs = [f"{f} is {len(get(f))} characters long; at most {n}"
                for f, n in MAX_LENGTH.items() if len(get(f)) > n]
        if not code:
            errs.append("empty management_code")
        elif len(code) <= 40 and not is_management_code(code):
            errs.append(f"management_code {code!r} is not {MANAGEMENT_CODE_RULE}")
        elif code in seen:
            errs.append(f"management_code {code} repeats row {seen[code]}")
        if not get("name"):
            errs.append("empty name")
        grade = _grade(get("grade"))
        if grade is None:
            errs.append(f"grade {get('grade')!r} is not A, B, C or D")
        credit = get("credit_code").upper()
        if credit:
            reason = validate_credit_code(credit)
            if reason:
                errs.append(f"credit_code {credit}: {reason}")
        specialty = get("specialty") or None
        if specialty and specialty not in SPECIALTIES:
            errs.append(f"specialty {specialty!r} is not one of {', '.join(SPECIALTIES)}")
        staff = get("staff_count")
        if staff and not staff.isdigit():
            errs.append(f"staff_count {staff!r} is not a whole number")
        lon_s, lat_s = get("lon"), get("lat")
        reason = check_lonlat(lon_s, lat_s)
        if reason:
            errs.append(f"lon/lat ({lon_s}, {lat_s}): {reason}")
        since = None
        if get("supervised_from"):
            try:
                since = dates.parse_written_datetime(get("supervised_from"), zone,
                                                     "supervised_from")
            except ValidationError as exc:
                errs.append(f"supervised_from {get('supervised_from')[:40]!r}: {exc.message}")
        if errs:
            problems.extend(Problem(where, e) for e in errs)
            continue
        seen[code] = rowno
        lon, lat = float(lon_s), float(lat_s)
        if spec is not None and spec.is_gcj02:
            lon, lat = gcj02_to_wgs84(lon, lat)
        values = {f: (get(f) or None) for f in TEXT_FIELDS}
        values["credit_code"] = credit or None
        values["grade"] = grade
        values["specialty"] = specialty
        values["staff_count"] = int(staff) if staff else None
        extra = {c: rec[c] for c in extra_cols if str(rec.get(c, "")).strip()}
        rows.append(EnterpriseRow(code, values, float(lon), float(lat), extra, since))
    return rows, problems


def old_copy_text(rows: list[EnterpriseRow], source_crs: str,
                  valid_from: dt.datetime | None) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for r in rows:
        v = r.values
        writer.writerow([
            r.management_code, v["name"], v["credit_code"], v["address"], v["industry"],
            v["specialty"], v["grade"], v["contact_name"], v["contact_phone"], v["products"],
            v["staff_count"], v["key_equipment"], repr(float(r.lon)), repr(float(r.lat)),
            source_crs,
            json.dumps(r.extra, ensure_ascii=False),
            (r.valid_from or valid_from).isoformat() if (r.valid_from or valid_from) else None,
        ])
    return buf.getvalue()


# --- frames -------------------------------------------------------------------------------

HEADER = ["management_code", "name", "credit_code", "address", "industry", "specialty",
          "grade", "contact_name", "contact_phone", "products", "staff_count", "key_equipment",
          "lon", "lat", "supervised_from", "企业类型", "备注"]
VALID_CREDIT = "91350100M000100Y43"


def row(code="HJ001", name="河间市康利电缆有限公司", credit="", address="瀛州路1号",
        industry="", specialty="", grade="B", contact="", phone="", products="", staff="",
        equipment="", lon="116.02", lat="38.45", since="", kind="", remark=""):
    return [code, name, credit, address, industry, specialty, grade, contact, phone, products,
            staff, equipment, lon, lat, since, kind, remark]


TRICKY = [
    row(),
    row(code="", name="", grade="", lon="", lat=""),                    # empty
    row(*[""] * 17),                                                    # every cell empty
    row(code="HJ002", name="名" * 201, address="地" * 301, products="品" * 2001,
        industry="行" * 101, contact="人" * 101, phone="1" * 41, equipment="设" * 2001),
    row(code="X" * 41),                                                 # code too long
    row(code="Y" * 60, name=""),
    row(code="HJ 01"), row(code="<script>"), row(code="-A1"), row(code="编码1"),
    row(code="HJ001"),                                                  # repeats row 2
    row(code="HJ003", grade="E"), row(code="HJ003"), row(code="HJ003"),  # refused, then 2
    row(code=" HJ004 ", grade=" b "), row(code="HJ005", grade="C级"), row(code="HJ006",
                                                                        grade="d"),
    row(code="HJ007", grade="级"), row(code="HJ008", grade="AA"), row(code="HJ009", grade=""),
    row(code="HJ010", credit=VALID_CREDIT), row(code="HJ011", credit=VALID_CREDIT.lower()),
    row(code="HJ012", credit="91350100M000100Y44"), row(code="HJ013", credit="123"),
    row(code="HJ014", credit=" 91350100m000100y43 "),
    row(code="HJ015", credit="9135O100M000100Y43"),
    row(code="HJ016", specialty="food"), row(code="HJ017", specialty="Food"),
    row(code="HJ018", specialty="other"), row(code="HJ019", specialty=" metrology "),
    row(code="HJ020", staff="12"), row(code="HJ021", staff="12.5"), row(code="HJ022", staff="-3"),
    row(code="HJ023", staff="１２"), row(code="HJ024", staff="0012"), row(code="HJ025", staff=" 7 "),
    row(code="HJ026", lon="１１６.０２", lat="３８.４５"),                 # full-width digits
    row(code="HJ027", lon="１１６．０２", lat="３８．４５"),               # full-width point
    row(code="HJ028", lon="116°05'15\"E", lat="38°26'32.6\"N"),         # DMS
    row(code="HJ029", lon="38.45", lat="116.02"),                       # swapped
    row(code="HJ030", lon="0", lat="0"), row(code="HJ031", lon="0.0", lat="-0"),
    row(code="HJ032", lon="nan", lat="38.45"), row(code="HJ033", lon="inf", lat="38.45"),
    row(code="HJ034", lon="", lat="38.45"), row(code="HJ035", lon="139.69", lat="35.69"),
    row(code="HJ036", lon="200", lat="39.9"), row(code="HJ037", lon="100", lat="95"),
    row(code="HJ038", lon="1_16.02", lat="38.45"), row(code="HJ039", lon=" 116.02 ", lat="38.45 "),
    row(code="HJ040", lon="116,02", lat="38,45"), row(code="HJ041", lon="1e2", lat="3.845e1"),
    row(code="HJ042", lon="116.0200000000000001", lat="38.449999999999999"),
    row(code="HJ043", lon="True", lat="38.45"), row(code="HJ044", lon="0", lat="39.9"),
    row(code="HJ045", since="2024-01-01"), row(code="HJ046", since="2024/1/2"),
    row(code="HJ047", since="2024年1月2日"), row(code="HJ048", since="2024-01-02 08:30"),
    row(code="HJ049", since="2024-13-01"), row(code="HJ050", since="yesterday"),
    row(code="HJ051", since="2024-01-01T00:00:00+00:00"), row(code="HJ052", since="２０２４-01-01"),
    row(code="HJ053", since="not a date at all, and rather longer than forty characters"),
    row(code="HJ054", since="2024-01-01"), row(code="HJ055", since="1800-01-01"),
    row(code="HJ056", kind="外贸型", remark="  "), row(code="HJ057", kind=" 内销 ", remark="x"),
    row(code="HJ058", name="  带空格  ", address=" ", contact="张三", phone="138"),
    row(code="HJ059", name='quote "and", comma', address="line\nbreak", products="a\r\nb"),
    row(code="HJ060", grade="E", lon="abc", lat="", since="bad", staff="x", specialty="z",
        credit="1", name=""),                                            # every check at once
    row(code="HJ/2024.0017"), row(code="a_b-c.d/e"), row(code="HJ060"),
    row(code="HJ061", name="=cmd|' /C calc'!A0"), row(code="HJ062", lon="116.35", lat="38.65"),
]


def table(rows, header=HEADER, numbered=True) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header, dtype=str)
    if numbered:
        frame.index = pd.Index(range(2, 2 * len(rows) + 2, 2), name=tables.ROW_INDEX)
    return frame


def same(frame, crs=None, zone=DEFAULT_ZONE, valid_from=None):
    """The new parse_rows and COPY text equal the old ones on ``frame``."""
    old_rows, old_problems = old_parse_rows(frame, "f.csv", crs, zone)
    rows, problems = parse_rows(frame, "f.csv", crs, zone)
    assert [str(p) for p in problems] == [str(p) for p in old_problems]
    assert problems == old_problems
    assert isinstance(rows, EnterpriseRows)
    assert len(rows) == len(old_rows)
    assert list(rows) == old_rows
    for source_crs in ("EPSG:4326", "GCJ02"):
        expected = old_copy_text(old_rows, source_crs, valid_from)
        assert _copy_text(rows.frame, source_crs, valid_from) == expected
        assert _copy_text(rows_frame(old_rows), source_crs, valid_from) == expected
    return rows, problems


def test_tricky_rows_as_before():
    rows, problems = same(table(TRICKY))
    assert len(rows) > 20 and len(problems) > 50  # the file exercises both sides
    reasons = {p.reason.rsplit(": ", 1)[-1] for p in problems}
    assert {"not a number", "lon/lat (0, 0) is not a location", "outside China",
            "latitude and longitude look swapped", "longitude out of range [-180, 180]",
            "latitude out of range [-90, 90]"} <= reasons
    assert any("repeats row" in p.reason for p in problems)


@pytest.mark.parametrize("crs", ["gcj02", "EPSG:4490"])
def test_tricky_rows_in_another_crs(crs):
    same(table(TRICKY), crs=crs)


def test_dates_in_another_zone_and_a_default_start():
    same(table(TRICKY), zone="UTC",
         valid_from=dt.datetime(2023, 5, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))))


def test_header_variants_and_missing_optional_columns():
    zh = ["企业管理编码", "企业名称", "监管等级", "经度", "纬度"]
    frame = table([[r[0], r[1], r[6], r[12], r[13]] for r in TRICKY], header=zh)
    same(frame)
    same(frame, crs="gcj02")


def test_frames_not_from_read_table():
    """A frame with its own index and cells that are not strings (numbers, NaN, None): the
    cells read as their text, rows numbered from 2."""
    frame = pd.DataFrame({
        "management_code": ["N1", "N2", "N3", "N4", "N5", None],
        "name": ["a", "b", np.nan, "d", "e", "f"],
        "grade": ["A", "B", "C", None, "D", "A"],
        "lon": [116.02, 116.1, 116.2, 116.3, np.nan, 116.0],
        "lat": [38.45, 38.5, 38.5, 38.5, 38.5, 38.5],
        "staff_count": [1, 2, 3, 4, 5, 6],
        "remark": [np.nan, "x", 3, None, "", 1.5],
    }, index=[10, 11, 12, 13, 14, 15])
    same(frame)


def test_no_rows_and_all_refused():
    same(table([]))
    same(table([row(code=""), row(code="", lon="x")]))


def test_staff_count_digits_that_int_refuses_are_refused_not_a_crash():
    # The old loop accepted '²' (isdigit) and then failed in int(); now it names the row.
    rows, problems = parse_rows(table([row(staff="²")]), "f.csv")
    assert len(rows) == 0
    assert [p.reason for p in problems] == ["staff_count '²' is not a whole number"]


def random_rows(rng: random.Random, n: int, mess: float) -> list[list[str]]:
    """Valid rows; with probability ``mess`` a cell is replaced by a hostile one."""
    bad = {
        0: ["", "HJ 9", "X" * 41, "HJ1", "HJ2", "<b>", " HJ3 "],
        1: ["", "名" * 201, " "],
        2: ["123", VALID_CREDIT.lower(), "91350100M000100Y44", make_credit_code(rng)],
        5: ["Food", "x", "food"],
        6: ["", "E", "b级", "级", "a"],
        10: ["1.5", "-1", "１２", "12"],
        12: ["", "abc", "38.4", "0", "１１６．１", "116°10'E", "200", "nan"],
        13: ["", "116.1", "0", "95", "３８.３"],
        14: ["2024-02-30", "2024-01-01", "2024年3月1日", "junk"],
    }
    out = []
    for i in range(n):
        r = row(code=f"R{rng.randrange(n * 2)}" if rng.random() < 0.2 else f"RV{i}",
                name=f"企业{i}", grade=rng.choice("ABCD"),
                credit=make_credit_code(rng) if rng.random() < 0.3 else "",
                specialty=rng.choice(["", "", "food", "metrology", "special_equipment"]),
                staff=str(rng.randrange(500)) if rng.random() < 0.3 else "",
                lon=repr(round(rng.uniform(115.9, 116.35), rng.randrange(2, 10))),
                lat=repr(round(rng.uniform(38.25, 38.65), rng.randrange(2, 10))),
                since=rng.choice(["", "", "2023-06-01", "2024-01-05 09:00"]),
                kind=rng.choice(["", "", "外贸型", "内销"]))
        for col, choices in bad.items():
            if rng.random() < mess:
                r[col] = rng.choice(choices)
        out.append(r)
    return out


@pytest.mark.parametrize("seed, mess", [(1, 0.0), (2, 0.02), (3, 0.1), (4, 0.3)])
def test_random_rows_as_before(seed, mess):
    rng = random.Random(seed)
    frame = table(random_rows(rng, 1500, mess))
    same(frame)
    same(frame, crs="gcj02")


def test_copy_text_of_rows_made_by_hand():
    """upsert_enterprises' other callers pass EnterpriseRow lists (the demo, the tests'
    factories): their COPY text is as before, odd values included."""
    when = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    base = {"name": "n", "credit_code": None, "address": None, "industry": None,
            "specialty": None, "grade": "A", "contact_name": None, "contact_phone": None,
            "products": None, "staff_count": None, "key_equipment": None}
    rows = [
        EnterpriseRow("A1", dict(base), 116.0, 38.5, {}),
        EnterpriseRow("A2", {**base, "staff_count": 12, "address": 'a "q", b'}, 116, 38,
                      {"k": "v", "n": 1}, when),
        EnterpriseRow("A3", {**base, "name": "x\ny", "contact_phone": 13800000000},
                      np.float64(116.123456789012345), 1e-7, {"备注": "中文"}),
        EnterpriseRow("A4", dict(base), 0.1 + 0.2, -0.0, {}),
        EnterpriseRow("A5", {**base, "name": "", "address": " lead", "industry": "tab\t",
                             "products": "semi;colon", "key_equipment": "\u3000'q'"},
                      116.5, 38.5, {"k": 'say "hi", then\r\ngo'}),
    ]
    for valid_from in (None, when):
        assert _copy_text(rows_frame(rows), "EPSG:4326", valid_from) \
            == old_copy_text(rows, "EPSG:4326", valid_from)
    assert list(EnterpriseRows(rows_frame(rows))) == rows
    assert _copy_text(rows_frame([]), "EPSG:4326", None) == ""


def test_rows_index_and_slice_like_a_list():
    rows, _ = parse_rows(table(TRICKY), "f.csv")
    old, _ = old_parse_rows(table(TRICKY), "f.csv")
    assert rows[0] == old[0] and rows[-1] == old[-1]
    assert list(rows[2:5]) == old[2:5]
    with pytest.raises(IndexError):
        rows[len(rows)]
