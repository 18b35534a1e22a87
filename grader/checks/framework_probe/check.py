"""The probe's plan (one job for both checks) and the two registry entries."""

from __future__ import annotations

import numpy as np

from ...records import CheckOutcome
from .spec import FrameworkCheck
from ...text import msg
from ..outcome import skipped
from ..registry import CheckContext, CheckDef, Planned
from ..training.judge import tensorflow_installed
from .results import FrameworkForwardResult, FrameworkProbeParams, FrameworkProbeResult
from .common import ARCHITECTURE_ID, FORWARD_ID, ProbeBatch
from .forward import _judge_forward
from .architecture import _judge_architecture
from .worker import TASK


def plan_probe(ctx: CheckContext[FrameworkCheck]) -> Planned[ProbeBatch] | CheckOutcome:
    """The probe job, with framework.model.forward's seeded spec for both checks: the same batch and seed, one run.

    Without TensorFlow installed, a TensorFlow part is not run and the check is skipped.
    """
    framework = ctx.part.framework
    if framework is None:  # intake gives every framework part its framework: a grader bug, costing this check
        raise ValueError(f"{ctx.check_id}: the framework part has no framework")
    if framework == "tensorflow" and not tensorflow_installed():
        # The catalog text holds TF_INSTALL_HINT's command (tests/test_framework_model.py keeps them equal).
        return skipped(ctx.check_id, msg("framework.tensorflow_missing"))
    spec = ctx.specs(FORWARD_ID)
    assert isinstance(spec, FrameworkCheck), f"{FORWARD_ID} has spec {type(spec).__name__}"  # the registry's own entry
    x = np.random.default_rng(spec.run_seed).random((spec.batch, 28, 28), dtype=np.float32)  # pixels in [0, 1)
    params = FrameworkProbeParams(framework=framework, seed=spec.run_seed, threads=ctx.limits.threads)
    return Planned(params=params, arrays={"x": x}, phase="forward", state=ProbeBatch(x, spec.run_seed, framework))


# --------------------------------------------------------------------------- registry entries

FORWARD: CheckDef[FrameworkCheck, ProbeBatch, FrameworkForwardResult] = CheckDef(
    id=FORWARD_ID, part="framework", needs=("myModel",), spec=FrameworkCheck, default=None,
    plan=plan_probe, result=FrameworkForwardResult, judge=_judge_forward, narrow=False, task=TASK, module=__name__,
)
"""framework.model.forward: runs the probe.  Not narrowed: the worker reads the part's other functions (it
never calls them) for the student's own training step, which the model does not use."""

ARCHITECTURE: CheckDef[FrameworkCheck, ProbeBatch, FrameworkProbeResult] = CheckDef(
    id=ARCHITECTURE_ID, part="framework", needs=("myModel",), spec=FrameworkCheck, default=None,
    plan=plan_probe, result=FrameworkProbeResult, judge=_judge_architecture,
    after=(FORWARD_ID,), share_run=FORWARD_ID, narrow=False, task=TASK, module=__name__,
)
"""framework.model.architecture: judges the forward check's probe again, with its own rtol."""
