"""The course-site round trip through the `grade` command: a Canvas or Moodle download in, the site's import file out.

Each class is graded with one cheap check (`--only numpy.relu.backward`): a correct
student scores 10 of 10, a student with a wrong Relu.backward 0.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest

from .course_site_helpers import BUGGY_RELU, CORRECT, canvas_import, csv_text, moodle_import, write_zip

ONLY = ("--only", "numpy.relu.backward")
CANVAS_STUDENTS = {"1001": {"sis": "2151131", "login": "zhu"}, "1002": {"sis": "2151132", "login": "li"},
                   "1003": {"sis": "2151133", "login": "wang"}}


def _result(out: Path, student: str) -> dict[str, object]:
    content: dict[str, object] = json.loads((out / student / "result.json").read_text(encoding="utf-8"))
    return content


def _gradebook(out: Path) -> dict[str, dict[str, str]]:
    with (out / "gradebook.csv").open(newline="", encoding="utf-8") as stream:
        return {row["student"]: row for row in csv.DictReader(stream)}


# --------------------------------------------------------------------------- Canvas


@pytest.fixture(scope="module")
def canvas_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("canvas")
    write_zip(root / "submissions.zip", {
        "zhushatong_1001_9001_report.md": CORRECT.read_bytes(),
        "lisi_LATE_1002_9003_report-1.md": BUGGY_RELU.read_bytes(),  # re-uploaded: Canvas added -1
        "lisi_LATE_1002_9004_notes.py": b"print('the README of my homework')\n",
        "wangwu_1009_9009_report.md": CORRECT.read_bytes(),  # not in the roster
    })
    (root / "roster.csv").write_text(csv_text([
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "作业1 (4000)", "作业2-1 全连接网络 (4567)", "Current Score"],
        ["    Points Possible", "", "", "", "", "5", "10", "(read only)"],
        ["朱沙桐", "1001", "2151131", "zhu", "Tongji 1", "5", "", "50"],
        ["李四", "1002", "2151132", "li", "Tongji 1", "4", "", "40"],
        ["王五", "1003", "2151133", "wang", "Tongji 2", "", "", ""],
    ]), encoding="utf-8-sig")  # Canvas writes a BOM
    return root


@pytest.fixture(scope="module")
def canvas_run(canvas_class: Path, mnist_dir: Path) -> tuple[Path, str]:
    from grader.cli import main

    out = canvas_class / "out"
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main([str(canvas_class / "submissions.zip"), "--out", str(out), "--roster", str(canvas_class / "roster.csv"),
                     "--assignment", "4567", "--jobs", "2", *ONLY, "--mnist", str(mnist_dir), "--no-color"])
    assert code == 0, stdout.getvalue()
    return out, stdout.getvalue()


def test_canvas_files_are_grouped_per_student_under_their_sis_user_id(canvas_run: tuple[Path, str]) -> None:
    out, _ = canvas_run
    unpacked = out / ".unpacked" / "submissions"

    assert sorted(p.name for p in unpacked.iterdir()) == ["1009", "2151131", "2151132"]
    assert sorted(p.name for p in (unpacked / "2151132").iterdir()) == ["notes.py", "report.md"]
    assert (_result(out, "2151131")["score"], _result(out, "2151132")["score"]) == (10, 0)


def test_canvas_names_and_late_marks_reach_the_gradebook_and_reports(canvas_run: tuple[Path, str]) -> None:
    out, _ = canvas_run
    book = _gradebook(out)

    assert {s: (r["name"], r["late"], r["missing"]) for s, r in book.items()} == {
        "1009": ("wangwu", "", ""), "2151131": ("朱沙桐", "", ""), "2151132": ("李四", "yes", ""), "2151133": ("王五", "", "yes")}
    assert book["2151133"]["score"] == "" and book["2151131"]["score"] == "10"
    html = (out / "2151132" / "report.html").read_text(encoding="utf-8")
    assert "李四" in html and 'class="tag late"' in html
    summary = (out / "summary.html").read_text(encoding="utf-8")
    assert "Students with no submission" in summary and "王五" in summary
    assert "Submissions that match no roster entry" in summary and 'href="1009/report.html"' in summary


def test_canvas_closing_summary_lists_late_missing_and_unknown_students(canvas_run: tuple[Path, str]) -> None:
    _, printed = canvas_run

    assert "late: 2151132 (李四)" in printed
    assert "missing: 2151133 (王五): in the roster, no submission" in printed
    assert "not in the roster: 1009 (wangwu): graded, but left out of the site's import file" in printed


def test_canvas_csv_is_read_by_canvas_as_the_rosters_assignment_with_scaled_scores(canvas_run: tuple[Path, str]) -> None:
    out, _ = canvas_run

    imported = canvas_import(out / "canvas.csv", CANVAS_STUDENTS)

    assert imported == {"assignment_id": "4567", "title": "作业2-1 全连接网络", "points": 10.0,
                        "grades": {"1001": 10.0, "1002": 0.0}}
    header = next(csv.reader((out / "canvas.csv").open(encoding="utf-8")))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "作业2-1 全连接网络 (4567)"]


def test_gradebook_xlsx_opens_with_numbers_as_numbers(canvas_run: tuple[Path, str]) -> None:
    out, _ = canvas_run

    book = openpyxl.load_workbook(out / "gradebook.xlsx")
    grades, checks = book["gradebook"], book["checks"]
    rows = {row[0]: row for row in grades.iter_rows(min_row=2, values_only=True)}

    assert [c.value for c in grades[1]][:6] == ["student", "name", "score", "max_score", "framework", "late"]
    assert rows["2151131"][2] == 10 and isinstance(rows["2151131"][2], (int, float))
    assert rows["2151133"][1:3] == ("王五", None) and rows["2151133"][-1] == "yes"
    assert rows["2151132"][5] == "yes"
    by_student = {(r[0], r[2]): r[3] for r in checks.iter_rows(min_row=2, values_only=True)}
    assert by_student[("2151132", "numpy.relu.backward")] == "failed"


def test_a_rerun_skips_unchanged_students_and_takes_a_renamed_student_from_the_roster(
        canvas_class: Path, canvas_run: tuple[Path, str], grade) -> None:  # type: ignore[no-untyped-def]
    out, _ = canvas_run
    renamed = canvas_class / "roster-renamed.csv"
    renamed.write_text((canvas_class / "roster.csv").read_text(encoding="utf-8-sig").replace("李四", "李思"), encoding="utf-8")

    again = grade(canvas_class / "submissions.zip", "--out", out, "--roster", renamed, "--assignment", "4567", *ONLY)

    assert again.code == 0, again.err
    assert "3 unchanged since they were graded" in again.out
    assert _gradebook(out)["2151132"]["name"] == "李思" and _gradebook(out)["2151131"]["name"] == "朱沙桐"
    assert "李思" in (out / "2151132" / "report.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- Moodle


def _moodle_worksheet(path: Path) -> Path:
    path.write_text(csv_text([
        ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
         "Last modified (submission)", "Last modified (grade)", "Feedback comments"],
        ["Participant 1234567", "朱沙桐", "zhu@tongji.edu.cn", "Submitted for grading", "", "100.00", "Yes",
         "Monday, 3 March 2025, 9:00 AM", "-", ""],
        ["Participant 1234568", "李四", "li@tongji.edu.cn", "Submitted for grading\n2 days 3 hours late", "", "100.00", "Yes",
         "Thursday, 6 March 2025, 9:00 AM", "-", ""],
        ["Participant 1234569", "王五", "wang@tongji.edu.cn", "No submission", "", "100.00", "Yes", "-", "-", ""],
    ]), encoding="utf-8")
    return path


def test_moodle_download_is_graded_and_the_worksheet_uploads_with_grades(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    archive = write_zip(tmp_path / "moodle.zip", {
        "朱沙桐_1234567_assignsubmission_file_/report.md": CORRECT.read_bytes(),
        "李四_1234568_assignsubmission_file_/sub/report.md": BUGGY_RELU.read_bytes(),
        "Ghost Student_1234999_assignsubmission_file_/report.md": CORRECT.read_bytes(),
    })
    out = tmp_path / "out"

    run = grade(archive, "--out", out, "--roster", _moodle_worksheet(tmp_path / "worksheet.csv"), "--jobs", "2", *ONLY)

    assert run.code == 0, run.err
    book = _gradebook(out)
    assert {s: (r["name"], r["late"], r["missing"]) for s, r in book.items()} == {
        "1234567": ("朱沙桐", "", ""), "1234568": ("李四", "yes", ""), "1234569": ("王五", "", "yes"),
        "1234999": ("Ghost Student", "", "")}
    assert moodle_import(out / "moodle.csv", max_grade=100) == {"1234567": 100.0, "1234568": 0.0}
    assert "not in the roster: 1234999 (Ghost Student)" in run.out and "moodle.csv" in run.out


# --------------------------------------------------------------------------- names written on a Chinese Windows


def test_gbk_named_zip_gives_student_numbers_and_chinese_names(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    archive = write_zip(tmp_path / "作业.zip", {
        "2151131-朱沙桐-课后作业2-1.md": CORRECT.read_bytes(),
        "2151132_李四.md": BUGGY_RELU.read_bytes(),
    }, gbk=True)
    out = tmp_path / "out"

    run = grade(archive, "--out", out, "--lang", "zh", *ONLY)

    assert run.code == 0, run.err
    assert sorted(p.name for p in (out / ".unpacked" / "作业" / "2151131").iterdir()) == ["2151131-朱沙桐-课后作业2-1.md"]
    book = _gradebook(out)
    assert {s: (r["name"], r["score"]) for s, r in book.items()} == {"2151131": ("朱沙桐", "10"), "2151132": ("李四", "0")}
    sheet = openpyxl.load_workbook(out / "gradebook.xlsx")["成绩册"]
    assert [c.value for c in sheet[1]][:3] == ["学号", "姓名", "得分"]
