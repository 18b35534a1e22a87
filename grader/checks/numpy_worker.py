"""Worker-side helpers of the numpy checks: call the student's layers and model through the Workspace.

Shared by the worker tasks of layer_gradient/, softmax_stability/, model_backward/ and
training/ (their worker.py files); these only *compute*.  Judging (autograd references, finite-difference
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
from ..sandbox.workspace import StudentFailure, Workspace, safe_str, type_name
from ..text import Message, msg, verbatim

MODEL = "numpy myModel"
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
    return ws.method(phase, MODEL if name == "myModel" else name, obj, method, fix)


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


def layer_forward(ws: Workspace, layer: Any, name: str, args: list[np.ndarray]) -> np.ndarray:
    """The layer's forward on `args`, as a plain array."""
    out = ws.call("forward", f"{name}.forward", _method(ws, "forward", name, layer, "forward"), *args)
    return to_array(ws, out, f"{name}.forward", "forward")


def backward(ws: Workspace, layer: Any, name: str, grad_y: np.ndarray, n_args: int) -> tuple[Any, ...]:
    """What the layer's backward returned, one object per forward argument (not yet converted)."""
    grads = ws.call("backward", f"{name}.backward", _method(ws, "backward", name, layer, "backward"), grad_y)
    return as_tuple(ws, name, grads, n_args)


def as_tuple(ws: Workspace, name: str, grads: Any, n_args: int) -> tuple[Any, ...]:
    """`grads` as one object per forward argument, or a failure saying backward returned something else."""
    if n_args == 1:
        return (grads,)
    # type(), not isinstance(); tuple() runs a list subclass's own __iter__: inside ws.call.
    items = ws.call("backward", f"{name}.backward", tuple, grads) if issubclass(type(grads), (tuple, list)) else None
    if items is None or len(items) != n_args:
        message = msg("layers.worker.not_a_tuple", name=name, type=verbatim(type_name(grads)), n=n_args)
        raise StudentFailure("exception", "backward", message)
    return items  # type: ignore[no-any-return]


def new_model(ws: Workspace, seed: int) -> tuple[Any, tuple[int, ...], tuple[int, ...]]:
    """A fresh myModel, with the global numpy RNG seeded (`seed`) as the template's init uses it,
    and the shapes of its W1 and W2 right after construction."""
    cls = ws.require("myModel")
    np.random.seed(seed)
    model = ws.construct(MODEL, "myModel", cls)
    w1, w2 = (tuple(ws.call("import", f"myModel.{name}", _shape_of, model, name)) for name in ("W1", "W2"))
    return model, w1, w2


def _shape_of(model: Any, name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in np.shape(getattr(model, name, ())))


def model_attr(ws: Workspace, model: Any, name: str, method: str, phase: Phase = "backward") -> np.ndarray:
    """The model's attribute `name`, set by `method`, as a plain array."""
    value = ws.call(phase, f"myModel.{name}", getattr, model, name, None)
    if value is None:
        raise StudentFailure("exception", phase, msg("layers.worker.attr_not_set", method=method, name=name))
    return to_array(ws, value, f"myModel.{name}", phase)


def set_attr(ws: Workspace, phase: Phase, model: Any, name: str, value: np.ndarray) -> None:
    """Set the model's attribute `name` to `value` (the grader's weights)."""
    ws.call(phase, f"myModel.{name} = ...", setattr, model, name, value)


def run_method(ws: Workspace, phase: Phase, model: Any, method: str, arg: np.ndarray) -> None:
    """Call the model's `method` (forward or backward) on `arg`."""
    ws.call(phase, f"myModel.{method}", _method(ws, phase, "myModel", model, method), arg)
