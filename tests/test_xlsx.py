"""gradebook.xlsx: the gradebook and per-check sheets, numbers as numbers, formulas neutralised, Chinese headers."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from grader.records import CheckResult, GradedPart, GradeReport
from grader.reports.xlsx import write_gradebook_xlsx
from grader.text import Message, verbatim

from .report_messages import m

FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]


def _report(student: str, *, name: str | None = None, late: bool = False, message: Message | None = None) -> GradeReport:
    check = CheckResult(id="numpy.relu.backward", status="failed", score=2.5, max_score=10, message=message or m("test.ok"),
                        diagnosis=m("test.no_b1"))
    return GradeReport(student=student, submission=student, checks=(check,), display_name=name, late=late,
                       parts=(GradedPart(kind="framework", file="hw.py", framework="pytorch"),))


def test_gradebook_sheet_holds_numbers_names_late_and_missing_rows(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.xlsx"

    write_gradebook_xlsx([_report("2151131", name="朱沙桐", late=True)], path, missing=[("2151133", "王五")])

    sheet = openpyxl.load_workbook(path)["gradebook"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["student", "name", "score", "max_score", "framework", "late", "numpy.relu.backward", "errors", "missing"],
        ["2151131", "朱沙桐", 2.5, 10, "pytorch", "yes", 2.5, 0, None],
        ["2151133", "王五", None, None, None, None, None, None, "yes"],
    ]


def test_checks_sheet_in_chinese_translates_headers_statuses_and_diagnoses(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.xlsx"

    write_gradebook_xlsx([_report("2151131")], path, lang="zh")

    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["成绩册", "检查结果"]
    rows = [[c.value for c in row] for row in book["检查结果"].iter_rows()]
    assert rows[0] == ["学号", "姓名", "检查项", "状态", "得分", "满分", "说明", "诊断"]
    assert rows[1][3] == "未通过" and rows[1][4] == 2.5 and rows[1][6] == "通过" and rows[1][7] == "第一层没有偏置 b1"


@pytest.mark.parametrize("text", FORMULAS, ids=["equals", "plus", "minus", "at", "tab", "carriage-return"])
def test_text_a_spreadsheet_would_run_is_stored_as_quoted_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gradebook.xlsx"

    message = m("test.syntax", error=verbatim(text), cell=1)  # a message that starts with the student's text

    write_gradebook_xlsx([_report(text, name=text, message=message)], path)

    book = openpyxl.load_workbook(path)
    want = "'" + text.replace("\r", "\n")  # XML reads a carriage return back as a line feed
    row = [c for c in book["gradebook"][2]]
    assert (row[0].value, row[0].data_type) == (want, "s") and row[1].value == want
    assert book["checks"][2][6].value == want + " (cell 1); this cell was skipped, the other cells are still used"


def test_control_characters_from_student_messages_do_not_break_the_workbook(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.xlsx"

    write_gradebook_xlsx([_report("s", message=m("test.student_said", text=verbatim("bad\x00\x07 bytes")))], path)

    assert openpyxl.load_workbook(path)["checks"][2][6].value == "your code printed bad bytes"
