"""Tests of the batch exports: gradebook.csv, the Canvas import CSV and the terminal's count tables."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.records import CheckResult, GradedPart, GradeReport, Status
from grader.reports.csv_ import write_canvas_csv, write_gradebook
from grader.reports.terminal import format_batch_table

from .report_messages import m

FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]


def _check(check_id: str, status: Status, points: float, *, advisory: bool = False) -> CheckResult:
    earned = points if status == "passed" else 0.0
    return CheckResult(id=check_id, status=status, score=earned, max_score=points, message=m("test.check_was", check=check_id,
                                                                                            status=status), advisory=advisory)


def _report(student: str, *statuses: Status, advisory: Status = "passed") -> GradeReport:
    """A report with checks a, b, c (10 points each, in the order given) and an advisory d."""
    checks = [_check(check_id, status, 10) for check_id, status in zip("abc", statuses)]
    checks.append(_check("d", advisory, 0, advisory=True))
    return GradeReport(student=student, submission=f"submissions/{student}", checks=tuple(checks),
                       parts=(GradedPart(kind="framework", file="hw.py", framework="pytorch"),))


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.reader(stream))


# --------------------------------------------------------------------------- gradebook.csv


def test_gradebook_has_one_row_per_student_one_column_per_check_and_the_total(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.csv"

    write_gradebook([_report("s2", "failed", "passed", "error"), _report("s1", "passed", "passed", "passed")], path)

    assert _read_csv(path) == [
        ["student", "name", "score", "max_score", "framework", "late", "a", "b", "c", "d", "errors", "missing"],
        ["s1", "", "30", "30", "pytorch", "", "10", "10", "10", "0", "0", ""],
        ["s2", "", "10", "30", "pytorch", "", "0", "10", "0", "0", "1", ""],
    ]


@pytest.mark.parametrize("name", FORMULAS, ids=["equals", "plus", "minus", "at", "tab", "carriage-return"])
def test_gradebook_quotes_a_student_name_a_spreadsheet_would_run(tmp_path: Path, name: str) -> None:
    path = tmp_path / "gradebook.csv"

    write_gradebook([_report(name, "passed")], path)

    assert _read_csv(path)[1][0] == "'" + name


@pytest.mark.parametrize("name", ["2151131", "a=b", "o'brien", "x-1"])
def test_gradebook_leaves_a_harmless_student_name_as_it_is(tmp_path: Path, name: str) -> None:
    path = tmp_path / "gradebook.csv"

    write_gradebook([_report(name, "passed")], path)

    assert _read_csv(path)[1][0] == name


# --------------------------------------------------------------------------- Canvas


def test_canvas_csv_has_the_import_header_points_row_and_student_number_as_sis_user_id(tmp_path: Path) -> None:
    path = tmp_path / "canvas.csv"

    write_canvas_csv([_report("2151200", "passed", "failed", "failed"), _report("2151131", "passed", "passed", "passed")],
                     path, assignment="HW4, MNIST (12345)", points_possible=30)

    assert path.read_bytes().decode("utf-8").split("\r\n") == [
        'Student,ID,SIS User ID,SIS Login ID,Section,"HW4, MNIST (12345)"',
        "Points Possible,,,,,30",
        "2151131,,2151131,,,30",
        "2151200,,2151200,,,10",
        "",
    ]


@pytest.mark.parametrize(
    ("statuses", "points_possible", "want"),
    [
        (("passed", "passed", "passed"), 10, "10"),
        (("passed", "failed", "failed"), 10, "3.333333333"),
        (("passed", "passed", "failed"), 100, "66.66666667"),
        (("failed", "failed", "failed"), 5, "0"),
        ((), 10, "0"),
    ],
    ids=["full", "third", "two-thirds-of-100", "nothing", "no-points-possible-in-report"],
)
def test_canvas_csv_scales_the_score_to_points_possible(
    tmp_path: Path, statuses: tuple[Status, ...], points_possible: float, want: str
) -> None:
    path = tmp_path / "canvas.csv"

    write_canvas_csv([_report("s", *statuses)], path, assignment="HW4", points_possible=points_possible)

    header, *cells = _read_csv(path)
    rows = [dict(zip(header, row)) for row in cells]
    assert rows[0]["Student"] == "Points Possible" and rows[0]["HW4"] == str(points_possible)
    assert rows[1]["HW4"] == want and rows[1]["ID"] == ""


@pytest.mark.parametrize("name", FORMULAS, ids=["equals", "plus", "minus", "at", "tab", "carriage-return"])
def test_canvas_csv_quotes_a_student_name_a_spreadsheet_would_run(tmp_path: Path, name: str) -> None:
    path = tmp_path / "canvas.csv"

    write_canvas_csv([_report(name, "passed")], path, assignment="=cmd", points_possible=10)

    rows = _read_csv(path)
    assert rows[0][5] == "'=cmd"
    assert rows[2][:3] == ["'" + name, "", "'" + name]


@pytest.mark.parametrize(
    ("assignment", "points_possible", "match"),
    [
        (" ", 10, r"write_canvas_csv: assignment is blank; pass the Canvas assignment's name"),
        ("HW4", 0, r"write_canvas_csv: points_possible must be > 0, got 0; pass the assignment's points"),
        ("HW4", -5, r"points_possible must be > 0, got -5"),
        ("HW4", math.nan, r"points_possible must be > 0, got nan"),
    ],
    ids=["blank-name", "zero-points", "negative-points", "nan-points"],
)
def test_canvas_csv_refuses_bad_arguments_and_writes_nothing(
    tmp_path: Path, assignment: str, points_possible: float, match: str
) -> None:
    path = tmp_path / "canvas.csv"

    with pytest.raises(UsageError, match=match):
        write_canvas_csv([_report("s", "passed")], path, assignment=assignment, points_possible=points_possible)
    assert not path.exists()


# --------------------------------------------------------------------------- terminal batch table


def _status_table(reports: list[GradeReport]) -> list[str]:
    lines = format_batch_table(reports, color=False).splitlines()
    return lines[lines.index("") + 1:]


def test_batch_table_counts_each_check_by_status() -> None:
    reports = [_report("s1", "passed", "failed", "skipped"), _report("s2", "passed", "error", "skipped", advisory="failed")]

    table = _status_table(reports)

    assert table[:5] == [
        "check                    passed  failed  error  skipped",
        "a                        2       0       0      0",
        "b                        0       1       1      0",
        "c                        0       0       0      2",
        "d                        1       1       0      0",
    ]


@pytest.mark.parametrize(
    ("statuses", "advisory", "want"),
    [
        (("passed", "passed", "passed"), "passed", "1       0       0      0"),
        (("passed", "passed", "passed"), "failed", "1       0       0      0"),
        (("passed", "skipped", "passed"), "passed", "0       0       0      1"),
        (("failed", "skipped", "passed"), "passed", "0       1       0      0"),
        (("failed", "error", "skipped"), "passed", "0       0       1      0"),
    ],
    ids=["all-passed", "failed-advisory-still-passed", "skipped", "failed-beats-skipped", "error-beats-failed"],
)
def test_batch_table_counts_each_student_under_their_worst_check(
    statuses: tuple[Status, ...], advisory: Status, want: str
) -> None:
    table = _status_table([_report("s", *statuses, advisory=advisory)])

    assert table[-1] == "students by worst check  " + want


def test_batch_table_student_counts_add_up_to_the_number_of_students() -> None:
    statuses: list[Status] = ["passed", "failed", "failed", "error"]
    reports = [_report(f"s{i}", status, "passed") for i, status in enumerate(statuses)]

    counts = [int(cell) for cell in _status_table(reports)[-1].split()[-4:]]

    assert counts == [1, 2, 1, 0]


def test_batch_table_in_colour_colours_the_status_counts() -> None:
    text = format_batch_table([_report("s", "failed")], color=True)

    assert "\x1b[" in text.split("students by worst check")[1]
