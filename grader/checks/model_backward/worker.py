"""The worker side of numpy.model.backward: the student's myModel at the grader's weights, forward and backward,
and its forwards at W +/- h D (a directional finite difference of the loss, judged in check.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ...sandbox.tasks import WorkerTask
from ...sandbox.wire import Array, TaskParams, TaskResult
from ...sandbox.workspace import Workspace
from ..numpy_worker import model_attr, new_model, run_method, set_attr


class ModelBackwardParams(TaskParams):
    """The seed of myModel's own init and the directional steps for float64 and float32 forwards (inputs x, label, W1, W2, D1, D2)."""

    seed: int
    fd_step64: float
    fd_step32: float


class Directional(BaseModel):
    """h2_log at W + step * D and at W - step * D, for one dtype's step."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    plus: Array
    minus: Array


class ModelBackwardResult(TaskResult):
    """What the student's model computed at the grader's weights."""

    W1_shape: tuple[StrictInt, ...] = Field(description="np.shape of myModel.W1 right after myModel() (before the grader set it).")
    W2_shape: tuple[StrictInt, ...] = Field(description="np.shape of myModel.W2 right after myModel().")
    h2_log: Array
    W1_grad: Array
    W2_grad: Array
    step64: Directional
    step32: Directional


def model_backward(ws: Workspace, p: ModelBackwardParams) -> ModelBackwardResult:
    """W1_grad, W2_grad of the student's model at the grader's weights and batch."""
    model, w1_shape, w2_shape = new_model(ws, p.seed)
    set_attr(ws, "forward", model, "W1", ws.inputs["W1"].copy())
    set_attr(ws, "forward", model, "W2", ws.inputs["W2"].copy())
    run_method(ws, "forward", model, "forward", ws.inputs["x"].copy())
    h2_log = model_attr(ws, model, "h2_log", "forward", "forward")
    run_method(ws, "backward", model, "backward", ws.inputs["label"].copy())
    w1_grad = model_attr(ws, model, "W1_grad", "backward")
    w2_grad = model_attr(ws, model, "W2_grad", "backward")
    step64 = _directional_forwards(ws, model, p.fd_step64)
    step32 = _directional_forwards(ws, model, p.fd_step32)
    return ModelBackwardResult(W1_shape=w1_shape, W2_shape=w2_shape, h2_log=h2_log, W1_grad=w1_grad, W2_grad=w2_grad,
                               step64=step64, step32=step32)


def _directional_forwards(ws: Workspace, model: Any, step: float) -> Directional:
    """h2_log at W +/- h D for the grader's random direction D: a finite difference of the whole loss."""
    moved = []
    for sign in (1.0, -1.0):
        set_attr(ws, "forward", model, "W1", ws.inputs["W1"] + sign * step * ws.inputs["D1"])
        set_attr(ws, "forward", model, "W2", ws.inputs["W2"] + sign * step * ws.inputs["D2"])
        run_method(ws, "forward", model, "forward", ws.inputs["x"].copy())
        moved.append(model_attr(ws, model, "h2_log", "forward", "forward"))
    return Directional(plus=moved[0], minus=moved[1])


TASK = WorkerTask("TASK", ModelBackwardParams, ModelBackwardResult, model_backward, phase="backward", module=__name__)
