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
