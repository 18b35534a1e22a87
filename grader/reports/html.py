"""report.html: one self-contained page per student (inline CSS and SVG, no scripts, no links).

Everything that comes from the student (name, evidence, source code) is escaped by
jinja2's autoescape; this module only prepares plain values for the template in
`templates/report.html.j2`.  Checks' messages, diagnoses and notes and the intake's
findings are `Message`s rendered by `i18n.markup` in the page's language: catalog
text escaped, text from student code in <code>.  The heat maps and training charts
are <svg> that `heatmap.py` and `charts.py` build with every text escaped; they are
marked safe.  Page text comes from `i18n.py`, in English or Chinese.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2
from markupsafe import Markup

from grader.evidence import TrainingEvidence
from grader.records import CheckResult, Finding, GradeReport, StaffAdjustment, StaffComment
from grader.reports.charts import training_charts, training_series
from grader.reports.evidence_view import EvidenceRow, Excerpt, HeatMap, evidence_notes, evidence_rows, excerpts, heatmaps
from grader.reports.heatmap import legend
from grader.reports.i18n import Lang, hint, markup, text
from grader.reports.json_ import write_text_atomic
from grader.reports.source_view import SourceView, source_view
from grader.safe_ast import COMPILE_LOCK

_TEMPLATE = "report.html.j2"
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_TRAINING_IDS = ("numpy.model.train", "framework.model.train")
_STATUSES = ("passed", "failed", "error", "skipped")


@dataclass(frozen=True)
class PartBar:
    """Points earned in one part of the homework, for the bars at the top."""

    label: str
    points: str
    percent: float


@dataclass(frozen=True)
class _CheckCard:
    check: CheckResult
    points: str
    withheld: bool
    """A hidden check whose details the rubric does not release: status and points only."""
    message: Markup = Markup()
    diagnosis: Markup | None = None
    notes: tuple[Markup, ...] = ()
    hint: str | None = None
    evidence: tuple[EvidenceRow, ...] = ()
    source: SourceView | None = None
    heatmaps: tuple[HeatMap, ...] = ()
    excerpts: tuple[Excerpt, ...] = ()
    charts: tuple[Markup, ...] = ()
    seed: int | None = None
    """The pinned seed of a training check's own run, shown with its charts."""
    adjustment: StaffAdjustment | None = None
    """Staff changed this check's points (`grade review`); its reason when the student may see it."""
    autograder_points: str = ""
    comments: tuple[StaffComment, ...] = ()
    """Staff's comments on this check."""


def render_html(report: GradeReport, *, lang: Lang = "en") -> str:
    """The complete report.html page for one graded submission.

    Args:
        report: The graded submission.
        lang: "en" or "zh": the language of the page text and of the checks'
            messages, diagnoses and notes.
    """
    template = load_template(_TEMPLATE)
    return template.render(
        report=report,
        t=functools.partial(text, lang),
        m=functools.partial(markup, lang=lang),
        score=points_text(report.score, report.max_score),
        percent=percent(report.score, report.max_score),
        part_bars=part_bars(report, lang=lang),
        findings=_get_sorted_findings(report.findings),
        counts=status_counts(report.checks),
        cards=[_with_staff(_get_card(check, report, lang), report) for check in report.checks],
        legend=legend(lang),
        staff_comments=report.comments,
    )


def write_html(report: GradeReport, path: Path, *, lang: Lang = "en") -> None:
    """Write `render_html(report, lang=lang)` to `path` atomically, as UTF-8.

    Args:
        report: The graded submission.
        path: Where report.html goes; its directory must exist.
        lang: "en" or "zh".
    """
    write_text_atomic(path, render_html(report, lang=lang))


@functools.cache
def jinja_environment() -> jinja2.Environment:
    """The autoescaping jinja2 environment of the report templates (shared with summary.py), made once."""
    loader = jinja2.FileSystemLoader(Path(__file__).parent / "templates")
    return jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def load_template(name: str) -> jinja2.Template:
    """A template of templates/, compiled on first use only, under the grader's compile lock
    (compiling Python in two threads at once can fail on CPython 3.11: see safe_ast.py)."""
    with COMPILE_LOCK:
        return jinja_environment().get_template(name)


def part_of(check_id: str) -> str | None:
    """The catalog key of the part a check counts towards: numpy layers, numpy model or framework."""
    if check_id.startswith("framework."):
        return "part.framework"
    if check_id.startswith("numpy.model."):
        return "part.numpy_model"
    if check_id.startswith("numpy.") and check_id.endswith(".backward"):
        return "part.numpy_layers"
    return None


def part_bars(report: GradeReport, *, lang: Lang) -> list[PartBar]:
    """One bar per part that has points, in the order numpy layers, numpy model, framework."""
    totals: dict[str, list[float]] = {key: [0.0, 0.0] for key in ("part.numpy_layers", "part.numpy_model", "part.framework")}
    for check in report.checks:
        key = part_of(check.id)
        if key is not None and not check.advisory:
            totals[key][0] += check.score
            totals[key][1] += check.max_score
    return [PartBar(text(lang, key), points_text(got, most), percent(got, most)) for key, (got, most) in totals.items() if most > 0]


def status_counts(checks: tuple[CheckResult, ...]) -> dict[str, int]:
    """How many checks ended in each status, statuses that occur only."""
    counts = dict.fromkeys(_STATUSES, 0)
    for check in checks:
        counts[check.status] += 1
    return {status: n for status, n in counts.items() if n}


def percent(score: float, max_score: float) -> float:
    """`score` as a percentage of `max_score`, clamped to 0-100 and rounded to 0.1."""
    if max_score <= 0:
        return 0.0
    return round(min(max(score / max_score * 100, 0.0), 100.0), 1)


def points_text(score: float, max_score: float) -> str:
    """'7.5 / 10'."""
    return f"{round(score, 2):g} / {round(max_score, 2):g}"


def _get_sorted_findings(findings: tuple[Finding, ...]) -> list[Finding]:
    return sorted(findings, key=lambda finding: _SEVERITY_ORDER[finding.severity])


def _get_card(check: CheckResult, report: GradeReport, lang: Lang) -> _CheckCard:
    points = points_text(check.score, check.max_score)
    if check.visibility == "hidden" and not check.released:
        return _CheckCard(check=check, points=points, withheld=True)
    return _CheckCard(
        check=check,
        points=points,
        withheld=False,
        message=markup(check.message, lang),
        diagnosis=markup(check.diagnosis, lang) if check.diagnosis else None,
        notes=evidence_notes(check, lang=lang),
        hint=hint(lang, check.id),
        evidence=evidence_rows(check, lang=lang),
        source=source_view(check, report),
        heatmaps=heatmaps(check, lang=lang),
        excerpts=excerpts(check),
        charts=_get_charts(check, lang),
        seed=check.evidence.seed if isinstance(check.evidence, TrainingEvidence) else None,
    )


def _with_staff(card: _CheckCard, report: GradeReport) -> _CheckCard:
    """The card with staff's change to its points, their comments on the check and beside its code lines."""
    adjustment = report.adjustment(card.check.id)
    source = card.source
    if source is not None and report.comments:
        notes = {(c.file, c.line): c for c in report.comments if c.file is not None}
        lines = tuple(replace(line, comments=tuple(c.text for c in report.comments if (c.file, c.line) == (source.file, line.number)))
                      if (source.file, line.number) in notes else line for line in source.lines)
        source = replace(source, lines=lines)
    return replace(card, source=source, adjustment=adjustment,
                   autograder_points=points_text(adjustment.autograder_score, card.check.max_score) if adjustment else "",
                   comments=tuple(c for c in report.comments if c.check_id == card.check.id))


def _get_charts(check: CheckResult, lang: Lang) -> tuple[Markup, ...]:
    evidence = check.evidence
    series = training_series(evidence) if check.id in _TRAINING_IDS and isinstance(evidence, TrainingEvidence) else None
    if series is None:
        return ()
    return tuple(Markup(svg) for svg in training_charts(series, check_id=check.id, lang=lang))  # charts.py escapes every text
