"""A check's evidence prepared for report.html: table rows, heat maps, expected-vs-yours excerpts.

Plain values only; the template escapes them.  The heat map's <svg> comes from
`heatmap.py`, which escapes every text it writes, and is marked safe here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from markupsafe import Markup

from grader.models import CheckResult
from grader.reports.heatmap import as_error, count_over, heatmap_svg, is_over
from grader.reports.i18n import Lang, text
from grader.reports.json_ import strict_jsonable

_LONG_TEXT = 120
"""Strings longer than this, or with a line break, are shown collapsed in <pre>."""
_LONG_JSON = 400
"""Lists and dicts whose JSON is longer than this are collapsed as well."""
_MAX_SHOWN = 20_000
"""Evidence text is cut at this many characters so one huge array cannot bloat the page."""
_MAP_KEY = "rel_err_map"
"""Evidence key of a gradient's elementwise relative errors: drawn as a heat map, never listed."""
_TOL_KEY = "rel_err_tol"
_EXCERPT_KEYS = ("expected_excerpt", "got_excerpt")


@dataclass(frozen=True)
class EvidenceRow:
    """One evidence entry: its key and its value as text, shown inline, in <pre>, or collapsed."""

    key: str
    text: str
    layout: Literal["inline", "pre", "details"]
    summary: str = ""


@dataclass(frozen=True)
class HeatMap:
    """The heat map of one gradient, with the numbers for its caption."""

    name: str
    svg: Markup
    over: int
    total: int
    tol: str
    full: int | None = None
    """The gradient's size when the map shows only its top-left corner."""


@dataclass(frozen=True)
class ExcerptCell:
    """One number of an excerpt; `wrong` when that entry is over the tolerance."""

    text: str
    wrong: bool = False


@dataclass(frozen=True)
class Excerpt:
    """The top-left corner of the expected gradient and of the student's, side by side."""

    name: str
    expected: tuple[tuple[ExcerptCell, ...], ...]
    got: tuple[tuple[ExcerptCell, ...], ...]


def evidence_rows(check: CheckResult, *, lang: Lang) -> tuple[EvidenceRow, ...]:
    """Every evidence entry as a row, without the raw relative-error maps (the heat maps show them)."""
    return tuple(_get_row(str(key), _without_map(value), lang) for key, value in check.evidence.items())


def heatmaps(check: CheckResult, *, lang: Lang) -> tuple[HeatMap, ...]:
    """One heat map per gradient with a relative-error map, for failed checks only."""
    if check.status != "failed":
        return ()
    maps = (_get_heatmap(str(key), value, lang) for key, value in check.evidence.items())
    return tuple(heatmap for heatmap in maps if heatmap is not None)


def excerpts(check: CheckResult) -> tuple[Excerpt, ...]:
    """Expected and got corners of the gradients of a failed check, wrong entries marked by the map;
    a gradient whose map is entirely within tolerance is left out."""
    if check.status != "failed":
        return ()
    found = (_get_excerpt(str(key), value) for key, value in check.evidence.items() if isinstance(value, Mapping))
    return tuple(excerpt for excerpt in found if excerpt is not None)


def _without_map(value: Any) -> Any:
    if isinstance(value, Mapping) and _MAP_KEY in value:
        return {key: item for key, item in value.items() if key != _MAP_KEY}
    return value


# --------------------------------------------------------------------------- heat maps


def _get_heatmap(name: str, evidence: Any, lang: Lang) -> HeatMap | None:
    if not isinstance(evidence, Mapping):
        return None
    rows, tol = map_rows(evidence.get(_MAP_KEY)), _tolerance(evidence)
    total = sum(len(row) for row in rows)
    if tol is None or total == 0:
        return None
    return HeatMap(
        name=name,
        svg=Markup(heatmap_svg(name, rows, tol, lang=lang)),  # heatmap_svg escapes every text it writes
        over=count_over(rows, tol),
        total=total,
        tol=f"{tol:g}",
        full=_full_size(total, evidence.get("vs_autograd", evidence)),
    )


def map_rows(raw: Any) -> list[list[float | str]]:
    """A relative-error map as rows; a 1-D map becomes one row, anything that is not a list none."""
    if not isinstance(raw, (list, tuple)):
        return []
    if not any(isinstance(row, (list, tuple)) for row in raw):
        return [list(raw)] if raw else []
    return [list(row) if isinstance(row, (list, tuple)) else [row] for row in raw]


def _tolerance(evidence: Mapping[str, Any]) -> float | None:
    tol = evidence.get(_TOL_KEY)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol):
        return None
    return float(tol)


def _full_size(shown: int, comparison: Any) -> int | None:
    """The gradient's size from its comparison ("total"), when larger than the map."""
    full = comparison.get("total") if isinstance(comparison, Mapping) else None
    if isinstance(full, int) and not isinstance(full, bool) and full > shown:
        return full
    return None


# --------------------------------------------------------------------------- excerpts


def _get_excerpt(name: str, evidence: Mapping[str, Any]) -> Excerpt | None:
    want, got = (_number_rows(evidence.get(key)) for key in _EXCERPT_KEYS)
    if not want or not got:
        return None
    rel_err, tol = map_rows(evidence.get(_MAP_KEY)), _tolerance(evidence)
    if rel_err and tol is not None and count_over(rel_err, tol) == 0:
        return None

    def wrong(i: int, j: int) -> bool:
        if tol is None or i >= len(rel_err) or j >= len(rel_err[i]):
            return False
        return is_over(as_error(rel_err[i][j]), tol)

    def cells(rows: list[list[float]], check: bool) -> tuple[tuple[ExcerptCell, ...], ...]:
        return tuple(tuple(ExcerptCell(f"{v:.6g}", check and wrong(i, j)) for j, v in enumerate(row)) for i, row in enumerate(rows))

    return Excerpt(name=name, expected=cells(want, False), got=cells(got, True))


def _number_rows(raw: Any) -> list[list[float]]:
    rows = map_rows(raw)
    return [[as_error(v) for v in row] for row in rows]


# --------------------------------------------------------------------------- table rows


def _get_row(key: str, value: Any, lang: Lang) -> EvidenceRow:
    if isinstance(value, str):
        shown, long = value, "\n" in value or len(value) > _LONG_TEXT
    elif isinstance(value, (dict, list, tuple)):
        shown = json.dumps(strict_jsonable(value), ensure_ascii=False)
        long = len(shown) > _LONG_JSON
    else:
        return EvidenceRow(key=key, text=_scalar_text(value), layout="inline")
    shown = _cut(shown, lang)
    if long:
        return EvidenceRow(key=key, text=shown, layout="details", summary=_size_msg(shown, lang))
    layout: Literal["inline", "pre"] = "inline" if isinstance(value, str) else "pre"
    return EvidenceRow(key=key, text=shown, layout=layout)


def _scalar_text(value: Any) -> str:
    plain = strict_jsonable(value)
    if isinstance(plain, float):
        return f"{plain:.6g}"
    if isinstance(plain, str):
        return plain
    return json.dumps(plain, ensure_ascii=False)


def _cut(shown: str, lang: Lang) -> str:
    if len(shown) <= _MAX_SHOWN:
        return shown
    return f"{shown[:_MAX_SHOWN]}\n{text(lang, 'evidence.cut', n=len(shown) - _MAX_SHOWN)}"


def _size_msg(shown: str, lang: Lang) -> str:
    lines = shown.count("\n") + 1
    return text(lang, "evidence.show_lines", n=lines) if lines > 1 else text(lang, "evidence.show_chars", n=len(shown))
