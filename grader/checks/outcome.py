"""Turning a check's judgement, or a worker's failure, into a `CheckOutcome` in one place."""

from __future__ import annotations

from typing import Any, Callable

from ..models import CheckOutcome, RunResult

_DETAIL_LIMIT = 3000


class CheckFailed(Exception):
    """Raised by `_judge_*` helpers; `evaluate` turns it into a failed outcome."""

    def __init__(self, message: str, diagnosis: str | None = None, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.diagnosis = diagnosis
        self.evidence = evidence or {}


def evaluate(check_id: str, result: RunResult, judge: Callable[[], CheckOutcome]) -> CheckOutcome:
    """Run a judge over a worker's result; a CheckFailed becomes a 'failed' outcome."""
    try:
        outcome = judge()
    except CheckFailed as failed:
        outcome = CheckOutcome(id=check_id, status="failed", message=failed.message, diagnosis=failed.diagnosis, evidence=failed.evidence)
    warnings = result.values.get("warnings") or []
    evidence = outcome.evidence | ({"import_warnings": warnings} if warnings else {})
    return outcome.model_copy(update={"duration_s": round(result.duration_s, 3), "evidence": evidence})


def error_outcome(check_id: str, result: RunResult) -> CheckOutcome:
    """A check whose worker gave no usable answer: timeout, memory, crash, exit, exception or missing code."""
    assert result.error is not None  # callers check first; a grader bug if not
    err = result.error
    evidence: dict[str, Any] = {"failure": err.kind, "phase": err.phase}
    if err.detail:
        evidence["detail"] = err.detail[-_DETAIL_LIMIT:]
    return CheckOutcome(id=check_id, status="error", message=err.message, diagnosis=_ERROR_HINTS.get(err.kind),
                        evidence=evidence, duration_s=round(result.duration_s, 3))


def skipped(check_id: str, message: str) -> CheckOutcome:
    """A check that could not run for a reason outside the student's control, or with nothing to grade."""
    return CheckOutcome(id=check_id, status="skipped", message=message)


_ERROR_HINTS = {
    "timeout": "look for a loop that never ends (while True, a condition that never changes) or work repeated far too often",
    "memory": "look for arrays far larger than needed, e.g. an (N, N) matrix where (N, c) was meant",
    "crash": "the Python process died; native code (ctypes, a C extension) or a limit killed it",
    "exit": "graded code must not call sys.exit(), exit(), quit() or os._exit()",
    "forbidden": "graded code may only compute: no network, no files outside its folder, no other processes",
    "tampered": "graded code must not touch the grader's files",
    "missing": "define the class with exactly this name (names are case-sensitive) in the file you hand in",
}
