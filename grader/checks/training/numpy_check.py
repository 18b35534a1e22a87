"""numpy.model.train: mini-batch SGD with the template's update W -= lr * W_grad (worker: numpy_worker.py)."""

from __future__ import annotations

from ...rubric import TrainingCheck
from ..registry import CheckContext, CheckDef, Planned
from .judge import LAYER_CHECKS, NUMPY_ID, TrainingState, judge, planned
from .numpy_worker import TASK, NumpyTrainParams, NumpyTrainResult


def plan_numpy(ctx: CheckContext[TrainingCheck]) -> Planned[TrainingState]:
    """Mini-batch SGD on the student's numpy myModel with the template's update W -= lr * W_grad."""
    rc = ctx.spec
    params = NumpyTrainParams(seed=rc.run_seed, epochs=rc.epochs, batch_size=rc.batch_size, lr=rc.lr, threads=ctx.limits.threads)
    return planned(ctx, params)


NUMPY_TRAIN: CheckDef[TrainingCheck, TrainingState, NumpyTrainResult] = CheckDef(
    id=NUMPY_ID, part="numpy", needs=("myModel",), spec=TrainingCheck, default=None, plan=plan_numpy, result=NumpyTrainResult,
    judge=judge, after=LAYER_CHECKS, staff_layers=True, narrow=False, task=TASK, module=__name__)
"""Not narrowed: the student's myModel builds their own layers (or the staff's, for layers that failed)."""
