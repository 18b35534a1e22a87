"""Worker task for the framework part: probe the student's `myModel`, without training.

The model is probed in two input layouts, the template's (N, 28, 28) images first,
then flattened (N, 784) rows, each on a FRESH instance made with the same seeds: a
Keras model builds its layers for the shape of its first call, so one instance
probed with one shape would reject the other.  Each instance is put into inference
mode first (model.eval() for a PyTorch nn.Module; `training=False` where the
model's call takes `training`), its trainable parameters get fresh random values,
and it is called twice on the same batch (inference mode must make the two equal).
A failing call is recorded and the task goes on, so the host can say which layout
was rejected.  The parameters returned are those of the first instance that gave an
(N, 10) output.  Judging happens in `grader.checks.framework_model`.

The part's code is also read with `ast` here, in the worker (never in the grader's
process), for the student's own training step: a function or method that names the
variables it updates (tape.gradient(loss, [...]), optimizer.apply_gradients(zip(grads,
[...])), torch.optim.SGD([...])).  Nothing of it is run.

Reports (validated on the host as protocol.FrameworkProbeResult):
    values: batch, error_3d / error_2d (the ChildError of a failed call), shape_3d / shape_2d,
            type_3d / type_2d (type of the returned object), inference (InferenceMode),
            param_names, param_shapes, params_error, params_of, training_steps
    arrays: out_3d, out_2d, out_3d_again, out_2d_again (float64 outputs), param0, param1, ... (float64)

What the task was doing when student code failed is a clause of catalog domain
`framework` (framework.probe.*), so the failure reads in the report's language.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..safe_ast import parse
from ..text import msg, verbatim
from .protocol import FrameworkProbeParams, ProbeLayout
from .tasks_framework import _tf_variables, _torch_parameters, new_model, takes_training
from .workspace import StudentFailure, Workspace, safe_str, type_name


@dataclass
class _Instance:
    """One fresh model probed in one layout."""

    layout: ProbeLayout
    model: Any
    params: list[Any] = field(default_factory=list)
    params_error: dict[str, Any] | None = None
    returned: bool = False
    """Its call gave an (N, 10) array."""


def framework_probe(ws: Workspace) -> None:
    """Probe fresh, seeded myModels in both layouts; return their outputs, one instance's parameters, the steps."""
    p = ws.job.params_as(FrameworkProbeParams)
    x = ws.inputs["x"].astype(np.float32)
    ws.values["batch"] = len(x)
    batches: tuple[tuple[ProbeLayout, np.ndarray], ...] = (("3d", x), ("2d", x.reshape(len(x), -1)))
    probe = _probe_torch if p.framework == "pytorch" else _probe_tensorflow
    instances = [probe(ws, p, layout, batch) for layout, batch in batches]
    chosen = next((i for i in instances if i.returned), instances[-1])
    ws.values["params_of"] = chosen.layout
    if chosen.params_error is not None:
        ws.values["params_error"] = chosen.params_error
    namer, to_array = (_torch_names, _torch_array) if p.framework == "pytorch" else (_tf_names, _tf_array)
    _record_parameters(ws, _named(ws, chosen.params, chosen.model, namer, to_array))
    ws.values["training_steps"] = _training_steps(ws)


def _forward(ws: Workspace, inst: _Instance, call: Callable[[Any], Any], batch: Any, n: int) -> None:
    """The probe's two calls of one instance on one batch; a failure is kept (as the ChildError, in JSON)."""
    label = inst.layout
    try:
        out, arr = _call(ws, call, batch)
        _, again = _call(ws, call, batch)
    except StudentFailure as failure:
        ws.values[f"error_{label}"] = failure.error.model_dump(mode="json")
        return
    ws.arrays[f"out_{label}"] = arr
    ws.arrays[f"out_{label}_again"] = again
    ws.values[f"shape_{label}"] = list(arr.shape)
    ws.values[f"type_{label}"] = type_name(out)
    inst.returned = arr.shape == (n, 10)


def _call(ws: Workspace, call: Callable[[Any], Any], batch: Any) -> tuple[Any, np.ndarray]:
    shape = tuple(int(n) for n in batch.shape)
    out = ws.call("forward", msg("framework.probe.call", shape=str(shape)), call, batch)
    return out, ws.call("forward", msg("framework.probe.converting"), _as_float64, out)


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


def _parameters(ws: Workspace, inst: _Instance, find: Callable[[Any], list[Any]]) -> None:
    """The instance's trainable parameters as the training task finds them; none (and the failure) when there are none."""
    try:
        inst.params = list(ws.call("forward", msg("framework.probe.finding_parameters"), find, inst.model))
    except StudentFailure as failure:
        inst.params, inst.params_error = [], failure.error.model_dump(mode="json")


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


def _inference_call(ws: Workspace, model: Any, framework: str) -> Callable[[Any], Any]:
    """model.eval() for an nn.Module, and the call to probe with: model(x), or model(x, training=False) when its
    call takes `training`.  What was done is recorded as `inference` (the same for every instance)."""
    evaluated = False
    if framework == "pytorch" and _is_torch_module(model):
        ws.call("forward", msg("framework.probe.eval"), ws.method("forward", "PyTorch myModel", model, "eval", "model.eval()"))
        evaluated = True
    try:
        takes = bool(ws.call("forward", msg("framework.probe.signature"), _takes_training, model, framework))
    except StudentFailure:  # a signature that cannot be read: called plainly, as the template does
        takes = False
    ws.values["inference"] = {"eval": evaluated, "training_false": takes}
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


def _probe_torch(ws: Workspace, p: FrameworkProbeParams, layout: ProbeLayout, x: np.ndarray) -> _Instance:
    import torch

    torch.manual_seed(p.seed)
    np.random.seed(p.seed)
    torch.set_num_threads(p.threads)
    inst = _Instance(layout, new_model(ws, "pytorch"))
    call = _inference_call(ws, inst.model, "pytorch")
    _parameters(ws, inst, _torch_parameters)
    rng = np.random.default_rng(p.seed)
    with torch.no_grad():
        ws.call("forward", msg("framework.probe.randomising_parameters"), _randomise_torch, inst.params, rng)
        _forward(ws, inst, call, torch.from_numpy(x), len(x))
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


def _probe_tensorflow(ws: Workspace, p: FrameworkProbeParams, layout: ProbeLayout, x: np.ndarray) -> _Instance:
    import tensorflow as tf

    tf.random.set_seed(p.seed)
    np.random.seed(p.seed)
    inst = _Instance(layout, new_model(ws, "tensorflow"))
    call = _inference_call(ws, inst.model, "tensorflow")
    batch = tf.constant(x)
    # TensorFlow records gradients only inside a GradientTape: a plain call is its no-grad mode.
    try:
        _call(ws, call, batch)  # builds Keras layers' lazy variables, for this layout's shape
    except StudentFailure as failure:
        ws.values[f"error_{layout}"] = failure.error.model_dump(mode="json")
        _parameters(ws, inst, _tf_variables)  # a plain class holds its variables all the same
        return inst
    _parameters(ws, inst, _tf_variables)
    rng = np.random.default_rng(p.seed)
    ws.call("forward", msg("framework.probe.randomising_variables"), _randomise_tf, inst.params, rng)
    _forward(ws, inst, call, batch, len(x))
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


# --------------------------------------------------------------------------- the student's own training step
# Read, never run: a training step names the variables it updates in one of these calls.

_OPTIMIZERS = frozenset({"SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "ASGD", "Rprop", "LBFGS"})
"""torch.optim classes: their first argument is the parameter list."""
_ALL_VARIABLES = frozenset({"trainable_variables", "trainable_weights", "variables", "weights"})
_ALL_PARAMETERS = frozenset({"parameters"})
_MAX_STEPS = 20
_MAX_PATHS = 64


@dataclass
class _Listed:
    """What one variable-list expression names."""

    paths: list[str] = field(default_factory=list)
    everything: bool = False
    unknown: bool = False

    def add(self, other: _Listed) -> None:
        self.paths += [p for p in other.paths if p not in self.paths]
        self.everything |= other.everything
        self.unknown |= other.unknown


def _training_steps(ws: Workspace) -> list[dict[str, Any]]:
    """The training steps in the part's functions and classes, as protocol.TrainingStep values (JSON)."""
    steps: list[dict[str, Any]] = []
    for unit in ws.job.units:
        if unit.kind not in ("function", "class"):
            continue
        try:
            tree = parse(unit.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for name, fn in _functions(tree):
            listed = _step_variables(fn)
            if listed is not None and len(steps) < _MAX_STEPS:
                steps.append({"name": name, "paths": listed.paths[:_MAX_PATHS], "everything": listed.everything,
                              "unknown": listed.unknown, "file": unit.file_label, "line": unit.line + fn.lineno - 1})
    return steps


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Top-level functions and the methods of top-level classes, named 'f' and 'Class.f'."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


def _step_variables(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> _Listed | None:
    """What the variable lists of `fn`'s gradient and optimiser calls name; None when it has no such call."""
    assigned: dict[str, ast.expr] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned[node.targets[0].id] = node.value
    found: _Listed | None = None
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        for expr in _variable_lists(node):
            listed = _resolve(expr, assigned, 0)
            if listed.paths or listed.everything:
                found = found or _Listed()
                found.add(listed)
    return found


def _variable_lists(call: ast.Call) -> list[ast.expr]:
    """The argument of `call` that is a list of variables, if it is a gradient or optimiser call."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""

    def arg(index: int, *keywords: str) -> list[ast.expr]:
        kw = [k.value for k in call.keywords if k.arg in keywords]
        return kw or ([call.args[index]] if len(call.args) > index else [])

    if name == "gradient":  # tape.gradient(loss, variables)
        return arg(1, "sources")
    if name == "grad":  # torch.autograd.grad(loss, inputs)
        return arg(1, "inputs")
    if name == "minimize":  # optimizer.minimize(loss, var_list)
        return arg(1, "var_list")
    if name == "apply_gradients":  # optimizer.apply_gradients(zip(grads, variables))
        pairs = arg(0, "grads_and_vars")
        return [p.args[1] for p in pairs if isinstance(p, ast.Call) and isinstance(p.func, ast.Name) and p.func.id == "zip"
                and len(p.args) == 2]
    if name in _OPTIMIZERS:  # torch.optim.SGD(params, lr)
        return arg(0, "params")
    return []


def _resolve(expr: ast.expr, assigned: dict[str, ast.expr], depth: int, seen: frozenset[str] = frozenset()) -> _Listed:
    """The model attribute paths `expr` names: [model.W1, model.b1] -> W1, b1; model.fc1.parameters() -> fc1."""
    out = _Listed()
    if depth > 8:
        out.unknown = True
    elif isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        for element in expr.elts:
            out.add(_resolve(element, assigned, depth + 1, seen))
    elif isinstance(expr, ast.Starred):
        out.add(_resolve(expr.value, assigned, depth + 1, seen))
    elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        out.add(_resolve(expr.left, assigned, depth + 1, seen))
        out.add(_resolve(expr.right, assigned, depth + 1, seen))
    elif isinstance(expr, ast.Name):
        if expr.id in assigned and expr.id not in seen:  # `v = v + [...]` cannot loop
            out.add(_resolve(assigned[expr.id], assigned, depth + 1, seen | {expr.id}))
        else:
            out.unknown = True
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in ("list", "tuple") and len(expr.args) == 1:
        out.add(_resolve(expr.args[0], assigned, depth + 1, seen))
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _ALL_PARAMETERS:
        _add_path(out, _path(expr.func.value), everything_at_root=True)
    elif isinstance(expr, ast.Attribute) and expr.attr in _ALL_VARIABLES:
        _add_path(out, _path(expr.value), everything_at_root=True)
    elif isinstance(expr, (ast.Attribute, ast.Subscript)):
        _add_path(out, _path(expr), everything_at_root=False)
    else:
        out.unknown = True
    return out


def _add_path(out: _Listed, path: str | None, *, everything_at_root: bool) -> None:
    if path is None:
        out.unknown = True
    elif path == "":
        if everything_at_root:
            out.everything = True
        else:
            out.unknown = True
    else:
        out.paths.append(path)


def _path(expr: ast.expr) -> str | None:
    """The attribute path below the root name: model.fc1.weight -> 'fc1.weight', self.layers[0] -> 'layers.0';
    '' for the bare root name; None for anything else."""
    parts: list[str] = []
    while True:
        if isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        elif isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant) and isinstance(expr.slice.value, (int, str)):
            parts.append(str(expr.slice.value))
            expr = expr.value
        elif isinstance(expr, ast.Name):
            return ".".join(reversed(parts))
        else:
            return None
