"""The one place that turns GridWatch's (lon, lat) into Folium/Leaflet's [lat, lon].

Everything in code and GeoJSON is (lon, lat), EPSG:4326; Leaflet alone wants latitude first.
Converting anywhere else invites swapped coordinates, so don't.
"""
from __future__ import annotations


def to_folium(lon: float, lat: float) -> list[float]:
    """(lon, lat) -> [lat, lon] for Folium locations."""
    return [lat, lon]


def folium_bounds(bounds: tuple[float, float, float, float]) -> list[list[float]]:
    """(minx, miny, maxx, maxy) in lon/lat -> [[south, west], [north, east]] for fit_bounds."""
    minx, miny, maxx, maxy = bounds
    return [to_folium(minx, miny), to_folium(maxx, maxy)]
