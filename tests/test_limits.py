"""Bounds on uploads and geometries (gis/limits.py): built once from settings, named errors."""
from __future__ import annotations

import pytest
from shapely.geometry import Polygon, box

from gis.limits import Limits, check_vertices, setting_name
from gis.validation import ValidationError


def _ring(n: int) -> Polygon:
    import math

    return Polygon([(116 + 0.01 * math.cos(2 * math.pi * i / n),
                     38 + 0.01 * math.sin(2 * math.pi * i / n)) for i in range(n)])


def test_every_limit_has_a_setting():
    from dataclasses import fields

    import app.settings as settings

    for f in fields(Limits):
        assert getattr(settings, setting_name(f.name)) == getattr(Limits(), f.name)


def test_factory_builds_limits_from_settings():
    from app import create_app

    app = create_app({"TESTING": True, "ENV": "development", "LIMIT_MAX_UPLOAD_ROWS": 7})
    limits = app.extensions["gridwatch_limits"]
    assert limits.max_upload_rows == 7
    assert limits.max_columns == Limits().max_columns


def test_feature_with_too_many_vertices_is_named():
    limits = Limits(max_vertices_per_feature=100)
    check_vertices([("A", _ring(90))], limits)
    with pytest.raises(ValidationError) as err:
        check_vertices([("A", box(0, 0, 1, 1)), ("130984-Z01-02", _ring(200))], limits)
    assert err.value.field == "130984-Z01-02"
    assert err.value.params == {"count": 201, "limit": 100}
    assert "201" in str(err.value)


def test_request_with_too_many_vertices_in_total_is_refused():
    limits = Limits(max_vertices_per_feature=100, max_vertices_per_request=250)
    with pytest.raises(ValidationError) as err:
        check_vertices(((f"cell {i}", _ring(90)) for i in range(3)), limits)
    assert err.value.code == "too_many_vertices_total"
    assert err.value.field == "cell 2"
    assert err.value.params["limit"] == 250


def test_missing_geometries_count_nothing():
    check_vertices([("a", None)], Limits(max_vertices_per_feature=1))


def test_the_operator_imports_whole_registers_but_broken_lines_still_stop_early():
    from gis.limits import Limits

    web = Limits()
    cli = web.for_operator()
    assert cli.max_upload_rows > 10_000_000 and cli.max_features > 1_000_000
    assert cli.max_xlsx_cells > 10 ** 9 and cli.max_vertices_per_request > 10 ** 9
    assert (cli.max_line_bytes, cli.max_columns, cli.max_vertices_per_feature) == (
        web.max_line_bytes, web.max_columns, web.max_vertices_per_feature)
