"""numpy.model.train: mini-batch SGD with the template's update W -= lr * W_grad (worker: numpy_train)."""

from __future__ import annotations

from ...rubric import TrainingCheck
from ...sandbox.protocol import NumpyTrainParams, TrainingResult
from ..registry import CheckContext, CheckDef, Planned
from .judge import LAYER_CHECKS, NUMPY_ID, TrainingState, judge, planned


def plan_numpy(ctx: CheckContext[TrainingCheck]) -> Planned[TrainingState]:
    """Mini-batch SGD on the student's numpy myModel with the template's update W -= lr * W_grad."""
    rc = ctx.spec
    params = NumpyTrainParams(seed=rc.run_seed, epochs=rc.epochs, batch_size=rc.batch_size, lr=rc.lr, threads=ctx.limits.threads)
    return planned(ctx, params)


NUMPY_TRAIN: CheckDef[TrainingCheck, TrainingState, TrainingResult] = CheckDef(
    id=NUMPY_ID, part="numpy", needs=("myModel",), spec=TrainingCheck, default=None, plan=plan_numpy, result=TrainingResult,
    judge=judge, after=LAYER_CHECKS, staff_layers=True, narrow=False, module=__name__)
"""Not narrowed: the student's myModel builds their own layers (or the staff's, for layers that failed)."""
