"""Worker task for the framework part: train the student's PyTorch or TensorFlow `myModel`.

The grader's own loop (seeded, fixed optimizer, epochs and batch size) finds the
model's trainable parameters itself, so a student's training code is never run.
Failures are Messages of catalog domain `model` (ids `training.*`); what the
grader was doing when student code failed is a code name ("loss.backward") or,
where it is prose, a clause (`training.what_*`), so no English reaches a Chinese
report; type names from student code go in verbatim.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..models import Phase
from ..text import Message, msg, verbatim
from .curve import TrainingCurve
from .protocol import FrameworkTrainParams
from .workspace import StudentFailure, Workspace, type_name

_OWNERS = {"pytorch": "PyTorch myModel", "tensorflow": "TensorFlow myModel"}
_OUTPUT = msg("training.what_output")
_FORWARD = msg("training.what_forward")
_LOSS = msg("training.what_loss")


def framework_train(ws: Workspace) -> None:
    """Train with the rubric's protocol; return test outputs and the loss per epoch."""
    p = ws.job.params_as(FrameworkTrainParams)
    train = _train_torch if p.framework == "pytorch" else _train_tensorflow
    curve = TrainingCurve()
    losses = train(ws, p, ws.inputs["train_x"].astype(np.float32) / 255.0, ws.inputs["train_y"].astype(np.int64), curve)
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


# --------------------------------------------------------------------------- PyTorch


def _train_torch(ws: Workspace, p: FrameworkTrainParams, x: np.ndarray, y: np.ndarray, curve: TrainingCurve) -> list[float]:
    import torch

    torch.manual_seed(p.seed)
    np.random.seed(p.seed)
    torch.set_num_threads(p.threads)
    model = new_model(ws, "pytorch")
    params = ws.call("train", msg("training.what_find_parameters"), _torch_parameters, model)
    ws.values["n_parameters"] = ws.call("train", msg("training.what_count_parameters"), _count, params)
    opt_cls = torch.optim.Adam if p.optimizer == "adam" else torch.optim.SGD
    opt = ws.call("train", msg("training.what_optimiser_parameters"), opt_cls, params, p.lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps_per_epoch = -(-len(x) // p.batch_size)
    losses, total = [], 0.0
    step_what = msg("training.what_step_parameters")
    for step, idx in enumerate(_batches(p, len(x)), start=1):
        out = logits(ws, "train", ws.call("train", _FORWARD, model, xt[idx]), len(idx), "pytorch")
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
    with torch.no_grad():
        test = torch.from_numpy(ws.inputs["test_x"].astype(np.float32) / 255.0)
        out = logits(ws, "forward", ws.call("forward", _FORWARD, model, test), len(test), "pytorch")
        ws.arrays["test_out"] = ws.call("forward", _OUTPUT, _torch_numpy, out)
    return losses


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


def _train_tensorflow(ws: Workspace, p: FrameworkTrainParams, x: np.ndarray, y: np.ndarray, curve: TrainingCurve) -> list[float]:
    import tensorflow as tf

    tf.random.set_seed(p.seed)
    np.random.seed(p.seed)
    model = new_model(ws, "tensorflow")
    # A Keras model creates its weights on its first call: build it before looking for them.
    logits(ws, "train", ws.call("train", "myModel.__call__", model, tf.constant(x[:1])), 1, "tensorflow")
    variables = ws.call("train", msg("training.what_find_variables"), _tf_variables, model)
    ws.values["n_parameters"] = ws.call("train", msg("training.what_count_variables"), _count, variables)
    update = ws.call("train", msg("training.what_optimiser_variables"), _TfUpdate, tf, variables, p.optimizer, p.lr)
    steps_per_epoch = -(-len(x) // p.batch_size)
    losses, total = [], 0.0
    gradients_what, step_what = msg("training.what_gradients"), msg("training.what_step_variables")
    for step, idx in enumerate(_batches(p, len(x)), start=1):
        with tf.GradientTape() as tape:
            out = logits(ws, "train", ws.call("train", "myModel.__call__", model, tf.constant(x[idx])), len(idx), "tensorflow")
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
    test = tf.constant(ws.inputs["test_x"].astype(np.float32) / 255.0)
    out = logits(ws, "forward", ws.call("forward", "myModel.__call__", model, test), len(test), "tensorflow")
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
