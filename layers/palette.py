"""One colour-blind-safe palette for the whole product.

Grades run from low risk (A) to high risk (D). A-C are Okabe & Ito's (2008) hues; D is Paul
Tol's wine, much darker than C's orange, because orange and vermillion (Okabe & Ito's D) look
alike to the common colour-vision deficiencies and on a projector. Grades also differ in shape
(``GRADE_SHAPES``), so C and D are told apart at a glance even in greyscale.
"""
GRADE_COLORS = {
    "A": "#009E73",  # bluish green: lowest risk
    "B": "#56B4E9",  # sky blue
    "C": "#E69F00",  # orange
    "D": "#882255",  # wine: highest risk
}
# circle | triangle | square: drawn by map.js on the canvas, and in legends and figure tiles.
GRADE_SHAPES = {"A": "circle", "B": "circle", "C": "triangle", "D": "square"}
OVERDUE_COLOR = "#000000"
CELL_LINE = "#0072B2"
GRID_LINE = "#1b1f24"
# Professional grids, drawn dashed so they read as a second grid over the territorial one.
SPECIALTY_COLORS = {"food": "#009E73", "special_equipment": "#CC79A7", "metrology": "#E69F00"}
HOT = {"hot-99": "#b2182b", "hot-95": "#ef8a62", "hot-90": "#fddbc7"}
COLD = {"cold-99": "#2166ac", "cold-95": "#67a9cf", "cold-90": "#d1e5f0"}
# Sequential classes for choropleths (ColorBrewer YlGnBu 5, colour-blind safe).
SEQUENTIAL = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"]
