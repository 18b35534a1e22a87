"""The worker side of the layer gradient checks: forward/backward of one student layer at each input point.

For each point: a fresh forward/backward, forwards at x +/- h for every entry, and (at the
first point) the state passes: a stale cache and a repeated backward.  Judging happens in
check.py, in the grader's process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from ...sandbox.tasks import WorkerTask
from ...sandbox.wire import Array, TaskParams, TaskResult
from ...sandbox.workspace import StudentFailure, Workspace
from ...text import msg
from ..numpy_worker import backward, describe, layer_forward, to_array


class LayerGradientParams(TaskParams):
    """One numpy layer at `n_points` input points with `n_args` arguments (inputs p{k}_arg{i}, p{k}_gy, steps, stale_arg{i})."""

    layer: str
    n_args: int = Field(ge=1, le=8)
    n_points: int = Field(ge=1, le=8)


class GradType(BaseModel):
    """What a layer's backward returned for one gradient, read before conversion (numpy_worker.describe)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: StrictStr = Field(description="The returned object's class name, e.g. 'ndarray', 'list'.")
    ndarray: StrictBool = Field(description="Exactly np.ndarray (not a subclass).")
    dtype: StrictStr | None = Field(description="The array's dtype, e.g. 'float64'; None for anything but an ndarray.")

    @model_validator(mode="after")
    def _ndarray_has_dtype(self) -> GradType:
        if self.ndarray and self.dtype is None:
            raise ValueError("an ndarray has a dtype")
        return self


class FiniteDifference(BaseModel):
    """The forwards with entry j of one argument moved by +h_j and -h_j, stacked over j."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    plus: Array
    minus: Array


class StatePasses(BaseModel):
    """forward(stale), forward(x), backward, backward on one layer: the gradients of each backward."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    seq_grads: tuple[Array, ...]
    again_grads: tuple[Array, ...]


class LayerPoint(BaseModel):
    """What the worker measured at one input point."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    out: Array = Field(description="The forward's output.")
    grad_types: tuple[GradType, ...] = Field(description="One entry per gradient backward returned.")
    grads: tuple[Array, ...] = Field(description="The gradients backward returned, converted to arrays.")
    arg_after: tuple[Array, ...] = Field(description="The forward's arguments after the forward and backward.")
    gy_after: Array = Field(description="grad_y after the backward.")
    fd_dtype: StrictStr = Field(description="dtype of the forward's output: its finite differences used that dtype's steps.")
    fd: tuple[FiniteDifference, ...] = Field(description="One per argument.")
    state: StatePasses | None = Field(None, description="At the first point only.")


class LayerGradientResult(TaskResult):
    """One record per input point, in order."""

    points: tuple[LayerPoint, ...]


def layer_gradient(ws: Workspace, p: LayerGradientParams) -> LayerGradientResult:
    """Every point's fresh pass and finite-difference forwards; the state passes at the first point."""
    name = p.layer
    cls = ws.require(name)
    points = []
    for k in range(p.n_points):
        args = [ws.inputs[f"p{k}_arg{i}"] for i in range(p.n_args)]
        grad_y = ws.inputs[f"p{k}_gy"]
        out, fresh = _fresh_pass(ws, cls, name, args, grad_y)
        state = _state_passes(ws, cls, name, args, grad_y) if k == 0 else None
        step_kind = "step32" if out.dtype in (np.float32, np.float16) else "step64"
        fd = tuple(_finite_difference_forwards(ws, cls, name, args, i, ws.inputs[f"p{k}_{step_kind}_{i}"], out.shape)
                   for i in range(len(args)))
        points.append(LayerPoint(out=out, fd_dtype=str(out.dtype), fd=fd, state=state, **fresh))
    return LayerGradientResult(points=tuple(points))


def _fresh_pass(ws: Workspace, cls: Any, name: str, args: list[np.ndarray], grad_y: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """forward(x) then backward(grad_y) on a new layer; keeps what the calls left in their inputs."""
    layer = ws.construct(name, name, cls)
    passed = [a.copy() for a in args]
    out = layer_forward(ws, layer, name, passed)
    arg_after = tuple(arg.copy() for arg in passed)
    upstream = grad_y.copy()
    grads = backward(ws, layer, name, upstream, len(args))
    grad_types = tuple(GradType(**describe(g)) for g in grads)
    arrays = tuple(to_array(ws, grad, f"{name}.backward") for grad in grads)
    return out, {"grad_types": grad_types, "grads": arrays, "arg_after": arg_after, "gy_after": upstream}


def _state_passes(ws: Workspace, cls: Any, name: str, args: list[np.ndarray], grad_y: np.ndarray) -> StatePasses:
    """forward(A), forward(B), backward, backward: the gradients must be those of B, twice."""
    layer = ws.construct(name, name, cls)
    layer_forward(ws, layer, name, [ws.inputs[f"stale_arg{i}"].copy() for i in range(len(args))])
    layer_forward(ws, layer, name, [a.copy() for a in args])
    seq, again = (tuple(to_array(ws, grad, f"{name}.backward") for grad in backward(ws, layer, name, grad_y.copy(), len(args)))
                  for _ in range(2))
    return StatePasses(seq_grads=seq, again_grads=again)


def _finite_difference_forwards(
    ws: Workspace, cls: Any, name: str, args: list[np.ndarray], i: int, steps: np.ndarray, shape: tuple[int, ...]
) -> FiniteDifference:
    """Forward outputs with entry j of argument i moved by +h_j and -h_j (a fresh layer each time)."""
    plus: list[np.ndarray] = []
    minus: list[np.ndarray] = []
    for j in range(args[i].size):
        for sign, bucket in ((1.0, plus), (-1.0, minus)):
            moved = [a.copy() for a in args]
            moved[i].flat[j] += sign * steps.flat[j]
            out = layer_forward(ws, ws.construct(name, name, cls), name, moved)
            if out.shape != shape:
                message = msg("layers.worker.forward_shape_varies", name=name, got=str(out.shape), first=str(shape))
                raise StudentFailure("exception", "forward", message)
            bucket.append(out)
    return FiniteDifference(plus=np.stack(plus), minus=np.stack(minus))


TASK = WorkerTask("TASK", LayerGradientParams, LayerGradientResult, layer_gradient, phase="backward", module=__name__)
