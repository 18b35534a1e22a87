"""Worker tasks for the numpy part: call the student's layers and model, return raw arrays.

These functions only *compute*.  Judging (autograd references, finite-difference
quotients, tolerances, accuracy) happens in the grader's own process.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .curve import TrainingCurve
from .workspace import StudentFailure, Workspace


def to_array(value: Any, what: str) -> np.ndarray:
    """A plain numeric ndarray copy of a student's return value, or a failure saying what it was."""
    try:
        arr = np.array(value, copy=True, subok=False)
    except Exception as exc:  # noqa: BLE001 - arbitrary student objects
        raise StudentFailure("exception", "backward", f"`{what}` returned {type(value).__name__}, not an array: {exc}") from None
    if arr.dtype.kind not in "fiub":
        msg = f"`{what}` returned {type(value).__name__} with dtype {arr.dtype}; it must return a numeric numpy array"
        raise StudentFailure("exception", "backward", msg)
    return arr


def describe(value: Any) -> dict[str, Any]:
    """What a student function returned, before conversion: type, exact ndarray or not, dtype."""
    dtype = str(value.dtype) if isinstance(value, np.ndarray) else None
    return {"type": type(value).__name__, "ndarray": type(value) is np.ndarray, "dtype": dtype}


def layer_gradient(ws: Workspace) -> None:
    """For each input point: a fresh forward/backward, forwards at x +/- h for every entry,
    and (at the first point) the state checks: a stale cache and a repeated backward."""
    name: str = ws.params["layer"]
    cls = ws.require(name)
    for k in range(ws.params["n_points"]):
        args = [ws.inputs[f"p{k}_arg{i}"] for i in range(ws.params["n_args"])]
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


def _fresh_pass(ws: Workspace, cls: type, name: str, prefix: str, args: list[np.ndarray], grad_y: np.ndarray) -> None:
    """forward(x) then backward(grad_y) on a new layer; keeps what the calls left in their inputs."""
    layer = ws.call("import", f"{name}()", cls)
    passed = [a.copy() for a in args]
    out = ws.call("forward", f"{name}.forward", layer.forward, *passed)
    ws.arrays[prefix + "out"] = to_array(out, f"{name}.forward")
    for i, arg in enumerate(passed):
        ws.arrays[f"{prefix}arg_after{i}"] = arg.copy()
    upstream = grad_y.copy()
    grads = _as_tuple(name, ws.call("backward", f"{name}.backward", layer.backward, upstream), len(args))
    ws.values[prefix + "grad_types"] = [describe(g) for g in grads]
    for i, grad in enumerate(grads):
        ws.arrays[f"{prefix}grad{i}"] = to_array(grad, f"{name}.backward")
    ws.arrays[prefix + "gy_after"] = upstream


def _state_passes(ws: Workspace, cls: type, name: str, args: list[np.ndarray], grad_y: np.ndarray) -> None:
    """forward(A), forward(B), backward, backward: the gradients must be those of B, twice."""
    layer = ws.call("import", f"{name}()", cls)
    stale = [ws.inputs[f"stale_arg{i}"].copy() for i in range(len(args))]
    ws.call("forward", f"{name}.forward", layer.forward, *stale)
    ws.call("forward", f"{name}.forward", layer.forward, *[a.copy() for a in args])
    for label in ("seq", "again"):
        grads = _as_tuple(name, ws.call("backward", f"{name}.backward", layer.backward, grad_y.copy()), len(args))
        for i, grad in enumerate(grads):
            ws.arrays[f"p0_{label}_grad{i}"] = to_array(grad, f"{name}.backward")


def _as_tuple(name: str, grads: Any, n_args: int) -> tuple[Any, ...]:
    if n_args == 1:
        return (grads,)
    if not isinstance(grads, (tuple, list)) or len(grads) != n_args:
        msg = f"`{name}.backward` returned {type(grads).__name__}; it must return a tuple of {n_args} arrays (grad_x, grad_W)"
        raise StudentFailure("exception", "backward", msg)
    return tuple(grads)


def _finite_difference_forwards(
    ws: Workspace, cls: type, name: str, prefix: str, args: list[np.ndarray], i: int, steps: np.ndarray
) -> None:
    """Forward outputs with entry j of argument i moved by +h_j and -h_j (a fresh layer each time)."""
    plus: list[np.ndarray] = []
    minus: list[np.ndarray] = []
    for j in range(args[i].size):
        for sign, bucket in ((1.0, plus), (-1.0, minus)):
            moved = [a.copy() for a in args]
            moved[i].flat[j] += sign * steps.flat[j]
            layer = ws.call("import", f"{name}()", cls)
            bucket.append(to_array(ws.call("forward", f"{name}.forward", layer.forward, *moved), f"{name}.forward"))
    ws.arrays[f"{prefix}fd_plus{i}"] = np.stack(plus)
    ws.arrays[f"{prefix}fd_minus{i}"] = np.stack(minus)


def softmax_stability(ws: Workspace) -> None:
    """The student's Softmax forward on large logits (the template's overflows)."""
    cls = ws.require("Softmax")
    out = ws.call("forward", "Softmax.forward", cls().forward, ws.inputs["x"].copy())
    ws.arrays["out"] = to_array(out, "Softmax.forward")


def _model(ws: Workspace) -> Any:
    """A fresh myModel, with the global numpy RNG seeded as the template's init uses it."""
    cls = ws.require("myModel")
    np.random.seed(ws.params["seed"])
    model = ws.call("import", "myModel()", cls)
    ws.values["W1_shape"] = list(np.shape(getattr(model, "W1", ())))
    ws.values["W2_shape"] = list(np.shape(getattr(model, "W2", ())))
    return model


def _attr(model: Any, name: str, method: str) -> np.ndarray:
    if not hasattr(model, name):
        raise StudentFailure("exception", "backward", f"`myModel.{method}` did not set `self.{name}`; the grader reads it after the call")
    return to_array(getattr(model, name), f"myModel.{name}")


def model_backward(ws: Workspace) -> None:
    """W1_grad, W2_grad of the student's model at the grader's weights and batch."""
    model = _model(ws)
    model.W1, model.W2 = ws.inputs["W1"].copy(), ws.inputs["W2"].copy()
    ws.call("forward", "myModel.forward", model.forward, ws.inputs["x"].copy())
    ws.arrays["h2_log"] = _attr(model, "h2_log", "forward")
    ws.call("backward", "myModel.backward", model.backward, ws.inputs["label"].copy())
    ws.arrays["W1_grad"] = _attr(model, "W1_grad", "backward")
    ws.arrays["W2_grad"] = _attr(model, "W2_grad", "backward")
    _directional_forwards(ws, model)


def _directional_forwards(ws: Workspace, model: Any) -> None:
    """h2_log at W +/- h D for the grader's random direction D: a finite difference of the whole loss."""
    for kind in ("64", "32"):
        step = float(ws.params[f"fd_step{kind}"])
        for sign, label in ((1.0, "plus"), (-1.0, "minus")):
            model.W1 = ws.inputs["W1"] + sign * step * ws.inputs["D1"]
            model.W2 = ws.inputs["W2"] + sign * step * ws.inputs["D2"]
            ws.call("forward", "myModel.forward", model.forward, ws.inputs["x"].copy())
            ws.arrays[f"h2_log_{label}{kind}"] = _attr(model, "h2_log", "forward")


def numpy_train(ws: Workspace) -> None:
    """The grader's seeded mini-batch SGD on the student's model; returns test log-probabilities."""
    p = ws.params
    model = _model(ws)
    x = ws.inputs["train_x"].reshape(len(ws.inputs["train_x"]), -1) / 255.0
    onehot = np.eye(10)[ws.inputs["train_y"].astype(np.int64)]
    order = np.random.default_rng(p["seed"])
    losses: list[float] = []
    curve = TrainingCurve()
    for _ in range(p["epochs"]):
        perm = order.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), p["batch_size"]):
            idx = perm[start : start + p["batch_size"]]
            loss, log_probs = _sgd_step(ws, model, x[idx], onehot[idx], p["lr"])
            curve.add(loss, np.argmax(log_probs, axis=1), ws.inputs["train_y"][idx])
            total += loss
        losses.append(total / len(x))
    ws.values["losses"] = [v if np.isfinite(v) else str(v) for v in losses]
    ws.values["curve"] = curve.points
    ws.arrays["test_out"] = _predict(ws, model, ws.inputs["test_x"] / 255.0)


def _sgd_step(ws: Workspace, model: Any, xb: np.ndarray, yb: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
    """One template step: forward, backward(label), W -= lr * W_grad (gradients summed over the batch).

    Returns the batch's summed loss and the forward's log-probabilities.
    """
    ws.call("train", "myModel.forward", model.forward, xb)
    log_probs = _attr(model, "h2_log", "forward")
    loss = float(-np.sum(yb * log_probs))
    ws.call("train", "myModel.backward", model.backward, yb)
    for name in ("W1", "W2"):
        weight, grad = np.asarray(getattr(model, name)), _attr(model, f"{name}_grad", "backward")
        if grad.shape != weight.shape:
            msg = f"`myModel.backward` set {name}_grad of shape {grad.shape}, but {name} has shape {weight.shape}"
            raise StudentFailure("exception", "train", msg)
        setattr(model, name, weight - lr * grad)
    return loss, log_probs


def _predict(ws: Workspace, model: Any, x: np.ndarray, chunk: int = 2000) -> np.ndarray:
    outs = []
    for start in range(0, len(x), chunk):
        ws.call("forward", "myModel.forward", model.forward, x[start : start + chunk])
        outs.append(_attr(model, "h2_log", "forward"))
    return np.concatenate(outs).astype(np.float64)
