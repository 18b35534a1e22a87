"""Worker task for the framework part: probe the student's `myModel` once, without training.

The model is called on the grader's batch twice, as (N, 28, 28) images and as
(N, 784) rows, and its trainable parameters are returned as plain float64
arrays.  A failing call is recorded and the task goes on, so the host can say
which input shape was rejected.  Judging happens in `grader.checks.framework_model`.

Reports (validated on the host as protocol.FrameworkProbeResult):
    values: batch, error_3d / error_2d (the ChildError of a failed call), shape_3d / shape_2d,
            type_3d / type_2d (type of the returned object), param_names, param_shapes,
            params_error (the ChildError saying no trainable parameters were found)
    arrays: out_3d, out_2d (float64 outputs), param0, param1, ... (float64 parameters)

What the task was doing when student code failed is a clause of catalog domain
`framework` (framework.probe.*), so the failure reads in the report's language.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from ..text import msg, verbatim
from .protocol import FrameworkProbeParams
from .tasks_framework import _tf_variables, _torch_parameters, new_model
from .workspace import StudentFailure, Workspace, safe_str, type_name


def framework_probe(ws: Workspace) -> None:
    """Call a fresh, seeded myModel on both input shapes and return its outputs and parameters."""
    p = ws.job.params_as(FrameworkProbeParams)
    x = ws.inputs["x"].astype(np.float32)
    ws.values["batch"] = len(x)
    if p.framework == "pytorch":
        _probe_torch(ws, p, x)
    else:
        _probe_tensorflow(ws, p, x)


def _forward(ws: Workspace, label: str, model: Any, batch: Any) -> None:
    """One call of the model; a failure is kept (as the ChildError, in JSON) so the other input shape is still tried."""
    shape = tuple(int(n) for n in batch.shape)
    try:
        out = ws.call("forward", msg("framework.probe.call", shape=str(shape)), model, batch)
        arr = ws.call("forward", msg("framework.probe.converting"), _as_float64, out)
    except StudentFailure as failure:
        # TensorFlow calls with (N, 784) twice (once to build the layers): only the last call's outcome is kept.
        for key in (f"shape_{label}", f"type_{label}"):
            ws.values.pop(key, None)
        ws.arrays.pop(f"out_{label}", None)
        ws.values[f"error_{label}"] = failure.error.model_dump(mode="json")
        return
    ws.values.pop(f"error_{label}", None)
    ws.arrays[f"out_{label}"] = arr
    ws.values[f"shape_{label}"] = list(arr.shape)
    ws.values[f"type_{label}"] = type_name(out)


def _as_float64(value: Any) -> np.ndarray:
    """A float64 copy of a tensor (torch, TensorFlow or numpy), or a failure saying what came back."""
    if hasattr(value, "detach"):  # torch.Tensor: leave the graph and the device first
        value = value.detach().cpu().double()
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        message = msg("framework.probe.not_a_tensor", type=verbatim(type_name(value)), error=verbatim(safe_str(exc)))
        raise StudentFailure("exception", "forward", message) from None


def _random_like(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Fresh random values for a parameter: a zero-initialised bias would hide whether the forward adds it."""
    return np.asarray(rng.normal(scale=0.1, size=shape), dtype=np.float32)


def _record_parameters(ws: Workspace, named: list[tuple[str, np.ndarray]]) -> None:
    ws.values["param_names"] = [name for name, _ in named]
    ws.values["param_shapes"] = [list(arr.shape) for _, arr in named]
    for i, (_, arr) in enumerate(named):
        ws.arrays[f"param{i}"] = arr


def _attribute_items(model: Any) -> Iterator[tuple[str, Any]]:
    """(attribute path, value) of the model's attributes, one level into lists and dicts; public names first."""
    try:
        items = sorted(vars(model).items(), key=lambda item: str(item[0]).startswith("_"))
    except TypeError:  # no __dict__ (slots): no names, the parameters are still found
        return
    for name, value in items:
        if isinstance(value, (list, tuple)):
            yield from ((f"{name}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, dict):
            yield from ((f"{name}[{k!r}]", v) for k, v in value.items())
        else:
            yield str(name), value


def _parameters(ws: Workspace, find: Callable[[Any], list[Any]], model: Any) -> list[Any]:
    """The trainable parameters as the training task finds them; none (and a message) when there are none."""
    try:
        return list(ws.call("forward", msg("framework.probe.finding_parameters"), find, model))
    except StudentFailure as failure:
        ws.values["params_error"] = failure.error.model_dump(mode="json")
        return []


def _named(
    ws: Workspace, params: list[Any], model: Any, namer: Callable[[Any], dict[int, str]], to_array: Callable[[Any], np.ndarray]
) -> list[tuple[str, np.ndarray]]:
    """(name, float64 array) per parameter; 'param{i}' when its attribute path is not knowable."""
    try:
        names = ws.call("forward", msg("framework.probe.naming_parameters"), namer, model)
    except StudentFailure:  # names are cosmetic; a student property that raises must not cost the probe
        names = {}
    arrays = ws.call("forward", msg("framework.probe.reading_parameters"), lambda: [to_array(p) for p in params])
    # Matched by identity: tensors compare elementwise, not by ==.
    return [(names.get(id(p), f"param{i}"), arr) for i, (p, arr) in enumerate(zip(params, arrays))]


# --------------------------------------------------------------------------- PyTorch


def _probe_torch(ws: Workspace, p: FrameworkProbeParams, x: np.ndarray) -> None:
    import torch

    torch.manual_seed(p.seed)
    np.random.seed(p.seed)
    torch.set_num_threads(p.threads)
    model = new_model(ws, "pytorch")
    params = _parameters(ws, _torch_parameters, model)
    rng = np.random.default_rng(p.seed)
    with torch.no_grad():
        ws.call("forward", msg("framework.probe.randomising_parameters"), _randomise_torch, params, rng)
        _forward(ws, "3d", model, torch.from_numpy(x))
        _forward(ws, "2d", model, torch.from_numpy(x.reshape(len(x), -1)))
    _record_parameters(ws, _named(ws, params, model, _torch_names, lambda p: p.detach().cpu().double().numpy()))


def _randomise_torch(params: list[Any], rng: np.random.Generator) -> None:
    import torch

    for p in params:
        p.copy_(torch.from_numpy(_random_like(rng, tuple(p.shape))))


def _torch_names(model: Any) -> dict[int, str]:
    """id(parameter) -> 'fc1.weight' / 'W1' / 'layers[0].weight'."""
    import torch

    if isinstance(model, torch.nn.Module):
        return {id(p): name for name, p in model.named_parameters()}
    names: dict[int, str] = {}
    for path, value in _attribute_items(model):
        if isinstance(value, torch.nn.Module):
            for name, p in value.named_parameters():
                names.setdefault(id(p), f"{path}.{name}")
        elif isinstance(value, torch.Tensor):
            names.setdefault(id(value), path)
    return names


# --------------------------------------------------------------------------- TensorFlow


def _probe_tensorflow(ws: Workspace, p: FrameworkProbeParams, x: np.ndarray) -> None:
    import tensorflow as tf

    tf.random.set_seed(p.seed)
    np.random.seed(p.seed)
    model = new_model(ws, "tensorflow")
    # TensorFlow records gradients only inside a GradientTape: a plain call is its no-grad mode.
    _forward(ws, "2d", model, tf.constant(x.reshape(len(x), -1)))  # builds Keras layers' lazy variables
    variables = _parameters(ws, _tf_variables, model)
    rng = np.random.default_rng(p.seed)
    ws.call("forward", msg("framework.probe.randomising_variables"), _randomise_tf, variables, rng)
    _forward(ws, "3d", model, tf.constant(x))
    _forward(ws, "2d", model, tf.constant(x.reshape(len(x), -1)))
    _record_parameters(ws, _named(ws, variables, model, _tf_names, lambda v: np.array(v.numpy(), dtype=np.float64)))


def _randomise_tf(variables: list[Any], rng: np.random.Generator) -> None:
    for v in variables:
        v.assign(_random_like(rng, tuple(v.shape)).astype(getattr(v.dtype, "as_numpy_dtype", v.dtype)))  # Keras 3: a str


def _tf_names(model: Any) -> dict[int, str]:
    """id(variable) -> 'W1' for a tf.Variable attribute, 'fc1.kernel' for a layer's variable."""
    import tensorflow as tf

    names: dict[int, str] = {}
    for path, value in _attribute_items(model):
        if isinstance(value, tf.Variable):
            names.setdefault(id(value), path)
        elif hasattr(value, "trainable_variables"):
            for v in value.trainable_variables:
                names.setdefault(id(v), f"{path}.{_short_name(v)}")
    return names


def _short_name(variable: Any) -> str:
    """'kernel' for a Keras variable at 'dense/kernel' or a tf.Variable named 'dense/kernel:0'."""
    full = str(getattr(variable, "path", None) or variable.name)
    return full.rsplit("/", 1)[-1].split(":", 1)[0]
