"""report.html: one self-contained page per student (inline CSS, no scripts, no links).

Everything that comes from the student (name, messages, evidence, source code) is
escaped by jinja2's autoescape; this module only prepares plain values for the
template in `templates/report.html.j2`.  The one exception is the gradient heat
map, whose <svg> `heatmap.py` builds with every text escaped; it is marked safe here.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Literal

import jinja2
from markupsafe import Markup

from grader.models import CheckResult, Finding, GradeReport
from grader.reports.heatmap import LEGEND, count_over, heatmap_svg
from grader.reports.json_ import strict_jsonable, write_text_atomic

_TEMPLATE = "report.html.j2"
_LONG_TEXT = 120
"""Strings longer than this, or with a line break, are shown collapsed in <pre>."""
_LONG_JSON = 400
"""Lists and dicts whose JSON is longer than this are collapsed as well."""
_MAX_SHOWN = 20_000
"""Evidence text is cut at this many characters so one huge array cannot bloat the page."""
_NUMPY_CLASSES = {"matmul": "Matmul", "relu": "Relu", "softmax": "Softmax", "log": "Log", "model": "myModel"}
"""Second part of a `numpy.*` check id -> the graded definition it is about."""
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_MAP_KEY = "rel_err_map"
"""Evidence key of a gradient's elementwise relative errors: drawn as a heat map, never listed."""
_TOL_KEY = "rel_err_tol"


@dataclass(frozen=True)
class _EvidenceRow:
    key: str
    text: str
    layout: Literal["inline", "pre", "details"]
    summary: str = ""


@dataclass(frozen=True)
class _SourceView:
    name: str
    part: str
    lines: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class _HeatMap:
    name: str
    svg: Markup
    over: int
    total: int
    tol: str
    note: str = ""
    """Says how much of the gradient the map shows, when it is only a corner of it."""


@dataclass(frozen=True)
class _CheckCard:
    check: CheckResult
    points: str
    evidence: tuple[_EvidenceRow, ...]
    source: _SourceView | None
    heatmaps: tuple[_HeatMap, ...] = ()


def render_html(report: GradeReport) -> str:
    """The complete report.html page for one graded submission.

    Args:
        report: The graded submission.
    """
    template = _environment().get_template(_TEMPLATE)
    return template.render(
        report=report,
        score=_points(report.score, report.max_score),
        percent=_get_percent(report),
        findings=_get_sorted_findings(report.findings),
        counts=_get_status_counts(report.checks),
        cards=[_get_card(check, report.sources) for check in report.checks],
        legend=LEGEND,
    )


def write_html(report: GradeReport, path: Path) -> None:
    """Write `render_html(report)` to `path` atomically, as UTF-8.

    Args:
        report: The graded submission.
        path: Where report.html goes; its directory must exist.
    """
    write_text_atomic(path, render_html(report))


@functools.cache
def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(Path(__file__).parent / "templates")
    return jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _get_percent(report: GradeReport) -> float:
    if report.max_score <= 0:
        return 0.0
    return round(min(max(report.score / report.max_score * 100, 0.0), 100.0), 1)


def _get_sorted_findings(findings: tuple[Finding, ...]) -> list[Finding]:
    return sorted(findings, key=lambda finding: _SEVERITY_ORDER[finding.severity])


def _get_status_counts(checks: tuple[CheckResult, ...]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for check in checks:
        counts[check.status] += 1
    return {status: n for status, n in counts.items() if n}


def _get_card(check: CheckResult, sources: dict[str, str]) -> _CheckCard:
    rows = tuple(_get_evidence_row(key, _without_map(value)) for key, value in check.evidence.items())
    return _CheckCard(
        check=check,
        points=_points(check.score, check.max_score),
        evidence=rows,
        source=_get_source(check.id, sources),
        heatmaps=_get_heatmaps(check),
    )


def _without_map(value: Any) -> Any:
    """An evidence value without its relative-error map, which the heat map shows instead."""
    if isinstance(value, Mapping) and _MAP_KEY in value:
        return {key: item for key, item in value.items() if key != _MAP_KEY}
    return value


def _get_heatmaps(check: CheckResult) -> tuple[_HeatMap, ...]:
    """One heat map per gradient with a relative-error map, for failed checks only."""
    if check.status != "failed":
        return ()
    maps = (_get_heatmap(str(key), value) for key, value in check.evidence.items())
    return tuple(heatmap for heatmap in maps if heatmap is not None)


def _get_heatmap(name: str, evidence: Any) -> _HeatMap | None:
    if not isinstance(evidence, Mapping):
        return None
    rows, tol = _map_rows(evidence.get(_MAP_KEY)), evidence.get(_TOL_KEY)
    if not rows or isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol):
        return None
    total = sum(len(row) for row in rows)
    if total == 0:
        return None
    return _HeatMap(
        name=name,
        svg=Markup(heatmap_svg(name, rows, float(tol))),  # heatmap_svg escapes every text it writes
        over=count_over(rows, float(tol)),
        total=total,
        tol=f"{tol:g}",
        note=_shown_msg(total, evidence.get("vs_autograd")),
    )


def _map_rows(raw: Any) -> list[list[float | str]]:
    """The map as rows; a 1-D map becomes one row, anything that is not a list none."""
    if not isinstance(raw, (list, tuple)):
        return []
    if not any(isinstance(row, (list, tuple)) for row in raw):
        return [list(raw)] if raw else []
    return [list(row) if isinstance(row, (list, tuple)) else [row] for row in raw]


def _shown_msg(shown: int, vs_autograd: Any) -> str:
    full = vs_autograd.get("total") if isinstance(vs_autograd, Mapping) else None
    if isinstance(full, int) and not isinstance(full, bool) and full > shown:
        return f"the map shows {shown} of the {full} entries, from the top-left corner"
    return ""


def _get_source(check_id: str, sources: dict[str, str]) -> _SourceView | None:
    name = _source_name(check_id)
    if name is None or name not in sources:
        return None
    lines = sources[name].rstrip("\n").split("\n")
    part, _, shown_name = name.rpartition(":")  # "framework:myModel" -> "framework", "myModel"
    return _SourceView(name=shown_name, part=part, lines=tuple(enumerate(lines, start=1)))


def _source_name(check_id: str) -> str | None:
    """The `GradeReport.sources` key a check is about, e.g. 'numpy.relu.backward' -> 'Relu'."""
    part, _, rest = check_id.partition(".")
    subject = rest.partition(".")[0]
    if part == "numpy":
        return _NUMPY_CLASSES.get(subject)
    if part == "framework" and subject == "model":
        return "framework:myModel"
    return None


def _get_evidence_row(key: str, value: Any) -> _EvidenceRow:
    if isinstance(value, str):
        text, long = value, "\n" in value or len(value) > _LONG_TEXT
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(strict_jsonable(value), ensure_ascii=False)
        long = len(text) > _LONG_JSON
    else:
        return _EvidenceRow(key=key, text=_scalar_text(value), layout="inline")
    text = _cut(text)
    if long:
        return _EvidenceRow(key=key, text=text, layout="details", summary=_size_msg(text))
    layout: Literal["inline", "pre"] = "inline" if isinstance(value, str) else "pre"
    return _EvidenceRow(key=key, text=text, layout=layout)


def _scalar_text(value: Any) -> str:
    plain = strict_jsonable(value)
    if isinstance(plain, float):
        return f"{plain:.6g}"
    if isinstance(plain, str):
        return plain
    return json.dumps(plain, ensure_ascii=False)


def _cut(text: str) -> str:
    if len(text) <= _MAX_SHOWN:
        return text
    return f"{text[:_MAX_SHOWN]}\n... ({len(text) - _MAX_SHOWN} more characters not shown)"


def _size_msg(text: str) -> str:
    lines = text.count("\n") + 1
    return f"show {lines} lines" if lines > 1 else f"show {len(text)} characters"


def _points(score: float, max_score: float) -> str:
    return f"{round(score, 2):g} / {round(max_score, 2):g}"
