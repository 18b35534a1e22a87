"""numpy.softmax.stability (advisory): does Softmax.forward survive large logits?"""

from __future__ import annotations

import numpy as np

from ..models import CheckOutcome, CodePart, RunResult
from ..rubric import AdvisoryCheck, Limits
from ..sandbox import Job, Runner
from .compare import excerpt
from .layers import softmax_np
from .outcome import CheckFailed, array, error_outcome, evaluate

CHECK_ID = "numpy.softmax.stability"
LARGE_LOGITS = np.array([[1000.0, 0.0, -1000.0, 10.0, 5.0], [-800.0, -799.0, -798.0, -1000.0, -801.0]])


def check_softmax_stability(part: CodePart, rc: AdvisoryCheck, limits: Limits, runner: Runner) -> CheckOutcome:
    """Run the student's Softmax.forward on logits of magnitude 1000 and compare with a stable softmax."""
    job = Job(task="softmax_stability", units=part.units, supplied_imports=part.supplied_imports)
    result = runner.run(job, {"x": LARGE_LOGITS}, limits, phase="forward")
    if result.error:
        return error_outcome(CHECK_ID, result)
    return evaluate(CHECK_ID, result, lambda: _judge(result))


def _judge(result: RunResult) -> CheckOutcome:
    got, want = array(result, "out"), softmax_np(LARGE_LOGITS)
    evidence = {"input": LARGE_LOGITS.tolist(), "expected": excerpt(want), "got": excerpt(got) if got.shape == want.shape else list(got.shape)}
    if got.shape != want.shape or not np.all(np.isfinite(got)) or not np.allclose(got, want, atol=1e-6):
        bad = "NaN/inf" if not np.all(np.isfinite(got)) else "wrong values"
        raise CheckFailed(
            f"Softmax.forward returns {bad} for large logits such as 1000 (np.exp overflows to inf, and inf / inf is NaN)",
            "subtract the row maximum before exp: e = np.exp(x - x.max(axis=-1, keepdims=True)); "
            "the result is mathematically the same and never overflows",
            evidence,
        )
    return CheckOutcome(id=CHECK_ID, status="passed", message="Softmax.forward is stable for logits of magnitude 1000", evidence=evidence)
