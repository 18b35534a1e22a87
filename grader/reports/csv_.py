"""gradebook.csv: one row per student, for a spreadsheet or an LMS import.

Columns: student, score, max_score, framework, then one column per check id
holding that check's points (blank when the student's report lacks the check),
then errors, the number of checks that ended in status "error".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from grader.models import GradeReport
from grader.reports.json_ import write_text_atomic

_LEADING = ("student", "score", "max_score", "framework")
_TRAILING = ("errors",)


def write_gradebook(reports: Sequence[GradeReport], path: Path) -> None:
    """Write the gradebook of `reports` to `path` atomically, as UTF-8 CSV without BOM.

    Rows are sorted by student; check columns are the union of all check ids, in
    the order they are first seen in that sorted list.

    Args:
        reports: One report per graded submission.
        path: Where the CSV goes; its directory must exist.
    """
    ordered = sorted(reports, key=lambda report: report.student)
    check_ids = _get_check_ids(ordered)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*_LEADING, *check_ids, *_TRAILING])
    writer.writerows(_get_row(report, check_ids) for report in ordered)
    write_text_atomic(path, buffer.getvalue())


def _get_check_ids(reports: Sequence[GradeReport]) -> list[str]:
    # A dict keeps first-seen order and drops repeats.
    seen = {check.id: None for report in reports for check in report.checks}
    return list(seen)


def _get_row(report: GradeReport, check_ids: list[str]) -> list[str]:
    points = {check.id: _number(check.score) for check in report.checks}
    errors = sum(check.status == "error" for check in report.checks)
    return [
        report.student,
        _number(report.score),
        _number(report.max_score),
        report.framework or "",
        *(points.get(check_id, "") for check_id in check_ids),
        str(errors),
    ]


def _number(value: float) -> str:
    # 90.0 -> "90", 2.5 -> "2.5"; ten significant digits keep partial credit exact enough.
    return f"{value:.10g}"
