"""Whose files are these: zip names decoded as written, course-site names read, one folder per student planned."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.intake.archive import unpack_class, unpack_download
from grader.intake.course_site import plan_class, read_name, roll_for_folder
from grader.intake.zip_names import decoded_names
from grader.roster import load_roster

from .course_site_helpers import csv_text, write_zip


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- zip names


def test_unflagged_gbk_names_are_decoded_as_gbk(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "c.zip", {"2151131-朱沙桐-课后作业2-1.md": b"a", "readme.txt": b"b"}, gbk=True)

    with zipfile.ZipFile(archive) as zf:
        assert zf.infolist()[0].filename == "2151131-╓∞╔│═⌐-┐╬║≤╫≈╥╡2-1.md"  # what zipfile alone makes of it
        assert decoded_names(zf.infolist()) == ["2151131-朱沙桐-课后作业2-1.md", "readme.txt"]


def test_flagged_utf8_names_are_kept(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "c.zip", {"2151131_朱沙桐.ipynb": b"a"})

    with zipfile.ZipFile(archive) as zf:
        assert decoded_names(zf.infolist()) == ["2151131_朱沙桐.ipynb"]


def test_unflagged_bytes_that_are_not_gbk_text_stay_cp437(tmp_path: Path) -> None:
    archive = tmp_path / "c.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a_XX.py", b"")
    archive.write_bytes(archive.read_bytes().replace(b"a_XX.py", b"a_\x80\xff.py"))  # 0x80 and 0xFF lead no GBK character

    with zipfile.ZipFile(archive) as zf:
        assert decoded_names(zf.infolist()) == ["a_Ç\xa0.py"]


def test_an_info_zip_unicode_path_field_wins_when_its_checksum_matches(tmp_path: Path) -> None:
    archive = tmp_path / "c.zip"
    raw = "朱.md".encode("gbk")
    info = zipfile.ZipInfo("XX.md")
    utf8 = "朱沙桐.md".encode("utf-8")
    info.extra = struct.pack("<HHB", 0x7075, 5 + len(utf8), 1) + struct.pack("<I", zlib.crc32(raw)) + utf8
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, b"x")
    assert len(raw) == len(b"XX.md")
    archive.write_bytes(archive.read_bytes().replace(b"XX.md", raw))  # the header now holds GBK bytes, unflagged

    with zipfile.ZipFile(archive) as zf:
        assert decoded_names(zf.infolist()) == ["朱沙桐.md"]


def test_a_gbk_name_that_would_climb_out_is_still_refused(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "c.zip", {"2151131_a.md": b"a", "../朱沙桐.md": b"x"}, gbk=True)

    with pytest.raises(UsageError, match="outside the archive's folder"):
        unpack_class(archive, tmp_path / "deep" / "out")
    assert not (tmp_path / "deep" / "朱沙桐.md").exists()


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "site", "key", "file", "student_name", "late"),
    [
        ("zhushatong_1001_9001_homework.ipynb", "canvas", "1001", "homework.ipynb", "zhushatong", False),
        ("zhushatong_LATE_1001_9001_homework.ipynb", "canvas", "1001", "homework.ipynb", "zhushatong", True),
        ("zhushatong_late_1001_9001_hw_2.ipynb", "canvas", "1001", "hw_2.ipynb", "zhushatong", True),
        ("zhu-shatong-late_1001_9001_hw.py", "canvas", "1001", "hw.py", "zhu-shatong", True),
        ("late_1001_9001_hw.py", "canvas", "1001", "hw.py", None, True),
        ("朱沙桐_1234567_assignsubmission_file_hw.ipynb", "moodle", "1234567", "hw.ipynb", "朱沙桐", False),
        ("2151131-朱沙桐-课后作业2-1.md", "numbered", "2151131", "2151131-朱沙桐-课后作业2-1.md", "朱沙桐", False),
        ("2151131_朱沙桐.ipynb", "numbered", "2151131", "2151131_朱沙桐.ipynb", "朱沙桐", False),
        ("2151131_report.md", "numbered", "2151131", "2151131_report.md", None, False),
        ("zhang_report.md", "folder", "zhang", "zhang_report.md", None, False),
        ("report.md", "folder", "report", "report.md", None, False),
    ],
    ids=["canvas", "canvas-LATE", "canvas-late-lowercase", "canvas-old-late", "canvas-anonymous", "moodle-file",
         "numbered-dash", "numbered-underscore", "numbered-no-name", "prefix", "stem"],
)
def test_a_download_name_says_whose_file_it_is(name: str, site: str, key: str, file: str, student_name: str | None,
                                              late: bool) -> None:
    said = read_name((name,))

    assert (said.site, said.key, said.file, said.name, said.late) == (site, key, (file,), student_name, late)


def test_a_moodle_folder_names_its_participant() -> None:
    said = read_name(("Zhu Shatong_1234567_assignsubmission_file_", "sub", "hw.ipynb"))

    assert (said.site, said.key, said.name, said.file) == ("moodle", "1234567", "Zhu Shatong", ("sub", "hw.ipynb"))


# --------------------------------------------------------------------------- plans


def _plan(names: list[str], roster_path: Path | None = None) -> dict[str, str]:
    roster = load_roster(roster_path) if roster_path else None
    paths = [tuple(n.split("/")) for n in names]
    plan = plan_class(paths, roster)
    return {names[f.source]: "/".join(f.dest) for f in plan.files}


def test_a_students_canvas_files_share_a_folder_and_get_their_names_back() -> None:
    assert _plan(["zhu_1001_9001_report-1.md", "zhu_1001_9002_extra.py", "li_LATE_1002_9003_作业2-1.md"]) == {
        "zhu_1001_9001_report-1.md": "1001/report.md", "zhu_1001_9002_extra.py": "1001/extra.py",
        "li_LATE_1002_9003_作业2-1.md": "1002/作业2-1.md"}


def test_a_canvas_copy_suffix_stays_when_removing_it_would_clash() -> None:
    assert _plan(["zhu_1001_9001_hw.ipynb", "zhu_1001_9002_hw-1.ipynb"]) == {
        "zhu_1001_9001_hw.ipynb": "1001/hw.ipynb", "zhu_1001_9002_hw-1.ipynb": "1001/hw-1.ipynb"}


def test_a_canvas_name_whose_file_part_is_dot_dot_keeps_the_whole_name() -> None:
    assert _plan(["zhu_1001_9001_..", "li_1002_9002_a.py"]) == {"zhu_1001_9001_..": "1001/zhu_1001_9001_..",
                                                                 "li_1002_9002_a.py": "1002/a.py"}


def test_a_wrapping_folder_of_numbered_files_is_unwrapped() -> None:
    assert _plan(["作业2/2151131-朱沙桐-作业.md", "作业2/2151132-李四-作业.md"]) == {
        "作业2/2151131-朱沙桐-作业.md": "2151131/2151131-朱沙桐-作业.md", "作业2/2151132-李四-作业.md": "2151132/2151132-李四-作业.md"}


def test_one_numbered_students_folder_is_not_unwrapped() -> None:
    assert _plan(["2151131-朱沙桐/a_1.py", "2151131-朱沙桐/b_2.py"]) == {
        "2151131-朱沙桐/a_1.py": "2151131/a_1.py", "2151131-朱沙桐/b_2.py": "2151131/b_2.py"}


def test_with_a_roster_folders_are_named_by_sis_user_id(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(csv_text([["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW (1)"],
                                ["Points Possible", "", "", "", "", "10"],
                                ["朱沙桐", "1001", "2151131", "zhu", "A", ""], ["No SIS", "1002", "", "", "A", ""]]))

    assert _plan(["zhu_1001_9001_a.py", "nosis_1002_9002_b.py", "x_1003_9003_c.py"], roster) == {
        "zhu_1001_9001_a.py": "2151131/a.py", "nosis_1002_9002_b.py": "1002/b.py", "x_1003_9003_c.py": "1003/c.py"}


def test_unpack_download_reports_who_each_folder_is(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "c.zip", {"zhu_LATE_1001_9001_a.py": b"a", "zhu_1001_9002_b.py": b"b", "li_1002_9003_c.py": b"c"})

    unpacked = unpack_download(archive, tmp_path / "out")

    assert _tree(unpacked.folder) == {"1001/a.py", "1001/b.py", "1002/c.py"}
    assert [(m.student, m.name, m.late) for m in unpacked.roll.members] == [("1001", "zhu", True), ("1002", "li", False)]
    assert unpacked.roll.site == "canvas"


def test_a_class_folder_on_disk_keeps_its_folder_names_and_finds_roster_names(tmp_path: Path) -> None:
    for name in ("2151131-朱沙桐", "2151132", "stranger"):
        (tmp_path / "class" / name).mkdir(parents=True)
    roster = tmp_path / "roster.csv"
    roster.write_text(csv_text([["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW (1)"],
                                ["Points Possible", "", "", "", "", "10"], ["朱沙桐", "1001", "2151131", "", "", ""],
                                ["李四", "1002", "2151132", "", "", ""], ["王五", "1003", "2151133", "", "", ""]]))

    roll = roll_for_folder(tmp_path / "class", load_roster(roster))

    assert [(m.student, m.name) for m in roll.members] == [("2151131-朱沙桐", "朱沙桐"), ("2151132", "李四"), ("stranger", None)]
    assert [e.student for e in roll.missing] == ["2151133"] and [m.student for m in roll.unknown] == ["stranger"]
