"""summary.html: one self-contained page about a whole class (inline CSS and SVG, no scripts).

It shows the score histogram, the pass rate of every check, the most common
diagnoses, the submissions that could not be graded normally (first, in their
own section) and a table of students linking to each `<student>/report.html`.
The table comes pre-sorted twice (by student, by score); radio buttons and CSS
switch between the two, so the page needs no script.
"""

from __future__ import annotations

import functools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from markupsafe import Markup

from grader.outnames import student_folder
from grader.records import CheckResult, GradeReport, Message
from grader.reports.charts import histogram_svg
from grader.reports.html import load_template, percent, points_text, status_counts
from grader.reports.i18n import Lang, markup, plain, text
from grader.reports.json_ import write_text_atomic
from grader.reports.similarity import SimilarityLinks

_TEMPLATE = "summary.html.j2"
_BINS = 10
_TOP_DIAGNOSES = 10


@dataclass(frozen=True)
class _PassRate:
    check_id: str
    passed: int
    total: int
    percent: float


@dataclass(frozen=True)
class _Row:
    student: str
    link: str
    points: str
    percent: float
    framework: str
    counts: dict[str, int]
    name: str = ""
    """The student's name from the roster or the course site, if known."""
    late: bool = False


@dataclass(frozen=True)
class _Errored:
    row: _Row
    checks: tuple[CheckResult, ...]


def render_summary(reports: Sequence[GradeReport], *, lang: Lang = "en", missing: Sequence[tuple[str, str]] = (),
                   unknown: Sequence[str] = (), similarity: SimilarityLinks | None = None) -> str:
    """The complete summary.html page for a graded class.

    Args:
        reports: One report per graded submission, in any order.
        lang: "en" or "zh".
        missing: (student, name) of the roster's students without a submission.
        unknown: Students graded whom the roster does not know.
        similarity: The flagged pairs of `grade --similarity`, linked to similarity.html (staff only).
    """
    rows = {report.student: _get_row(report) for report in reports}
    by_student = sorted(rows.values(), key=lambda row: row.student)
    scores = [row.percent for row in by_student]
    return load_template(_TEMPLATE).render(
        t=functools.partial(text, lang),
        m=functools.partial(markup, lang=lang),
        count=len(reports),
        mean=round(statistics.fmean(scores), 1) if scores else 0.0,
        median=round(statistics.median(scores), 1) if scores else 0.0,
        histogram=Markup(histogram_svg(score_histogram(reports), lang=lang)),  # charts.py escapes every text
        pass_rates=pass_rates(reports),
        diagnoses=common_diagnoses(reports, lang=lang),
        errored=[_Errored(rows[r.student], errored_checks(r)) for r in sorted(reports, key=lambda r: r.student) if is_errored(r)],
        by_student=by_student,
        by_score=sorted(by_student, key=lambda row: (row.percent, row.student)),
        missing=sorted(missing),
        unknown=[rows[s] for s in sorted(unknown) if s in rows],
        similarity=similarity,
    )


def write_summary(reports: Sequence[GradeReport], path: Path, *, lang: Lang = "en", missing: Sequence[tuple[str, str]] = (),
                  unknown: Sequence[str] = (), similarity: SimilarityLinks | None = None) -> None:
    """Write `render_summary(reports, lang=lang, ...)` to `path` atomically, as UTF-8.

    Args:
        reports: One report per graded submission.
        path: Where summary.html goes, beside the students' folders (its links are `<student>/report.html`).
        lang: "en" or "zh".
        missing: (student, name) of the roster's students without a submission.
        unknown: Students graded whom the roster does not know.
        similarity: The flagged pairs of `grade --similarity`, linked to similarity.html (staff only).
    """
    write_text_atomic(path, render_summary(reports, lang=lang, missing=missing, unknown=unknown, similarity=similarity))


def score_histogram(reports: Sequence[GradeReport]) -> list[int]:
    """Students per tenth of the points: [0, 10)%, [10, 20)%, ..., [90, 100]%."""
    counts = [0] * _BINS
    for report in reports:
        counts[min(int(percent(report.score, report.max_score) // 10), _BINS - 1)] += 1
    return counts


def pass_rates(reports: Sequence[GradeReport]) -> list[_PassRate]:
    """For every check id, in the order first seen: how many of the students who have it passed it."""
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for report in reports:
        for check in report.checks:
            total[check.id] += 1
            passed[check.id] += check.status == "passed"
    return [_PassRate(cid, passed[cid], n, percent(passed[cid], n)) for cid, n in total.items()]


def common_diagnoses(reports: Sequence[GradeReport], *, lang: Lang) -> list[tuple[Markup, int]]:
    """The most common diagnoses, each with how many students got it, most common first.

    Diagnoses are counted by message id: the same mistake with other numbers ("scaled
    by 1/32", "scaled by 1/64") is one row, shown as its first occurrence (students
    in order) says it.  Each student counts once per id; ties go by the English text,
    so both languages list the rows in the same order.
    """
    counts: Counter[str] = Counter()
    first: dict[str, Message] = {}
    for report in sorted(reports, key=lambda r: r.student):
        diagnoses = [check.diagnosis for check in report.checks if check.diagnosis is not None]
        for diagnosis in diagnoses:
            first.setdefault(diagnosis.id, diagnosis)
        counts.update({diagnosis.id for diagnosis in diagnoses})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], plain(first[item[0]], "en")))[:_TOP_DIAGNOSES]
    return [(markup(first[diagnosis_id], lang), n) for diagnosis_id, n in ranked]


def is_errored(report: GradeReport) -> bool:
    """Whether the grading run itself went wrong for this submission (see `errored_checks`)."""
    return bool(errored_checks(report))


def errored_checks(report: GradeReport) -> tuple[CheckResult, ...]:
    """The checks that ended in an error (GradeReport.errored: the one definition)."""
    return report.errored


def report_link(student: str) -> str:
    """The relative URL of a student's report, with every character of the name that could
    leave the folder or break the URL percent-encoded."""
    name = quote(student_folder(student), safe="")
    if set(name) <= {"."}:
        name = name.replace(".", "%2E")  # "." and ".." would point at the summary's own folder or above
    return f"{name}/report.html"


def _get_row(report: GradeReport) -> _Row:
    return _Row(
        student=report.student,
        link=report_link(report.student),
        points=points_text(report.score, report.max_score),
        percent=percent(report.score, report.max_score),
        framework=report.framework or "-",
        counts=status_counts(report.checks),
        name=report.display_name or "",
        late=report.late,
    )
