"""12365 complaints as a density heatmap, for the eye (the hotspots layer says what is
statistically significant)."""
from sqlalchemy import text

from gis.geojson import feature_collection_sql
from layers import Layer, LayerQuery, LegendItem, N_, register


def query(session, q: LayerQuery) -> str:
    return session.execute(text(feature_collection_sql("""
        SELECT k.geom, k.id AS sort,
               json_build_object('number', k.number, 'status', k.status) AS props
        FROM complaint k
        WHERE (k.received_at AT TIME ZONE :zone)::date BETWEEN :start AND :end
          AND k.geom IS NOT NULL  -- a complaint without a place has no point to show
          AND (CAST(:cells AS bigint[]) IS NULL OR k.cell_id = ANY(CAST(:cells AS bigint[])))
    """)), {"start": q.window.start, "end": q.window.end, "zone": q.window.zone,
          "cells": q.cells}).scalar()


LAYER = register(Layer(
    id="complaints",
    title=N_("Complaint density (12365)"),
    render="heat",
    query=query,
    legend=(LegendItem(N_("More complaints"), "#b10026", "square"),
            LegendItem(N_("Fewer complaints"), "#ffffb2", "square")),
    style={"radius": 22, "blur": 18, "maxZoom": 14,
           "gradient": {"0.2": "#ffffb2", "0.4": "#fecc5c", "0.6": "#fd8d3c",
                        "0.8": "#f03b20", "1.0": "#b10026"}},
    depends=("complaint",),
))
