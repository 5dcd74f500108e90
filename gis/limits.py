"""Bounds on what one upload, import or preview may cost.

Every file or geometry a user sends is checked against these *before* it is read whole: a
1.5 KB XLSX can declare a sheet of 17 billion cells, a CSV line can hold a million columns,
a GeoJSON polygon can have ten million vertices. The factory builds one ``Limits`` from the
settings (``Limits.from_config``) and passes it down; ``gis/`` never reads settings itself.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Iterable, Mapping

import shapely

from gis.validation import ValidationError


@dataclass(frozen=True)
class Limits:
    # Data rows in one enterprise upload (CSV or XLSX), header not counted.
    max_upload_rows: int = 100_000
    # Columns in one table upload.
    max_columns: int = 200
    # Bytes in one CSV line (after the header, each record; quoted newlines included).
    max_line_bytes: int = 64 * 1024
    # Cells (rows x columns) an XLSX sheet may declare or contain.
    max_xlsx_cells: int = 5_000_000
    # Uncompressed bytes of all members of an XLSX (or zipped Shapefile) archive.
    max_uncompressed_bytes: int = 256 * 1024 * 1024
    # Features in one vector file (grid import / grid redraw).
    max_features: int = 10_000
    # Vertices of one feature (a cell boundary), and of all features in one request or file.
    max_vertices_per_feature: int = 100_000
    max_vertices_per_request: int = 1_000_000
    # A grid editor preview's SQL may run this long before PostgreSQL cancels it.
    preview_statement_timeout_ms: int = 10_000
    # Previews one user may run at the same time (more get 429).
    preview_concurrency_per_user: int = 2

    @classmethod
    def from_config(cls, config: Mapping) -> "Limits":
        """Read the ``LIMIT_<FIELD>`` settings (e.g. ``LIMIT_MAX_UPLOAD_ROWS``); missing ones
        keep the defaults above."""
        values = {}
        for f in fields(cls):
            key = setting_name(f.name)
            if key in config and config[key] is not None:
                values[f.name] = int(config[key])
        return cls(**values)

    def for_operator(self) -> "Limits":
        """The server's operator (the CLI) imports whole registers: a province has millions
        of enterprises and tens of thousands of cells. No caps on how much in all (rows,
        cells, features, vertices of a file, uncompressed bytes); the bounds on one item (a
        line, the columns, one feature's vertices) still catch a broken file early."""
        unbounded = 2 ** 62
        return replace(self, max_upload_rows=unbounded, max_xlsx_cells=unbounded,
                       max_features=unbounded, max_vertices_per_request=unbounded,
                       max_uncompressed_bytes=unbounded)


def setting_name(field: str) -> str:
    return "LIMIT_" + field.upper()


def vertex_count(geometry) -> int:
    if not isinstance(geometry, shapely.Geometry):  # None, or NaN from a DataFrame row
        return 0
    return int(shapely.get_num_coordinates(geometry))


def check_vertices(named_geometries: Iterable[tuple[str, object]], limits: Limits) -> None:
    """Refuse a feature with more than ``max_vertices_per_feature`` vertices, or a request whose
    features together have more than ``max_vertices_per_request``. ``named_geometries`` are
    (name, shapely geometry) pairs; the name is what the error names (a cell code, "feature 3").
    Counting is O(vertices) and allocates nothing, so it is safe to run before anything else."""
    total = 0
    for name, geometry in named_geometries:
        count = vertex_count(geometry)
        if count > limits.max_vertices_per_feature:
            raise ValidationError(
                str(name), f"{count} vertices; at most {limits.max_vertices_per_feature} "
                "are accepted per feature", "too_many_vertices", count=count,
                limit=limits.max_vertices_per_feature)
        total += count
        if total > limits.max_vertices_per_request:
            raise ValidationError(
                str(name), f"the features up to this one have {total} vertices; at most "
                f"{limits.max_vertices_per_request} are accepted at once",
                "too_many_vertices_total", count=total, limit=limits.max_vertices_per_request)
