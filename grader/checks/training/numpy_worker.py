"""The worker side of numpy.model.train: the grader's seeded mini-batch SGD on the student's numpy myModel."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field, StrictInt

from ...records import Phase
from ...sandbox.tasks import WorkerTask
from ...sandbox.wire import Array, TaskParams, TaskResult
from ...sandbox.workspace import StudentFailure, Workspace
from ...text import msg
from .curve import CurvePoints, TrainingCurve
from ..numpy_worker import model_attr, new_model, run_method, set_attr


class NumpyTrainParams(TaskParams):
    """The training protocol (inputs train_x, train_y, test_x)."""

    seed: int
    epochs: int
    batch_size: int
    lr: float
    threads: int = 1


class NumpyTrainResult(TaskResult):
    """The losses and curve of the run, and the trained model's outputs on the test images."""

    losses: tuple[Annotated[float, Field(strict=True)], ...] = Field(description="The mean training loss of each epoch (NaN or inf when it diverged).")
    curve: CurvePoints | None = Field(None, description="Loss and batch accuracy every few steps.")
    test_out: Array = Field(description="The (n_test, 10) log-probabilities of the test images.")
    W1_shape: tuple[StrictInt, ...] | None = Field(None, description="np.shape of myModel.W1 after myModel().")
    W2_shape: tuple[StrictInt, ...] | None = Field(None, description="np.shape of myModel.W2 after myModel().")


def numpy_train(ws: Workspace, p: NumpyTrainParams) -> NumpyTrainResult:
    """The grader's seeded mini-batch SGD on the student's model; returns test log-probabilities."""
    model, w1_shape, w2_shape = new_model(ws, p.seed)
    x = ws.inputs["train_x"].reshape(len(ws.inputs["train_x"]), -1) / 255.0
    onehot = np.eye(10)[ws.inputs["train_y"].astype(np.int64)]
    order = np.random.default_rng(p.seed)
    losses: list[float] = []
    curve = TrainingCurve()
    for _ in range(p.epochs):
        perm = order.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), p.batch_size):
            idx = perm[start : start + p.batch_size]
            loss, log_probs = _sgd_step(ws, model, x[idx], onehot[idx], p.lr)
            curve.add(loss, np.argmax(log_probs, axis=1), ws.inputs["train_y"][idx])
            total += loss
        losses.append(total / len(x))
    return NumpyTrainResult(losses=tuple(losses), curve=CurvePoints.of(curve),
                            test_out=_predict(ws, model, ws.inputs["test_x"] / 255.0), W1_shape=w1_shape, W2_shape=w2_shape)


def _log_probs(ws: Workspace, model: Any, phase: Phase, batch: int) -> np.ndarray:
    """self.h2_log after a forward on `batch` images, which must be (batch, 10)."""
    log_probs = model_attr(ws, model, "h2_log", "forward", phase)
    if log_probs.shape != (batch, 10):
        raise StudentFailure("exception", phase, msg("layers.worker.h2_log_shape", shape=str(log_probs.shape), batch=batch))
    return log_probs


def _sgd_step(ws: Workspace, model: Any, xb: np.ndarray, yb: np.ndarray, lr: float) -> tuple[float, np.ndarray]:
    """One template step: forward, backward(label), W -= lr * W_grad (gradients summed over the batch).

    Returns the batch's summed loss and the forward's log-probabilities.
    """
    run_method(ws, "train", model, "forward", xb)
    log_probs = _log_probs(ws, model, "train", len(xb))
    loss = float(-np.sum(yb * log_probs))
    run_method(ws, "train", model, "backward", yb)
    for name in ("W1", "W2"):
        weight, grad = model_attr(ws, model, name, "__init__", "train"), model_attr(ws, model, f"{name}_grad", "backward", "train")
        if grad.shape != weight.shape:
            message = msg("layers.worker.grad_shape", name=name, got=str(grad.shape), want=str(weight.shape))
            raise StudentFailure("exception", "train", message)
        set_attr(ws, "train", model, name, weight - lr * grad)
    return loss, log_probs


def _predict(ws: Workspace, model: Any, x: np.ndarray, chunk: int = 2000) -> np.ndarray:
    outs = []
    for start in range(0, len(x), chunk):
        batch = x[start : start + chunk]
        run_method(ws, "forward", model, "forward", batch)
        outs.append(_log_probs(ws, model, "forward", len(batch)))
    return np.concatenate(outs).astype(np.float64)


TASK = WorkerTask("TASK", NumpyTrainParams, NumpyTrainResult, numpy_train, phase="train", module=__name__)
