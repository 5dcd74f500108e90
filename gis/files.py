"""Reading and writing boundary files (GeoJSON, Shapefile as folder or zip, GeoPackage).

Everything returned is lon/lat, EPSG:4326. The CRS rules users rely on:
  * GeoJSON without a ``crs`` member is WGS84 (RFC 7946);
  * any other file without a CRS (a Shapefile with no .prj) is refused unless ``--crs`` is given;
  * ``--crs`` overrides what the file declares: files exported from Chinese map apps claim
    EPSG:4326 while holding GCJ-02 coordinates, and only the user knows that.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import shapely

from gis.crs import CrsError, CrsSpec, in_china, parse_crs, transform_geometry_gcj02_to_wgs84
from gis.errors import FileFormatError
from gis.limits import Limits, check_vertices
from gis.validation import ValidationError
from gis.warnings_ import ignoring

VECTOR_SUFFIXES = {".geojson", ".json", ".shp", ".zip", ".gpkg"}


def _geojson_declares_crs(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = json.loads(fh.read())
    except (ValueError, OSError):
        return False
    return isinstance(head, dict) and "crs" in head


def _shapefile_in(path: Path) -> str:
    """The path pyogrio should open for a Shapefile given as a folder or a zip."""
    if path.is_dir():
        shps = sorted(path.glob("*.shp"))
        if not shps:
            raise FileFormatError(f"{path}: folder holds no .shp file")
        return str(shps[0])
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith((".shp", ".geojson", ".gpkg"))]
        if not names:
            raise FileFormatError(f"{path}: zip holds no .shp, .geojson or .gpkg file")
        return f"/vsizip/{path}/{names[0]}"
    return str(path)


class VectorRefused(ValidationError, FileFormatError):
    """A vector file over a bound (gis/limits.py): where, why and the limit."""


def _check_size(source: str, path: Path, limits: Limits) -> None:
    """Refuse, before GDAL builds any geometry, an archive that inflates past
    ``max_uncompressed_bytes`` or a layer with more than ``max_features`` features."""
    import pyogrio

    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            total = sum(i.file_size for i in zf.infolist())
        if total > limits.max_uncompressed_bytes:
            raise VectorRefused("file", f"{total} bytes once uncompressed; at most "
                                f"{limits.max_uncompressed_bytes}", "too_large_uncompressed",
                                count=total, limit=limits.max_uncompressed_bytes)
    try:
        count = pyogrio.read_info(source).get("features")
    except Exception:  # noqa: BLE001 - reading reports unreadable files with the reason
        return
    if count is not None and count > limits.max_features:
        raise VectorRefused("file", f"{count} features; at most {limits.max_features} in one "
                            "file", "too_many_features", count=count, limit=limits.max_features)


def read_vector(path: str | Path, crs: str | CrsSpec | None = None,
                limits: Limits | None = None) -> tuple[gpd.GeoDataFrame, str]:
    """Read a vector file and return (frame in EPSG:4326, description of the source CRS).

    Within ``limits``: features per file, vertices per feature and per file (the defaults when
    None). Raises FileFormatError (unreadable file, missing CRS, over a limit) or CrsError
    (bad ``crs``).
    """
    limits = limits or Limits()
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such file or folder")
    if not path.is_dir() and path.suffix.lower() not in VECTOR_SUFFIXES:
        raise FileFormatError(
            f"{path}: unsupported file type {path.suffix!r} "
            "(use .geojson, .json, .shp, a zipped Shapefile or .gpkg)"
        )
    override = parse_crs(crs) if crs not in (None, "") else None
    try:
        source = _shapefile_in(path)
        _check_size(source, path, limits)
        with ignoring():
            # pyogrio warns about unusual-but-readable files; we report what matters ourselves.
            frame = gpd.read_file(source, engine="pyogrio")
    except FileFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - GDAL errors come in many classes
        raise FileFormatError(f"{path}: cannot read: {exc}") from exc
    try:
        # Before any repair, reprojection or query spends time on a huge geometry.
        check_vertices(((f"feature {i + 1}", g) for i, g in enumerate(frame.geometry)), limits)
    except ValidationError as exc:
        raise VectorRefused(exc.field, exc.message, exc.code, **exc.params) from None

    is_geojson = path.suffix.lower() in {".geojson", ".json"}
    if override is not None:
        if override.is_gcj02:
            frame = frame.set_crs(4326, allow_override=True)
            frame["geometry"] = frame.geometry.apply(
                lambda g: None if g is None else transform_geometry_gcj02_to_wgs84(g)
            )
            return frame, "GCJ-02 (converted to WGS84)"
        frame = frame.set_crs(override.to_pyproj(), allow_override=True)
        source = str(override)
    elif frame.crs is None:
        if is_geojson and not _geojson_declares_crs(path):
            frame = frame.set_crs(4326)
            source = "EPSG:4326 (GeoJSON default, RFC 7946)"
        else:
            raise FileFormatError(
                f"{path}: the file has no CRS (a Shapefile without its .prj?); "
                "pass --crs EPSG:4326, another EPSG code, or --crs gcj02"
            )
    else:
        epsg = frame.crs.to_epsg()
        source = f"EPSG:{epsg}" if epsg else frame.crs.to_string()
    if frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    return frame, source


class BoundaryFileError(ValidationError):
    """What is wrong with a boundary file, said once for the whole file: the web layer says it
    in the user's language from ``code`` and ``params``; ``message`` is the English."""

    def __init__(self, code: str, message: str, **params):
        super().__init__("file", message, code, **params)


# Tables people pick by mistake in a boundary upload (enterprise registers, village lists).
TABLE_SUFFIXES = {".csv": "CSV", ".tsv": "CSV", ".txt": "text", ".xlsx": "Excel",
                  ".xls": "Excel", ".ods": "spreadsheet"}


def list_briefly(numbers, most: int = 10) -> str:
    """'1, 2, 5' or '1, 2, … (12 in all)': feature numbers or codes for one message."""
    items = [str(n) for n in numbers]
    if len(items) <= most:
        return ", ".join(items)
    return ", ".join(items[:most]) + f", … ({len(items)})"


def sniff_boundary_file(path: str | Path, name: str | None = None) -> None:
    """Refuse a file that is no boundary file at all, saying what it is instead (a table, not
    JSON, JSON that is not GeoJSON, not a zip). ``name``: the file's name as the user chose it
    (an upload's temporary path has another)."""
    path = Path(path)
    name = name or path.name
    suffix = Path(name).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        raise BoundaryFileError(
            "table_file", f"{name} is a {TABLE_SUFFIXES[suffix]} table, not a boundary file: "
            "choose GeoJSON (.geojson), a zipped Shapefile (.zip) or a GeoPackage (.gpkg)",
            name=name, kind=TABLE_SUFFIXES[suffix])
    if suffix not in VECTOR_SUFFIXES - {".shp"}:
        raise BoundaryFileError(
            "file_type", f"{name}: {suffix or 'no'} file type; choose GeoJSON (.geojson), a "
            "zipped Shapefile (.zip) or a GeoPackage (.gpkg)", name=name,
            suffix=suffix or "—")
    raw = path.read_bytes()
    if suffix == ".zip" and not zipfile.is_zipfile(path):
        raise BoundaryFileError("not_zip", f"{name} is not a zip archive", name=name)
    if suffix == ".gpkg" and not raw.startswith(b"SQLite format 3\x00"):
        raise BoundaryFileError("not_gpkg", f"{name} is not a GeoPackage", name=name)
    if suffix not in {".geojson", ".json"}:
        return
    try:
        data = json.loads(raw)
    except ValueError as exc:
        first = raw.lstrip()[:200].split(b"\n", 1)[0]
        if first[:1] not in (b"{", b"[") and (b"," in first or b"\t" in first):
            raise BoundaryFileError(
                "table_file", f"{name} holds a CSV table, not GeoJSON: choose GeoJSON "
                "(.geojson), a zipped Shapefile (.zip) or a GeoPackage (.gpkg)", name=name,
                kind="CSV") from None
        line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        raise BoundaryFileError(
            "not_json", f"{name} is not valid JSON (line {line}, column {column})",
            name=name, line=line or "?", column=column or "?") from None
    kinds = {"FeatureCollection", "Feature"}
    if not isinstance(data, dict) or data.get("type") not in kinds:
        found = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise BoundaryFileError(
            "not_geojson", f"{name} is JSON but not a GeoJSON FeatureCollection (its type is "
            f"{str(found)[:40]!r}); the codes of the cells are properties of features",
            name=name, found=str(found)[:40])


def check_codes(frame: gpd.GeoDataFrame, code_field: str) -> None:
    """Every feature names its cell in ``code_field``, once."""
    if code_field not in frame.columns:
        fields = [c for c in frame.columns if c != frame.geometry.name]
        raise BoundaryFileError(
            "no_code_field", f"the features have no {code_field!r} property with the cell "
            f"code; their properties are: {', '.join(fields) or 'none'}", property=code_field,
            fields=", ".join(map(str, fields)) or "—")
    codes = [None if v is None or (isinstance(v, float) and v != v) else str(v).strip()
             for v in frame[code_field]]
    lacking = [i + 1 for i, c in enumerate(codes) if not c]
    if lacking:
        raise BoundaryFileError(
            "missing_codes", f"features {list_briefly(lacking)} have no {code_field!r} (cell code)",
            property=code_field, features=list_briefly(lacking), count=len(lacking),
            total=len(codes))
    seen, twice = set(), []
    for code in codes:
        if code in seen and code not in twice:
            twice.append(code)
        seen.add(code)
    if twice:
        raise BoundaryFileError("duplicate_codes", f"cells given twice: {list_briefly(twice)}",
                                codes=list_briefly(twice))


def check_polygons(frame: gpd.GeoDataFrame) -> None:
    """Every feature has a polygon: cells are areas."""
    wrong = [(i + 1, "none" if not isinstance(g, shapely.Geometry) or g.is_empty
              else g.geom_type) for i, g in enumerate(frame.geometry)]
    wrong = [(i, kind) for i, kind in wrong if kind not in ("Polygon", "MultiPolygon")]
    if wrong:
        kinds = sorted({kind for _i, kind in wrong})
        raise BoundaryFileError(
            "not_polygons", f"features {list_briefly(i for i, _k in wrong)} are not polygons "
            f"({', '.join(kinds)})", features=list_briefly(i for i, _k in wrong),
            kinds=", ".join(kinds))


def _swap(geom):
    return shapely.transform(geom, lambda xy: xy[:, ::-1])


def check_place(frame: gpd.GeoDataFrame, area_bounds: tuple[float, float, float, float],
                area_name: str) -> None:
    """The features lie in the area (the city; lon/lat bounds); features that lie outside it
    but inside it once their coordinates are swapped have them as (lat, lon)."""
    area = shapely.box(*area_bounds)
    outside = [(i + 1, g) for i, g in enumerate(frame.geometry)
               if not shapely.intersects(g, area)]
    if not outside:
        return
    swapped = [i for i, g in outside if shapely.intersects(_swap(g), area)]
    if swapped:
        everything = len(swapped) == len(frame)
        raise BoundaryFileError(
            "swapped", f"{'the' if everything else 'features ' + list_briefly(swapped) + ':'} "
            f"coordinates are outside {area_name} but inside it with longitude and latitude "
            "swapped: the file has them as (latitude, longitude); GeoJSON and Shapefiles "
            "need (longitude, latitude)", area=area_name, features=list_briefly(swapped),
            count=len(swapped), total=len(frame))
    minx, miny, maxx, maxy = shapely.union_all([g for _i, g in outside]).bounds
    raise BoundaryFileError(
        "outside_area", f"features {list_briefly(i for i, _g in outside)} lie outside {area_name} "
        f"(lon {minx:.4f}–{maxx:.4f}, lat {miny:.4f}–{maxy:.4f}): another place, or another "
        "coordinate system?", area=area_name, features=list_briefly(i for i, _g in outside),
        bounds=f"{minx:.4f}, {miny:.4f} – {maxx:.4f}, {maxy:.4f}")


def plausible_in_china(geom) -> str | None:
    """None if the geometry's bounds lie in China (lon/lat), else the reason."""
    if not isinstance(geom, shapely.Geometry) or geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    if in_china(minx, miny) and in_china(maxx, maxy):
        return None
    if in_china(miny, minx) and in_china(maxy, maxx):
        return "coordinates look swapped (lat, lon): check the axis order or --crs"
    return (
        f"coordinates ({minx:.4f}, {miny:.4f})–({maxx:.4f}, {maxy:.4f}) are outside China: "
        "wrong --crs, or a projected file read as lon/lat?"
    )


def polygon_problem(geom, make_valid: bool, keep_invalid: bool = False):
    """Check one feature's geometry. Returns (geometry to use or None, problem or None,
    note about a repair or None). Only polygons are cell or township boundaries.
    ``keep_invalid``: an invalid polygon is neither refused nor repaired (the grid editor's
    preview shows where it crosses itself)."""
    # A feature with "geometry": null reaches here as None, or as NaN from DataFrame rows.
    if not isinstance(geom, shapely.Geometry) or geom.is_empty:
        return None, "no geometry", None
    note = None
    if not keep_invalid and not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        if not make_valid:
            return None, f"invalid geometry: {reason} (repair with --make-valid)", None
        geom = shapely.make_valid(geom)
        note = f"repaired invalid geometry ({reason})"
    polys = _polygonal_part(geom)
    if polys is None:
        return None, f"expected a polygon, got {geom.geom_type}", None
    return polys, None, note


def _polygonal_part(geom):
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if geom.geom_type == "MultiPolygon":
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in geom.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        if not parts:
            return None
        merged = shapely.union_all(parts)
        return _polygonal_part(merged)
    return None


def write_vector(frame: gpd.GeoDataFrame, path: str | Path) -> str:
    """Write by extension: .geojson/.json (RFC 7946, WGS84) or .gpkg. Returns the driver."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in {".geojson", ".json"}:
        driver = "GeoJSON"
    elif suffix == ".gpkg":
        driver = "GPKG"
    else:
        raise FileFormatError(f"{path}: export to .geojson or .gpkg")
    if path.exists():
        path.unlink()
    frame.to_file(path, driver=driver, engine="pyogrio")
    return driver


__all__ = [
    "BoundaryFileError", "CrsError", "check_codes", "check_place", "check_polygons",
    "plausible_in_china", "polygon_problem", "read_vector", "sniff_boundary_file",
    "write_vector",
]
