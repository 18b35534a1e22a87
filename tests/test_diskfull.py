"""A full disk under --out mid-class ends in one clear line, loses nothing stored, and a rerun resumes (issue 21)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

from grader.diskfull import stored_students

from .conftest import CliRun, require_or_skip

CORRECT = Path(__file__).resolve().parent / "attacks" / "zz_correct" / "homework.py"
STUDENTS = [f"s{i}" for i in range(1, 7)]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 240 KB tmpfs: room for the gradebook and a student or two, not for a class."""
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=240k", "tmpfs", str(out)], capture_output=True, text=True)
    require_or_skip(done.returncode == 0, f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield out
    finally:
        subprocess.run(["umount", "-l", str(out)], check=False)


def test_full_disk_ends_in_one_line_and_a_rerun_resumes(grade: Callable[..., CliRun], tmp_path: Path, small_disk: Path) -> None:
    for name in STUDENTS:
        (tmp_path / "class" / name).mkdir(parents=True)
        shutil.copy(CORRECT, tmp_path / "class" / name / "homework.py")
    full = grade(tmp_path / "class", "--out", small_disk, "--only", "numpy.relu.backward")
    assert full.code == 1
    assert "Traceback" not in full.err and "Error:" not in full.err
    stored = stored_students(small_disk)
    assert 0 < stored < len(STUDENTS)
    last = full.err.strip().splitlines()[-1]
    assert last.startswith(f"grade: the disk under {small_disk} is full (No space left on device): {stored} student")
    assert "nothing stored is lost" in last and "run the same command again" in last
    # Freeing space: the same tmpfs made larger keeps what it holds.
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    again = grade(tmp_path / "class", "--out", small_disk, "--only", "numpy.relu.backward")
    assert again.code == 0, again.err
    assert stored_students(small_disk) == len(STUDENTS)
    regraded = {line.split()[1] for line in again.err.splitlines() if line.startswith("[")}
    assert len(regraded) <= len(STUDENTS) - stored  # the stored ones are not graded again
    for name in STUDENTS:
        result = json.loads((small_disk / name / "result.json").read_text(encoding="utf-8"))
        assert result["score"] == result["max_score"]
