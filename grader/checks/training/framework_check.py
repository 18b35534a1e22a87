"""framework.model.train: the rubric's optimizer on the PyTorch or TensorFlow myModel (worker: framework_worker.py)."""

from __future__ import annotations

from ...records import CheckOutcome
from ...rubric import TrainingCheck
from ..outcome import skipped
from ..registry import CheckContext, CheckDef, Planned
from .framework_worker import TASK, FrameworkTrainParams, FrameworkTrainResult
from .judge import FRAMEWORK_ID, TrainingState, judge, planned, tensorflow_installed, tensorflow_missing


def plan_framework(ctx: CheckContext[TrainingCheck]) -> Planned[TrainingState] | CheckOutcome:
    """The student's PyTorch or TensorFlow myModel trained by the grader's loop with the rubric's optimizer."""
    framework = ctx.part.framework
    if framework is None:  # intake gives every framework part its framework: a grader bug, costing this check
        raise ValueError(f"{ctx.check_id}: the framework part has no framework")
    if framework == "tensorflow" and not tensorflow_installed():
        return skipped(ctx.check_id, tensorflow_missing())
    rc = ctx.spec
    params = FrameworkTrainParams(framework=framework, seed=rc.run_seed, epochs=rc.epochs, batch_size=rc.batch_size, lr=rc.lr,
                                  optimizer=rc.optimizer, threads=ctx.limits.threads)
    return planned(ctx, params)


FRAMEWORK_TRAIN: CheckDef[TrainingCheck, TrainingState, FrameworkTrainResult] = CheckDef(
    id=FRAMEWORK_ID, part="framework", needs=("myModel",), spec=TrainingCheck, default=None, plan=plan_framework,
    result=FrameworkTrainResult, judge=judge, after=("framework.model.forward", "framework.model.architecture"), task=TASK,
    module=__name__)
