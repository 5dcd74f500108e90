"""One colour-blind-safe palette for the whole product (Okabe & Ito, 2008).

Grades run from low risk (A) to high risk (D); the hues are distinguishable with the common
colour-vision deficiencies and stay apart in greyscale by lightness.
"""
GRADE_COLORS = {
    "A": "#009E73",  # bluish green: lowest risk
    "B": "#56B4E9",  # sky blue
    "C": "#E69F00",  # orange
    "D": "#D55E00",  # vermillion: highest risk
}
OVERDUE_COLOR = "#000000"
CELL_LINE = "#0072B2"
GRID_LINE = "#1b1f24"
HOT = {"hot-99": "#b2182b", "hot-95": "#ef8a62", "hot-90": "#fddbc7"}
COLD = {"cold-99": "#2166ac", "cold-95": "#67a9cf", "cold-90": "#d1e5f0"}
# Sequential classes for choropleths (ColorBrewer YlGnBu 5, colour-blind safe).
SEQUENTIAL = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"]
