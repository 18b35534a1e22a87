"""Inline <svg> charts for the reports: training curves and the class score histogram.

`training_charts` draws two small charts for a training check: the training loss
(per logged step when its TrainingEvidence has a `curve`, else per epoch from `losses`)
and the accuracy, with the pass threshold as a dashed line and the final test
accuracy as a marked point.  A NaN or infinite loss breaks the line and is
marked with a red cross on the top edge.  `histogram_svg` draws the class's
score distribution.

No scripts, styles or links; every text goes through `html.escape`, so the
results are safe to mark with `markupsafe.Markup`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from grader.evidence import TrainingEvidence
from grader.reports.heatmap import as_error
from grader.reports.i18n import Lang, text

_W, _H = 320, 190
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 12, 14, 34
_TEXT = "#57606a"
_GRID = "#d0d7de"
_LOSS = "#0969da"
_ACC = "#8250df"
_PASS, _FAIL, _BAD = "#1a7f37", "#cf222e", "#cf222e"
_LOG_RANGE = 100.0
"""A loss spanning more than this factor (all positive) is drawn on a log scale, so the late epochs stay visible."""


@dataclass(frozen=True)
class TrainingSeries:
    """What a training check recorded, cleaned: x positions, losses (NaN when not finite), accuracies."""

    x: tuple[float, ...]
    loss: tuple[float, ...]
    accuracy: tuple[float, ...]
    x_label_key: str
    final_accuracy: float | None
    threshold: float | None


@dataclass(frozen=True)
class _Frame:
    """Maps data to pixels inside one chart's plot area."""

    x0: float
    x1: float
    y0: float
    y1: float
    log: bool = False

    def px(self, x: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return _LEFT + (x - self.x0) / span * (_W - _LEFT - _RIGHT)

    def py(self, y: float) -> float:
        lo, hi, v = (math.log10(self.y0), math.log10(self.y1), math.log10(y)) if self.log else (self.y0, self.y1, y)
        span = hi - lo or 1.0
        return _H - _BOTTOM - (v - lo) / span * (_H - _TOP - _BOTTOM)


def training_series(evidence: TrainingEvidence) -> TrainingSeries | None:
    """The curves of a training check's evidence: `curve` when it has steps, else `losses` per epoch; None when neither."""
    curve = evidence.curve
    steps = _numbers(curve.step) if curve is not None else ()
    if curve is not None and steps:
        loss = _values(curve.loss, len(steps))
        accuracy = _values(curve.accuracy, len(steps))
        x_key = "chart.step"
    else:
        if not evidence.losses:
            return None
        steps = tuple(float(i) for i in range(1, len(evidence.losses) + 1))
        loss, accuracy, x_key = _values(evidence.losses, len(steps)), (), "chart.epoch"
    return TrainingSeries(x=steps, loss=loss, accuracy=accuracy, x_label_key=x_key,
                          final_accuracy=_finite_or_none(evidence.accuracy),
                          threshold=_finite_or_none(evidence.threshold))


def training_charts(series: TrainingSeries, *, check_id: str, lang: Lang) -> tuple[str, str]:
    """Two <svg> charts for one training check: (loss, accuracy).

    Args:
        series: From `training_series`.
        check_id: Names the chart for screen readers; escaped.
        lang: Language of the axis labels and legends.
    """
    return _loss_svg(series, check_id, lang), _accuracy_svg(series, check_id, lang)


def histogram_svg(counts: Sequence[int], *, lang: Lang) -> str:
    """A bar per score bin: counts[i] students scored in [10 i, 10 i + 10)% (the last bin includes 100%).

    Args:
        counts: Students per bin, lowest bin first.
        lang: Language of the axis labels.
    """
    top = max(max(counts, default=0), 1)
    frame = _Frame(0.0, float(len(counts)), 0.0, float(top))
    width = (_W - _LEFT - _RIGHT) / max(len(counts), 1)
    parts = [_open(text(lang, "summary.histogram_aria")), *_y_axis(frame, _int_ticks(top))]
    for i, n in enumerate(counts):
        x, y = frame.px(i), frame.py(n)
        title = escape(f"{i * 10}-{i * 10 + 10}%: {n}")
        parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{width - 2:.1f}" height="{_H - _BOTTOM - y:.1f}" '
                     f'fill="{_LOSS}"><title>{title}</title></rect>')
        if n:
            parts.append(_label(x + width / 2, y - 3, str(n), anchor="middle"))
    parts += [_label(frame.px(i), _H - _BOTTOM + 13, f"{i * 10}", anchor="middle") for i in range(0, len(counts) + 1, 2)]
    parts += [_label((_LEFT + _W - _RIGHT) / 2, _H - 4, text(lang, "summary.histogram_axis"), anchor="middle")]
    parts += [_label(4, _TOP - 4, text(lang, "summary.histogram_count"))]
    return "\n".join([*parts, "</svg>"])


# --------------------------------------------------------------------------- the two training charts


def _loss_svg(s: TrainingSeries, check_id: str, lang: Lang) -> str:
    finite = [v for v in s.loss if math.isfinite(v)]
    parts = [_open(text(lang, "chart.aria", id=check_id) + ": " + text(lang, "chart.loss"))]
    if not finite:
        parts.append(_label(_W / 2, _H / 2, text(lang, "chart.no_loss"), anchor="middle"))
    else:
        frame = _loss_frame(s.x, finite)
        ticks = _log_ticks(frame.y0, frame.y1) if frame.log else _nice_ticks(frame.y0, frame.y1)
        parts += [*_y_axis(frame, ticks), *_x_axis(frame, s.x)]
        parts += _polylines(frame, s.x, s.loss, _LOSS)
        parts += _bad_marks(frame, s.x, s.loss, text(lang, "chart.nonfinite"))
    parts += [_label(_LEFT, _TOP - 3, text(lang, "chart.loss"), colour=_LOSS),
              _label((_LEFT + _W - _RIGHT) / 2, _H - 4, text(lang, s.x_label_key), anchor="middle")]
    return "\n".join([*parts, "</svg>"])


def _accuracy_svg(s: TrainingSeries, check_id: str, lang: Lang) -> str:
    frame = _Frame(min(s.x), max(s.x), 0.0, 1.0)
    parts = [_open(text(lang, "chart.aria", id=check_id) + ": " + text(lang, "chart.accuracy")),
             *_y_axis(frame, (0.0, 0.25, 0.5, 0.75, 1.0)), *_x_axis(frame, s.x)]
    if s.accuracy:
        parts += _polylines(frame, s.x, tuple(min(max(a, 0.0), 1.0) for a in s.accuracy), _ACC)
    if s.threshold is not None:
        parts += _threshold(frame, s.threshold, text(lang, "chart.threshold", value=f"{s.threshold:g}"))
    if s.final_accuracy is not None:
        parts += _final_point(frame, s, text(lang, "chart.final", value=f"{s.final_accuracy:.3f}"))
    title = text(lang, "chart.batch_accuracy") if s.accuracy else text(lang, "chart.accuracy")
    parts += [_label(_LEFT, _TOP - 3, title, colour=_ACC),
              _label((_LEFT + _W - _RIGHT) / 2, _H - 4, text(lang, s.x_label_key), anchor="middle")]
    return "\n".join([*parts, "</svg>"])


def _loss_frame(x: Sequence[float], finite: Sequence[float]) -> _Frame:
    lo, hi = min(finite), max(finite)
    if lo > 0 and hi / lo > _LOG_RANGE:
        return _Frame(min(x), max(x), 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi)), log=True)
    ticks = _nice_ticks(min(lo, 0.0), hi)
    return _Frame(min(x), max(x), ticks[0], ticks[-1])


def _threshold(frame: _Frame, threshold: float, label: str) -> list[str]:
    y = frame.py(min(max(threshold, 0.0), 1.0))
    return [f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}" stroke="{_TEXT}" stroke-width="1.2" '
            f'stroke-dasharray="5 3"><title>{escape(label)}</title></line>',
            _label(_LEFT + 4, y - 4, label)]


def _final_point(frame: _Frame, s: TrainingSeries, label: str) -> list[str]:
    assert s.final_accuracy is not None  # callers check first
    passed = s.threshold is None or s.final_accuracy >= s.threshold
    x, y = frame.px(max(s.x)), frame.py(min(max(s.final_accuracy, 0.0), 1.0))
    colour = _PASS if passed else _FAIL
    below = y < _TOP + 24
    return [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}" stroke="#fff" stroke-width="1.5">'
            f'<title>{escape(label)}</title></circle>',
            _label(x - 7, y + 14 if below else y - 8, label, anchor="end", colour=colour)]


# --------------------------------------------------------------------------- drawing helpers


def _open(aria: str) -> str:
    return (f'<svg class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
            f'aria-label="{escape(aria, quote=True)}" font-family="system-ui, sans-serif" font-size="10">')


def _label(x: float, y: float, content: str, *, anchor: str = "start", colour: str = _TEXT) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" fill="{colour}" text-anchor="{anchor}">{escape(content)}</text>'


def _y_axis(frame: _Frame, ticks: Sequence[float]) -> list[str]:
    parts = []
    for tick in ticks:
        y = frame.py(tick)
        parts.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}" stroke="{_GRID}" stroke-width="0.6"/>')
        parts.append(_label(_LEFT - 5, y + 3.5, f"{tick:g}", anchor="end"))
    return parts


def _x_axis(frame: _Frame, x: Sequence[float]) -> list[str]:
    y = _H - _BOTTOM
    shown = sorted({x[0], x[len(x) // 2], x[-1]}) if x else []
    return [f'<line x1="{_LEFT}" y1="{y}" x2="{_W - _RIGHT}" y2="{y}" stroke="{_TEXT}" stroke-width="0.8"/>',
            *(_label(frame.px(v), y + 13, f"{v:g}", anchor="middle") for v in shown)]


def _polylines(frame: _Frame, x: Sequence[float], y: Sequence[float], colour: str) -> list[str]:
    """One <polyline> per run of finite values (a NaN breaks the line); a lone point is a dot."""
    runs: list[list[tuple[float, float]]] = [[]]
    for xv, yv in zip(x, y):
        if math.isfinite(yv) and (not frame.log or yv > 0):
            runs[-1].append((frame.px(xv), frame.py(yv)))
        elif runs[-1]:
            runs.append([])
    parts = []
    for run in (r for r in runs if r):
        if len(run) == 1:
            parts.append(f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="2" fill="{colour}"/>')
        else:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.6" stroke-linejoin="round"/>')
    return parts


def _bad_marks(frame: _Frame, x: Sequence[float], y: Sequence[float], label: str) -> list[str]:
    marks = []
    for xv, yv in zip(x, y):
        if not math.isfinite(yv):
            px, py = frame.px(xv), _TOP + 4
            marks.append(f'<path d="M{px - 3.5:.1f},{py - 3.5:.1f} l7,7 m0,-7 l-7,7" stroke="{_BAD}" stroke-width="1.6">'
                         f'<title>{escape(f"{xv:g}: {label}")}</title></path>')
    return marks


def _nice_ticks(lo: float, hi: float, count: int = 4) -> tuple[float, ...]:
    """About `count` round ticks from at or below `lo` to at or above `hi`."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    start = math.floor(lo / step) * step
    n = math.ceil((hi - start) / step - 1e-9)
    return tuple(round(start + i * step, 10) for i in range(n + 1))


def _log_ticks(lo: float, hi: float) -> tuple[float, ...]:
    return tuple(10.0 ** e for e in range(round(math.log10(lo)), round(math.log10(hi)) + 1))


def _int_ticks(top: int) -> tuple[float, ...]:
    step = max(1, math.ceil(top / 4))
    return tuple(float(v) for v in range(0, top + 1, step))


def _numbers(raw: Any) -> tuple[float, ...]:
    if not isinstance(raw, (list, tuple)):
        return ()
    values = tuple(as_error(v) for v in raw)
    return values if all(math.isfinite(v) for v in values) else ()


def _values(raw: Any, n: int) -> tuple[float, ...]:
    """`raw` as n floats ("nan" and odd entries as NaN); () when it is not a list of that length."""
    if not isinstance(raw, (list, tuple)) or len(raw) != n:
        return ()
    return tuple(as_error(v) for v in raw)


def _finite_or_none(value: Any) -> float | None:
    number = as_error(value)
    return number if math.isfinite(number) else None
