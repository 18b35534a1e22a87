"""The worker side of numpy.softmax.stability: the student's Softmax.forward on large logits."""

from __future__ import annotations

from ...sandbox.tasks import WorkerTask
from ...sandbox.wire import Array, TaskParams, TaskResult
from ...sandbox.workspace import Workspace
from ..numpy_worker import layer_forward


class StabilityParams(TaskParams):
    """No parameters: the logits are the job's input array `x`."""


class StabilityResult(TaskResult):
    """What Softmax.forward returned for the logits."""

    out: Array


def softmax_stability(ws: Workspace, params: StabilityParams) -> StabilityResult:
    """The student's Softmax forward on large logits (the template's overflows)."""
    layer = ws.construct("Softmax", "Softmax", ws.require("Softmax"))
    return StabilityResult(out=layer_forward(ws, layer, "Softmax", [ws.inputs["x"].copy()]))


TASK = WorkerTask("TASK", StabilityParams, StabilityResult, softmax_stability, phase="forward", module=__name__)
