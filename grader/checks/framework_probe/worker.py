"""The probe's worker task: fresh, seeded myModels called in both layouts, without training.

The model is probed in two input layouts, the template's (N, 28, 28) images first, then
flattened (N, 784) rows, each on a FRESH instance made with the same seeds: a Keras model
builds its layers for the shape of its first call, so one instance probed with one shape
would reject the other.  Each instance is put into inference mode first (model.eval() for a
PyTorch nn.Module; `training=False` where the model's call takes `training`), its trainable
parameters get fresh random values (a zero-initialised bias would hide whether the forward
adds it), and it is called twice on the same batch (inference mode must make the two equal).
A failing call is recorded as its raw outcome and the task goes on; whether a layout is
accepted is the host's to decide (framework_layouts.py).  The parameters returned are those
of the first instance that gave an (N, 10) output.

What the task was doing when student code failed is a clause of catalog domain `framework`
(framework.probe.*), so the failure reads in the report's language.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...sandbox.protocol import ChildError
from ...sandbox.tasks import WorkerTask
from ...sandbox.workspace import StudentFailure, Workspace, safe_str, type_name
from ...text import msg, verbatim
from ..framework_layouts import LAYOUTS, Layout, LayoutCall
from ..framework_worker import in_layout, new_model, raised, returned, takes_training, tf_variables, torch_parameters
from .results import FrameworkProbeParams, FrameworkProbeResult, InferenceMode, ProbeCall, ProbeParameter
from .steps import training_steps


@dataclass
class _Instance:
    """One fresh model probed in one layout."""

    layout: Layout
    model: Any
    probed: ProbeCall | None = None
    params: list[Any] = field(default_factory=list)
    params_error: ChildError | None = None


def framework_probe(ws: Workspace, p: FrameworkProbeParams) -> FrameworkProbeResult:
    """Probe fresh, seeded myModels in both layouts; return their calls, one instance's parameters, the steps."""
    x = ws.inputs["x"].astype(np.float32)
    probe = _probe_torch if p.framework == "pytorch" else _probe_tensorflow
    modes: list[InferenceMode] = []
    instances = [probe(ws, p, layout, in_layout(x, layout), modes) for layout in LAYOUTS]
    calls = tuple(i.probed or ProbeCall(call=LayoutCall(layout=i.layout)) for i in instances)
    chosen = next((i for i in instances if i.probed is not None and i.probed.out is not None and i.probed.out.shape == (len(x), 10)),
                  instances[-1])  # the first whose call gave (N, 10)
    namer, to_array = (_torch_names, _torch_array) if p.framework == "pytorch" else (_tf_names, _tf_array)
    params = tuple(ProbeParameter(name=name, value=value) for name, value in _named(ws, chosen.params, chosen.model, namer, to_array))
    return FrameworkProbeResult(batch=len(x), calls=calls, inference=modes[-1] if modes else InferenceMode(), params=params,
                                params_error=chosen.params_error, params_of=chosen.layout, training_steps=training_steps(ws))


def _forward(ws: Workspace, inst: _Instance, call: Callable[[Any], Any], batch: Any) -> None:
    """The probe's two calls of one instance on one batch; a failure is kept as its raw outcome."""
    try:
        out, arr = _call(ws, call, batch)
        _, again = _call(ws, call, batch)
    except _Failed as failed:
        inst.probed = ProbeCall(call=LayoutCall(layout=inst.layout, raised=failed.raised))
        return
    inst.probed = ProbeCall(call=returned(inst.layout, out, tuple(int(n) for n in arr.shape)), out=arr, again=again)


class _Failed(Exception):
    """A call (or the conversion of what it returned) failed: its raw outcome."""

    def __init__(self, failure: StudentFailure, in_call: bool) -> None:
        super().__init__(failure.error.message.id)
        self.raised = raised(failure, in_call=in_call)


def _call(ws: Workspace, call: Callable[[Any], Any], batch: Any) -> tuple[Any, np.ndarray]:
    shape = tuple(int(n) for n in batch.shape)
    try:
        out = ws.call("forward", msg("framework.probe.call", shape=str(shape)), call, batch)
    except StudentFailure as failure:
        raise _Failed(failure, True) from None
    try:
        return out, ws.call("forward", msg("framework.probe.converting"), _as_float64, out)
    except StudentFailure as failure:
        raise _Failed(failure, False) from None


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


def _parameters(ws: Workspace, inst: _Instance, find: Callable[[Any], list[Any]]) -> None:
    """The instance's trainable parameters as the training task finds them; none (and the failure) when there are none."""
    try:
        inst.params = list(ws.call("forward", msg("framework.probe.finding_parameters"), find, inst.model))
    except StudentFailure as failure:
        inst.params, inst.params_error = [], failure.error


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


# --------------------------------------------------------------------------- inference mode


def _inference_call(ws: Workspace, model: Any, framework: str, modes: list[InferenceMode]) -> Callable[[Any], Any]:
    """model.eval() for an nn.Module, and the call to probe with: model(x), or model(x, training=False) when its
    call takes `training`.  What was done is appended to `modes` (the same for every instance)."""
    evaluated = False
    if framework == "pytorch" and _is_torch_module(model):
        ws.call("forward", msg("framework.probe.eval"), ws.method("forward", "PyTorch myModel", model, "eval", "model.eval()"))
        evaluated = True
    try:
        takes = bool(ws.call("forward", msg("framework.probe.signature"), _takes_training, model, framework))
    except StudentFailure:  # a signature that cannot be read: called plainly, as the template does
        takes = False
    modes.append(InferenceMode(eval=evaluated, training_false=takes))
    return functools.partial(model, training=False) if takes else model


def _is_torch_module(model: Any) -> bool:
    import torch

    return isinstance(model, torch.nn.Module)


def _takes_training(model: Any, framework: str) -> bool:
    """Whether the method model(x) reaches (forward, call or __call__) has a parameter `training`."""
    cls = type(model)
    if framework == "pytorch":
        method = getattr(cls, "forward", None) if _is_torch_module(model) else getattr(cls, "__call__", None)
    else:
        import tensorflow as tf

        method = getattr(cls, "call", None) if isinstance(model, tf.keras.layers.Layer) else getattr(cls, "__call__", None)
    return method is not None and takes_training(method)


# --------------------------------------------------------------------------- PyTorch


def _probe_torch(ws: Workspace, p: FrameworkProbeParams, layout: Layout, x: np.ndarray, modes: list[InferenceMode]) -> _Instance:
    import torch

    torch.manual_seed(p.seed)
    np.random.seed(p.seed)
    torch.set_num_threads(p.threads)
    inst = _Instance(layout, new_model(ws, "pytorch"))
    call = _inference_call(ws, inst.model, "pytorch", modes)
    _parameters(ws, inst, torch_parameters)
    rng = np.random.default_rng(p.seed)
    with torch.no_grad():
        ws.call("forward", msg("framework.probe.randomising_parameters"), _randomise_torch, inst.params, rng)
        _forward(ws, inst, call, torch.from_numpy(np.ascontiguousarray(x)))
    return inst


def _randomise_torch(params: list[Any], rng: np.random.Generator) -> None:
    import torch

    for p in params:
        p.copy_(torch.from_numpy(_random_like(rng, tuple(p.shape))))


def _torch_array(p: Any) -> np.ndarray:
    return np.asarray(p.detach().cpu().double().numpy())


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


def _probe_tensorflow(ws: Workspace, p: FrameworkProbeParams, layout: Layout, x: np.ndarray, modes: list[InferenceMode]) -> _Instance:
    import tensorflow as tf

    tf.random.set_seed(p.seed)
    np.random.seed(p.seed)
    inst = _Instance(layout, new_model(ws, "tensorflow"))
    call = _inference_call(ws, inst.model, "tensorflow", modes)
    batch = tf.constant(x)
    # TensorFlow records gradients only inside a GradientTape: a plain call is its no-grad mode.
    try:
        _call(ws, call, batch)  # builds Keras layers' lazy variables, for this layout's shape
    except _Failed as failed:
        inst.probed = ProbeCall(call=LayoutCall(layout=layout, raised=failed.raised))
        _parameters(ws, inst, tf_variables)  # a plain class holds its variables all the same
        return inst
    _parameters(ws, inst, tf_variables)
    rng = np.random.default_rng(p.seed)
    ws.call("forward", msg("framework.probe.randomising_variables"), _randomise_tf, inst.params, rng)
    _forward(ws, inst, call, batch)
    return inst


def _randomise_tf(variables: list[Any], rng: np.random.Generator) -> None:
    for v in variables:
        v.assign(_random_like(rng, tuple(v.shape)).astype(getattr(v.dtype, "as_numpy_dtype", v.dtype)))  # Keras 3: a str


def _tf_array(v: Any) -> np.ndarray:
    return np.array(v.numpy(), dtype=np.float64)


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


TASK = WorkerTask("TASK", FrameworkProbeParams, FrameworkProbeResult, framework_probe, phase="forward", module=__name__)
"""The probe: its phase is 'forward' (a crash outside any student call is labelled so)."""
