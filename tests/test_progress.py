"""Batch progress: one plain line per graded student when stderr is not a terminal."""

from __future__ import annotations

import io

from grader.records import CheckResult, GradeReport
from grader.progress import BatchProgress, progress_line

from .report_messages import m


def _report(student: str, statuses: list[str]) -> GradeReport:
    checks = tuple(CheckResult(id=f"c{i}", status=s, score=10.0 if s == "passed" else 0.0, max_score=10.0,
                               message=m("test.ok")) for i, s in enumerate(statuses))
    return GradeReport(student=student, submission=student, checks=checks)


def test_progress_line_counts_failed_and_errored_checks() -> None:
    assert progress_line(_report("2151131", ["passed", "failed", "error", "error"]), 3, 40) == "[ 3/40] 2151131  10/40  1 failed, 2 error"
    assert progress_line(_report("2151132", ["passed"]), 12, 40) == "[12/40] 2151132  10/10"


def test_without_a_terminal_each_student_is_one_flushed_line() -> None:
    stream = io.StringIO()
    with BatchProgress(2, stream=stream) as progress:
        progress.update(_report("a", ["passed"]), 1, 2)
        progress.update(_report("b", ["failed"]), 2, 2)
    assert stream.getvalue().splitlines() == ["[1/2] a  10/10", "[2/2] b  0/10  1 failed"]
