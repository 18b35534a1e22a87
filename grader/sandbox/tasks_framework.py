"""Worker task for the framework part: train the student's PyTorch or TensorFlow `myModel`.

The grader's own loop (seeded, fixed optimizer, epochs and batch size) finds the
model's trainable parameters itself, so a student's training code is never run.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..models import Phase
from .curve import TrainingCurve
from .workspace import StudentFailure, Workspace, type_name

_OWNERS = {"pytorch": "PyTorch myModel", "tensorflow": "TensorFlow myModel"}
_LOGITS = "returning (N, 10) logits"


def framework_train(ws: Workspace) -> None:
    """Train with the rubric's protocol; return test outputs and the loss per epoch."""
    framework = ws.params["framework"]
    train = _train_torch if framework == "pytorch" else _train_tensorflow
    curve = TrainingCurve()
    losses = train(ws, ws.inputs["train_x"].astype(np.float32) / 255.0, ws.inputs["train_y"].astype(np.int64), curve)
    ws.values["losses"] = [v if np.isfinite(v) else str(v) for v in losses]
    ws.values["curve"] = curve.points


def _batches(ws: Workspace, n: int) -> Iterator[np.ndarray]:
    order = np.random.default_rng(ws.params["seed"])
    for _ in range(ws.params["epochs"]):
        perm = order.permutation(n)
        yield from (perm[i : i + ws.params["batch_size"]] for i in range(0, n, ws.params["batch_size"]))


def _check_logits(shape: tuple[int, ...], batch: int) -> None:
    if tuple(shape) != (batch, 10):
        msg = f"`myModel` returned shape {tuple(shape)} for a batch of {batch} images of 28x28; it must return ({batch}, 10) logits"
        raise StudentFailure("exception", "forward", msg)


def new_model(ws: Workspace, framework: str) -> Any:
    """A fresh myModel (made with no arguments) that the grader can call as model(x), or the failure that says
    what is missing."""
    model = ws.construct(_OWNERS[framework], "myModel", ws.require("myModel"))
    ws.call("import", "myModel", _require_forward, model, framework)
    return model


def _require_forward(model: Any, framework: str) -> None:
    """A StudentFailure when calling the model cannot reach a forward of the student's."""
    method, fix = _missing_forward(model) if framework == "pytorch" else _missing_call(model)
    if method:
        raise StudentFailure("missing", "import", f"missing: your {_OWNERS[framework]} has no {method} method; {fix}")


def _missing_forward(model: Any) -> tuple[str, str]:
    import torch

    if isinstance(model, torch.nn.Module):
        return ("forward", f"define forward(self, x) {_LOGITS}") if type(model).forward is torch.nn.Module.forward else ("", "")
    return ("", "") if callable(model) else ("__call__", f"subclass nn.Module and define forward(self, x) {_LOGITS}")


def _missing_call(model: Any) -> tuple[str, str]:
    import tensorflow as tf

    keras_calls = (tf.keras.Model.call, tf.keras.layers.Layer.call)
    if isinstance(model, tf.keras.layers.Layer) and getattr(type(model), "call", None) in keras_calls:
        return "call", f"define call(self, x) {_LOGITS}"
    fix = f"define __call__(self, x) {_LOGITS} (or subclass tf.keras.Model and define call(self, x))"
    return ("", "") if callable(model) else ("__call__", fix)


def logits(ws: Workspace, phase: Phase, out: Any, batch: int, framework: str) -> Any:
    """`out`, what the model returned for `batch` images, if it is one (batch, 10) tensor; else a failure naming it."""
    return ws.call(phase, "the output of myModel", _checked_logits, out, batch, framework, phase)


def _checked_logits(out: Any, batch: int, framework: str, phase: Phase) -> Any:
    if framework == "pytorch":
        import torch

        tensor = isinstance(out, torch.Tensor)
    else:
        import tensorflow as tf

        tensor = bool(tf.is_tensor(out))
    if not tensor:
        method = "forward" if framework == "pytorch" else "__call__"
        msg = f"your {_OWNERS[framework]}'s {method} returned {type_name(out)}; it must return one ({batch}, 10) tensor of logits"
        raise StudentFailure("exception", phase, msg)
    _check_logits(tuple(int(n) for n in out.shape), batch)
    return out


# --------------------------------------------------------------------------- PyTorch


def _train_torch(ws: Workspace, x: np.ndarray, y: np.ndarray, curve: TrainingCurve) -> list[float]:
    import torch

    torch.manual_seed(ws.params["seed"])
    np.random.seed(ws.params["seed"])
    torch.set_num_threads(ws.params.get("threads", 1))
    model = new_model(ws, "pytorch")
    params = ws.call("train", "finding the trainable parameters of myModel", _torch_parameters, model)
    ws.values["n_parameters"] = ws.call("train", "counting the parameters of myModel", _count, params)
    opt_cls = torch.optim.Adam if ws.params["optimizer"] == "adam" else torch.optim.SGD
    opt = ws.call("train", "the optimiser for the parameters of myModel", opt_cls, params, ws.params["lr"])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps_per_epoch = -(-len(x) // ws.params["batch_size"])
    losses, total = [], 0.0
    for step, idx in enumerate(_batches(ws, len(x)), start=1):
        out = logits(ws, "train", ws.call("train", "myModel forward", model, xt[idx]), len(idx), "pytorch")
        loss = ws.call("train", "the loss of the output of myModel", _torch_loss, out, yt[idx])
        opt.zero_grad()
        ws.call("train", "loss.backward", loss.backward)
        ws.call("train", "the optimiser step on the parameters of myModel", opt.step)
        batch_loss = float(loss.detach()) * len(idx)
        total += batch_loss
        curve.add(batch_loss, ws.call("train", "the output of myModel", _torch_numpy, out).argmax(axis=1), y[idx])
        if step % steps_per_epoch == 0:
            losses.append(total / len(x))
            total = 0.0
    with torch.no_grad():
        test = torch.from_numpy(ws.inputs["test_x"].astype(np.float32) / 255.0)
        out = logits(ws, "forward", ws.call("forward", "myModel forward", model, test), len(test), "pytorch")
        ws.arrays["test_out"] = ws.call("forward", "the output of myModel", _torch_numpy, out)
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
        raise StudentFailure("exception", "train", "found no trainable parameters in `myModel` (nn.Parameter, nn.Linear, or tensors with requires_grad=True)")
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


def _train_tensorflow(ws: Workspace, x: np.ndarray, y: np.ndarray, curve: TrainingCurve) -> list[float]:
    import tensorflow as tf

    tf.random.set_seed(ws.params["seed"])
    np.random.seed(ws.params["seed"])
    model = new_model(ws, "tensorflow")
    # A Keras model creates its weights on its first call: build it before looking for them.
    logits(ws, "train", ws.call("train", "myModel.__call__", model, tf.constant(x[:1])), 1, "tensorflow")
    variables = ws.call("train", "finding the trainable variables of myModel", _tf_variables, model)
    ws.values["n_parameters"] = ws.call("train", "counting the variables of myModel", _count, variables)
    optimiser = ws.params["optimizer"], ws.params["lr"]
    update = ws.call("train", "the optimiser for the variables of myModel", _TfUpdate, tf, variables, *optimiser)
    steps_per_epoch = -(-len(x) // ws.params["batch_size"])
    losses, total = [], 0.0
    for step, idx in enumerate(_batches(ws, len(x)), start=1):
        with tf.GradientTape() as tape:
            out = logits(ws, "train", ws.call("train", "myModel.__call__", model, tf.constant(x[idx])), len(idx), "tensorflow")
            loss = ws.call("train", "the loss of the output of myModel", _tf_loss, tf, out, y[idx])
        grads = ws.call("train", "the gradients of the loss", tape.gradient, loss, variables)
        if all(g is None for g in grads):
            raise StudentFailure("exception", "train", _UNCONNECTED)
        ws.call("train", "the optimiser step on the variables of myModel", update.apply, grads)
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


_UNCONNECTED = ("the loss does not depend on any trainable variable of myModel: compute its output from its tf.Variables "
                "with TensorFlow operations (no .numpy() or numpy functions inside __call__)")


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
        raise StudentFailure("exception", "train", "found no trainable tf.Variable in `myModel` (declare W1, b1, W2, b2 as tf.Variable)")
    return found
