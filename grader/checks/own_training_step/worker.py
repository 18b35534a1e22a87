"""The worker side of framework.model.own_step: the student's own training step, run on a small batch.

The student's training step is a top-level function, or a method of a class of the framework part,
whose name holds "step" and whose body computes or applies gradients (a call of `backward`,
`gradient`, `apply_gradients`, `minimize` or `step`); `train_one_step` comes first.  It is found
by reading the part's code with `ast` here, in the worker, never in the grader's process.

It is called as the student calls it: its parameters are matched by name to what a training step
takes (the model, the optimizer, the images x, the labels y: `model`/`net`/`self`, a name holding
`opt`, `x`/`images`/..., `y`/`labels`/...), and a parameter with another name takes the next of
those in that order; a method gets the model as `self`.  A global name the step reads that the
kept code does not define (the notebook's top-level `optimizer = ...` or `model = myModel()`,
which the intake leaves out) is given the grader's optimizer or model.  The optimizer is the one
the student's model holds as an attribute (made in `__init__`), else the grader's Adam at the
spec's learning rate.

The run: a fresh seeded myModel, in the input layout it accepts, `steps` calls of the step on
the same batch.  Reported raw, per step and per parameter: the norm of the parameter's change;
for PyTorch the norm of `.grad` before and after the step and of the gradient the step computes
from a cleared `.grad` (the same step run on a deep copy of the model and optimizer, with the same
random state), and the norms of after - fresh and after - before - fresh (0 for a step that adds
its gradient to the one left by the previous step: no `optimizer.zero_grad()`).  Also the
grader's cross-entropy on the batch before the first step and after each (inference mode, no
gradient), what the step returned, and, per parameter, the norm of the grader's own gradient of
that loss at the start (0: the loss never reaches the parameter).  The judge (check.py) decides.
"""

from __future__ import annotations

import ast
import builtins
import copy
import inspect
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ...records import Location, SourceUnit
from ...safe_ast import parse
from ...sandbox.protocol import ChildError
from ...sandbox.tasks import WorkerTask
from ..framework_probe.worker import _tf_names, _torch_names
from ..framework_worker import Modes, call_model, in_layout, logits, modes, new_model, seed_all, set_mode
from ..framework_worker import tf_variables as _tf_variables
from ..framework_worker import torch_parameters as _torch_parameters
from ..training.framework_worker import FrameworkTrainParams, NoLayout, accepted_layout
from ...sandbox.wire import Array, TaskParams, TaskResult
from ...sandbox.workspace import StudentFailure, Workspace, type_name
from ...text import msg

Role = Literal["model", "optimizer", "x", "y"]
ROLES: tuple[Role, ...] = ("model", "optimizer", "x", "y")
"""What a training step takes, in the template's order: train_one_step(model, optimizer, x, y)."""
_NAMES: dict[Role, frozenset[str]] = {
    "model": frozenset({"model", "net", "network", "m", "mdl", "mymodel", "self"}),
    "x": frozenset({"x", "xs", "inputs", "input", "images", "image", "imgs", "img", "data", "batch_x", "x_batch", "xb",
                    "features", "train_x", "x_train", "train_data"}),
    "y": frozenset({"y", "ys", "labels", "label", "target", "targets", "batch_y", "y_batch", "yb", "train_y", "y_train",
                    "train_label", "train_labels"}),
}
_GRADIENT_CALLS = frozenset({"backward", "gradient", "apply_gradients", "minimize", "step"})
_WHAT_PARAMETERS = msg("own_step.what_parameters")
_WHAT_LOSS = msg("own_step.what_loss")


class OwnStepParams(TaskParams):
    """The run's protocol (the batch is the job's input arrays `train_x`, `train_y`)."""

    framework: Literal["pytorch", "tensorflow"]
    seed: int
    steps: int
    lr: float
    threads: int = 1


class OwnStepResult(TaskResult):
    """What the student's step did, as raw numbers; `step` None when the part has no training step."""

    step: str | None = None
    """'train_one_step', or 'myModel.train_one_step' for a method."""
    where: Location | None = None
    """Where the step is defined in the student's files."""
    call: str | None = None
    """How it was called, as code: 'train_one_step(model, optimizer, x, y)'."""
    unbound: tuple[str, ...] = ()
    """Parameters the grader had nothing to pass for (then it was not called)."""
    supplied: tuple[str, ...] = ()
    """Global names the step reads that the grader supplied (the notebook's own top-level objects)."""
    optimizer: Literal["student", "grader"] | None = None
    optimizer_type: str = ""
    no_layout: bool = False
    """The model takes neither input layout (framework.model.train says why): nothing was run."""
    step_error: ChildError | None = None
    """The step raised at step `steps_done + 1`."""
    steps_done: int = 0
    names: tuple[str, ...] = ()
    shapes: tuple[tuple[int, ...], ...] = ()
    returned: tuple[float | None, ...] = ()
    """What each call returned, when it was a number or a one-element tensor."""
    losses: Array | None = None
    """(steps_done + 1,) the grader's cross-entropy on the batch: before the first step, then after each."""
    reachable: Array | None = None
    """(P,) norm of the grader's gradient of that loss per parameter, at the start."""
    size: Array | None = None
    """(P,) norm of each parameter at the start."""
    change: Array | None = None
    """(P, steps_done) norm of each parameter's change in each step."""
    grad_before: Array | None = None
    """PyTorch (P, steps_done): norm of .grad before each step."""
    grad_after: Array | None = None
    fresh: Array | None = None
    """PyTorch (P, steps_done): norm of the gradient the step computes from a cleared .grad (None: no copy could be made)."""
    off_fresh: Array | None = None
    """PyTorch: norm of (.grad after - fresh) per parameter and step."""
    off_sum: Array | None = None
    """PyTorch: norm of (.grad after - .grad before - fresh): 0 when the step adds to the gradient left in .grad."""


# --------------------------------------------------------------------------- finding the step (ast, in the worker)


@dataclass(frozen=True)
class FoundStep:
    """A training step of the part: a top-level function, or a method of class `owner`."""

    function: str
    owner: str | None
    file: str
    line: int

    @property
    def name(self) -> str:
        """'train_one_step' or 'myModel.train_one_step'."""
        return f"{self.owner}.{self.function}" if self.owner else self.function


def find_steps(units: Sequence[SourceUnit]) -> list[FoundStep]:
    """The part's training steps, `train_one_step` first, then in the order they are defined."""
    found: list[FoundStep] = []
    for unit in units:
        if unit.kind not in ("function", "class"):
            continue
        try:
            tree = parse(unit.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for owner, fn in _functions(tree):
            if "step" in fn.name.lower() and _computes_gradients(fn):
                found.append(FoundStep(fn.name, owner, unit.file_label, unit.line + fn.lineno - 1))
    return sorted(found, key=lambda s: s.function != "train_one_step")


def _functions(tree: ast.Module) -> Iterator[tuple[str | None, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield None, node
        elif isinstance(node, ast.ClassDef):
            yield from ((node.name, item) for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))


def _computes_gradients(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _GRADIENT_CALLS
               for node in ast.walk(fn))


# --------------------------------------------------------------------------- calling it


def bind(parameters: Sequence[inspect.Parameter], method: bool) -> tuple[list[Role], list[str]]:
    """The role of each leading positional parameter, and the required ones nothing is left for."""
    free = [r for r in ROLES if not (method and r == "model")]
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    named: dict[str, Role] = {}
    for p in positional:
        role = _role_of(p.name)
        if role in free and role not in named.values():
            named[p.name] = role
    left = [r for r in free if r not in named.values()]
    roles: list[Role] = []
    for p in positional:
        if p.name in named:
            roles.append(named[p.name])
        elif p.default is p.empty and left:
            roles.append(left.pop(0))
        else:
            break
    unbound = [p.name for p in positional[len(roles):] if p.default is p.empty]
    unbound += [p.name for p in parameters if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    return roles, unbound


def _role_of(name: str) -> Role | None:
    lowered = name.lower()
    if "opt" in lowered:
        return "optimizer"
    return next((role for role, names in _NAMES.items() if lowered in names), None)


def _signature(fn: Any) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())


def _global_names(fn: Any) -> tuple[str, ...]:
    """The global names a function's code reads (a tf.function's Python function's; a bound method's function's)."""
    inner = getattr(fn, "python_function", None) or getattr(fn, "__func__", None) or fn
    code = getattr(inner, "__code__", None)
    names = getattr(code, "co_names", ())
    return tuple(n for n in names if isinstance(n, str))


@dataclass
class _Step:
    """The step to call, with what it is called with."""

    found: FoundStep
    roles: list[Role]
    supplied: dict[str, Role]

    def call(self, ws: Workspace, model: Any, optimizer: Any, x: Any, y: Any) -> Any:
        """One call of the step on `model` (the real one or its copy), with the globals it reads pointing at it."""
        values: dict[Role, Any] = {"model": model, "optimizer": optimizer, "x": x, "y": y}
        for name, role in self.supplied.items():
            ws.namespace[name] = values[role]
        fn = (ws.method("train", "myModel", model, self.found.function, self.found.function) if self.found.owner
              else ws.namespace[self.found.function])
        return ws.call("train", self.found.name, fn, *(values[r] for r in self.roles))


def _prepare(ws: Workspace, found: FoundStep, model: Any, result: dict[str, Any]) -> _Step | None:
    """The step bound to its arguments, or None (with `unbound` in the result) when it takes what the grader cannot give."""
    fn = (ws.method("train", "myModel", model, found.function, found.function) if found.owner
          else ws.require(found.function))
    parameters = ws.call("train", found.name, _signature, fn)
    roles, unbound = bind(parameters, found.owner is not None)
    supplied: dict[str, Role] = {}
    for name in ws.call("train", found.name, _global_names, fn):
        role = _role_of(name)
        if role in ("model", "optimizer") and name not in ws.namespace and not hasattr(builtins, name):
            supplied[name] = role
    params = [p.name for p in parameters][: len(roles)]
    head = f"model.{found.function}" if found.owner else found.function
    result.update(call=f"{head}({', '.join(params)})", unbound=tuple(unbound), supplied=tuple(supplied))
    return None if unbound else _Step(found, roles, supplied)


def _student_optimizer(model: Any, framework: str) -> Any:
    """An optimizer the student's model holds as an attribute (made in __init__), else None."""
    try:
        values = list(vars(model).values())
    except TypeError:
        return None
    if framework == "pytorch":
        import torch

        kinds: tuple[type, ...] = (torch.optim.Optimizer,)
    else:
        import tensorflow as tf

        kinds = (tf.keras.optimizers.Optimizer,)
    return next((v for v in values if isinstance(v, kinds)), None)


def _number(value: Any) -> float | None:
    try:
        return float(np.asarray(value.detach() if hasattr(value, "detach") else value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError, AttributeError):
        return None


# --------------------------------------------------------------------------- the task


def own_step(ws: Workspace, params: OwnStepParams) -> OwnStepResult:
    """Run the student's own training step `steps` times on the batch; report what it did to each parameter."""
    steps = find_steps(ws.job.units)
    if not steps:
        return OwnStepResult()
    found = steps[0]
    out: dict[str, Any] = {"step": found.name, "where": ws.location(found.file, found.line)}
    train = FrameworkTrainParams(framework=params.framework, seed=params.seed, epochs=1, batch_size=len(ws.inputs["train_x"]),
                                 lr=params.lr, optimizer="adam", threads=params.threads)
    x = ws.inputs["train_x"].astype(np.float32) / 255.0
    y = ws.inputs["train_y"].astype(np.int64)
    try:
        layout = accepted_layout(ws, train, x)
    except NoLayout:
        return OwnStepResult(**out, no_layout=True)
    run = _TorchRun if params.framework == "pytorch" else _TfRun
    return run(ws, params, train, found, in_layout(x, layout), y, out).result()


class _Run:
    """One run of the step: the shared loop; the framework's subclass reads parameters, gradients and losses."""

    def __init__(self, ws: Workspace, params: OwnStepParams, train: FrameworkTrainParams, found: FoundStep, x: np.ndarray,
                 y: np.ndarray, out: dict[str, Any]) -> None:
        self.ws, self.params, self.found, self.out = ws, params, found, out
        seed_all(train.framework, train.seed, train.threads)
        self.model = new_model(ws, params.framework)
        self.modes: Modes = modes(ws, self.model, params.framework)
        self.x, self.y = self.tensors(x, y)
        self.losses = [self.loss()]  # builds a Keras model's weights before they are looked for
        self.variables = self.find_parameters()
        self.reachable = self.gradient_norms()
        own = ws.call("train", _WHAT_PARAMETERS, _student_optimizer, self.model, params.framework)
        self.optimizer = own if own is not None else ws.call("train", msg("own_step.what_optimizer"), self.grader_optimizer)
        out.update(optimizer="student" if own is not None else "grader", optimizer_type=type_name(self.optimizer))

    def result(self) -> OwnStepResult:
        """Call the step `steps` times (fewer when it raises) and report."""
        step = _prepare(self.ws, self.found, self.model, self.out)
        if step is None:
            return OwnStepResult(**self.out)
        size = self.norms(self.values(), None)
        changes: list[np.ndarray] = []
        returned: list[float | None] = []
        for _ in range(self.params.steps):
            before = self.values()
            self.before_step(step)
            set_mode(self.ws, "train", self.modes, True)
            try:
                value = step.call(self.ws, self.model, self.optimizer, self.x, self.y)
            except StudentFailure as failure:
                if failure.error.kind != "exception":
                    raise
                self.out["step_error"] = failure.error
                break
            self.after_step()
            returned.append(self.ws.call("train", self.found.name, _number, value))
            changes.append(self.norms(self.values(), before))
            self.losses.append(self.loss())
        return OwnStepResult(**self.out, **self.traces(), steps_done=len(changes), returned=tuple(returned),
                             names=tuple(self.names()), shapes=tuple(tuple(int(n) for n in v.shape) for v in self.variables),
                             losses=np.asarray(self.losses, dtype=np.float64), reachable=self.reachable, size=size,
                             change=_columns(changes, len(self.variables)))

    def norms(self, values: list[np.ndarray], minus: list[np.ndarray] | None) -> np.ndarray:
        """Per parameter, the norm of its value (or of its change since `minus`)."""
        return np.array([float(np.linalg.norm(v - m)) for v, m in zip(values, minus or [0.0 * v for v in values])])

    def loss(self) -> float:
        """The grader's cross-entropy of the model on the batch, in inference mode."""
        set_mode(self.ws, "forward", self.modes, False)
        return float(self.ws.call("train", _WHAT_LOSS, self.inference_loss))

    # The framework's own parts.
    def tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        raise NotImplementedError

    def inference_loss(self) -> float:
        raise NotImplementedError

    def find_parameters(self) -> list[Any]:
        raise NotImplementedError

    def names(self) -> list[str]:
        raise NotImplementedError

    def gradient_norms(self) -> np.ndarray:
        raise NotImplementedError

    def grader_optimizer(self) -> Any:
        raise NotImplementedError

    def values(self) -> list[np.ndarray]:
        raise NotImplementedError

    def before_step(self, step: _Step) -> None:
        """Record what the step starts from (PyTorch: .grad, and the gradient from a cleared .grad)."""

    def after_step(self) -> None:
        """Record what the step left (PyTorch: .grad)."""

    def traces(self) -> dict[str, np.ndarray | None]:
        """The framework's own per-step arrays."""
        return {}


def _columns(rows: list[np.ndarray], n: int) -> np.ndarray:
    """(P, steps) from one (P,) row per step."""
    return np.stack(rows, axis=1) if rows else np.zeros((n, 0))


class _TorchRun(_Run):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._rows: dict[str, list[np.ndarray]] = {k: [] for k in ("grad_before", "grad_after", "fresh", "off_fresh", "off_sum")}
        self._copies = True
        """Deep copies work for this model: the gradient from a cleared .grad is read at every step."""
        self._before: list[Any] = []
        self._fresh: list[Any] | None = None

    def tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        import torch

        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    def inference_loss(self) -> float:
        import torch

        with torch.no_grad():
            out = logits(self.ws, "train", call_model(self.ws, "train", msg("training.what_forward"), self.model, self.modes, self.x, False),
                         len(self.y), "pytorch")
            return float(torch.nn.functional.cross_entropy(out.float(), self.y))

    def find_parameters(self) -> list[Any]:
        return list(self.ws.call("train", _WHAT_PARAMETERS, _torch_parameters, self.model))

    def names(self) -> list[str]:
        try:
            named = self.ws.call("train", _WHAT_PARAMETERS, _torch_names, self.model)
        except StudentFailure:
            named = {}
        return [named.get(id(p), f"param{i}") for i, p in enumerate(self.variables)]

    def gradient_norms(self) -> np.ndarray:
        import torch

        set_mode(self.ws, "train", self.modes, False)
        out = logits(self.ws, "train", call_model(self.ws, "train", msg("training.what_forward"), self.model, self.modes, self.x, False),
                     len(self.y), "pytorch")
        loss = torch.nn.functional.cross_entropy(out.float(), self.y)
        grads = self.ws.call("train", _WHAT_LOSS, torch.autograd.grad, loss, self.variables, None, None, False, False, True)
        return np.array([0.0 if g is None else float(g.double().norm()) for g in grads])

    def grader_optimizer(self) -> Any:
        import torch

        return torch.optim.Adam(self.variables, lr=self.params.lr)

    def values(self) -> list[np.ndarray]:
        return [p.detach().double().cpu().numpy().copy() for p in self.variables]

    def before_step(self, step: _Step) -> None:
        self._before = _grads(self.variables)
        self._fresh = self.fresh_gradient(step) if self._copies else None
        self._copies = self._fresh is not None

    def fresh_gradient(self, step: _Step) -> list[Any] | None:
        """The gradient the step computes at the current parameters from a cleared .grad: the same step, on a deep copy
        of the model and optimizer, with the same random state (dropout draws the same masks); None when no copy can
        be made (the accumulation reading is then left out)."""
        import torch

        state = (torch.get_rng_state(), np.random.get_state(), random.getstate())
        try:
            twin, twin_optimizer = self.ws.call("train", msg("own_step.what_copy"), copy.deepcopy, (self.model, self.optimizer))
            twin_variables = self.ws.call("train", _WHAT_PARAMETERS, _torch_parameters, twin)
            if len(twin_variables) != len(self.variables):
                return None
            for p in twin_variables:
                p.grad = None
            set_mode(self.ws, "train", modes(self.ws, twin, "pytorch"), True)
            step.call(self.ws, twin, twin_optimizer, self.x, self.y)
            return _grads(twin_variables)
        except StudentFailure:
            return None
        finally:
            torch.set_rng_state(state[0])
            np.random.set_state(state[1])
            random.setstate(state[2])

    def after_step(self) -> None:
        after = _grads(self.variables)
        rows = self._rows
        rows["grad_before"].append(_norms(self._before))
        rows["grad_after"].append(_norms(after))
        if self._fresh is not None:
            rows["fresh"].append(_norms(self._fresh))
            rows["off_fresh"].append(_norms([a - f for a, f in zip(after, self._fresh)]))
            rows["off_sum"].append(_norms([a - b - f for a, b, f in zip(after, self._before, self._fresh)]))

    def traces(self) -> dict[str, np.ndarray | None]:
        rows = self._rows
        n, done = len(self.variables), len(rows["grad_after"])
        complete = len(rows["fresh"]) == done
        return {key: (_columns(value, n) if complete or key in ("grad_before", "grad_after") else None) for key, value in rows.items()}


def _grads(variables: list[Any]) -> list[Any]:
    """Each parameter's .grad as a float64 copy (zeros where it is None)."""
    import torch

    return [torch.zeros(p.shape, dtype=torch.float64) if p.grad is None else p.grad.detach().double().clone() for p in variables]


def _norms(tensors: list[Any]) -> np.ndarray:
    return np.array([float(t.norm()) for t in tensors])


class _TfRun(_Run):
    def tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        import tensorflow as tf

        return tf.constant(x), tf.constant(y)

    def inference_loss(self) -> float:
        import tensorflow as tf

        out = logits(self.ws, "train", call_model(self.ws, "train", "myModel.__call__", self.model, self.modes, self.x, False),
                     len(self.y), "tensorflow")
        return float(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=self.y, logits=tf.cast(out, tf.float32))))

    def find_parameters(self) -> list[Any]:
        return list(self.ws.call("train", _WHAT_PARAMETERS, _tf_variables, self.model))

    def names(self) -> list[str]:
        try:
            named = self.ws.call("train", _WHAT_PARAMETERS, _tf_names, self.model)
        except StudentFailure:
            named = {}
        return [named.get(id(v), f"param{i}") for i, v in enumerate(self.variables)]

    def gradient_norms(self) -> np.ndarray:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = logits(self.ws, "train", call_model(self.ws, "train", "myModel.__call__", self.model, self.modes, self.x, False),
                         len(self.y), "tensorflow")
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=self.y, logits=tf.cast(out, tf.float32)))
        grads = self.ws.call("train", _WHAT_LOSS, tape.gradient, loss, self.variables)
        return np.array([0.0 if g is None else float(tf.norm(tf.cast(tf.convert_to_tensor(g), tf.float64))) for g in grads])

    def grader_optimizer(self) -> Any:
        import tensorflow as tf

        return tf.keras.optimizers.Adam(learning_rate=self.params.lr)

    def values(self) -> list[np.ndarray]:
        return [np.array(v.numpy(), dtype=np.float64) for v in self.variables]


TASK = WorkerTask("TASK", OwnStepParams, OwnStepResult, own_step, phase="train", module=__name__)
