"""Worker task for the framework part: train the student's PyTorch or TensorFlow `myModel`.

The grader's own loop (seeded, fixed optimizer, epochs and batch size) finds the
model's trainable parameters itself, so a student's training code is never run.
Failures are Messages of catalog domain `model` (ids `training.*`); what the
grader was doing when student code failed is a code name ("loss.backward") or,
where it is prose, a clause (`training.what_*`), so no English reaches a Chinese
report; type names from student code go in verbatim.

Input layout: the template calls myModel on (N, 28, 28) images, but many students
flatten the data first and write a model that takes only (N, 784) rows.  Before
training, each layout of LAYOUTS is tried on a throwaway instance (a Keras layer
builds its weights for the shape of its first call, so one instance is never tried
on two shapes); a fresh seeded instance is then trained, and tested, in the first
layout it accepts (value `layout`).  When it accepts neither, the task reports
value `no_layout` (a ChildError: training.no_layout, each call's error quoted in
its traceback) instead of training, and the check fails the model with it.

Modes: the grader trains in training mode and tests in inference mode, as a
student's own loop would: for a PyTorch module every submodule's `training` flag
(what model.train() / model.eval() set, without calling a `train` method the
student may have written as a training loop), and training=True / training=False
for a Keras layer or a forward/__call__ whose signature takes `training`.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import numpy as np

from ..records import Location, Phase
from ..text import Message, msg, verbatim
from .curve import TrainingCurve
from .protocol import FrameworkTrainParams
from .workspace import StudentFailure, Workspace, place, type_name

_OWNERS = {"pytorch": "PyTorch myModel", "tensorflow": "TensorFlow myModel"}
_OUTPUT = msg("training.what_output")
_FORWARD = msg("training.what_forward")
_LOSS = msg("training.what_loss")
_MODES = msg("training.what_modes")

Layout = Literal["3d", "2d"]
LAYOUTS: tuple[Layout, ...] = ("3d", "2d")
"""The input layouts tried, in order: the template's (N, 28, 28) images, then flattened (N, 784) rows."""
_DETAIL_LIMIT = 1400
"""Characters of each layout's traceback kept in a training.no_layout failure (the two share one traceback)."""


def in_layout(images: np.ndarray, layout: Layout) -> np.ndarray:
    """(N, 28, 28) images as the layout has them: unchanged, or as (N, 784) rows."""
    return images if layout == "3d" else images.reshape(len(images), -1)


def framework_train(ws: Workspace) -> None:
    """Train with the rubric's protocol; return test outputs and the loss per epoch."""
    p = ws.job.params_as(FrameworkTrainParams)
    x, y = ws.inputs["train_x"].astype(np.float32) / 255.0, ws.inputs["train_y"].astype(np.int64)
    try:
        layout = accepted_layout(ws, p, x[: p.batch_size])
    except NoLayout as rejected:  # a verdict on the model, judged (failed) by the check: no training to do
        ws.values["no_layout"] = rejected.error.model_dump(mode="json")
        ws.values["losses"] = []
        return
    ws.values["layout"] = layout
    train = _train_torch if p.framework == "pytorch" else _train_tensorflow
    curve = TrainingCurve()
    losses = train(ws, p, in_layout(x, layout), y, curve, layout)
    ws.values["losses"] = [v if np.isfinite(v) else str(v) for v in losses]
    ws.values["curve"] = curve.points


def _batches(p: FrameworkTrainParams, n: int) -> Iterator[np.ndarray]:
    """The index batches of every epoch, in the grader's seeded order."""
    order = np.random.default_rng(p.seed)
    for _ in range(p.epochs):
        perm = order.permutation(n)
        yield from (perm[i : i + p.batch_size] for i in range(0, n, p.batch_size))


def _check_logits(shape: tuple[int, ...], batch: int) -> None:
    if tuple(shape) != (batch, 10):
        raise StudentFailure("exception", "forward", msg("training.logits_shape", shape=str(tuple(shape)), batch=batch))


def new_model(ws: Workspace, framework: str) -> Any:
    """A fresh myModel (made with no arguments) that the grader can call as model(x), or the failure that says
    what is missing."""
    model = ws.construct(_OWNERS[framework], "myModel", ws.require("myModel"))
    ws.call("import", "myModel", _require_forward, model, framework)
    return model


def _require_forward(model: Any, framework: str) -> None:
    """A StudentFailure when calling the model cannot reach a forward of the student's."""
    missing = _missing_forward(model) if framework == "pytorch" else _missing_call(model)
    if missing is not None:
        method, fix = missing
        # The workspace's own sentence for a missing method (catalog domain sandbox), with this task's fix.
        raise StudentFailure("missing", "import", msg("sandbox.no_method", owner=_OWNERS[framework], method=method, fix=fix))


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
    return ws.call(phase, _OUTPUT, _checked_logits, out, batch, framework, phase)


def _checked_logits(out: Any, batch: int, framework: str, phase: Phase) -> Any:
    if framework == "pytorch":
        import torch

        tensor = isinstance(out, torch.Tensor)
    else:
        import tensorflow as tf

        tensor = bool(tf.is_tensor(out))
    if not tensor:
        method = "forward" if framework == "pytorch" else "__call__"
        message = msg("training.not_a_tensor", owner=_OWNERS[framework], method=method, type=verbatim(type_name(out)), batch=batch)
        raise StudentFailure("exception", phase, message)
    _check_logits(tuple(int(n) for n in out.shape), batch)
    return out


def _tensor_shape(out: Any, framework: str) -> tuple[int, ...] | None:
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
        found = [m for value in _attribute_values(model) if isinstance(value, torch.nn.Module) for m in value.modules()]
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


def seed_all(p: FrameworkTrainParams) -> None:
    """The grader's seeds, set before each fresh model is made (the trained one starts as every trial did)."""
    np.random.seed(p.seed)
    if p.framework == "pytorch":
        import torch

        torch.manual_seed(p.seed)
        torch.set_num_threads(p.threads)
    else:
        import tensorflow as tf

        tf.random.set_seed(p.seed)


def _as_tensor(batch: np.ndarray, framework: str) -> Any:
    if framework == "pytorch":
        import torch

        return torch.from_numpy(np.ascontiguousarray(batch))
    import tensorflow as tf

    return tf.constant(batch)


def _call_name(framework: str) -> str | Message:
    return _FORWARD if framework == "pytorch" else "myModel.__call__"


class NoLayout(StudentFailure):
    """The model accepts neither input layout (training.no_layout): the task reports it as a value, and the
    check fails it as it fails a model that trains too little."""


@dataclass(frozen=True)
class _Rejected:
    """Why a model did not take one input layout: a clause, the quoted error, where, and the original failure."""

    reason: Message
    detail: str
    location: Location | None = None
    failure: StudentFailure | None = None


def accepted_layout(ws: Workspace, p: FrameworkTrainParams, images: np.ndarray) -> Layout:
    """The first of LAYOUTS in which a fresh myModel, in training mode, returns (n, 10) logits for `images`.

    Each layout gets its own seeded instance, thrown away after the call.  A model that takes the input
    but returns the wrong thing (a tuple, (n, 5)) fails at once, as it would in any layout; one that
    rejects both layouts raises NoLayout (training.no_layout), or training.same_error when both calls
    raised the same error at the same place (a bug that does not depend on the input).  Either way the
    message says what happened in the student's terms and the errors' text is only in the traceback.
    """
    rejected: dict[Layout, _Rejected] = {}
    for layout in LAYOUTS:
        why = _try_layout(ws, p, in_layout(images, layout))
        if why is None:
            return layout
        rejected[layout] = why
    first, second = rejected["3d"], rejected["2d"]
    n = len(images)
    if first.failure is not None and second.failure is not None and first.failure.error.message == second.failure.error.message:
        # The same error at the same place for both: a bug of the forward, whatever the input (an error, not a verdict).
        raise StudentFailure("exception", "train", msg("training.same_error", n=n, reason=first.reason), first.detail, first.location)
    detail = "\n".join(f"x.shape == {shape}:\n{why.detail[-_DETAIL_LIMIT:]}"
                       for shape, why in (((n, 28, 28), first), ((n, 784), second)))
    message = msg("training.no_layout", n=n, on_3d=first.reason, on_2d=second.reason)
    raise NoLayout("exception", "train", message, detail, first.location or second.location)


def _try_layout(ws: Workspace, p: FrameworkTrainParams, batch: np.ndarray) -> _Rejected | None:
    """None when a fresh model takes `batch`; why not when it rejects it.  Other failures are raised."""
    seed_all(p)
    model = new_model(ws, p.framework)
    found = modes(ws, model, p.framework)
    set_mode(ws, "train", found, True)
    n = len(batch)
    try:
        out = call_model(ws, "train", _call_name(p.framework), model, found, _as_tensor(batch, p.framework), True)
    except StudentFailure as failure:
        if failure.error.kind != "exception":  # an exit, a forbidden call, memory: not about the input
            raise
        return _rejection(failure)
    shape = ws.call("train", _OUTPUT, _tensor_shape, out, p.framework)
    if shape is None or (len(shape) == 2 and shape[0] == n):  # it took the input: what it returned is its failure
        logits(ws, "train", out, n, p.framework)
        return None
    return _Rejected(msg("training.layout_shape", shape=str(shape)), f"out.shape == {shape}")


def _rejection(failure: StudentFailure) -> _Rejected:
    """A call that raised, as a clause: 'it raised RuntimeError (hw.py, line 12)'; its text goes in the detail."""
    error = failure.error
    kind = error.message.args.get("type")
    if error.message.id in ("sandbox.raised", "sandbox.raised_at") and kind is not None:
        reason = (msg("training.layout_raised", type=kind) if error.location is None
                  else msg("training.layout_raised_at", type=kind, where=place(error.location)))
    else:
        reason = error.message
    detail = error.traceback or f"{kind}: {error.message.args.get('error', '')}"
    return _Rejected(reason, detail, error.location, failure)


# --------------------------------------------------------------------------- PyTorch


def _train_torch(ws: Workspace, p: FrameworkTrainParams, x: np.ndarray, y: np.ndarray, curve: TrainingCurve,
                 layout: Layout) -> list[float]:
    import torch

    seed_all(p)
    model = new_model(ws, "pytorch")
    found = _report_modes(ws, modes(ws, model, "pytorch"))
    if ws.call("train", msg("training.what_find_parameters"), _lazy, model):
        # nn.LazyLinear and kin create their weights on the first call: one call in inference mode, which
        # changes no running statistics, before the parameters are looked for.
        set_mode(ws, "train", found, False)
        with torch.no_grad():
            call_model(ws, "train", _FORWARD, model, found, torch.from_numpy(x[:2]), False)
    set_mode(ws, "train", found, True)
    params = ws.call("train", msg("training.what_find_parameters"), _torch_parameters, model)
    ws.values["n_parameters"] = ws.call("train", msg("training.what_count_parameters"), _count, params)
    opt_cls = torch.optim.Adam if p.optimizer == "adam" else torch.optim.SGD
    opt = ws.call("train", msg("training.what_optimiser_parameters"), opt_cls, params, p.lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps_per_epoch = -(-len(x) // p.batch_size)
    losses, total = [], 0.0
    step_what = msg("training.what_step_parameters")
    for step, idx in enumerate(_batches(p, len(x)), start=1):
        out = logits(ws, "train", call_model(ws, "train", _FORWARD, model, found, xt[idx], True), len(idx), "pytorch")
        loss = ws.call("train", _LOSS, _torch_loss, out, yt[idx])
        opt.zero_grad()
        ws.call("train", "loss.backward", loss.backward)
        ws.call("train", step_what, opt.step)
        batch_loss = float(loss.detach()) * len(idx)
        total += batch_loss
        curve.add(batch_loss, ws.call("train", _OUTPUT, _torch_numpy, out).argmax(axis=1), y[idx])
        if step % steps_per_epoch == 0:
            losses.append(total / len(x))
            total = 0.0
    set_mode(ws, "forward", found, False)
    with torch.no_grad():
        test = torch.from_numpy(np.ascontiguousarray(in_layout(ws.inputs["test_x"].astype(np.float32) / 255.0, layout)))
        out = logits(ws, "forward", call_model(ws, "forward", _FORWARD, model, found, test, False), len(test), "pytorch")
        ws.arrays["test_out"] = ws.call("forward", _OUTPUT, _torch_numpy, out)
    return losses


def _report_modes(ws: Workspace, found: Modes) -> Modes:
    """Tell the judge how the model was switched between training and inference (the evidence shows it)."""
    ws.values["training_flag"] = found.flag
    ws.values["module_modes"] = bool(found.modules)
    return found


def _lazy(model: Any) -> bool:
    """Whether a PyTorch model has parameters that its first call creates (nn.LazyLinear, nn.LazyConv2d)."""
    import torch

    modules = model.modules() if isinstance(model, torch.nn.Module) else (
        m for value in _attribute_values(model) if isinstance(value, torch.nn.Module) for m in value.modules())
    return any(isinstance(m, torch.nn.modules.lazy.LazyModuleMixin) for m in modules)


def _torch_loss(out: Any, labels: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(out.float(), labels)


def _torch_numpy(tensor: Any) -> np.ndarray:
    return np.asarray(tensor.detach().cpu().double().numpy())


def _count(params: list[Any]) -> int:
    return int(sum(int(np.prod(tuple(p.shape))) for p in params))


def _torch_parameters(model: Any) -> list[Any]:
    """nn.Module parameters, or tensors with requires_grad found among the model's attributes."""
    import torch

    params: list[Any] = []
    if isinstance(model, torch.nn.Module):
        params = [p for p in model.parameters() if isinstance(p, torch.Tensor) and p.requires_grad]
    else:
        for value in _attribute_values(model):
            if isinstance(value, torch.nn.Module):
                params.extend(p for p in value.parameters() if p.requires_grad)
            elif isinstance(value, torch.Tensor) and value.requires_grad and value.is_leaf:
                params.append(value)
    if not params:
        raise StudentFailure("exception", "train", msg("training.no_parameters"))
    return params


def _attribute_values(model: Any) -> Iterator[Any]:
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


def _train_tensorflow(ws: Workspace, p: FrameworkTrainParams, x: np.ndarray, y: np.ndarray, curve: TrainingCurve,
                      layout: Layout) -> list[float]:
    import tensorflow as tf

    seed_all(p)
    model = new_model(ws, "tensorflow")
    found = _report_modes(ws, modes(ws, model, "tensorflow"))
    # A Keras model creates its weights on its first call: build it (in inference mode, in the layout it
    # accepts) before looking for them.
    logits(ws, "train", call_model(ws, "train", "myModel.__call__", model, found, tf.constant(x[:1]), False), 1, "tensorflow")
    variables = ws.call("train", msg("training.what_find_variables"), _tf_variables, model)
    ws.values["n_parameters"] = ws.call("train", msg("training.what_count_variables"), _count, variables)
    update = ws.call("train", msg("training.what_optimiser_variables"), _TfUpdate, tf, variables, p.optimizer, p.lr)
    steps_per_epoch = -(-len(x) // p.batch_size)
    losses, total = [], 0.0
    gradients_what, step_what = msg("training.what_gradients"), msg("training.what_step_variables")
    for step, idx in enumerate(_batches(p, len(x)), start=1):
        with tf.GradientTape() as tape:
            out = call_model(ws, "train", "myModel.__call__", model, found, tf.constant(x[idx]), True)
            out = logits(ws, "train", out, len(idx), "tensorflow")
            loss = ws.call("train", _LOSS, _tf_loss, tf, out, y[idx])
        grads = ws.call("train", gradients_what, tape.gradient, loss, variables)
        if all(g is None for g in grads):
            raise StudentFailure("exception", "train", msg("training.unconnected"))
        ws.call("train", step_what, update.apply, grads)
        batch_loss = float(loss) * len(idx)
        total += batch_loss
        curve.add(batch_loss, np.argmax(np.asarray(out), axis=1), y[idx])
        if step % steps_per_epoch == 0:
            losses.append(total / len(x))
            total = 0.0
    test = tf.constant(in_layout(ws.inputs["test_x"].astype(np.float32) / 255.0, layout))
    out = logits(ws, "forward", call_model(ws, "forward", "myModel.__call__", model, found, test, False), len(test), "tensorflow")
    ws.arrays["test_out"] = np.asarray(out, dtype=np.float64)
    return losses


def _tf_loss(tf: Any, out: Any, labels: np.ndarray) -> Any:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(out, tf.float32)))


class _TfUpdate:
    """Adam or SGD steps with TensorFlow's fused kernels: the update of Keras' optimisers (same
    defaults, equal to float32 rounding) at 0.2 ms a variable, where Keras 3 takes 8 ms a step
    eagerly or 0.3 s to trace.  Gradients that are not dense tensors (None for a variable the
    loss never reaches, IndexedSlices from tf.gather) take the Keras optimiser instead."""

    _BETA1, _BETA2, _EPSILON = 0.9, 0.999, 1e-7  # tf.keras.optimizers.Adam's defaults

    def __init__(self, tf: Any, variables: list[Any], optimizer: str, lr: float) -> None:
        self._tf, self._variables, self._adam, self._lr = tf, variables, optimizer == "adam", lr
        self._keras: Any = None
        """Keras' optimiser, made on the first step the fused kernels cannot take."""
        self._slots = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in variables] if self._adam else []
        self._fused = all(hasattr(v, "handle") for v in variables)
        self._step = 0

    def apply(self, grads: list[Any]) -> None:
        """One optimiser step on every variable."""
        tf = self._tf
        if not (self._fused and all(isinstance(g, tf.Tensor) for g in grads)):
            if self._keras is None:
                self._keras = (tf.keras.optimizers.Adam if self._adam else tf.keras.optimizers.SGD)(learning_rate=self._lr)
            self._keras.apply_gradients([(g, v) for g, v in zip(grads, self._variables) if g is not None])
            return
        self._step += 1
        for i, (var, grad) in enumerate(zip(self._variables, grads)):

            def scalar(value: float) -> Any:
                return tf.constant(value, dtype=var.dtype)  # the kernels want the variable's dtype

            if not self._adam:
                tf.raw_ops.ResourceApplyGradientDescent(var=var.handle, alpha=scalar(self._lr), delta=grad)
                continue
            m, v = self._slots[i]
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle, m=m.handle, v=v.handle, beta1_power=scalar(self._BETA1**self._step),
                beta2_power=scalar(self._BETA2**self._step), lr=scalar(self._lr), beta1=scalar(self._BETA1),
                beta2=scalar(self._BETA2), epsilon=scalar(self._EPSILON), grad=grad)


def _tf_variables(model: Any) -> list[Any]:
    """trainable_variables of a tf.Module/keras model, or tf.Variables among the attributes."""
    import tensorflow as tf

    found = list(getattr(model, "trainable_variables", []) or [])
    if not found:
        for value in _attribute_values(model):
            if isinstance(value, tf.Variable) and value.trainable:
                found.append(value)
            elif hasattr(value, "trainable_variables"):
                found.extend(value.trainable_variables)
    if not found:
        raise StudentFailure("exception", "train", msg("training.no_variables"))
    return found
