"""numpy.softmax.stability: the plan and the judge (the grader's side); the worker's side is worker.py."""

from __future__ import annotations

import numpy as np

from ...evidence import GradientEvidence
from ...records import CheckOutcome
from ...rubric import AdvisoryCheck
from ...text import msg
from ..compare import excerpt
from ..layer_gradient.layers import softmax_np
from ..outcome import CheckFailed
from ..registry import CheckContext, CheckDef, Planned, Reply
from .worker import TASK, StabilityParams, StabilityResult

CHECK_ID = "numpy.softmax.stability"
LARGE_LOGITS = np.array([[1000.0, 0.0, -1000.0, 10.0, 5.0], [-800.0, -799.0, -798.0, -1000.0, -801.0]])


def plan(ctx: CheckContext[AdvisoryCheck]) -> Planned[None]:
    """Softmax.forward on logits of magnitude 1000, where np.exp overflows unless the row maximum is subtracted."""
    return Planned(params=StabilityParams(), arrays={"x": LARGE_LOGITS}, phase="forward", state=None)


def judge(ctx: CheckContext[AdvisoryCheck], state: None, reply: Reply[StabilityResult]) -> CheckOutcome:
    """Compare the student's output with a stable softmax of the same logits."""
    got, want = reply.values.out, softmax_np(LARGE_LOGITS)
    evidence = GradientEvidence(details={"input": LARGE_LOGITS.tolist(), "expected": excerpt(want),
                                         "got": excerpt(got) if got.shape == want.shape else list(got.shape)})
    if got.shape != want.shape or not np.all(np.isfinite(got)) or not np.allclose(got, want, atol=1e-6):
        bad = msg("stability.nan_inf") if not np.all(np.isfinite(got)) else msg("stability.wrong_values")
        raise CheckFailed(msg("stability.failed", what=bad), msg("stability.diag.subtract_max"), evidence)
    return CheckOutcome(id=CHECK_ID, status="passed", message=msg("stability.passed"), evidence=evidence)


STABILITY: CheckDef[AdvisoryCheck, None, StabilityResult] = CheckDef(
    id=CHECK_ID, part="numpy", needs=("Softmax",), spec=AdvisoryCheck, default=AdvisoryCheck(), plan=plan,
    result=StabilityResult, judge=judge, task=TASK, module=__name__,
)
