"""A check's typed evidence prepared for the reports: table rows, notes, heat maps, expected-vs-yours excerpts.

The evidence is one of grader/evidence's models (gradient, training, probe, error,
none).  Every field that holds something becomes a row, keyed by the field's name
(a code word, the same in every language): a gradient's comparison is one row
named after the gradient, and `details` adds one row per key.  The raw
relative-error maps are drawn as heat maps, never listed; `notes` are messages,
rendered in the report's language beside the check's message, not as rows.

Plain values only; the template escapes them.  The heat map's <svg> comes from
`heatmap.py`, which escapes every text it writes, and is marked safe here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from markupsafe import Markup
from pydantic import BaseModel

from grader.evidence import Evidence, GradientComparison, GradientEvidence
from grader.records import CheckResult, Location
from grader.reports.heatmap import as_error, count_over, heatmap_svg, is_over
from grader.reports.i18n import Lang, markup, text
from grader.reports.json_ import strict_jsonable

_LONG_TEXT = 120
"""Strings longer than this, or with a line break, are shown collapsed in <pre>."""
_LONG_JSON = 400
"""Lists and dicts whose JSON is longer than this are collapsed as well."""
_MAX_SHOWN = 20_000
"""Evidence text is cut at this many characters so one huge array cannot bloat the page."""
_NOT_ROWS = frozenset({"kind", "notes", "details", "gradients"})
"""Fields that are not shown as rows of their own: the discriminator, the notes (messages) and the
containers whose items become rows."""
_NOT_IN_GRADIENT_ROW = frozenset({"name", "rel_err_map"})
"""A gradient's row is keyed by its name, and its map is the heat map."""
_WARNINGS = "import_warnings"


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


def evidence_items(evidence: Evidence) -> list[tuple[str, Any]]:
    """The evidence as (key, plain JSON-able value) pairs, in field order: each field that differs from its
    default, one pair per gradient (without its map), then one per `details` key.  Notes are left out
    (`evidence_notes`), and so is the `kind`.  A place in the student's files stays a `Location`, for the
    caller to word in its language (`location_text`).

    Shared by report.html (rows) and Gradescope's plain-text excerpt.
    """
    items: list[tuple[str, Any]] = []
    for name, field in type(evidence).model_fields.items():
        value = getattr(evidence, name)
        if name in _NOT_ROWS or (not field.is_required() and value == field.get_default(call_default_factory=True)):
            continue
        items.append((name, _plain(name, value)))
    if isinstance(evidence, GradientEvidence):
        items.extend((g.name, _gradient_row(g)) for g in evidence.gradients)
    items.extend((str(key), strict_jsonable(value)) for key, value in evidence.details.items())
    return items


def evidence_rows(check: CheckResult, *, lang: Lang) -> tuple[EvidenceRow, ...]:
    """Every evidence entry as a row (see `evidence_items`)."""
    return tuple(_get_row(key, value, lang) for key, value in evidence_items(check.evidence))


def evidence_notes(check: CheckResult, *, lang: Lang) -> tuple[Markup, ...]:
    """The evidence's notes (findings that did not fail the check), rendered in `lang`."""
    return tuple(markup(note, lang) for note in check.evidence.notes)


def heatmaps(check: CheckResult, *, lang: Lang) -> tuple[HeatMap, ...]:
    """One heat map per gradient with a relative-error map, for failed checks only."""
    if check.status != "failed" or not isinstance(check.evidence, GradientEvidence):
        return ()
    maps = (_get_heatmap(gradient, lang) for gradient in check.evidence.gradients)
    return tuple(heatmap for heatmap in maps if heatmap is not None)


def excerpts(check: CheckResult) -> tuple[Excerpt, ...]:
    """Expected and got corners of the gradients of a failed check, wrong entries marked by the map;
    a gradient whose map is entirely within tolerance is left out."""
    if check.status != "failed" or not isinstance(check.evidence, GradientEvidence):
        return ()
    found = (_get_excerpt(gradient) for gradient in check.evidence.gradients)
    return tuple(excerpt for excerpt in found if excerpt is not None)


def _gradient_row(gradient: GradientComparison) -> Any:
    return strict_jsonable(gradient.model_dump(exclude=set(_NOT_IN_GRADIENT_ROW)))


def location_text(location: Location, lang: Lang) -> str:
    """'hw.ipynb [cell 3], line 14' (as the source view labels its file) in `lang`."""
    label = location.file if location.cell is None else f"{location.file} [cell {location.cell}]"
    return label if location.line is None else text(lang, "source.origin", file=label, line=location.line)


def _plain(name: str, value: Any) -> Any:
    """A field's value as plain JSON-able data (a Location as it is: its words depend on the language)."""
    if isinstance(value, Location):
        return value
    if isinstance(value, BaseModel):
        return strict_jsonable(value.model_dump())
    if name == _WARNINGS:
        return "\n".join(value)  # lines Python printed: read best in <pre>
    return strict_jsonable(value)


# --------------------------------------------------------------------------- heat maps


def _get_heatmap(gradient: GradientComparison, lang: Lang) -> HeatMap | None:
    rows, tol = map_rows(gradient.rel_err_map), _tolerance(gradient.rel_err_tol)
    total = sum(len(row) for row in rows)
    if tol is None or total == 0:
        return None
    return HeatMap(
        name=gradient.name,
        svg=Markup(heatmap_svg(gradient.name, rows, tol, lang=lang)),  # heatmap_svg escapes every text it writes
        over=count_over(rows, tol),
        total=total,
        tol=f"{tol:g}",
        full=gradient.vs_autograd.total if gradient.vs_autograd.total > total else None,
    )


def map_rows(raw: Any) -> list[list[float | str]]:
    """A relative-error map as rows; a 1-D map becomes one row, anything that is not a list none."""
    if not isinstance(raw, (list, tuple)):
        return []
    if not any(isinstance(row, (list, tuple)) for row in raw):
        return [list(raw)] if raw else []
    return [list(row) if isinstance(row, (list, tuple)) else [row] for row in raw]


def _tolerance(tol: float | None) -> float | None:
    if tol is None or not math.isfinite(tol):
        return None
    return float(tol)


# --------------------------------------------------------------------------- excerpts


def _get_excerpt(gradient: GradientComparison) -> Excerpt | None:
    want, got = _number_rows(gradient.expected_excerpt), _number_rows(gradient.got_excerpt)
    if not want or not got:
        return None
    rel_err, tol = map_rows(gradient.rel_err_map), _tolerance(gradient.rel_err_tol)
    if rel_err and tol is not None and count_over(rel_err, tol) == 0:
        return None

    def wrong(i: int, j: int) -> bool:
        if tol is None or i >= len(rel_err) or j >= len(rel_err[i]):
            return False
        return is_over(as_error(rel_err[i][j]), tol)

    def cells(rows: list[list[float]], check: bool) -> tuple[tuple[ExcerptCell, ...], ...]:
        return tuple(tuple(ExcerptCell(f"{v:.6g}", check and wrong(i, j)) for j, v in enumerate(row)) for i, row in enumerate(rows))

    return Excerpt(name=gradient.name, expected=cells(want, False), got=cells(got, True))


def _number_rows(raw: Any) -> list[list[float]]:
    rows = map_rows(raw)
    return [[as_error(v) for v in row] for row in rows]


# --------------------------------------------------------------------------- table rows


def _get_row(key: str, value: Any, lang: Lang) -> EvidenceRow:
    if isinstance(value, Location):
        return EvidenceRow(key=key, text=location_text(value, lang), layout="inline")
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
