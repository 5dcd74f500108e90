"""Coordinate handling for Chinese data.

Conventions used throughout this module:

* Axis order is always **(lon, lat)**, i.e. (x, y), in **decimal degrees**.
  This matches GeoJSON, shapely and ``pyproj`` with ``always_xy=True``; it is
  *not* the (lat, lon) order used by EPSG:4326's formal definition or by most
  Chinese map-app SDKs, so callers must swap when reading from those.
* WGS-84 means EPSG:4326 (GPS coordinates). CGCS2000 (EPSG:4490) differs from
  WGS-84 by centimetres, which is far below anything this project cares about.
* GCJ-02 ("Mars coordinates", 火星坐标) is the obfuscated datum mandated for
  published maps in mainland China and used by Amap (Gaode) and Tencent Maps.
  It is WGS-84 plus a deterministic, non-linear offset of up to a few hundred
  metres. It has no EPSG code, so pyproj cannot handle it; use the functions
  below. (Baidu's BD-09 is a further offset on top of GCJ-02 and is not
  supported here.)

Out-of-China rule
-----------------
GCJ-02 is only defined inside China. Like the reference implementations
(e.g. ``wandergis/coordtransform``), the offset is applied only when a point
lies *strictly* inside the box lon 73.66..135.05, lat 3.86..53.55
(:data:`GCJ02_BBOX`); everywhere else both transforms are the identity. The box
is crude (it includes parts of neighbouring countries and misses the very
northern tip of Heilongjiang) but it is what the published formula and every
interoperating app use, so deviating from it would break compatibility.

:func:`in_china` uses a separate, slightly more generous box
(:data:`CHINA_BBOX`) because it is meant for plausibility checks of input data,
where rejecting a real Chinese point is worse than accepting a border one.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pyproj
import shapely

__all__ = [
    "CHINA_BBOX",
    "GCJ02_BBOX",
    "CrsError",
    "CrsSpec",
    "REASON_LAT_RANGE",
    "REASON_LON_RANGE",
    "REASON_NOT_A_NUMBER",
    "REASON_OUTSIDE_CHINA",
    "REASON_SWAPPED",
    "REASON_ZERO",
    "check_lonlat",
    "check_lonlat_array",
    "finite_floats",
    "parse_coordinate",
    "folium_bounds",
    "gcj02_to_wgs84",
    "in_china",
    "parse_crs",
    "to_folium",
    "transform_geometry_gcj02_to_wgs84",
    "wgs84_to_gcj02",
]

# Krasovsky 1940 ellipsoid: the GCJ-02 formula is defined on it, not on WGS-84;
# using 6378137 (as some ports do) shifts results by ~1e-7 deg.
_A = 6378245.0
_EE = 0.00669342162296594323

# (min_lon, min_lat, max_lon, max_lat), degrees; bounds are exclusive.
GCJ02_BBOX = (73.66, 3.86, 135.05, 53.55)
# (min_lon, min_lat, max_lon, max_lat), degrees; bounds are inclusive.
CHINA_BBOX = (73.4, 3.8, 135.1, 53.6)

# 1e-10 deg is about 0.01 mm: far below survey precision, yet still well above
# float64 resolution at these magnitudes (~3e-14 deg), so it is always reachable.
_INVERSE_TOL_DEG = 1e-10
# The offset's Jacobian is ~1e-2 at most, so the fixed-point iteration gains
# about two digits per step; 30 steps is a generous safety cap.
_INVERSE_MAX_ITER = 30
# The GCJ-02 offset never exceeds ~0.01 deg inside the box; points further than
# this outside it cannot have a WGS-84 pre-image inside it.
_INVERSE_BBOX_MARGIN_DEG = 0.05


# --------------------------------------------------------------------------
# GCJ-02 <-> WGS-84
# --------------------------------------------------------------------------

def _as_float_arrays(lon, lat):
    lon_a, lat_a = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    # Copies so callers' arrays are never written to and results are writable.
    return np.array(lon_a, dtype=np.float64), np.array(lat_a, dtype=np.float64)


def _return_like(lon_out, lat_out, scalar: bool):
    if scalar:
        return float(lon_out), float(lat_out)
    return lon_out, lat_out


def _is_scalar_input(lon, lat) -> bool:
    return np.ndim(lon) == 0 and np.ndim(lat) == 0


def _in_gcj02_bbox(lon, lat, margin: float = 0.0):
    min_lon, min_lat, max_lon, max_lat = GCJ02_BBOX
    return (
        (lon > min_lon - margin)
        & (lon < max_lon + margin)
        & (lat > min_lat - margin)
        & (lat < max_lat + margin)
    )


def _gcj02_offset(lon, lat):
    """Return the GCJ-02 offset (dlon, dlat) in degrees at WGS-84 (lon, lat).

    Applied unconditionally; callers decide where it is valid.
    """
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0

    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat = dlat + common
    dlat = dlat + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0

    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon = dlon + common
    dlon = dlon + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0

    # The polynomial above is in metres-ish units; convert to degrees using the
    # Krasovsky meridian and prime-vertical radii of curvature at this latitude.
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):
    """Convert WGS-84 (EPSG:4326) lon/lat degrees to GCJ-02 lon/lat degrees.

    Accepts scalars or array-likes (broadcast together). Scalars in give a
    ``(float, float)`` tuple out; arrays in give a tuple of float64 arrays of
    the broadcast shape. Points outside :data:`GCJ02_BBOX` and non-finite
    values are returned unchanged.
    """
    scalar = _is_scalar_input(lon, lat)
    lon_a, lat_a = _as_float_arrays(lon, lat)
    mask = _in_gcj02_bbox(lon_a, lat_a)
    if np.any(mask):
        dlon, dlat = _gcj02_offset(lon_a[mask], lat_a[mask])
        lon_a[mask] += dlon
        lat_a[mask] += dlat
    return _return_like(lon_a, lat_a, scalar)


def gcj02_to_wgs84(lon, lat):
    """Convert GCJ-02 lon/lat degrees to WGS-84 (EPSG:4326) lon/lat degrees.

    Exact inverse of :func:`wgs84_to_gcj02` (to ~1e-10 deg, i.e. sub-millimetre)
    found by fixed-point iteration ``w = g - offset(w)``, instead of the common
    one-step approximation ``w = g - offset(g)`` which is off by up to ~6 m
    (5.6e-5 deg) in parts of China.

    Accepts scalars or array-likes, with the same shape rules as
    :func:`wgs84_to_gcj02`.

    Out-of-China rule for the inverse: the offset is removed when the
    resulting WGS-84 point lies inside :data:`GCJ02_BBOX`, i.e. exactly when
    :func:`wgs84_to_gcj02` would have added it. This guarantees
    ``gcj02_to_wgs84(*wgs84_to_gcj02(p)) == p`` for every ``p`` inside the
    box, including points whose GCJ-02 image lands just outside it (testing
    the GCJ-02 input against the box, as most ports do, gets those wrong).
    The forward transform is not one-to-one within ~1 km of the box edge, so
    a WGS-84 point just *outside* the box that coincides with the image of an
    inside point is mapped back to that inside point; preferring the Chinese
    pre-image is the right call for Chinese data.
    """
    scalar = _is_scalar_input(lon, lat)
    g_lon, g_lat = _as_float_arrays(lon, lat)
    out_lon, out_lat = g_lon.copy(), g_lat.copy()

    near = _in_gcj02_bbox(g_lon, g_lat, margin=_INVERSE_BBOX_MARGIN_DEG)
    if np.any(near):
        t_lon, t_lat = g_lon[near], g_lat[near]
        w_lon, w_lat = t_lon.copy(), t_lat.copy()
        # Each point stops when its own step is below the tolerance, so a point's result
        # does not depend on the batch it came in (an import's array equals its rows one
        # by one, bit for bit).
        active = np.arange(t_lon.size)
        for _ in range(_INVERSE_MAX_ITER):
            a_lon, a_lat = w_lon[active], w_lat[active]
            dlon, dlat = _gcj02_offset(a_lon, a_lat)
            new_lon, new_lat = t_lon[active] - dlon, t_lat[active] - dlat
            step = np.maximum(np.abs(new_lon - a_lon), np.abs(new_lat - a_lat))
            w_lon[active], w_lat[active] = new_lon, new_lat
            active = active[~(step < _INVERSE_TOL_DEG)]
            if not active.size:
                break
        inside = _in_gcj02_bbox(w_lon, w_lat)
        out_lon[near] = np.where(inside, w_lon, t_lon)
        out_lat[near] = np.where(inside, w_lat, t_lat)
    return _return_like(out_lon, out_lat, scalar)


def transform_geometry_gcj02_to_wgs84(geom):
    """Return a copy of a shapely 2 geometry with GCJ-02 coordinates
    converted to WGS-84 (both lon/lat degrees).

    Geometry type, ring structure and Z values (passed through untouched) are
    preserved. Also accepts an array of geometries, as ``shapely.transform``
    does; ``None`` stays ``None``.
    """

    def _convert(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        out[:, 0], out[:, 1] = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return out

    # include_z=None keeps 3D geometries 3D instead of silently dropping Z.
    return shapely.transform(geom, _convert, include_z=None)


# --------------------------------------------------------------------------
# Plausibility checks
# --------------------------------------------------------------------------

REASON_NOT_A_NUMBER = "not a number"
REASON_ZERO = "lon/lat (0, 0) is not a location"
REASON_SWAPPED = "latitude and longitude look swapped"
REASON_LON_RANGE = "longitude out of range [-180, 180]"
REASON_LAT_RANGE = "latitude out of range [-90, 90]"
REASON_OUTSIDE_CHINA = "outside China"


def in_china(lon, lat):
    """Whether lon/lat (degrees, WGS-84 or GCJ-02 alike) lies in the generous
    bounding box :data:`CHINA_BBOX` (lon 73.4..135.1, lat 3.8..53.6, inclusive).

    This is a rectangle, so it also accepts parts of neighbouring countries;
    it is meant to catch garbage, not to decide sovereignty. Returns ``bool``
    for scalars and a boolean array for arrays; NaN gives False.
    """
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    result = (lon_a >= min_lon) & (lon_a <= max_lon) & (lat_a >= min_lat) & (lat_a <= max_lat)
    if np.ndim(result) == 0:
        return bool(result)
    return result


def _to_finite_float(value) -> float | None:
    # bool is an int subclass, but True/False in a coordinate column is a bug.
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (Real, np.number)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


# Degrees, minutes, seconds as people write them: 38°26'32.6"N, 116度5分15秒, N38 26 32.6.
_DMS = re.compile(
    r"""^(?P<pre>[NSEW北南东西])?\s*(?P<sign>[+-])?\s*
        (?P<deg>\d+(?:\.\d+)?)\s*(?:°|º|度|d|:|\s)\s*
        (?:(?P<min>\d+(?:\.\d+)?)\s*(?:'|′|’|分|m|:|\s)?\s*)?
        (?:(?P<sec>\d+(?:\.\d+)?)\s*(?:"|″|”|''|′′|秒|s)?\s*)?
        (?P<post>[NSEW北南东西])?$""", re.IGNORECASE | re.VERBOSE)


def parse_coordinate(value) -> float:
    """One coordinate (degrees) as a person types it: ``38.4424``; full-width digits and
    punctuation from Chinese input methods (``３８．４４``); a decimal comma (``38,4424``);
    degrees, minutes and seconds with a hemisphere (``38°26'32.6"N``, ``116度5分15秒``;
    S and W are negative). Raises ValueError for anything else."""
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    text = str(value)
    try:
        return float(text)  # the common case, and the lookup's hot path
    except ValueError:
        pass
    text = unicodedata.normalize("NFKC", text).strip()
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        pass
    m = _DMS.match(text)
    if not m or (m["pre"] and m["post"]):
        raise ValueError(f"not a coordinate: {value!r}")
    minutes, seconds = float(m["min"] or 0), float(m["sec"] or 0)
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"minutes and seconds are under 60: {value!r}")
    degrees = float(m["deg"]) + minutes / 60 + seconds / 3600
    hemisphere = (m["pre"] or m["post"] or "").upper()
    negative = m["sign"] == "-" or hemisphere in ("S", "W", "南", "西")
    return -degrees if negative else degrees


# A number as CSV files write it, in ASCII: float() and numpy's cast agree on these.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def finite_floats(values) -> np.ndarray:
    """:func:`check_lonlat`'s reading of each value (a number, or a string that ``float``
    reads once stripped) as a float64 array, NaN where it reads none (not a number, boolean,
    NaN or infinite). Plain ASCII numbers are converted in one numpy cast; only the others
    go through the scalar rule, so a column of ordinary CSV numbers costs no Python loop."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fiu":
        out = arr.astype(np.float64).ravel()
        out[~np.isfinite(out)] = np.nan
        return out
    objs = np.asarray(values, dtype=object).ravel()
    out = np.full(objs.size, np.nan)
    if objs.size and set(map(type, objs)) == {str}:
        try:
            # float() of each string, in C; one it refuses sends the batch the slow way.
            out = objs.astype(np.float64)
            out[~np.isfinite(out)] = np.nan
            return out
        except ValueError:
            pass
    plain = np.fromiter((type(v) is str and _PLAIN_NUMBER.fullmatch(v) is not None
                         for v in objs), dtype=bool, count=objs.size)
    if plain.any():
        out[plain] = objs[plain].astype(np.float64)
    for i in np.flatnonzero(~plain):
        number = _to_finite_float(objs[i])
        if number is not None:
            out[i] = number
    out[~np.isfinite(out)] = np.nan
    return out


def check_lonlat_array(lon, lat) -> np.ndarray:
    """:func:`check_lonlat` over arrays of pairs at once: an object array holding, per pair,
    None (plausible) or the same ``REASON_*`` string. Floats from :func:`finite_floats`
    pass through as they are."""
    lon_f, lat_f = finite_floats(lon), finite_floats(lat)
    bad = np.isnan(lon_f) | np.isnan(lat_f)
    with np.errstate(invalid="ignore"):
        zero = (lon_f == 0.0) & (lat_f == 0.0)
        fine = in_china(lon_f, lat_f)
        swapped = in_china(lat_f, lon_f)
        lon_range = ~((lon_f >= -180.0) & (lon_f <= 180.0))
        lat_range = ~((lat_f >= -90.0) & (lat_f <= 90.0))
    reasons = np.full(lon_f.size, REASON_OUTSIDE_CHINA, dtype=object)
    # The scalar function's order, last rule first so the first that applies wins.
    for mask, reason in ((lat_range, REASON_LAT_RANGE), (lon_range, REASON_LON_RANGE),
                         (swapped, REASON_SWAPPED), (fine, None), (zero, REASON_ZERO),
                         (bad, REASON_NOT_A_NUMBER)):
        reasons[mask] = reason
    return reasons


def check_lonlat(lon, lat) -> str | None:
    """Check that a single lon/lat pair (degrees) is a plausible point in China.

    Returns ``None`` when plausible, otherwise one of the ``REASON_*``
    constants (stable English strings, suitable for error reports):

    * ``'not a number'`` - missing, non-numeric, boolean, NaN or infinite
      (numeric strings such as ``'116.4'`` are accepted, since CSV imports
      yield them);
    * ``'lon/lat (0, 0) is not a location'`` - the classic "no fix" default;
    * ``'latitude and longitude look swapped'`` - (lat, lon) would be in
      China but (lon, lat) is not;
    * ``'longitude out of range [-180, 180]'`` / ``'latitude out of range
      [-90, 90]'``;
    * ``'outside China'`` - a valid location outside :data:`CHINA_BBOX`.
    """
    lon_f = _to_finite_float(lon)
    lat_f = _to_finite_float(lat)
    if lon_f is None or lat_f is None:
        return REASON_NOT_A_NUMBER
    if lon_f == 0.0 and lat_f == 0.0:
        return REASON_ZERO
    if in_china(lon_f, lat_f):
        return None
    # Checked before the range tests because a swapped pair usually also has
    # latitude > 90, and "swapped" tells the user how to fix it.
    if in_china(lat_f, lon_f):
        return REASON_SWAPPED
    if not -180.0 <= lon_f <= 180.0:
        return REASON_LON_RANGE
    if not -90.0 <= lat_f <= 90.0:
        return REASON_LAT_RANGE
    return REASON_OUTSIDE_CHINA


# --------------------------------------------------------------------------
# CRS parsing
# --------------------------------------------------------------------------

class CrsError(ValueError):
    """An unrecognised or unsupported CRS specification."""


@dataclass(frozen=True)
class CrsSpec:
    """A parsed CRS: either GCJ-02 (``epsg is None``) or an EPSG code.

    Use :attr:`is_gcj02` / :attr:`is_epsg` to branch; ``str(spec)`` gives
    ``'GCJ02'`` or ``'EPSG:<code>'``.
    """

    kind: str  # "gcj02" or "epsg"
    epsg: int | None = None

    def __post_init__(self):
        if self.kind == "gcj02":
            if self.epsg is not None:
                raise CrsError("a GCJ-02 CrsSpec cannot carry an EPSG code")
        elif self.kind == "epsg":
            if not isinstance(self.epsg, int) or isinstance(self.epsg, bool):
                raise CrsError(f"an EPSG CrsSpec needs an integer code, got {self.epsg!r}")
        else:
            raise CrsError(f"unknown CrsSpec kind {self.kind!r}; expected 'gcj02' or 'epsg'")

    @property
    def is_gcj02(self) -> bool:
        return self.kind == "gcj02"

    @property
    def is_epsg(self) -> bool:
        return self.kind == "epsg"

    def to_pyproj(self) -> pyproj.CRS:
        """The pyproj CRS; raises CrsError for GCJ-02, which pyproj cannot
        represent (convert with :func:`gcj02_to_wgs84` first)."""
        if self.is_gcj02:
            raise CrsError("GCJ-02 has no pyproj/EPSG definition; convert to WGS-84 first")
        return pyproj.CRS.from_epsg(self.epsg)

    def __str__(self) -> str:
        return "GCJ02" if self.is_gcj02 else f"EPSG:{self.epsg}"


GCJ02 = CrsSpec("gcj02")
WGS84 = CrsSpec("epsg", 4326)

_ALIASES = {
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "wgs84": WGS84,
    "wgs-84": WGS84,
    "cgcs2000": CrsSpec("epsg", 4490),
}

_EPSG_RE = re.compile(r"^(?:epsg\s*:\s*)?(\d{1,9})$")


def parse_crs(value) -> CrsSpec:
    """Parse a user-supplied CRS name into a :class:`CrsSpec`.

    Accepted (case-insensitive, surrounding whitespace ignored):
    ``'EPSG:<code>'``, a bare code (``'4326'`` or the int ``4326``),
    ``'wgs84'``/``'wgs-84'`` (EPSG:4326), ``'cgcs2000'`` (EPSG:4490) and
    ``'gcj02'``/``'gcj-02'``. EPSG codes must be known to pyproj.

    Raises :class:`CrsError` (a ``ValueError``) naming the offending value.
    """
    if isinstance(value, CrsSpec):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CrsError(
            f"unsupported CRS {value!r}: expected a string such as 'EPSG:4326', "
            "'wgs84' or 'gcj02', or an integer EPSG code"
        )
    text = str(value).strip().lower()
    if text in _ALIASES:
        return _ALIASES[text]
    match = _EPSG_RE.match(text)
    if match is None:
        raise CrsError(
            f"unsupported CRS {value!r}: expected 'EPSG:<code>', a numeric EPSG "
            "code, 'wgs84', 'cgcs2000' or 'gcj02'"
        )
    code = int(match.group(1))
    try:
        pyproj.CRS.from_user_input(f"EPSG:{code}")
    except pyproj.exceptions.CRSError as exc:
        raise CrsError(f"unknown EPSG code in CRS {value!r}: pyproj says {exc}") from exc
    return CrsSpec("epsg", code)


# Folium/Leaflet want [lat, lon]. Everything in code and GeoJSON is (lon, lat), EPSG:4326;
# converting anywhere but here invites swapped coordinates.

def to_folium(lon: float, lat: float) -> list[float]:
    """(lon, lat) -> [lat, lon] for Folium locations."""
    return [lat, lon]


def folium_bounds(bounds: tuple[float, float, float, float]) -> list[list[float]]:
    """(minx, miny, maxx, maxy) in lon/lat -> [[south, west], [north, east]] for fit_bounds."""
    minx, miny, maxx, maxy = bounds
    return [to_folium(minx, miny), to_folium(maxx, maxy)]
