"""`flask enterprises import` / `export`: encodings, headers, bad rows, idempotence, cells."""
import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import text

from gis.crs import wgs84_to_gcj02
from gis.enterprises import export_enterprises, import_enterprises
from gis.errors import FileFormatError, ImportRefused
from tests.factories import cell_of, two_cell_city

HEADER_EN = "management_code,name,credit_code,address,industry,grade,contact_name,contact_phone,lon,lat"
HEADER_ZH = "企业管理编码,企业名称,统一社会信用代码,地址,行业,监管等级,联系人,联系电话,经度,纬度"
GOOD = [
    "HJ001,河间市康利电缆有限公司,91350100M000100Y43,瀛州路1号,电线电缆,B,张三,13800000001,116.02,38.45",
    "HJ002,河间市百吉汽配有限公司,,沙河桥镇,汽车零部件,d,李四,13800000002,116.08,38.45",
]


def write_csv(tmp_path, lines, header=HEADER_EN, encoding="utf-8", name="e.csv"):
    path = tmp_path / name
    path.write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode(encoding))
    return path


def count(session):
    return session.execute(text("SELECT count(*) FROM enterprise")).scalar()


def test_utf8_csv_with_english_header(session, tmp_path):
    two_cell_city(session)
    summary = import_enterprises(session, write_csv(tmp_path, GOOD))
    assert (summary.inserted, summary.updated, summary.unchanged) == (2, 0, 0)
    assert cell_of(session, "HJ001") == ("C-S-01", False)
    assert cell_of(session, "HJ002") == ("C-S-02", False)
    assert session.execute(text(
        "SELECT grade FROM enterprise WHERE management_code = 'HJ002'")).scalar() == "D"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_excel_encodings_with_chinese_header(session, tmp_path, encoding):
    path = write_csv(tmp_path, GOOD, header=HEADER_ZH, encoding=encoding)
    import_enterprises(session, path)
    assert session.execute(text(
        "SELECT name FROM enterprise WHERE management_code = 'HJ001'")).scalar() \
        == "河间市康利电缆有限公司"


def test_xlsx(session, tmp_path):
    path = tmp_path / "e.xlsx"
    rows = [line.split(",") for line in GOOD]
    pd.DataFrame(rows, columns=HEADER_ZH.split(",")).to_excel(path, index=False)
    assert import_enterprises(session, path).inserted == 2


def test_unknown_columns_are_kept_as_extra(session, tmp_path):
    lines = [line + ",外贸型" for line in GOOD]
    import_enterprises(session, write_csv(tmp_path, lines, header=HEADER_EN + ",企业类型"))
    extra = session.execute(text(
        "SELECT extra FROM enterprise WHERE management_code = 'HJ001'")).scalar()
    assert extra == {"企业类型": "外贸型"}


@pytest.mark.parametrize("line, message", [
    ("HJ009,x,,a,i,B,n,p,38.45,116.02", "row 4 (HJ009): lon/lat (38.45, 116.02): latitude and longitude look swapped"),
    ("HJ009,x,,a,i,B,n,p,0,0", "row 4 (HJ009): lon/lat (0, 0)"),
    ("HJ009,x,,a,i,B,n,p,-73.98,40.75", "row 4 (HJ009): lon/lat (-73.98, 40.75): outside China"),
    ("HJ009,x,,a,i,B,n,p,east,38.45", "row 4 (HJ009): lon/lat (east, 38.45): not a number"),
    ("HJ009,x,,a,i,E,n,p,116.02,38.45", "row 4 (HJ009): grade 'E' is not A, B, C or D"),
    ("HJ009,x,91350100M000100Y44,a,i,B,n,p,116.02,38.45", "row 4 (HJ009): credit_code 91350100M000100Y44: bad check character"),
    (",x,,a,i,B,n,p,116.02,38.45", "row 4: empty management_code"),
    ("HJ001,x,,a,i,B,n,p,116.02,38.45", "row 4 (HJ001): management_code HJ001 repeats row 2"),
])
def test_a_bad_row_is_named_and_nothing_is_written(session, tmp_path, line, message):
    with pytest.raises(ImportRefused) as err:
        import_enterprises(session, write_csv(tmp_path, [*GOOD, line]))
    assert message in str(err.value)
    assert count(session) == 0


def test_skip_invalid_writes_the_rest_and_reports(session, tmp_path):
    path = write_csv(tmp_path, [*GOOD, "HJ009,x,,a,i,B,n,p,38.45,116.02"])
    summary = import_enterprises(session, path, skip_invalid=True)
    assert (summary.inserted, summary.refused) == (2, 1)
    assert "row 4" in str(summary.problems[0])


def test_missing_required_column_is_named(session, tmp_path):
    path = write_csv(tmp_path, ["HJ001,x,B"], header="management_code,name,grade")
    with pytest.raises(ImportRefused, match="missing column.*lon/经度.*lat/纬度"):
        import_enterprises(session, path)


def test_reimport_is_idempotent_and_a_move_reassigns(session, tmp_path):
    two_cell_city(session)
    import_enterprises(session, write_csv(tmp_path, GOOD))
    again = import_enterprises(session, write_csv(tmp_path, GOOD))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    moved = [GOOD[0].replace("116.02,38.45", "116.07,38.45"), GOOD[1]]
    changed = import_enterprises(session, write_csv(tmp_path, moved, name="moved.csv"))
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 1)
    assert cell_of(session, "HJ001") == ("C-S-02", False)


def test_gcj02_coordinates_are_converted(session, tmp_path):
    lon, lat = wgs84_to_gcj02(116.02, 38.45)
    line = f"HJ001,x,,a,i,B,n,p,{lon},{lat}"
    import_enterprises(session, write_csv(tmp_path, [line]), crs="gcj02")
    x, y, crs = session.execute(text(
        "SELECT ST_X(geom), ST_Y(geom), source_crs FROM enterprise")).one()
    assert (x, y) == pytest.approx((116.02, 38.45), abs=1e-8)
    assert crs == "GCJ02"


def test_binary_file_is_refused(session, tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(FileFormatError, match="binary"):
        import_enterprises(session, path)


def test_export_always_has_cell_code_null_outside(session, tmp_path):
    two_cell_city(session)
    import_enterprises(session, write_csv(tmp_path, [*GOOD, "HJ003,far,,a,i,C,n,p,117.5,38.45"]))
    for name in ("e.geojson", "e.gpkg"):
        export_enterprises(session, tmp_path / name)
        back = gpd.read_file(tmp_path / name).set_index("management_code")
        assert back.loc["HJ001", "cell_code"] == "C-S-01"
        assert "cell_code" in back.columns and pd.isna(back.loc["HJ003", "cell_code"])
    raw = (tmp_path / "e.geojson").read_text(encoding="utf-8")
    assert '"cell_code": null' in raw


# --- bounds on what one upload may cost (issue 10, finding 4) ------------------------------

def hostile_xlsx(path, cell_ref="XFD1048576", dimension="A1:XFD1048576", extra_rows=""):
    """A minimal valid XLSX written by hand: one sheet, the header row, then a cell far away.
    With its <dimension> this is the 1.5 KB file that grew a worker to 7.7 GB."""
    import zipfile

    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f'{dim}<sheetData>'
             '<row r="1"><c r="A1" t="inlineStr"><is><t>management_code</t></is></c>'
             '<c r="B1" t="inlineStr"><is><t>name</t></is></c></row>'
             f'{extra_rows}'
             f'<row r="{cell_ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}">'
             f'<c r="{cell_ref}" t="inlineStr"><is><t>x</t></is></c></row>'
             '</sheetData></worksheet>')
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
            'org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType'
            '="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName'
            '="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http:'
            '//schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxml'
            'formats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" '
            'r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http:'
            '//schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>'),
        "xl/worksheets/sheet1.xml": sheet,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in parts.items():
            zf.writestr(name, body)
    return path


def _bounded(work, limit_mb=100):
    """Run ``work``; return (exception, peak traced MB). The attack grew a worker to 7.7 GB."""
    import tracemalloc

    tracemalloc.start()
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        caught = exc
    else:
        caught = None
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert peak < limit_mb, f"peak {peak:.0f} MB"
    return caught


def test_xlsx_declaring_a_huge_sheet_is_refused_before_reading(session, tmp_path):
    from gis.tables import TableRefused

    path = hostile_xlsx(tmp_path / "bomb.xlsx")
    assert path.stat().st_size < 2000
    err = _bounded(lambda: import_enterprises(session, path))
    assert isinstance(err, TableRefused) and err.code == "too_many_cells"
    assert "A1:XFD1048576" in str(err) and "5000000" in str(err)
    assert count(session) == 0


def test_xlsx_with_a_far_cell_and_no_dimension_is_refused_by_its_columns(session, tmp_path):
    from gis.tables import TableRefused

    path = hostile_xlsx(tmp_path / "bomb.xlsx", dimension=None)
    err = _bounded(lambda: import_enterprises(session, path))
    assert isinstance(err, TableRefused) and err.code == "too_many_columns"
    assert err.field == "row 1048576" and err.params == {"count": 16384, "limit": 200}


def test_xlsx_whose_dimension_lies_is_read_as_it_is(session, tmp_path):
    """A dimension claiming less than the sheet holds does not let rows through unbounded."""
    from gis.limits import Limits
    from gis.tables import TableRefused

    rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>E{r}</t></is></c></row>'
                   for r in range(2, 30))
    path = hostile_xlsx(tmp_path / "lies.xlsx", cell_ref="A30", dimension="A1:B2",
                        extra_rows=rows)
    with pytest.raises(TableRefused, match="row 12: more than 10 rows"):
        import_enterprises(session, path, limits=Limits(max_upload_rows=10))


def test_xlsx_that_inflates_past_the_limit_is_refused_from_its_directory(session, tmp_path):
    from gis.limits import Limits
    from gis.tables import TableRefused

    path = hostile_xlsx(tmp_path / "big.xlsx", cell_ref="B2", dimension="A1:B2")
    with pytest.raises(TableRefused) as err:
        import_enterprises(session, path, limits=Limits(max_uncompressed_bytes=1000))
    assert err.value.code == "too_large_uncompressed"


def test_csv_with_a_million_columns_is_refused_at_its_first_line(session, tmp_path):
    from gis.tables import TableRefused

    path = tmp_path / "wide.csv"
    path.write_bytes(b",".join(b"c%d" % i for i in range(1_000_000)) + b"\r\nx\r\n")
    err = _bounded(lambda: import_enterprises(session, path))
    assert isinstance(err, TableRefused) and err.code == "line_too_long"
    assert err.field == "line 1" and "65536" in str(err)


def test_csv_with_too_many_columns_in_a_short_line_is_refused(session, tmp_path):
    from gis.tables import TableRefused

    path = write_csv(tmp_path, GOOD[:1], header=HEADER_EN + "," + ",".join(
        f"x{i}" for i in range(300)))
    with pytest.raises(TableRefused, match="line 1: 310 columns; at most 200"):
        import_enterprises(session, path)


def test_csv_rows_per_upload_are_bounded(session, tmp_path):
    from gis.limits import Limits
    from gis.tables import TableRefused

    lines = [f"HJ{i:03d},n,,a,i,B,n,p,116.02,38.45" for i in range(6)]
    with pytest.raises(TableRefused, match="line 7: more than 5 rows"):
        import_enterprises(session, write_csv(tmp_path, lines), limits=Limits(max_upload_rows=5))
    assert count(session) == 0


def test_row_with_more_fields_than_the_header_is_named(session, tmp_path):
    from gis.tables import TableRefused

    with pytest.raises(TableRefused, match="line 3: 11 fields, the header has 10"):
        import_enterprises(session, write_csv(tmp_path, [GOOD[0], GOOD[1] + ",extra"]))


def test_row_numbers_are_the_files_lines_even_after_blank_lines(session, tmp_path):
    with pytest.raises(ImportRefused, match="row 4 \\(HJ009\\)"):
        import_enterprises(session, write_csv(tmp_path, [
            GOOD[0], "", "HJ009,x,,a,i,Z,n,p,116.02,38.45"]))


def test_enterprise_name_over_200_characters_is_named_not_a_database_error(session, tmp_path):
    line = "HJ001," + "名" * 201 + ",,a,i,B,n,p,116.02,38.45"
    with pytest.raises(ImportRefused, match="row 2 \\(HJ001\\): name is 201 characters long; "
                                            "at most 200"):
        import_enterprises(session, write_csv(tmp_path, [line]))
    assert count(session) == 0


def test_cli_long_name_is_a_clear_error_not_a_traceback(runner, tmp_path):
    line = "HJ001," + "x" * 201 + ",,a,i,B,n,p,116.02,38.45"
    result = runner.invoke(args=["enterprises", "import", str(write_csv(tmp_path, [line]))])
    assert result.exit_code == 1
    assert "row 2 (HJ001): name is 201 characters long" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def grades(session, code):
    return session.execute(text("""
        SELECT g.grade, g.valid_to IS NULL FROM enterprise_grade g
        JOIN enterprise e ON e.id = g.enterprise_id WHERE e.management_code = :c
        ORDER BY g.valid_from"""), {"c": code}).all()


def test_the_grade_history_follows_imports(session, tmp_path):
    import_enterprises(session, write_csv(tmp_path, GOOD))
    assert grades(session, "HJ001") == [("B", True)]
    # Each import is its own moment, as in real use (now() is the transaction's start).
    session.execute(text("UPDATE enterprise_grade SET valid_from = valid_from - interval '1 day'"))
    regraded = [GOOD[0].replace(",B,", ",C,"), GOOD[1]]
    import_enterprises(session, write_csv(tmp_path, regraded, name="again.csv"))
    assert grades(session, "HJ001") == [("B", False), ("C", True)]
    assert grades(session, "HJ002") == [("D", True)]
    import_enterprises(session, write_csv(tmp_path, regraded, name="same.csv"))
    assert grades(session, "HJ001") == [("B", False), ("C", True)]


def test_an_enterprise_starts_its_grade_history_when_it_came_under_supervision(session):
    import datetime as dt

    from tests.factories import add_enterprises

    since = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    add_enterprises(session, ("E9", 116.02, 38.45), grade="D", valid_from=since)
    assert session.execute(text("""
        SELECT g.valid_from FROM enterprise_grade g JOIN enterprise e ON e.id = g.enterprise_id
        WHERE e.management_code = 'E9'""")).scalar() == since


# Enterprise search ----------------------------------------------------------------------------

@pytest.fixture
def searchable(session):
    """small_world with stations, and 30 enterprises named 河间… in S2-01 whose codes sort
    before the 25 in S1-01: a search that limited first would give S1's inspector none."""
    from tests.factories import add_enterprises, small_world

    small_world(session)
    session.execute(text("""
        INSERT INTO station (code, name, phone) VALUES ('S1', '瀛州路质量监督所', '0317-3601236'),
                                                       ('S2', '沙河桥质量监督所', '0317-3602236');
        UPDATE cell c SET station_id = s.id FROM station s WHERE c.code LIKE s.code || '%'"""))
    chief = session.execute(text(
        "INSERT INTO person (name, phone) VALUES ('邓强', '13803172904') RETURNING id")).scalar()
    session.execute(text("""
        INSERT INTO responsibility (person_id, kind, role, cell_id, valid_from)
        SELECT :p, 'department', 'station_chief', id, now() - interval '1 day' FROM cell
        WHERE code = 'S2'"""), {"p": chief})
    add_enterprises(session, *[(f"A{i:03d}", 116.15, 38.41 + i / 1000) for i in range(30)])
    add_enterprises(session, *[(f"B{i:03d}", 116.02, 38.41 + i / 1000) for i in range(25)])
    session.execute(text("""
        UPDATE enterprise SET name = '河间市' || management_code || '电线电缆有限公司',
                              address = '河间市' || CASE WHEN management_code LIKE 'A%'
                                                   THEN '沙河桥镇' ELSE '瀛州路' END
        WHERE management_code ~ '^[AB]'"""))
    return session


def search(client, q, **params):
    return client.get("/api/v1/enterprises", query_string={"q": q, **params}).get_json()


def test_an_inspector_gets_a_full_page_of_their_own_area(client, searchable):
    from tests.factories import login

    login(client, "c1-inspector")  # reads S1: the B enterprises and E1
    answer = search(client, "河间")
    assert len(answer["enterprises"]) == 20
    assert all(e["management_code"].startswith("B") for e in answer["enterprises"])
    assert search(client, "河间", limit=100)["enterprises"].__len__() == 25


def test_matches_outside_the_area_are_counted_by_station_with_whom_to_ask(client, searchable):
    from tests.factories import login

    login(client, "c1-inspector")
    answer = search(client, "沙河桥")
    assert answer["enterprises"] == []
    assert answer["outside"]["count"] == 30
    (station,) = answer["outside"]["by_station"]
    assert station == {"n": 30, "station": "沙河桥质量监督所", "station_phone": "0317-3602236",
                       "chief": "邓强", "chief_phone": "13803172904"}
    # Counts only: nothing of the enterprises themselves.
    body = client.get("/api/v1/enterprises?q=沙河桥").get_data(as_text=True)
    assert "A0" not in body and "电线电缆" not in body and "116.15" not in body


def test_nothing_anywhere_is_not_found_and_nothing_outside(client, searchable):
    from tests.factories import login

    login(client, "c1-inspector")
    assert search(client, "不存在的企业") == {"enterprises": [],
                                          "outside": {"count": 0, "by_station": []}}
    login(client, "admin")  # reads everything: nothing is ever outside
    assert search(client, "沙河桥")["outside"] == {"count": 0, "by_station": []}


def test_a_typed_code_comes_first(client, searchable):
    from tests.factories import login

    login(client, "admin")
    # "A010" is in the code A010 and in its name: the code typed comes first, in any case.
    assert [e["management_code"] for e in search(client, "a010")["enterprises"]][:1] == ["A010"]
    # Then names that begin with what was typed, before those that only contain it.
    searchable.execute(text("""
        UPDATE enterprise SET name = CASE management_code WHEN 'B023' THEN '河间市瀛海玻璃钢有限公司'
                                                          ELSE '瀛海玻璃钢厂' END
        WHERE management_code IN ('B023', 'B024')"""))
    assert [e["management_code"] for e in search(client, "瀛海")["enterprises"]] == ["B024",
                                                                                   "B023"]


def test_outside_every_station_is_the_city_bureaus(client, searchable):
    from tests.factories import add_enterprises, login

    add_enterprises(searchable, ("Z001", 116.5, 38.45))  # outside every cell
    searchable.execute(text("UPDATE enterprise SET name = '河间市城外企业' WHERE management_code = 'Z001'"))
    login(client, "c1-inspector")
    (station,) = search(client, "城外")["outside"]["by_station"]
    assert station["station"] is None and station["n"] == 1
