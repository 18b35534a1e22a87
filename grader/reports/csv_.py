"""CSV exports of a batch: the grader's own gradebook.csv and a Canvas grade import.

gradebook.csv columns: student, name (from the roster or the course site's download),
score, max_score, framework, late ("yes" when the site marked the submission late), then
one column per check id holding that check's points (blank when the student's report
lacks the check), then errors, the number of checks that ended in status "error", and
missing ("yes" on the row of a roster student who handed nothing in; its scores are blank).

The Canvas file follows the Gradebook import format (Grades > Import):

    Student,ID,SIS User ID,SIS Login ID,Section,HW4 (12345)
    Points Possible,,,,,100
    2151131,,2151131,,,90

Canvas matches a row to a student by ID, SIS User ID or SIS Login ID.  The
grader only knows the name of the student's submission folder, normally the
student number, so that goes into SIS User ID (and Student, which Canvas only
shows); ID, SIS Login ID and Section stay blank.  If your Canvas SIS User IDs are
not the folder names, rename the folders or fill in a column before importing.

Both files are UTF-8 without a byte-order mark, with CRLF line ends (the csv
module's default, which Excel and Canvas read).  A text cell that a spreadsheet
would run as a formula (it starts with =, +, -, @, a tab or a carriage return)
gets a leading single quote; folder names come from students.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from grader.errors import UsageError
from grader.records import GradeReport
from grader.reports.json_ import write_text_atomic

_LEADING = ("student", "name", "score", "max_score", "framework", "late")
_TRAILING = ("errors", "missing")
_YES = "yes"
_CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
_CANVAS_POINTS_ROW = "Points Possible"
# OWASP's list of characters that make Excel, LibreOffice or Google Sheets evaluate a cell.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_gradebook(reports: Sequence[GradeReport], path: Path, *, missing: Sequence[tuple[str, str]] = ()) -> None:
    """Write the gradebook of `reports` to `path` atomically, as UTF-8 CSV without BOM.

    Rows are sorted by student; check columns are the union of all check ids, in
    the order they are first seen in that sorted list.

    Args:
        reports: One report per graded submission.
        path: Where the CSV goes; its directory must exist.
        missing: (student, name) of each roster student without a submission: a row marked missing.
    """
    ordered = _by_student(reports)
    check_ids = _get_check_ids(ordered)
    header = [*_LEADING, *check_ids, *_TRAILING]
    rows = [_get_row(report, check_ids) for report in ordered]
    rows += [_missing_row(student, name, len(check_ids)) for student, name in sorted(missing)]
    write_text_atomic(path, _csv_text([header, *sorted(rows, key=lambda row: row[0])]))


def write_canvas_csv(reports: Sequence[GradeReport], path: Path, *, assignment: str, points_possible: float) -> None:
    """Write a Canvas Gradebook import CSV with one assignment column, atomically.

    Each score is scaled from the report's max_score to `points_possible`, so
    90 / 100 in the grader becomes 9 in an assignment worth 10 points; a report
    with max_score 0 gets 0.  Rows are sorted by student.

    Args:
        reports: One report per graded submission.
        path: Where the CSV goes; its directory must exist.
        assignment: The Canvas assignment's name as the column header, optionally
            with its Canvas id in parentheses, e.g. "HW4 (12345)", which makes the
            match exact.
        points_possible: The assignment's points in Canvas; written in the
            "Points Possible" row and used to scale the scores.

    Raises:
        UsageError: `assignment` is blank or `points_possible` is not positive.
    """
    _check_canvas_args(assignment, points_possible)
    header = [*_CANVAS_IDENTITY, assignment]
    points_row = [_CANVAS_POINTS_ROW, "", "", "", "", _number(points_possible)]
    rows = [_get_canvas_row(report, points_possible) for report in _by_student(reports)]
    write_text_atomic(path, _csv_text([header, points_row, *rows]))


def _escape_formula(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _check_canvas_args(assignment: str, points_possible: float) -> None:
    if not assignment.strip():
        raise UsageError("write_canvas_csv: assignment is blank; pass the Canvas assignment's name, e.g. 'HW4 (12345)'")
    if not points_possible > 0:  # also rejects NaN
        raise UsageError(
            f"write_canvas_csv: points_possible must be > 0, got {points_possible}; "
            f"pass the assignment's points as set in Canvas"
        )


def _by_student(reports: Sequence[GradeReport]) -> list[GradeReport]:
    return sorted(reports, key=lambda report: report.student)


def _csv_text(rows: Iterable[Sequence[str]]) -> str:
    # Every cell is escaped, which is safe for numbers too: scores are never negative.
    buffer = io.StringIO()
    csv.writer(buffer).writerows([_escape_formula(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def _get_check_ids(reports: Sequence[GradeReport]) -> list[str]:
    # A dict keeps first-seen order and drops repeats.
    seen = {check.id: None for report in reports for check in report.checks}
    return list(seen)


def _get_row(report: GradeReport, check_ids: list[str]) -> list[str]:
    points = {check.id: _number(check.score) for check in report.checks}
    errors = len(report.errored)
    return [
        report.student,
        report.display_name or "",
        _number(report.score),
        _number(report.max_score),
        report.framework or "",
        _YES if report.late else "",
        *(points.get(check_id, "") for check_id in check_ids),
        str(errors),
        "",
    ]


def _missing_row(student: str, name: str, checks: int) -> list[str]:
    # Blank scores, not 0: whether no submission costs the points is the course's rule, not the grader's.
    return [student, name, "", "", "", "", *([""] * checks), "", _YES]


def _get_canvas_row(report: GradeReport, points_possible: float) -> list[str]:
    scaled = report.score / report.max_score * points_possible if report.max_score > 0 else 0.0
    return [report.student, "", report.student, "", "", _number(scaled)]


def _number(value: float) -> str:
    # 90.0 -> "90", 2.5 -> "2.5"; ten significant digits keep partial credit exact enough.
    return f"{value:.10g}"
