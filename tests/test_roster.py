"""Rosters: the Canvas gradebook export and the Moodle grading worksheet, read as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.roster import is_safe_student_id, load_roster

from .course_site_helpers import csv_text

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def _write(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    path.write_text(csv_text(rows), encoding=encoding)
    return path


def _canvas(path: Path, assignments: list[str], points: list[str], students: list[list[str]]) -> Path:
    return _write(path, [[*CANVAS_HEADER, *assignments, "Current Score"], ["    Points Possible", "", "", "", "", *points, "(read only)"],
                         *students])


def test_canvas_roster_knows_students_by_sis_user_id_else_canvas_id(tmp_path: Path) -> None:
    path = _canvas(tmp_path / "r.csv", ["作业2-1 全连接网络 (4567)"], ["10"],
                   [["朱沙桐", "1001", "2151131", "zhu", "A", "", "0"], ["Test Student", "1099", "", "", "A", "", ""]])

    roster = load_roster(path)

    assert roster.kind == "canvas" and roster.assignment == "作业2-1 全连接网络 (4567)" and roster.points_possible == 10
    assert [(e.student, e.name, e.site_id) for e in roster.entries] == [("2151131", "朱沙桐", "1001"), ("1099", "Test Student", "1099")]
    assert roster.match("1001", site_id=True) is roster.entries[0]
    assert roster.match("zhu", site_id=False) is roster.entries[0] and roster.match("zhu", site_id=True) is None


@pytest.mark.parametrize("wanted", ["4567", "作业2-1 全连接网络", "作业2-1 全连接网络 (4567)"], ids=["id", "title", "header"])
def test_canvas_assignment_is_chosen_by_id_title_or_header(tmp_path: Path, wanted: str) -> None:
    path = _canvas(tmp_path / "r.csv", ["作业1 (4000)", "作业2-1 全连接网络 (4567)"], ["5", "20"], [["a", "1001", "", "", "", "", ""]])

    roster = load_roster(path, assignment=wanted)

    assert (roster.grade_column, roster.points_possible) == (6, 20)


def test_canvas_roster_with_several_assignments_asks_which_one(tmp_path: Path) -> None:
    path = _canvas(tmp_path / "r.csv", ["作业1 (4000)", "作业2 (4567)"], ["5", "20"], [["a", "1001", "", "", "", "", ""]])

    with pytest.raises(UsageError, match=r"r.csv: 2 assignment columns \(作业1 \(4000\); 作业2 \(4567\)\); pass --assignment"):
        load_roster(path)
    with pytest.raises(UsageError, match=r"--assignment '9999' names not exactly one of them"):
        load_roster(path, assignment="9999")


def test_canvas_roster_without_points_possible_is_refused(tmp_path: Path) -> None:
    path = _canvas(tmp_path / "r.csv", ["HW (1)"], [""], [["a", "1001", "", "", "", "", ""]])

    with pytest.raises(UsageError, match=r"r.csv: the Points Possible row has no positive number for 'HW \(1\)'"):
        load_roster(path)


def test_an_unsafe_sis_user_id_falls_back_to_the_canvas_id(tmp_path: Path) -> None:
    path = _canvas(tmp_path / "r.csv", ["HW (1)"], ["10"], [["a", "1001", "../../etc", "", "", "", ""], ["b", "1002", ".hidden", "", "", "", ""]])

    assert [e.student for e in load_roster(path).entries] == ["1001", "1002"]


def test_duplicate_ids_are_refused_naming_both_students(tmp_path: Path) -> None:
    path = _canvas(tmp_path / "r.csv", ["HW (1)"], ["10"], [["a", "1001", "2151131", "", "", "", ""], ["b", "1002", "2151131", "", "", "", ""]])

    with pytest.raises(UsageError, match=r"two students have the id '2151131' \(a and b\)"):
        load_roster(path)


def test_a_roster_saved_by_excel_as_gbk_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.csv", [[*CANVAS_HEADER, "作业 (1)"], ["Points Possible", "", "", "", "", "10"],
                                       ["朱沙桐", "1001", "2151131", "", "", ""]], encoding="gbk")

    assert load_roster(path).entries[0].name == "朱沙桐"


def test_moodle_worksheet_in_english_or_chinese_gives_participants_and_late_marks(tmp_path: Path) -> None:
    english = _write(tmp_path / "en.csv", [
        ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Last modified (grade)"],
        ["Participant 1234567", "朱沙桐", "z@x", "Submitted for grading\n1 day 2 hours late", "", "100.00", "-"]])
    chinese = _write(tmp_path / "zh.csv", [
        ["标识符", "全名", "电子邮件地址", "状态", "成绩", "最高分", "上次修改（评分）"],
        ["参与人1234567", "朱沙桐", "z@x", "已提交请评分\n迟1 天 2 小时", "", "100,00", "-"]])

    for path in (english, chinese):
        roster = load_roster(path)
        assert roster.kind == "moodle" and roster.grade_column == 4
        assert [(e.student, e.name, e.late, e.max_grade) for e in roster.entries] == [("1234567", "朱沙桐", True, 100.0)]


def test_a_file_that_is_neither_roster_is_refused_with_its_header(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", [["name", "score"], ["a", "1"]])

    with pytest.raises(UsageError, match=r"x.csv: neither a Canvas gradebook export .* the header is name, score; pass one"):
        load_roster(path)


@pytest.mark.parametrize(("value", "safe"), [("2151131", True), ("zhu.s", True), ("..", False), ("a/b", False), (".x", False),
                                             ("", False), ("a\nb", False), (" a", False), ("C:x", False)])
def test_only_plain_ids_may_name_a_folder(value: str, safe: bool) -> None:
    assert is_safe_student_id(value) is safe
