"""Turning a check's judgement, or a worker's failure, into a `CheckOutcome` in one place."""

from __future__ import annotations

from typing import Callable

import numpy as np
from pydantic import ValidationError

from ..evidence import ErrorEvidence, Evidence, NoEvidence
from ..records import CheckOutcome, FailureKind, RunResult
from ..text import Message, msg

_DETAIL_LIMIT = 3000


class CheckFailed(Exception):
    """Raised by judges; `evaluate` turns it into a failed outcome."""

    def __init__(self, message: Message, diagnosis: Message | None = None, evidence: Evidence | None = None) -> None:
        super().__init__(message.id)
        self.message = message
        self.diagnosis = diagnosis
        self.evidence: Evidence = evidence if evidence is not None else NoEvidence()


class Tampered(Exception):
    """Raised by `array` and `expect`: the worker's reply lacks something its task always writes, or has it with
    the wrong type.  `evaluate` turns it into a 'tampered' error of that check alone."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def array(arrays: RunResult, key: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """`arrays.arrays[key]`, which must be an array (of `shape`, when given)."""
    found = arrays.arrays.get(key)
    if not isinstance(found, np.ndarray) or (shape is not None and found.shape != shape):
        raise Tampered(f"array {key!r}" if shape is None else f"array {key!r} of shape {shape}")
    return found


def expect(ok: bool, what: str) -> None:
    """Raise Tampered(`what`) unless `ok`: for the parts of a reply its model cannot check alone."""
    if not ok:
        raise Tampered(what)


def evaluate(check_id: str, result: RunResult, judge: Callable[[], CheckOutcome]) -> CheckOutcome:
    """Run a judge over a worker's result; a CheckFailed becomes a 'failed' outcome, a Tampered a 'tampered' error."""
    try:
        outcome = judge()
    except CheckFailed as failed:
        outcome = CheckOutcome(id=check_id, status="failed", message=failed.message, diagnosis=failed.diagnosis, evidence=failed.evidence)
    except Tampered as tampered:
        return tampered_outcome(check_id, tampered.what, result.duration_s)
    warnings = result.warnings
    evidence = outcome.evidence.model_copy(update={"import_warnings": warnings}) if warnings else outcome.evidence
    return outcome.model_copy(update={"duration_s": round(result.duration_s, 3), "evidence": evidence})


def tampered_outcome(check_id: str, what: str, duration_s: float = 0.0) -> CheckOutcome:
    """The worker's reply is not what its task writes: this check alone is an error, and the run is not trusted."""
    return CheckOutcome(id=check_id, status="error", message=msg("outcome.tampered_reply", what=what),
                        diagnosis=error_hint("tampered"), evidence=ErrorEvidence(failure="tampered"), duration_s=round(duration_s, 3))


def invalid_reply(check_id: str, exc: ValidationError, result: RunResult) -> CheckOutcome:
    """A reply that does not validate against the check's result model: 'tampered', naming the first bad field."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "reply"
    return tampered_outcome(check_id, f"value {where!r}", result.duration_s)


def error_outcome(check_id: str, result: RunResult) -> CheckOutcome:
    """A check whose worker gave no usable answer: timeout, memory, crash, exit, exception or missing code."""
    assert result.error is not None  # callers check first; a grader bug if not
    err = result.error
    evidence = ErrorEvidence(failure=err.kind, phase=err.phase, detail=err.detail[-_DETAIL_LIMIT:], location=err.location)
    return CheckOutcome(id=check_id, status="error", message=err.message, diagnosis=error_hint(err.kind),
                        evidence=evidence, duration_s=round(result.duration_s, 3))


def skipped(check_id: str, message: Message) -> CheckOutcome:
    """A check that could not run for a reason outside the student's control, or with nothing to grade."""
    return CheckOutcome(id=check_id, status="skipped", message=message)


def error_hint(kind: FailureKind) -> Message | None:
    """The general advice for a failure of this kind (catalog ids error_hint.<kind>); none for an exception,
    whose own message and line say more."""
    hints: dict[FailureKind, Message | None] = {
        "timeout": msg("error_hint.timeout"),
        "memory": msg("error_hint.memory"),
        "crash": msg("error_hint.crash"),
        "exit": msg("error_hint.exit"),
        "exception": None,
        "forbidden": msg("error_hint.forbidden"),
        "tampered": msg("error_hint.tampered"),
        "missing": msg("error_hint.missing"),
        "internal": None,
    }
    return hints[kind]
