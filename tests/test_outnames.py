"""A student's name cannot take the place of the class's outputs, nor of another student (issue 21)."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path
from typing import Callable

import pytest

from grader.outnames import CLASS_FILES, MAX_NAME_BYTES, student_folder

from .conftest import CliRun

CORRECT = Path(__file__).resolve().parent / "attacks" / "zz_correct" / "homework.py"
ONLY = ("--only", "numpy.relu.backward")
TRICKY = ("CON", "NUL", "con.txt", "Alice", "alice", "x" * 200, "名字" * 40, "trail.", "a~0123456789ab", ".hidden", "ok_name")


def _class(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        shutil.copy(CORRECT, root / name / "homework.py")
    return root


@pytest.mark.parametrize("name", sorted(CLASS_FILES) + list(TRICKY))
def test_a_folder_never_is_a_class_file_nor_unsafe(name: str) -> None:
    folder = student_folder(name)
    assert folder.casefold() not in CLASS_FILES and not folder.startswith(".")
    assert len(folder.encode()) <= MAX_NAME_BYTES and folder == folder.rstrip(". ")
    assert folder.split(".")[0].lower() not in {"con", "nul"}


def test_two_names_never_share_a_folder() -> None:
    names = [*CLASS_FILES, *TRICKY, ".unpacked", "unpacked", student_folder("summary.html"), student_folder("x" * 200)]
    assert len({student_folder(n) for n in names}) == len(set(names))


def test_plain_names_keep_their_folder() -> None:
    assert [student_folder(n) for n in ("alice", "2151131", "张三", "Bob Smith")] == ["alice", "2151131", "张三", "Bob Smith"]


def test_a_class_named_after_every_output_is_graded_whole(grade: Callable[..., CliRun], tmp_path: Path) -> None:
    # What the grader writes under --out, found by grading a class first (zip: .unpacked too), not listed by hand.
    probe_zip = tmp_path / "probe.zip"
    with zipfile.ZipFile(probe_zip, "w") as zf:
        zf.write(CORRECT, "first_student/homework.py")
        zf.write(CORRECT, "second_student/homework.py")
    probe = grade(probe_zip, "--out", tmp_path / "probe", *ONLY)
    assert probe.code == 0, probe.err
    written = sorted(p.name for p in (tmp_path / "probe").iterdir() if p.name not in ("first_student", "second_student"))
    assert {"summary.html", "gradebook.csv", ".unpacked", "gradebook.sqlite"} <= set(written)
    names = [*written, *TRICKY]
    class_dir = _class(tmp_path / "class", names)
    out = tmp_path / "out"
    run = grade(class_dir, "--out", out, *ONLY, "--jobs", "2")
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    for name in names:
        result = json.loads((out / student_folder(name) / "result.json").read_text(encoding="utf-8"))
        assert result["student"] == name and result["score"] == result["max_score"]
        renamed = [f for f in result["findings"] if f["message_id"] == "grader.folder_renamed"]
        assert bool(renamed) == (student_folder(name) != name)
    for output in ("summary.html", "gradebook.csv", "gradebook.xlsx", "canvas.csv"):
        assert (out / output).is_file(), output
    with open(out / "gradebook.csv", encoding="utf-8-sig", newline="") as fh:
        graded = {row["student"] for row in csv.DictReader(fh)}
    assert graded >= set(names)
    summary = (out / "summary.html").read_text(encoding="utf-8")
    assert f'href="{student_folder("summary.html")}/report.html"' in summary.replace("%7E", "~")
