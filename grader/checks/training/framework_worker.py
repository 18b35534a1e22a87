"""framework.model.train's worker task: train the student's PyTorch or TensorFlow `myModel`, return FrameworkTrainResult.

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

from dataclasses import dataclass
from typing import Any, Iterator, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from .curve import CurvePoints, TrainingCurve
from ...sandbox.protocol import ChildError
from ...sandbox.tasks import WorkerTask
from ...sandbox.wire import Array, TaskParams, TaskResult
from ...sandbox.workspace import StudentFailure, Workspace
from ...text import Message, msg
from ..framework_layouts import LAYOUTS, Layout, LayoutCall, detail, reason, same_error, takes_input
from ..framework_worker import (FORWARD, OUTPUT, Modes, as_tensor, attribute_values, call_model, in_layout, logits, modes,
                                       new_model, raised, returned, seed_all, set_mode, tensor_shape, tf_variables, torch_parameters)

_LOSS = msg("training.what_loss")
_DETAIL_LIMIT = 1400
"""Characters of each layout's traceback kept in a training.no_layout failure (the two share one traceback)."""


class FrameworkTrainParams(TaskParams):
    """The grader's seeded training loop on the framework myModel (inputs train_x, train_y, test_x)."""

    framework: Literal["pytorch", "tensorflow"]
    seed: int
    epochs: int
    batch_size: int
    lr: float
    optimizer: Literal["sgd", "adam"]
    threads: int = 1


class FrameworkTrainResult(TaskResult):
    """What training the framework myModel gave: the test images' outputs, or why no layout could be trained."""

    test_out: Array | None = Field(None, description="The (n_test, 10) outputs on the test images, in inference mode.")
    losses: tuple[float, ...] = Field((), description="The mean training loss of each epoch (NaN or inf when it diverged).")
    curve: CurvePoints | None = None
    n_parameters: StrictInt | None = Field(None, description="The number of trainable parameters found.")
    layout: Layout | None = Field(None, description="The input layout the model was trained and tested in.")
    training_flag: StrictBool | None = Field(None, description="Called with training=True while training, training=False on the test images.")
    module_modes: StrictBool | None = Field(None, description="PyTorch modules were put in training mode, then in eval mode for the test.")
    no_layout: ChildError | None = Field(None, description="The model accepts neither layout (training.no_layout); nothing was trained.")


@dataclass
class _Trained:
    """What a training run found out, filled as it goes."""

    test_out: np.ndarray | None = None
    n_parameters: int | None = None
    flag: bool | None = None
    module_modes: bool | None = None


def framework_train(ws: Workspace, p: FrameworkTrainParams) -> FrameworkTrainResult:
    """Train with the rubric's protocol; return test outputs and the loss per epoch."""
    x, y = ws.inputs["train_x"].astype(np.float32) / 255.0, ws.inputs["train_y"].astype(np.int64)
    try:
        layout = accepted_layout(ws, p, x[: p.batch_size])
    except NoLayout as rejected:  # a verdict on the model, judged (failed) by the check: no training to do
        return FrameworkTrainResult(no_layout=rejected.error)
    train = _train_torch if p.framework == "pytorch" else _train_tensorflow
    curve, run = TrainingCurve(), _Trained()
    losses = train(ws, p, in_layout(x, layout), y, curve, layout, run)
    points = CurvePoints.of(curve)
    return FrameworkTrainResult(test_out=run.test_out, losses=tuple(losses), curve=points, n_parameters=run.n_parameters, layout=layout,
                                training_flag=run.flag, module_modes=run.module_modes)


def _batches(p: FrameworkTrainParams, n: int) -> Iterator[np.ndarray]:
    """The index batches of every epoch, in the grader's seeded order."""
    order = np.random.default_rng(p.seed)
    for _ in range(p.epochs):
        perm = order.permutation(n)
        yield from (perm[i : i + p.batch_size] for i in range(0, n, p.batch_size))


# --------------------------------------------------------------------------- input layout


def _call_name(framework: str) -> str | Message:
    return FORWARD if framework == "pytorch" else "myModel.__call__"


class NoLayout(StudentFailure):
    """The model accepts neither input layout (training.no_layout): the task reports it as a value, and the
    check fails it as it fails a model that trains too little."""


def accepted_layout(ws: Workspace, p: FrameworkTrainParams, images: np.ndarray) -> Layout:
    """The first of LAYOUTS in which a fresh myModel, in training mode, takes `images` (framework_layouts.takes_input).

    Each layout gets its own seeded instance, thrown away after the call.  A model that takes the input
    but returns the wrong thing (a tuple, (n, 5)) fails at once, as it would in any layout; one that
    rejects both layouts raises NoLayout (training.no_layout), or training.same_error when both calls
    raised the same error at the same place (framework_layouts.same_error).  Either way the message says
    what happened in the student's terms and the errors' text is only in the traceback.
    """
    n = len(images)
    rejected: dict[Layout, LayoutCall] = {}
    for layout in LAYOUTS:
        call = _try_layout(ws, p, layout, in_layout(images, layout))
        if takes_input(call, n):
            return layout
        rejected[layout] = call
    first, second = rejected["3d"].raised, rejected["2d"].raised
    if first is not None and second is not None and same_error(first, second):
        # The same error at the same place for both: a bug of the forward, whatever the input (an error, not a verdict).
        raise StudentFailure("exception", "train", msg("training.same_error", n=n, reason=reason(first, "training")), _detail(rejected["3d"]),
                             first.location)
    text = "\n".join(f"x.shape == {shape}:\n{_detail(call)[-_DETAIL_LIMIT:]}"
                     for shape, call in (((n, 28, 28), rejected["3d"]), ((n, 784), rejected["2d"])))
    message = msg("training.no_layout", n=n, on_3d=_reason(rejected["3d"]), on_2d=_reason(rejected["2d"]))
    where = (first.location if first else None) or (second.location if second else None)
    raise NoLayout("exception", "train", message, text, where)


def _reason(call: LayoutCall) -> Message:
    """Why a layout was rejected, as a clause: it raised, or returned a tensor of another batch's shape."""
    if call.raised is not None:
        return reason(call.raised, "training")
    shape = call.returned.shape if call.returned is not None else None
    return msg("training.layout_shape", shape=str(shape))


def _detail(call: LayoutCall) -> str:
    if call.raised is not None:
        return detail(call.raised)
    return f"out.shape == {call.returned.shape if call.returned is not None else None}"


def _try_layout(ws: Workspace, p: FrameworkTrainParams, layout: Layout, batch: np.ndarray) -> LayoutCall:
    """How a fresh model's call on `batch` went (a failure that is not an exception, say an exit, is raised)."""
    seed_all(p.framework, p.seed, p.threads)
    model = new_model(ws, p.framework)
    found = modes(ws, model, p.framework)
    set_mode(ws, "train", found, True)
    n = len(batch)
    try:
        out = call_model(ws, "train", _call_name(p.framework), model, found, as_tensor(batch, p.framework), True)
    except StudentFailure as failure:
        if failure.error.kind != "exception":  # an exit, a forbidden call, memory: not about the input
            raise
        return LayoutCall(layout=layout, raised=raised(failure))
    call = returned(layout, out, ws.call("train", OUTPUT, tensor_shape, out, p.framework))
    if takes_input(call, n):  # it took the input: what it returned is its failure
        logits(ws, "train", out, n, p.framework)
    return call


# --------------------------------------------------------------------------- PyTorch


def _train_torch(ws: Workspace, p: FrameworkTrainParams, x: np.ndarray, y: np.ndarray, curve: TrainingCurve,
                 layout: Layout, run: _Trained) -> list[float]:
    import torch

    seed_all(p.framework, p.seed, p.threads)
    model = new_model(ws, "pytorch")
    found = _report_modes(run, modes(ws, model, "pytorch"))
    if ws.call("train", msg("training.what_find_parameters"), _lazy, model):
        # nn.LazyLinear and kin create their weights on the first call: one call in inference mode, which
        # changes no running statistics, before the parameters are looked for.
        set_mode(ws, "train", found, False)
        with torch.no_grad():
            call_model(ws, "train", FORWARD, model, found, torch.from_numpy(x[:2]), False)
    set_mode(ws, "train", found, True)
    params = ws.call("train", msg("training.what_find_parameters"), torch_parameters, model)
    run.n_parameters = ws.call("train", msg("training.what_count_parameters"), _count, params)
    opt_cls = torch.optim.Adam if p.optimizer == "adam" else torch.optim.SGD
    opt = ws.call("train", msg("training.what_optimiser_parameters"), opt_cls, params, p.lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps_per_epoch = -(-len(x) // p.batch_size)
    losses, total = [], 0.0
    step_what = msg("training.what_step_parameters")
    for step, idx in enumerate(_batches(p, len(x)), start=1):
        out = logits(ws, "train", call_model(ws, "train", FORWARD, model, found, xt[idx], True), len(idx), "pytorch")
        loss = ws.call("train", _LOSS, _torch_loss, out, yt[idx])
        opt.zero_grad()
        ws.call("train", "loss.backward", loss.backward)
        ws.call("train", step_what, opt.step)
        batch_loss = float(loss.detach()) * len(idx)
        total += batch_loss
        curve.add(batch_loss, ws.call("train", OUTPUT, _torch_numpy, out).argmax(axis=1), y[idx])
        if step % steps_per_epoch == 0:
            losses.append(total / len(x))
            total = 0.0
    set_mode(ws, "forward", found, False)
    with torch.no_grad():
        test = torch.from_numpy(np.ascontiguousarray(in_layout(ws.inputs["test_x"].astype(np.float32) / 255.0, layout)))
        out = logits(ws, "forward", call_model(ws, "forward", FORWARD, model, found, test, False), len(test), "pytorch")
        run.test_out = ws.call("forward", OUTPUT, _torch_numpy, out)
    return losses


def _report_modes(run: _Trained, found: Modes) -> Modes:
    """Tell the judge how the model was switched between training and inference (the evidence shows it)."""
    run.flag, run.module_modes = found.flag, bool(found.modules)
    return found


def _lazy(model: Any) -> bool:
    """Whether a PyTorch model has parameters that its first call creates (nn.LazyLinear, nn.LazyConv2d)."""
    import torch

    modules = model.modules() if isinstance(model, torch.nn.Module) else (
        m for value in attribute_values(model) if isinstance(value, torch.nn.Module) for m in value.modules())
    return any(isinstance(m, torch.nn.modules.lazy.LazyModuleMixin) for m in modules)


def _torch_loss(out: Any, labels: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(out.float(), labels)


def _torch_numpy(tensor: Any) -> np.ndarray:
    return np.asarray(tensor.detach().cpu().double().numpy())


def _count(params: list[Any]) -> int:
    return int(sum(int(np.prod(tuple(p.shape))) for p in params))


# --------------------------------------------------------------------------- TensorFlow


def _train_tensorflow(ws: Workspace, p: FrameworkTrainParams, x: np.ndarray, y: np.ndarray, curve: TrainingCurve,
                      layout: Layout, run: _Trained) -> list[float]:
    import tensorflow as tf

    seed_all(p.framework, p.seed, p.threads)
    model = new_model(ws, "tensorflow")
    found = _report_modes(run, modes(ws, model, "tensorflow"))
    # A Keras model creates its weights on its first call: build it (in inference mode, in the layout it
    # accepts) before looking for them.
    logits(ws, "train", call_model(ws, "train", "myModel.__call__", model, found, tf.constant(x[:1]), False), 1, "tensorflow")
    variables = ws.call("train", msg("training.what_find_variables"), tf_variables, model)
    run.n_parameters = ws.call("train", msg("training.what_count_variables"), _count, variables)
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
    run.test_out = np.asarray(out, dtype=np.float64)
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


TASK = WorkerTask("TASK", FrameworkTrainParams, FrameworkTrainResult, framework_train, phase="train", module=__name__)
