"""The file that takes the grades back to the course site: canvas.csv or moodle.csv, in the site's import format.

    write_site_files(reports, out, roll=..., assignment=..., points_possible=...)

- A Canvas roster (the gradebook export): canvas.csv has the roster's identity columns
  (Student, ID, SIS User ID, SIS Login ID, [Integration ID,] Section) copied from its
  rows, the roster's assignment column header, a Points Possible row with the
  assignment's points, and each graded student's score scaled to those points.
  Canvas's Grades > Import matches the rows by ID, so it uploads unchanged.
- A Moodle roster (the grading worksheet): moodle.csv is the worksheet with each graded
  student's Grade filled in, scaled to that row's Maximum Grade and written as Moodle
  writes grades (two decimals); every other cell stays as it was, so "Upload grading
  worksheet" matches the rows by Identifier and checks "Last modified (grade)" as usual.
- A Canvas download without a roster: canvas.csv with the Canvas ID the download's
  file names carry in the ID column (Canvas matches by it) and the download's name.
- Anything else: canvas.csv as csv_.write_canvas_csv writes it (the folder name as SIS User ID).

Students the roster does not know, and roster students without a submission, get no row:
Canvas and Moodle leave a student the file does not mention as they are.  Cells that a
spreadsheet would run as a formula are quoted as in every CSV the grader writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from grader.records import GradeReport
from grader.reports.csv_ import _csv_text, _number, write_canvas_csv
from grader.reports.json_ import write_text_atomic
from grader.roster import ClassRoll, Roster

__all__ = ["write_canvas_import", "write_moodle_worksheet", "write_site_files"]

_CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
_POINTS_ROW = "Points Possible"


def write_site_files(reports: Sequence[GradeReport], out: Path, *, roll: ClassRoll | None, assignment: str,
                     points_possible: float) -> None:
    """Write out/canvas.csv or out/moodle.csv for the class, as the module doc describes.

    Args:
        reports: One report per graded submission.
        out: The class's output folder.
        roll: Who each folder belongs to, and the roster; None for a plain class folder.
        assignment: Column header when there is no roster: the rubric's name.
        points_possible: Points to scale to when there is no roster: the rubric's total.
    """
    roster = roll.roster if roll is not None else None
    if roll is not None and roster is not None and roster.kind == "canvas":
        write_canvas_import(reports, out / "canvas.csv", roll=roll, roster=roster)
    elif roll is not None and roster is not None:
        write_moodle_worksheet(reports, out / "moodle.csv", roll=roll, roster=roster, points_possible=points_possible)
    elif roll is not None and roll.site == "canvas":
        _write_canvas_by_id(reports, out / "canvas.csv", roll=roll, assignment=assignment, points_possible=points_possible)
    else:
        write_canvas_csv(reports, out / "canvas.csv", assignment=assignment, points_possible=points_possible)


def write_canvas_import(reports: Sequence[GradeReport], path: Path, *, roll: ClassRoll, roster: Roster) -> None:
    """canvas.csv from a Canvas roster: its identity columns and assignment column, scores scaled to its points."""
    width = roster.identity_columns
    points = roster.points_possible or 0.0
    header = [*roster.header[:width], roster.assignment]
    points_row = [_POINTS_ROW, *([""] * (width - 1)), _number(points)]
    rows = []
    for report in sorted(reports, key=lambda r: r.student):
        member = roll.member(report.student)
        if member is not None and member.entry is not None:
            identity = list(member.entry.row[:width]) + [""] * (width - len(member.entry.row[:width]))
            rows.append([*identity, _number(_scaled(report, points))])
    write_text_atomic(path, _csv_text([header, points_row, *rows]))


def write_moodle_worksheet(reports: Sequence[GradeReport], path: Path, *, roll: ClassRoll, roster: Roster,
                           points_possible: float) -> None:
    """moodle.csv: the roster's worksheet, row for row, with the graded students' Grade filled in."""
    graded = {member.entry.student: report for report in reports
              if (member := roll.member(report.student)) is not None and member.entry is not None}
    rows = [list(roster.header)]
    for entry in roster.entries:
        row = list(entry.row) + [""] * (len(roster.header) - len(entry.row))
        report = graded.get(entry.student)
        if report is not None:
            # Moodle's Grade is on the scale of the row's Maximum Grade; without one, the rubric's points.
            row[roster.grade_column] = f"{_scaled(report, entry.max_grade or points_possible):.2f}"
        rows.append(row)
    write_text_atomic(path, _csv_text(rows))


def _write_canvas_by_id(reports: Sequence[GradeReport], path: Path, *, roll: ClassRoll, assignment: str,
                        points_possible: float) -> None:
    """canvas.csv for a Canvas download without a roster: the Canvas ID from the file names in the ID column."""
    header = [*_CANVAS_IDENTITY, assignment]
    points_row = [_POINTS_ROW, "", "", "", "", _number(points_possible)]
    rows = []
    for report in sorted(reports, key=lambda r: r.student):
        member = roll.member(report.student)
        canvas_id = member.site_key if member is not None and member.site == "canvas" else ""
        rows.append([report.display_name or report.student, canvas_id, "" if canvas_id else report.student, "", "",
                     _number(_scaled(report, points_possible))])
    write_text_atomic(path, _csv_text([header, points_row, *rows]))


def _scaled(report: GradeReport, points: float) -> float:
    return report.score / report.max_score * points if report.max_score > 0 else 0.0
