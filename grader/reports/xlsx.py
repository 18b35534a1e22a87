"""gradebook.xlsx: the class gradebook for Excel, beside gradebook.csv.

Two sheets:

- the gradebook (成绩册 with `--lang zh`): the rows and columns of gradebook.csv (student,
  name, score, max score, framework, late, one column of points per check id, errors,
  missing), with the fixed headers in the report's language;
- the checks (检查结果): one row per student and check: status, points, maximum, message
  and diagnosis, rendered in the workbook's language like the reports.

Numbers are stored as numbers, so sums and sorting work.  Text comes from students (names,
messages quoting their code): a cell that Excel would run as a formula (it starts with =,
+, -, @, a tab or a carriage return) gets a leading single quote as in the CSV, characters
that XML cannot hold are dropped, and a cell is cut at Excel's 32,767 characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from grader.atomic import atomic_write
from grader.records import CheckResult, GradeReport
from grader.reports.i18n import Lang, plain, text

__all__ = ["write_gradebook_xlsx"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_MAX_CELL = 32_767
_Cell = str | float | int | None


def write_gradebook_xlsx(reports: Sequence[GradeReport], path: Path, *, lang: Lang = "en",
                         missing: Sequence[tuple[str, str]] = ()) -> None:
    """Write gradebook.xlsx for `reports` to `path`, atomically.

    Args:
        reports: One report per graded submission.
        path: Where the workbook goes; its directory must exist.
        lang: Language of the sheet names, headers and messages ("en" or "zh").
        missing: (student, name) of each roster student without a submission: a row marked missing.
    """
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new Workbook always has one sheet
    ordered = sorted(reports, key=lambda report: report.student)
    _fill(sheet, text(lang, "xlsx.sheet_gradebook"), _gradebook_rows(ordered, missing, lang))
    _fill(book.create_sheet(), text(lang, "xlsx.sheet_checks"), _check_rows(ordered, lang))
    _save_atomic(book, path)


def _gradebook_rows(reports: list[GradeReport], missing: Sequence[tuple[str, str]], lang: Lang) -> list[list[_Cell]]:
    check_ids = list({check.id: None for report in reports for check in report.checks})
    header: list[_Cell] = [text(lang, f"xlsx.{key}") for key in ("student", "name", "score", "max_score", "framework", "late")]
    header += [*check_ids, text(lang, "xlsx.errors"), text(lang, "xlsx.missing")]
    yes = text(lang, "xlsx.yes")
    rows: list[list[_Cell]] = []
    for report in reports:
        points = {check.id: check.score for check in report.checks}
        errors = len(report.errored)
        rows.append([report.student, report.display_name or "", report.score, report.max_score, report.framework or "",
                     yes if report.late else "", *(points.get(cid) for cid in check_ids), errors, ""])
    for student, name in missing:
        rows.append([student, name, None, None, "", "", *([None] * len(check_ids)), None, yes])
    return [header, *sorted(rows, key=lambda row: str(row[0]))]


def _check_rows(reports: list[GradeReport], lang: Lang) -> list[list[_Cell]]:
    keys = ("student", "name", "check", "status", "points", "max_points", "message", "diagnosis")
    rows: list[list[_Cell]] = [[text(lang, f"xlsx.{key}") for key in keys]]
    for report in reports:
        rows.extend(_check_row(report, check, lang) for check in report.checks)
    return rows


def _check_row(report: GradeReport, check: CheckResult, lang: Lang) -> list[_Cell]:
    # Staff read this workbook, so hidden checks show their messages as in the staff's reports.
    return [report.student, report.display_name or "", check.id, text(lang, f"status.{check.status}"), check.score,
            check.max_score, plain(check.message, lang), plain(check.diagnosis, lang) if check.diagnosis else ""]


def _fill(sheet: Worksheet, title: str, rows: list[list[_Cell]]) -> None:
    sheet.title = title
    for row in rows:
        sheet.append([_safe(cell) for cell in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"


def _safe(cell: _Cell) -> _Cell:
    """Text as text, never a formula; numbers as numbers."""
    if not isinstance(cell, str):
        return cell
    value = ILLEGAL_CHARACTERS_RE.sub("", cell)[:_MAX_CELL]
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _save_atomic(book: Workbook, path: Path) -> None:
    # Written beside `path` and renamed into place: Excel never opens half a file.
    with atomic_write(path) as temp:
        book.save(temp)
