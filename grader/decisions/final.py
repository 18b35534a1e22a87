"""The final reports: the autograder's stored results with the TAs' overrides and comments applied.

This is the one place overrides change points.  Every class output (gradebook.csv and
.xlsx, canvas.csv / moodle.csv, summary.html) and every student file (result.json,
report.html, Gradescope's results.json) is written from `final_report(s)`.  What a
student may see goes into the report (`GradeReport.adjustments`, `.comments`): a
staff-only override changes the points but carries no reason, and staff-only comments
stay out entirely; they live in gradebook.sqlite and the review app only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from grader.gradebook_db import Gradebook
from grader.records import CheckResult, GradeReport, StaffAdjustment, StaffComment
from grader.decisions.store import Comment, Override, comments_in, overrides_in


@dataclass(frozen=True)
class Reviews:
    """A student's overrides and comments, as stored."""

    overrides: tuple[Override, ...] = ()
    comments: tuple[Comment, ...] = ()


def final_report(report: GradeReport, reviews: Reviews) -> GradeReport:
    """`report` with each override's points (capped at the check's maximum) and the student-visible notes."""
    if not reviews.overrides and not reviews.comments:
        return report
    by_check = {o.check_id: o for o in reviews.overrides}
    checks: list[CheckResult] = []
    adjustments: list[StaffAdjustment] = []
    for check in report.checks:
        override = by_check.get(check.id)
        if override is None:
            checks.append(check)
            continue
        checks.append(check.model_copy(update={"score": min(override.points, check.max_score)}))
        adjustments.append(StaffAdjustment(check_id=check.id, autograder_score=check.score,
                                           reason=None if override.staff_only else override.reason))
    comments = tuple(StaffComment(text=c.text, file=c.file, line=c.line, check_id=c.check_id, author=c.author)
                     for c in reviews.comments if not c.staff_only)
    return report.model_copy(update={"checks": tuple(checks), "adjustments": tuple(adjustments), "comments": comments})


def needs_another_look(override: Override, report: GradeReport | None, content_hash: str) -> bool:
    """Whether the autograder's verdict under `override` changed since it was made (a regrade, a new rubric,
    a resubmission): the override still holds, a TA should look at it again."""
    check = next((c for c in report.checks if c.id == override.check_id), None) if report is not None else None
    return (check is None or content_hash != override.content_hash or check.score != override.autograder_score
            or check.status != override.autograder_status or override.points > check.max_score)


def reviews_by_student(book: Gradebook) -> dict[str, Reviews]:
    """Every student's overrides and comments, read in one pass."""
    found: dict[str, Reviews] = {}
    for override in overrides_in(book):
        r = found.get(override.student, Reviews())
        found[override.student] = Reviews(r.overrides + (override,), r.comments)
    for comment in comments_in(book):
        r = found.get(comment.student, Reviews())
        found[comment.student] = Reviews(r.overrides, r.comments + (comment,))
    return found


def final_reports(book: Gradebook, students: list[str]) -> list[GradeReport]:
    """The final reports of `students` that have a stored result, in the given order."""
    reviews = reviews_by_student(book)
    return [final_report(report, reviews.get(report.student, Reviews())) for report in book.reports(students)]


def final_report_of(book: Gradebook, student: str) -> GradeReport | None:
    """`student`'s final report, None without a stored result."""
    found = final_reports(book, [student])
    return found[0] if found else None
