"""The CLI contract: command names, exit status, messages naming the problem, summaries."""
import geopandas as gpd
import shapely
from sqlalchemy import text

from app import create_app
from tests.factories import CITY, EAST, WEST


def write(tmp_path, name, rows):
    path = tmp_path / name
    gpd.GeoDataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows],
                     geometry=[r["geometry"] for r in rows], crs=4326).to_file(path)
    return path


def test_grid_and_enterprise_import_then_export(runner, tmp_path, connection):
    city = write(tmp_path, "city.geojson", [{"code": "C", "name": "城", "geometry": CITY}])
    halves = write(tmp_path, "halves.geojson", [
        {"code": "C-1", "name": "西", "geometry": WEST},
        {"code": "C-2", "name": "东", "geometry": EAST}])
    result = runner.invoke(args=["grid", "import", str(city), "--level", "1"])
    assert result.exit_code == 0, result.output
    assert "cells: inserted 1, updated 0, unchanged 0, refused 0" in result.output
    result = runner.invoke(args=["grid", "import", str(halves), "--level", "2", "--parent", "C"])
    assert result.exit_code == 0, result.output
    csv = tmp_path / "e.csv"
    csv.write_text("management_code,name,grade,lon,lat\nE1,甲,A,116.02,38.45\n"
                   "E2,乙,B,117.6,38.45\n", encoding="utf-8")
    result = runner.invoke(args=["enterprises", "import", str(csv)])
    assert result.exit_code == 0, result.output
    assert "enterprises: inserted 2, updated 0, unchanged 0, refused 0" in result.output
    assert "enterprises: 2 of 2" in result.output  # progress
    result = runner.invoke(args=["enterprises", "outside"])
    assert result.output.startswith("E2\t乙\t117.6")
    out = tmp_path / "cells.gpkg"
    result = runner.invoke(args=["grid", "export", str(out)])
    assert result.exit_code == 0 and "exported 3 cells" in result.output
    result = runner.invoke(args=["enterprises", "export", str(tmp_path / "e.geojson")])
    assert result.exit_code == 0 and "exported 2 enterprises" in result.output


def test_refused_import_exits_1_names_the_row_and_writes_nothing(runner, tmp_path, connection):
    csv = tmp_path / "e.csv"
    csv.write_text("management_code,name,grade,lon,lat\nE1,甲,A,116.02,38.45\n"
                   "E2,乙,B,38.45,116.02\n", encoding="utf-8")
    result = runner.invoke(args=["enterprises", "import", str(csv)])
    assert result.exit_code == 1
    assert "row 3 (E2)" in result.output and "swapped" in result.output
    assert connection.execute(text("SELECT count(*) FROM enterprise")).scalar() == 0


def test_missing_parent_exits_1(runner, tmp_path):
    halves = write(tmp_path, "h.geojson", [{"code": "C-1", "name": "西", "geometry": WEST}])
    result = runner.invoke(args=["grid", "import", str(halves), "--level", "2"])
    assert result.exit_code == 1 and "needs a parent" in result.output


def test_bad_crs_option_exits_1_naming_it(runner, tmp_path):
    city = write(tmp_path, "city.geojson", [{"code": "C", "name": "城", "geometry": CITY}])
    result = runner.invoke(args=["grid", "import", str(city), "--level", "1", "--crs", "mars"])
    assert result.exit_code == 1 and "'mars'" in result.output


def test_shapefile_without_prj_exits_1_naming_the_crs(runner, tmp_path):
    box = shapely.box(116, 38, 117, 39)
    write(tmp_path, "c.shp", [{"code": "C", "name": "x", "geometry": box}])
    (tmp_path / "c.prj").unlink()
    result = runner.invoke(args=["grid", "import", str(tmp_path / "c.shp"), "--level", "1"])
    assert result.exit_code == 1 and "no CRS" in result.output


def test_missing_database_is_reported_not_a_traceback(tmp_path):
    app = create_app({"TESTING": True, "ENV": "development",
                      "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 1
    assert "cannot connect to the database" in result.output
    assert "Traceback" not in result.output
