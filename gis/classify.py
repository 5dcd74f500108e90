"""Class breaks for choropleths (mapclassify), robust to the small and tied samples a
county's 53 cells give."""
from __future__ import annotations

import numpy as np

from gis.warnings_ import ignoring

SCHEMES = ("natural_breaks", "quantiles", "equal_interval")


def class_breaks(values: list[float | None], k: int = 5, scheme: str = "natural_breaks"
                 ) -> tuple[list[float], list[int | None]]:
    """(upper bounds of the classes, class index of each value; None stays None)."""
    import mapclassify

    present = np.array([v for v in values if v is not None], dtype=float)
    if present.size == 0:
        return [], [None for _ in values]
    distinct = np.unique(present)
    k = int(min(k, distinct.size))
    if k <= 1:
        return [float(distinct.max())], [None if v is None else 0 for v in values]
    with ignoring():
        # mapclassify warns when it merges tied classes; fewer classes is the right answer.
        if scheme == "quantiles":
            classifier = mapclassify.Quantiles(present, k=k)
        elif scheme == "equal_interval":
            classifier = mapclassify.EqualInterval(present, k=k)
        else:
            classifier = mapclassify.NaturalBreaks(present, k=k, initial=10)
    bins = [float(b) for b in classifier.bins]
    classes = [None if v is None else int(np.searchsorted(bins, v, side="left"))
               for v in values]
    return bins, [None if c is None else min(c, len(bins) - 1) for c in classes]
