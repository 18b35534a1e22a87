"""Worker-side helpers of the framework checks (the probe and training): making, calling and reading myModel.

Imported inside the sandbox by grader/checks/framework_probe/worker.py and
grader/checks/training/framework_worker.py; torch and TensorFlow are imported inside the
functions, so a job pays only for the framework its part uses.  What the grader was doing
when student code failed is a code name ("myModel.__call__") or a clause (`training.what_*`).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..records import Phase
from ..sandbox.workspace import StudentFailure, Workspace, safe_str, type_name
from ..text import Message, msg, verbatim
from .framework_layouts import CallRaised, CallReturned, Layout, LayoutCall

OWNERS = {"pytorch": "PyTorch myModel", "tensorflow": "TensorFlow myModel"}
OUTPUT = msg("training.what_output")
FORWARD = msg("training.what_forward")
_LOSS = msg("training.what_loss")
_MODES = msg("training.what_modes")


def _check_logits(shape: tuple[int, ...], batch: int) -> None:
    if tuple(shape) != (batch, 10):
        raise StudentFailure("exception", "forward", msg("training.logits_shape", shape=str(tuple(shape)), batch=batch))


def new_model(ws: Workspace, framework: str) -> Any:
    """A fresh myModel (made with no arguments) that the grader can call as model(x), or the failure that says
    what is missing."""
    model = ws.construct(OWNERS[framework], "myModel", ws.require("myModel"))
    ws.call("import", "myModel", _require_forward, model, framework)
    return model


def _require_forward(model: Any, framework: str) -> None:
    """A StudentFailure when calling the model cannot reach a forward of the student's."""
    missing = _missing_forward(model) if framework == "pytorch" else _missing_call(model)
    if missing is not None:
        method, fix = missing
        # The workspace's own sentence for a missing method (catalog domain sandbox), with this task's fix.
        raise StudentFailure("missing", "import", msg("sandbox.no_method", owner=OWNERS[framework], method=method, fix=fix))


def _missing_forward(model: Any) -> tuple[str, Message] | None:
    """The method a PyTorch model lacks for model(x) to reach the student's forward, and how to define it."""
    import torch

    if isinstance(model, torch.nn.Module):
        return ("forward", msg("training.fix_forward")) if type(model).forward is torch.nn.Module.forward else None
    return None if callable(model) else ("__call__", msg("training.fix_module"))


def _missing_call(model: Any) -> tuple[str, Message] | None:
    """The method a TensorFlow model lacks for model(x) to reach the student's call, and how to define it."""
    import tensorflow as tf

    keras_calls = (tf.keras.Model.call, tf.keras.layers.Layer.call)
    if isinstance(model, tf.keras.layers.Layer) and getattr(type(model), "call", None) in keras_calls:
        return "call", msg("training.fix_call")
    return None if callable(model) else ("__call__", msg("training.fix_dunder_call"))


def logits(ws: Workspace, phase: Phase, out: Any, batch: int, framework: str) -> Any:
    """`out`, what the model returned for `batch` images, if it is one (batch, 10) tensor; else a failure naming it."""
    return ws.call(phase, OUTPUT, _checked_logits, out, batch, framework, phase)


def _checked_logits(out: Any, batch: int, framework: str, phase: Phase) -> Any:
    if framework == "pytorch":
        import torch

        tensor = isinstance(out, torch.Tensor)
    else:
        import tensorflow as tf

        tensor = bool(tf.is_tensor(out))
    if not tensor:
        method = "forward" if framework == "pytorch" else "__call__"
        message = msg("training.not_a_tensor", owner=OWNERS[framework], method=method, type=verbatim(type_name(out)), batch=batch)
        raise StudentFailure("exception", phase, message)
    _check_logits(tuple(int(n) for n in out.shape), batch)
    return out


def tensor_shape(out: Any, framework: str) -> tuple[int, ...] | None:
    """The shape of `out` when it is a tensor of the framework; None for anything else."""
    if framework == "pytorch":
        import torch

        return tuple(int(n) for n in out.shape) if isinstance(out, torch.Tensor) else None
    import tensorflow as tf

    return tuple(int(n) for n in out.shape) if tf.is_tensor(out) else None


# --------------------------------------------------------------------------- training and inference mode


@dataclass(frozen=True)
class Modes:
    """How the grader puts a model into training or inference mode."""

    flag: bool
    """Calls pass training=True / training=False: a Keras layer, or a forward/__call__ that takes `training`."""
    modules: tuple[Any, ...]
    """The PyTorch modules (the model's own, or those among its attributes) whose `training` flag is set."""


def modes(ws: Workspace, model: Any, framework: str) -> Modes:
    """The model's Modes, read from its class (no student method runs)."""
    return ws.call("train", _MODES, _find_modes, model, framework)  # type: ignore[no-any-return]


def _find_modes(model: Any, framework: str) -> Modes:
    if framework == "pytorch":
        import torch

        if isinstance(model, torch.nn.Module):
            return Modes(takes_training(type(model).forward), tuple(model.modules()))
        found = [m for value in attribute_values(model) if isinstance(value, torch.nn.Module) for m in value.modules()]
        return Modes(takes_training(type(model).__call__), tuple(found))
    import tensorflow as tf

    if isinstance(model, tf.keras.layers.Layer):  # Keras passes `training` on to call() and to its sublayers
        return Modes(True, ())
    return Modes(takes_training(type(model).__call__), ())


def takes_training(fn: Any) -> bool:
    """Whether `fn` has a parameter `training` that a keyword argument reaches."""
    try:
        parameter = inspect.signature(fn).parameters.get("training")
    except (TypeError, ValueError):  # no signature to read (a builtin, a broken __signature__)
        return False
    return parameter is not None and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)


def set_mode(ws: Workspace, phase: Phase, found: Modes, training: bool) -> None:
    """What model.train() (training) or model.eval() sets: every module's `training` flag.  A student's own
    `train` method (often their training loop) is never called."""
    if found.modules:
        ws.call(phase, _MODES, _set_flags, found.modules, training)


def _set_flags(modules: tuple[Any, ...], training: bool) -> None:
    for module in modules:
        module.training = training


def call_model(ws: Workspace, phase: Phase, what: str | Message, model: Any, found: Modes, batch: Any, training: bool) -> Any:
    """model(batch), with training=... when the model takes it."""
    fn = functools.partial(model, training=training) if found.flag else model
    return ws.call(phase, what, fn, batch)


# --------------------------------------------------------------------------- input layout


def seed_all(framework: str, seed: int, threads: int) -> None:
    """The grader's seeds (and PyTorch's threads), set before each fresh model is made."""
    np.random.seed(seed)
    if framework == "pytorch":
        import torch

        torch.manual_seed(seed)
        torch.set_num_threads(threads)
    else:
        import tensorflow as tf

        tf.random.set_seed(seed)


def as_tensor(batch: np.ndarray, framework: str) -> Any:
    if framework == "pytorch":
        import torch

        return torch.from_numpy(np.ascontiguousarray(batch))
    import tensorflow as tf

    return tf.constant(batch)



def torch_parameters(model: Any) -> list[Any]:
    """nn.Module parameters, or tensors with requires_grad found among the model's attributes."""
    import torch

    params: list[Any] = []
    if isinstance(model, torch.nn.Module):
        params = [p for p in model.parameters() if isinstance(p, torch.Tensor) and p.requires_grad]
    else:
        for value in attribute_values(model):
            if isinstance(value, torch.nn.Module):
                params.extend(p for p in value.parameters() if p.requires_grad)
            elif isinstance(value, torch.Tensor) and value.requires_grad and value.is_leaf:
                params.append(value)
    if not params:
        raise StudentFailure("exception", "train", msg("training.no_parameters"))
    return params


def attribute_values(model: Any) -> Iterator[Any]:
    try:
        attributes = list(vars(model).values())
    except TypeError:  # no __dict__ (slots): no attributes to look through
        return
    for value in attributes:
        if isinstance(value, (list, tuple)):
            yield from value
        elif isinstance(value, dict):
            yield from value.values()
        else:
            yield value


# --------------------------------------------------------------------------- TensorFlow


def tf_variables(model: Any) -> list[Any]:
    """trainable_variables of a tf.Module/keras model, or tf.Variables among the attributes."""
    import tensorflow as tf

    found = list(getattr(model, "trainable_variables", []) or [])
    if not found:
        for value in attribute_values(model):
            if isinstance(value, tf.Variable) and value.trainable:
                found.append(value)
            elif hasattr(value, "trainable_variables"):
                found.extend(value.trainable_variables)
    if not found:
        raise StudentFailure("exception", "train", msg("training.no_variables"))
    return found


def in_layout(images: np.ndarray, layout: Layout) -> np.ndarray:
    """(N, 28, 28) images as the layout has them: unchanged, or as (N, 784) rows."""
    return images if layout == "3d" else images.reshape(len(images), -1)


def raised(failure: StudentFailure, *, in_call: bool = True) -> CallRaised:
    """A failure as raw data: the exception the student's code raised (the workspace keeps it as the
    failure's context), its text and place; `in_call` is False for a step on what the call returned."""
    exc = failure.__context__
    if isinstance(exc, StudentFailure) or exc is None:
        return CallRaised(error=failure.error, in_call=in_call)
    return CallRaised(error=failure.error, exception=type_name(exc), text=safe_str(exc), in_call=in_call)


def returned(layout: Layout, out: Any, shape: tuple[int, ...] | None) -> LayoutCall:
    """A call that returned `out` (of `shape`, None when it is no tensor)."""
    return LayoutCall(layout=layout, returned=CallReturned(type=type_name(out), shape=shape))
