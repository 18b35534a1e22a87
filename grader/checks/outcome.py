"""Turning a check's judgement, or a worker's failure, into a `CheckOutcome` in one place."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import numpy as np

from ..models import CheckOutcome, RunResult

_DETAIL_LIMIT = 3000
T = TypeVar("T")


class CheckFailed(Exception):
    """Raised by `_judge_*` helpers; `evaluate` turns it into a failed outcome."""

    def __init__(self, message: str, diagnosis: str | None = None, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.diagnosis = diagnosis
        self.evidence = evidence or {}


class Tampered(Exception):
    """Raised by `value` and `array`: the worker's reply lacks something its task always writes, or has it with
    the wrong type.  `evaluate` turns it into a 'tampered' error of that check alone."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def value(result: RunResult, key: str, kind: type[T]) -> T:
    """`result.values[key]`, which must be a `kind` (an int counts as a float, a bool never as an int)."""
    found = result.values.get(key)
    if kind is float and type(found) is int:
        found = float(found)
    if not isinstance(found, kind) or (isinstance(found, bool) and kind is not bool):
        raise Tampered(f"value {key!r}")
    return found


def array(result: RunResult, key: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """`result.arrays[key]`, which must be an array (of `shape`, when given)."""
    found = result.arrays.get(key)
    if not isinstance(found, np.ndarray) or (shape is not None and found.shape != shape):
        raise Tampered(f"array {key!r}" if shape is None else f"array {key!r} of shape {shape}")
    return found


def expect(ok: bool, what: str) -> None:
    """Raise Tampered(`what`) unless `ok`: for the parts of a value that `value` cannot check alone."""
    if not ok:
        raise Tampered(what)


def evaluate(check_id: str, result: RunResult, judge: Callable[[], CheckOutcome]) -> CheckOutcome:
    """Run a judge over a worker's result; a CheckFailed becomes a 'failed' outcome, a Tampered a 'tampered' error."""
    try:
        outcome = judge()
    except CheckFailed as failed:
        outcome = CheckOutcome(id=check_id, status="failed", message=failed.message, diagnosis=failed.diagnosis, evidence=failed.evidence)
    except Tampered as tampered:
        msg = f"tampered: the worker's reply has no valid {tampered.what} (missing, or of the wrong type); the run is not trusted"
        return CheckOutcome(id=check_id, status="error", message=msg, diagnosis=_ERROR_HINTS["tampered"],
                            evidence={"failure": "tampered"}, duration_s=round(result.duration_s, 3))
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
