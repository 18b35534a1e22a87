"""Class batches: parallel grading into the SQLite gradebook, skip-unchanged, --force, resume after kill -9,
concurrent writers, and classes that arrive as one .zip mixing formats and frameworks."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader.checks.builtin import BUILTIN
from grader.batch import grade_class
from grader.gradebook_db import FILENAME, Gradebook, GradeKey
from grader.mnist import load_mnist
from grader.records import CheckResult, GradeReport, Phase, RunResult
from grader.rubric import load_rubric
from grader.sandbox.limits import Limits
from grader.sandbox import Job, WarmRunner
from grader.settings import GradeSettings, MnistCache
from grader.text import msg, verbatim

from .conftest import CORPUS, REPO

pytestmark = pytest.mark.slow

FAST = ("--only", "numpy.relu.backward", "numpy.matmul.backward")
"""Two gradient checks: enough to grade a student for real in well under a second."""


def make_class(root: Path, students: dict[str, str]) -> Path:
    """A class folder: student name -> corpus case copied as that student's folder."""
    root.mkdir(parents=True)
    for student, case in students.items():
        shutil.copytree(CORPUS / case, root / student)
    return root


def rows(out: Path) -> dict[str, tuple[int, str]]:
    """student -> (run_id, content_hash) of every stored result; the report JSON must parse."""
    with sqlite3.connect(out / FILENAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        found = {}
        for student, run_id, content, report in db.execute("SELECT student, run_id, content_hash, report FROM results"):
            assert GradeReport.model_validate_json(report).student == student
            found[student] = (run_id, content)
    return found


def test_second_run_skips_unchanged_students_and_force_regrades_them(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    klass = make_class(tmp_path / "class", {"s1": "correct_md_torch", "s2": "mutant_relu"})
    out = tmp_path / "out"
    first = grade(klass, "--out", out, "--jobs", "2", *FAST)
    assert first.code == 0, first.err
    assert {s: run for s, (run, _) in rows(out).items()} == {"s1": 1, "s2": 1}
    (out / "s1" / "report.html").unlink()  # deleted by hand: restored from the gradebook, not regraded

    again = grade(klass, "--out", out, *FAST)
    assert "2 unchanged since they were graded, not regraded" in again.out
    assert {s: run for s, (run, _) in rows(out).items()} == {"s1": 1, "s2": 1}
    assert (out / "s1" / "report.html").exists()
    assert "s2" in (out / "gradebook.csv").read_text(encoding="utf-8")

    forced = grade(klass, "--out", out, "--force", *FAST)
    assert "unchanged" not in forced.out
    assert {s: run for s, (run, _) in rows(out).items()} == {"s1": 3, "s2": 3}


def test_changed_submission_or_other_check_selection_is_regraded(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    klass = make_class(tmp_path / "class", {"s1": "correct_md_torch", "s2": "correct_md_torch"})
    out = tmp_path / "out"
    assert grade(klass, "--out", out, *FAST).code == 0
    before = rows(out)
    report = klass / "s2" / "report.md"
    report.write_text(report.read_text(encoding="utf-8").replace("class Relu", "class Relu  # fixed", 1), encoding="utf-8")

    assert grade(klass, "--out", out, *FAST).code == 0
    after = rows(out)
    assert after["s1"] == before["s1"]
    assert after["s2"][0] == 2 and after["s2"][1] != before["s2"][1]

    assert grade(klass, "--out", out, "--only", "numpy.relu.backward").code == 0
    assert {s: run for s, (run, _) in rows(out).items()} == {"s1": 3, "s2": 3}


def test_batch_killed_with_sigkill_resumes_and_grades_every_student_exactly_once(mnist_dir: Path, tmp_path: Path) -> None:
    students = {f"s{i:02d}": "correct_md_torch" for i in range(10)}
    klass = make_class(tmp_path / "class", students)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader.cli", str(klass), "--out", str(out), "--mnist", str(mnist_dir), "--jobs", "1", *FAST]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / FILENAME).exists() and _count(out) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the batch ended before it could be killed: {proc.stderr.read().decode() if proc.stderr else ''}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    graded_first = {s for s, (run, _) in rows(out).items() if run == 1}
    assert 3 <= len(graded_first) < len(students)
    time.sleep(0.5)  # templates die with the grader (PR_SET_PDEATHSIG / --die-with-parent)
    assert not _pool_processes(proc.pid), "warm workers outlived the killed grader"

    resumed = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    final = rows(out)
    assert set(final) == set(students)
    assert {s for s, (run, _) in final.items() if run == 1} == graded_first  # not graded twice
    assert all(run == 2 for s, (run, _) in final.items() if s not in graded_first)
    assert f"{len(graded_first)} unchanged" in resumed.stdout
    for student in students:
        assert json.loads((out / student / "result.json").read_text(encoding="utf-8"))["student"] == student


def _count(out: Path) -> int:
    try:
        with sqlite3.connect(out / FILENAME, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0


def _pool_processes(grader_pid: int) -> list[str]:
    found = subprocess.run(["pgrep", "-af", f"nn-grader-pool-{grader_pid}-"], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]


def _fake_report(student: str, score: float) -> GradeReport:
    check = CheckResult(id="numpy.relu.backward", status="passed", score=score, max_score=10.0,
                        message=msg("grader.internal_error", error=verbatim("ok " * 200)))
    return GradeReport(student=student, submission=student, checks=(check,))


def _writer(folder: str, writer: int, count: int) -> None:
    book = Gradebook(Path(folder))
    run = book.start_run(f"writer {writer}")
    for i in range(count):
        # Both writers write the same students too: the last one wins, whole.
        book.save(_fake_report(f"s{i % 40}", float(writer)), GradeKey("c", "r", "v", "{}"), run)
        book.save(_fake_report(f"w{writer}-{i}", float(writer)), GradeKey("c", "r", "v", "{}"), run)
    book.close()


def test_concurrent_writers_do_not_corrupt_the_gradebook(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), w, 150)) for w in (1, 2, 3)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(120)
        assert p.exitcode == 0
    stored = rows(tmp_path)
    assert len(stored) == 40 + 3 * 150
    book = Gradebook(tmp_path)
    for i in range(40):
        report = book.report(f"s{i}")
        assert report is not None and report.score in (1.0, 2.0, 3.0) and report.checks[0].message.args["error"] == verbatim("ok " * 200)
    book.close()


def test_class_zip_mixing_formats_and_frameworks_is_graded_per_student(grade, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(CORPUS / "correct_md_torch" / "report.md", "2151001_report.md")
        zf.write(CORPUS / "correct_py_tf" / "homework.py", "2151002_homework.py")
        zf.write(CORPUS / "correct_ipynb_torch" / "hw4.ipynb", "2151003/hw4.ipynb")
        zf.write(CORPUS / "mutant_relu" / "report.md", "2151004_report.md")
        zf.writestr("__MACOSX/._2151001_report.md", "resource fork")
    out = tmp_path / "out"
    run = grade(archive, "--out", out, "--jobs", "2", "--only", "numpy.relu.backward", "framework.model.forward")
    assert run.code == 0, run.err
    results = {s: json.loads((out / s / "result.json").read_text(encoding="utf-8")) for s in ("2151001", "2151002", "2151003", "2151004")}
    messages = {s: [c["message"] for c in r["checks"]] for s, r in results.items()}
    assert {s: r["framework"] for s, r in results.items()} == {
        "2151001": "pytorch", "2151002": "tensorflow", "2151003": "pytorch", "2151004": "pytorch"}, messages
    status = {s: {c["id"]: c["status"] for c in r["checks"]} for s, r in results.items()}
    assert all(checks == {"numpy.relu.backward": "passed", "framework.model.forward": "passed"}
               for s, checks in status.items() if s != "2151004")
    assert status["2151004"]["numpy.relu.backward"] == "failed"
    assert set(rows(out)) == set(results)
    assert "2151004" in (out / "gradebook.csv").read_text(encoding="utf-8")


class _BuggyRunner:
    """A runner with a grader bug for one student: its first job raises in the grader's own process."""

    def __init__(self, inner: WarmRunner) -> None:
        self.inner, self.isolation = inner, inner.isolation

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        if any("GRADER_BUG_HERE" in unit.source for unit in job.units):
            raise RuntimeError("simulated grader bug")
        return self.inner.run(job, arrays, limits, phase=phase)


def test_a_grader_bug_on_one_student_is_recorded_and_the_batch_goes_on(mnist_dir: Path, tmp_path: Path) -> None:
    klass = make_class(tmp_path / "class", {"s1": "correct_md_torch", "s2": "correct_md_torch"})
    report = klass / "s2" / "report.md"
    report.write_text(report.read_text(encoding="utf-8").replace("class Relu:\n", "class Relu:\n    GRADER_BUG_HERE = 1\n", 1), encoding="utf-8")
    out = tmp_path / "out"
    with WarmRunner(2) as warm:
        settings = GradeSettings(rubric=load_rubric(None, BUILTIN), mnist=MnistCache(lambda: load_mnist(mnist_dir)), runner=_BuggyRunner(warm),
                                 only=("numpy.relu.backward", "numpy.matmul.backward"))
        result = grade_class(klass, settings, out=out, jobs=2)
    assert [r.student for r in result.errored] == ["s2"]
    broken = result.errored[0]
    # Each check is guarded: the bug costs the one check whose job met it, not the student's other checks.
    by_id = {c.id: c for c in broken.checks}
    relu = by_id["numpy.relu.backward"]
    assert relu.status == "error" and relu.internal
    assert str(relu.message).startswith("internal grader error: RuntimeError: simulated grader bug")
    assert by_id["numpy.matmul.backward"].status == "passed"
    assert "simulated grader bug" in (out / "s2" / "report.html").read_text(encoding="utf-8")
    assert {r.student: r.score for r in result.reports}["s1"] == 20
    assert set(rows(out)) == {"s1", "s2"}
