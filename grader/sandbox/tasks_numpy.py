"""Worker tasks for the numpy part: call the student's layers and model, return raw arrays.

These functions only *compute*.  Judging (autograd references, finite-difference
quotients, tolerances, accuracy) happens in the grader's own process.  Every
touch of a student object (creating it, looking up a method, calling it,
reading or setting an attribute, converting what it returned) goes through the
Workspace, so whatever the student's code does becomes a failure with their
class and method in its message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..records import Phase
from ..text import Message, msg, verbatim
from .curve import TrainingCurve
from .protocol import LayerGradientParams, ModelBackwardParams, NumpyTrainParams
from .workspace import StudentFailure, Workspace, safe_str, type_name

_MODEL = "numpy myModel"
_FIXES = {
    ("Matmul", "forward"): msg("layers.fix.matmul_forward"),
    ("Matmul", "backward"): msg("layers.fix.matmul_backward"),
    ("layer", "forward"): msg("layers.fix.layer_forward"),
    ("layer", "backward"): msg("layers.fix.layer_backward"),
    ("myModel", "forward"): msg("layers.fix.model_forward"),
    ("myModel", "backward"): msg("layers.fix.model_backward"),
}
"""How to define a method the grader calls, for the message when it is missing."""


def _method(ws: Workspace, phase: Phase, name: str, obj: Any, method: str) -> Any:
    """The student's `name.method` of `obj`, or a failure saying how to define it."""
    fix: Message = _FIXES.get((name, method)) or _FIXES[("layer", method)]
    return ws.method(phase, _MODEL if name == "myModel" else name, obj, method, fix)


def to_array(ws: Workspace, value: Any, what: str, phase: Phase = "backward") -> np.ndarray:
    """A plain numeric ndarray copy of a student's return value, or a failure saying what it was."""
    arr: np.ndarray = ws.call(phase, what, _plain_copy, value, what, phase)
    return arr


def _plain_copy(value: Any, what: str, phase: Phase) -> np.ndarray:
    try:
        arr = np.array(value, copy=True, subok=False)
    except Exception as exc:  # noqa: BLE001 - arbitrary student objects
        message = msg("layers.worker.not_an_array", what=what, type=verbatim(type_name(value)), detail=verbatim(safe_str(exc)))
        raise StudentFailure("exception", phase, message) from None
    if arr.dtype.kind not in "fiub":
        message = msg("layers.worker.not_numeric", what=what, type=verbatim(type_name(value)), dtype=str(arr.dtype))
        raise StudentFailure("exception", phase, message)
    return arr


def describe(value: Any) -> dict[str, Any]:
    """What a student function returned, before conversion: type, exact ndarray or not, dtype.

    Read without running student code: an ndarray subclass may redefine `dtype`.
    """
    dtype = str(np.ndarray.dtype.__get__(value)) if issubclass(type(value), np.ndarray) else None
    return {"type": type_name(value), "ndarray": type(value) is np.ndarray, "dtype": dtype}


def layer_gradient(ws: Workspace) -> None:
    """For each input point: a fresh forward/backward, forwards at x +/- h for every entry,
    and (at the first point) the state checks: a stale cache and a repeated backward."""
    p = ws.job.params_as(LayerGradientParams)
    name = p.layer
    cls = ws.require(name)
    for k in range(p.n_points):
        args = [ws.inputs[f"p{k}_arg{i}"] for i in range(p.n_args)]
        grad_y = ws.inputs[f"p{k}_gy"]
        _fresh_pass(ws, cls, name, f"p{k}_", args, grad_y)
        if k == 0:
            _state_passes(ws, cls, name, args, grad_y)
        dtype = ws.arrays[f"p{k}_out"].dtype
        step_kind = "step32" if dtype in (np.float32, np.float16) else "step64"
        ws.values[f"p{k}_fd_dtype"] = str(dtype)
        for i in range(len(args)):
            steps = ws.inputs[f"p{k}_{step_kind}_{i}"]
            _finite_difference_forwards(ws, cls, name, f"p{k}_", args, i, steps)


def layer_forward(ws: Workspace, layer: Any, name: str, args: list[np.ndarray]) -> np.ndarray:
    """The layer's forward on `args`, as a plain array."""
    out = ws.call("forward", f"{name}.forward", _method(ws, "forward", name, layer, "forward"), *args)
    return to_array(ws, out, f"{name}.forward", "forward")


def _backward(ws: Workspace, layer: Any, name: str, grad_y: np.ndarray, n_args: int) -> tuple[Any, ...]:
    """What the layer's backward returned, one object per forward argument (not yet converted)."""
    grads = ws.call("backward", f"{name}.backward", _method(ws, "backward", name, layer, "backward"), grad_y)
    return _as_tuple(ws, name, grads, n_args)


def _fresh_pass(ws: Workspace, cls: Any, name: str, prefix: str, args: list[np.ndarray], grad_y: np.ndarray) -> None:
    """forward(x) then backward(grad_y) on a new layer; keeps what the calls left in their inputs."""
    layer = ws.construct(name, name, cls)
    passed = [a.copy() for a in args]
    ws.arrays[prefix + "out"] = layer_forward(ws, layer, name, passed)
    for i, arg in enumerate(passed):
        ws.arrays[f"{prefix}arg_after{i}"] = arg.copy()
    upstream = grad_y.copy()
    grads = _backward(ws, layer, name, upstream, len(args))
    ws.values[prefix + "grad_types"] = [describe(g) for g in grads]
    for i, grad in enumerate(grads):
        ws.arrays[f"{prefix}grad{i}"] = to_array(ws, grad, f"{name}.backward")
    ws.arrays[prefix + "gy_after"] = upstream


def _state_passes(ws: Workspace, cls: Any, name: str, args: list[np.ndarray], grad_y: np.ndarray) -> None:
    """forward(A), forward(B), backward, backward: the gradients must be those of B, twice."""
    layer = ws.construct(name, name, cls)
    layer_forward(ws, layer, name, [ws.inputs[f"stale_arg{i}"].copy() for i in range(len(args))])
    layer_forward(ws, layer, name, [a.copy() for a in args])
    for label in ("seq", "again"):
        for i, grad in enumerate(_backward(ws, layer, name, grad_y.copy(), len(args))):
            ws.arrays[f"p0_{label}_grad{i}"] = to_array(ws, grad, f"{name}.backward")


def _as_tuple(ws: Workspace, name: str, grads: Any, n_args: int) -> tuple[Any, ...]:
    if n_args == 1:
        return (grads,)
    # type(), not isinstance(); tuple() runs a list subclass's own __iter__: inside ws.call.
    items = ws.call("backward", f"{name}.backward", tuple, grads) if issubclass(type(grads), (tuple, list)) else None
    if items is None or len(items) != n_args:
        message = msg("layers.worker.not_a_tuple", name=name, type=verbatim(type_name(grads)), n=n_args)
        raise StudentFailure("exception", "backward", message)
    return items  # type: ignore[no-any-return]


def _finite_difference_forwards(
    ws: Workspace, cls: Any, name: str, prefix: str, args: list[np.ndarray], i: int, steps: np.ndarray
) -> None:
    """Forward outputs with entry j of argument i moved by +h_j and -h_j (a fresh layer each time)."""
    shape = ws.arrays[prefix + "out"].shape
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
    ws.arrays[f"{prefix}fd_plus{i}"] = np.stack(plus)
    ws.arrays[f"{prefix}fd_minus{i}"] = np.stack(minus)


def _model(ws: Workspace, seed: int) -> Any:
    """A fresh myModel, with the global numpy RNG seeded (`seed`) as the template's init uses it."""
    cls = ws.require("myModel")
    np.random.seed(seed)
    model = ws.construct(_MODEL, "myModel", cls)
    for name in ("W1", "W2"):
        ws.values[f"{name}_shape"] = list(ws.call("import", f"myModel.{name}", _shape_of, model, name))
    return model


def _shape_of(model: Any, name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in np.shape(getattr(model, name, ())))


def _attr(ws: Workspace, model: Any, name: str, method: str, phase: Phase = "backward") -> np.ndarray:
    """The model's attribute `name`, set by `method`, as a plain array."""
    value = ws.call(phase, f"myModel.{name}", getattr, model, name, None)
    if value is None:
        raise StudentFailure("exception", phase, msg("layers.worker.attr_not_set", method=method, name=name))
    return to_array(ws, value, f"myModel.{name}", phase)


def _set(ws: Workspace, phase: Phase, model: Any, name: str, value: np.ndarray) -> None:
    ws.call(phase, f"myModel.{name} = ...", setattr, model, name, value)


def _run(ws: Workspace, phase: Phase, model: Any, method: str, arg: np.ndarray) -> None:
    """Call the model's `method` (forward or backward) on `arg`."""
    ws.call(phase, f"myModel.{method}", _method(ws, phase, "myModel", model, method), arg)


def model_backward(ws: Workspace) -> None:
    """W1_grad, W2_grad of the student's model at the grader's weights and batch."""
    p = ws.job.params_as(ModelBackwardParams)
    model = _model(ws, p.seed)
    _set(ws, "forward", model, "W1", ws.inputs["W1"].copy())
    _set(ws, "forward", model, "W2", ws.inputs["W2"].copy())
    _run(ws, "forward", model, "forward", ws.inputs["x"].copy())
    ws.arrays["h2_log"] = _attr(ws, model, "h2_log", "forward", "forward")
    _run(ws, "backward", model, "backward", ws.inputs["label"].copy())
    ws.arrays["W1_grad"] = _attr(ws, model, "W1_grad", "backward")
    ws.arrays["W2_grad"] = _attr(ws, model, "W2_grad", "backward")
    _directional_forwards(ws, model, {"64": p.fd_step64, "32": p.fd_step32})


def _directional_forwards(ws: Workspace, model: Any, steps: dict[str, float]) -> None:
    """h2_log at W +/- h D for the grader's random direction D: a finite difference of the whole loss."""
    for kind, step in steps.items():
        for sign, label in ((1.0, "plus"), (-1.0, "minus")):
            _set(ws, "forward", model, "W1", ws.inputs["W1"] + sign * step * ws.inputs["D1"])
            _set(ws, "forward", model, "W2", ws.inputs["W2"] + sign * step * ws.inputs["D2"])
            _run(ws, "forward", model, "forward", ws.inputs["x"].copy())
            ws.arrays[f"h2_log_{label}{kind}"] = _attr(ws, model, "h2_log", "forward", "forward")


def numpy_train(ws: Workspace) -> None:
    """The grader's seeded mini-batch SGD on the student's model; returns test log-probabilities."""
    p = ws.job.params_as(NumpyTrainParams)
    model = _model(ws, p.seed)
    x = ws.inputs["train_x"].reshape(len(ws.inputs["train_x"]), -1) / 255.0
    onehot = np.eye(10)[ws.inputs["train_y"].astype(np.int64)]
    order = np.random.default_rng(p.seed)
    losses: list[float] = []
    curve = TrainingCurve()
    for _ in range(p.epochs):
        perm = order.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), p.batch_size):
            idx = perm[start : start + p.batch_size]
            loss, log_probs = _sgd_step(ws, model, x[idx], onehot[idx], p.lr)
            curve.add(loss, np.argmax(log_probs, axis=1), ws.inputs["train_y"][idx])
            total += loss
        losses.append(total / len(x))
    ws.values["losses"] = [v if np.isfinite(v) else str(v) for v in losses]
    ws.values["curve"] = curve.points
    ws.arrays["test_out"] = _predict(ws, model, ws.inputs["test_x"] / 255.0)


def _log_probs(ws: Workspace, model: Any, phase: Phase, batch: int) -> np.ndarray:
    """self.h2_log after a forward on `batch` images, which must be (batch, 10)."""
    log_probs = _attr(ws, model, "h2_log", "forward", phase)
    if log_probs.shape != (batch, 10):
        raise StudentFailure("exception", phase, msg("layers.worker.h2_log_shape", shape=str(log_probs.shape), batch=batch))
    return log_probs


def _sgd_step(ws: Workspace, model: Any, xb: np.ndarray, yb: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
    """One template step: forward, backward(label), W -= lr * W_grad (gradients summed over the batch).

    Returns the batch's summed loss and the forward's log-probabilities.
    """
    _run(ws, "train", model, "forward", xb)
    log_probs = _log_probs(ws, model, "train", len(xb))
    loss = float(-np.sum(yb * log_probs))
    _run(ws, "train", model, "backward", yb)
    for name in ("W1", "W2"):
        weight, grad = _attr(ws, model, name, "__init__", "train"), _attr(ws, model, f"{name}_grad", "backward", "train")
        if grad.shape != weight.shape:
            message = msg("layers.worker.grad_shape", name=name, got=str(grad.shape), want=str(weight.shape))
            raise StudentFailure("exception", "train", message)
        _set(ws, "train", model, name, weight - lr * grad)
    return loss, log_probs


def _predict(ws: Workspace, model: Any, x: np.ndarray, chunk: int = 2000) -> np.ndarray:
    outs = []
    for start in range(0, len(x), chunk):
        batch = x[start : start + chunk]
        _run(ws, "forward", model, "forward", batch)
        outs.append(_log_probs(ws, model, "forward", len(batch)))
    return np.concatenate(outs).astype(np.float64)
