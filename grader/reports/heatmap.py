"""The heat map in report.html that shows where a gradient is wrong.

`heatmap_svg` draws one inline <svg> per gradient: a square per entry, coloured
by how far that entry's relative error (against autograd) is over the tolerance,
with row and column index ticks.  The caption and legend are HTML in the
template, so they wrap on a phone.

Colour scale, log of err / tol capped at 1e6 (why: a wrong formula gives errors
of ~1 against a tolerance of ~1e-6, a rounding slip gives ~10x; both must stand
apart from green):

    err <= tol            -> light green
    err / tol = 1 ... 1e6 -> orange, red (1e3x), dark red (1e6x or more)
    inf or NaN            -> black

Every text written into the markup goes through `html.escape`, so the result is
safe to mark with `markupsafe.Markup`.
"""

from __future__ import annotations

import math
from html import escape

from grader.reports.i18n import Lang, text

WITHIN = "#d3f0d9"
"""Colour of an entry within tolerance."""
NOT_FINITE = "#000000"
"""Colour of an entry whose relative error is inf or NaN."""
_SCALE = ((0xFD, 0xAE, 0x61), (0xD7, 0x30, 0x1F), (0x67, 0x00, 0x0D))
"""Orange (just over), red (1e3x), dark red (1e6x or more): evenly spaced in log10(err / tol)."""
_CAP = 1e6
_CELL = 14
_MAX_WIDTH = 460
_LEFT = 64
"""Room left of the grid for "rows (i)" and the row indices."""
_TOP = 30
"""Room above the grid for "columns (j)" and the column indices."""
_PAD = 4
_MIN_GRID_WIDTH = 72
"""A narrow map still gets room for the "columns (j)" label."""
_TEXT = "#57606a"


def over_colour(ratio: float) -> str:
    """The colour for an entry whose relative error is `ratio` times the tolerance (ratio > 1)."""
    t = min(max(math.log10(ratio), 0.0), math.log10(_CAP)) / math.log10(_CAP) if ratio < math.inf else 1.0
    low, high = (_SCALE[0], _SCALE[1]) if t <= 0.5 else (_SCALE[1], _SCALE[2])
    part = t * 2 if t <= 0.5 else t * 2 - 1
    return "#" + "".join(f"{round(a + (b - a) * part):02x}" for a, b in zip(low, high))


_LEGEND_KEYS: tuple[tuple[str, str], ...] = (
    ("legend.within", WITHIN),
    ("legend.just_over", over_colour(1.0)),
    ("legend.1e3", over_colour(1e3)),
    ("legend.1e6", over_colour(_CAP)),
    ("legend.nonfinite", NOT_FINITE),
)


def legend(lang: Lang = "en") -> tuple[tuple[str, str], ...]:
    """(label, colour) pairs explaining the scale, in `lang`, for the template."""
    return tuple((text(lang, key), colour) for key, colour in _LEGEND_KEYS)


LEGEND = legend("en")
"""(label, colour) pairs explaining the scale, in English."""


def as_error(value: object) -> float:
    """One map entry as a float: numbers as they are, "inf"/"nan" strings parsed, anything else NaN."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def is_over(err: float, tol: float) -> bool:
    """True when `err` is over `tol`; NaN counts as over, as it does in the check."""
    return not err <= tol


def cell_colour(err: float, tol: float) -> str:
    """The fill colour for one entry (see the module doc for the scale)."""
    if not math.isfinite(err):
        return NOT_FINITE
    if not is_over(err, tol):
        return WITHIN
    return over_colour(err / tol if tol > 0 else math.inf)


def count_over(rel_err: list[list[float | str]], tol: float) -> int:
    """How many entries of the map are over `tol`."""
    return sum(is_over(as_error(value), tol) for row in rel_err for value in row)


def heatmap_svg(name: str, rel_err: list[list[float | str]], tol: float, *, lang: Lang = "en") -> str:
    """An inline <svg> heat map of one gradient's elementwise relative error.

    One <rect> per entry, each with a <title> such as "[1, 2] relative error
    2.0e+00"; no scripts, styles or links.  Scales down with its viewBox.

    Args:
        name: The gradient's name, e.g. "grad_W"; escaped.
        rel_err: Rows of relative errors; a 1-D map is one row.  "inf" or "nan"
            strings are allowed; rows may differ in length.
        tol: The tolerance the gradient was judged with.
        lang: Language of the axis labels and titles.
    """
    rows, cols = len(rel_err), max((len(row) for row in rel_err), default=0)
    cell = _cell_size(cols)
    width, height = _LEFT + max(cols * cell, _MIN_GRID_WIDTH) + _PAD, _TOP + rows * cell + _PAD
    label = escape(text(lang, "heatmap.aria", name=name, rows=rows, cols=cols), quote=True)
    parts = [
        f'<svg class="heatmap-svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="group" aria-label="{label}" font-family="system-ui, sans-serif" font-size="10">',
        *_axis_labels(lang),
        *_column_ticks(cols, cell),
        *_row_ticks(rows, cell),
        *(_cell(i, j, as_error(value), tol, cell, lang) for i, row in enumerate(rel_err) for j, value in enumerate(row)),
        "</svg>",
    ]
    return "\n".join(parts)


def _cell_size(cols: int) -> int:
    """14 px, or less so that a wide map stays within about 460 px."""
    return max(4, min(_CELL, (_MAX_WIDTH - _LEFT - _PAD) // max(cols, 1)))


def _tick_step(n: int) -> int:
    """Label every index up to 10 entries, then every 2nd, 5th or 10th: at most about 10 labels."""
    return next((step for step in (1, 2, 5, 10) if n <= 10 * step), 20)


def _axis_labels(lang: Lang) -> list[str]:
    return [
        f'<text x="{_LEFT}" y="10" fill="{_TEXT}">{escape(text(lang, "heatmap.columns"))}</text>',
        f'<text x="{_LEFT - 6}" y="{_TOP - 6}" fill="{_TEXT}" text-anchor="end">{escape(text(lang, "heatmap.rows"))}</text>',
    ]


def _column_ticks(cols: int, cell: int) -> list[str]:
    return [
        f'<text x="{_LEFT + j * cell + (cell - 1) / 2:g}" y="{_TOP - 6}" fill="{_TEXT}" text-anchor="middle">{j}</text>'
        for j in range(0, cols, _tick_step(cols))
    ]


def _row_ticks(rows: int, cell: int) -> list[str]:
    return [
        f'<text x="{_LEFT - 6}" y="{_TOP + i * cell + (cell - 1) / 2 + 3.5:g}" fill="{_TEXT}" text-anchor="end">{i}</text>'
        for i in range(0, rows, _tick_step(rows))
    ]


def _cell(i: int, j: int, err: float, tol: float, cell: int, lang: Lang) -> str:
    title = escape(text(lang, "heatmap.cell", i=i, j=j, err=f"{err:.1e}"))
    return (
        f'<rect x="{_LEFT + j * cell}" y="{_TOP + i * cell}" width="{cell - 1}" height="{cell - 1}" '
        f'fill="{cell_colour(err, tol)}"><title>{title}</title></rect>'
    )
