"""Training checks (shared judge): the grader's own seeded loop on the student's model, then test accuracy.

The worker trains and returns the model's outputs on the test images; the test
labels never leave the grader's process (they are the judge's state, not an
input of the job), and accuracy is computed here.

    numpy.model.train       mini-batch SGD with the template's update W -= lr * W_grad (worker: numpy_train)
    framework.model.train   the rubric's optimizer on the PyTorch or TensorFlow myModel (worker: framework_worker.py)

The framework worker trains the model in the input layout it accepts (the template's
(N, 28, 28) images, else flattened (N, 784) rows), in training mode, and tests it in
inference mode; the evidence says which layout and how it was called, and a model
trained on flattened rows passes with a message that says so (training.passed_flat).
A model that accepts neither layout is a verdict, not an error: the worker reports it
as value `no_layout` and the judge fails the check with its sentence (training.no_layout),
the framework's error text only in the evidence.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...evidence import Curve, ErrorEvidence, TrainingEvidence
from ...records import CheckOutcome
from ...rubric import TrainingCheck
from ...sandbox.wire import TaskParams
from ...text import Message, msg
from ..framework_layouts import LAYOUT_TEXT
from ..outcome import CheckFailed, expect
from ..registry import CheckContext, Planned, Reply
from .framework_worker import FrameworkTrainResult
from .numpy_worker import NumpyTrainResult

NUMPY_ID = "numpy.model.train"
FRAMEWORK_ID = "framework.model.train"
TF_INSTALL_HINT = "pip install 'nn-grader[tensorflow]' (or pip install tensorflow-cpu) and grade again"
"""The command that installs the TensorFlow extra (the doctor and the CLI print it; messages say it through
`tensorflow_missing()`, whose catalog text holds the same command)."""
LAYER_CHECKS = ("numpy.matmul.backward", "numpy.relu.backward", "numpy.softmax.backward", "numpy.log.backward")
"""The numpy model's training runs after the layers' own checks: a layer that failed one is replaced by the staff's."""


@dataclass(frozen=True)
class TrainingState:
    """What the judge needs from planning: the test labels (kept in the grader) and the training set's size."""

    labels: np.ndarray
    n_train: int


def tensorflow_installed() -> bool:
    """Whether the optional TensorFlow extra can be imported here (and so in the worker)."""
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except ValueError:  # sys.modules["tensorflow"] is None: import is blocked
        return False


def tensorflow_missing() -> Message:
    """Why a TensorFlow part is skipped on this machine, with the command that fixes it (TF_INSTALL_HINT)."""
    return msg("training.tensorflow_missing")


def planned(ctx: CheckContext[TrainingCheck], params: TaskParams) -> Planned[TrainingState]:
    """The first train_samples training images with labels and the first test_samples test images (no labels) go out."""
    mnist = ctx.mnist()
    n_train = min(ctx.spec.train_samples, len(mnist.train_images))
    n_test = min(ctx.spec.test_samples, len(mnist.test_images))
    arrays = {"train_x": mnist.train_images[:n_train], "train_y": mnist.train_labels[:n_train], "test_x": mnist.test_images[:n_test]}
    return Planned(params=params, arrays=arrays, phase="train", state=TrainingState(labels=mnist.test_labels[:n_test], n_train=n_train))


# --------------------------------------------------------------------------- judge


Trained = NumpyTrainResult | FrameworkTrainResult
"""A training worker's result: numpy_train's or framework_train's."""


def judge(ctx: CheckContext[TrainingCheck], state: TrainingState, reply: Reply[NumpyTrainResult] | Reply[FrameworkTrainResult]) -> CheckOutcome:
    """Accuracy of the trained model's test outputs against the grader's labels; below the threshold, why."""
    rc, labels, values = ctx.spec, state.labels, reply.values
    framework = values if isinstance(values, FrameworkTrainResult) else None
    if framework is not None and (rejected := framework.no_layout) is not None:  # the model takes neither input layout
        expect(rejected.message.id == "training.no_layout" and framework.layout is None, "value 'no_layout'")
        raise CheckFailed(rejected.message, None, ErrorEvidence(failure=rejected.kind, phase=rejected.phase, detail=rejected.traceback,
                                                                location=rejected.location))
    out = _test_out(values)
    losses = _measured(values.losses)
    evidence = _evidence(rc, state, values, reply.result.worker_seconds)
    if out.shape != (len(labels), 10):
        raise CheckFailed(msg("training.output_shape", n=len(labels), shape=str(out.shape)), None, evidence)
    accuracy = float(np.mean(np.argmax(out, axis=1) == labels))
    evidence = evidence.model_copy(update={"accuracy": accuracy})
    flat = framework is not None and framework.layout == "2d"
    if accuracy < rc.threshold:
        if flat:
            evidence = evidence.model_copy(update={"notes": (*evidence.notes, msg("training.note_flat"))})
        raise CheckFailed(msg("training.below_threshold", accuracy=accuracy, threshold=rc.threshold, epochs=rc.epochs),
                          _training_diagnosis(losses, out, accuracy), evidence)
    if flat:  # the passed message says it: the template's images were not what the model takes
        return CheckOutcome(id=ctx.check_id, status="passed", evidence=evidence,
                            message=msg("training.passed_flat", accuracy=accuracy, threshold=rc.threshold, epochs=rc.epochs))
    return CheckOutcome(id=ctx.check_id, status="passed", evidence=evidence,
                        message=msg("training.passed", accuracy=accuracy, threshold=rc.threshold, epochs=rc.epochs))


def _test_out(values: Trained) -> np.ndarray:
    """The trained model's outputs on the test images (framework_train sends none when it trained nothing)."""
    expect(values.test_out is not None, "value 'test_out'")
    assert values.test_out is not None  # expect raised otherwise
    return values.test_out


def _measured(values: Sequence[float | str]) -> tuple[float | str, ...]:
    """Numbers as the evidence holds them: a non-finite one by its name ('nan', 'inf'; result.json is strict JSON)."""
    return tuple(v if isinstance(v, str) or np.isfinite(v) else str(v) for v in values)


def _evidence(rc: TrainingCheck, state: TrainingState, values: Trained, seconds: float | None) -> TrainingEvidence:
    """The protocol the grader trained with and what the worker reported about the run (accuracy comes later)."""
    curve = None
    if (points := values.curve) is not None:
        expect(len(points.step) == len(points.loss) == len(points.accuracy), "value 'curve' (columns of equal length)")
        curve = Curve(step=points.step, loss=_measured(points.loss), accuracy=points.accuracy)
    return TrainingEvidence(threshold=rc.threshold, epochs=rc.epochs, batch_size=rc.batch_size, lr=rc.lr, optimizer=rc.optimizer,
                            seed=rc.seed, train_images=state.n_train, test_images=len(state.labels), losses=_measured(values.losses),
                            curve=curve, train_seconds=seconds, input_layout=_layout_text(values),
                            train_call=_call_code(values, True), test_call=_call_code(values, False))


def _layout_text(values: Trained) -> str | None:
    """The input layout framework_train trained in, as the evidence shows it."""
    return LAYOUT_TEXT[values.layout] if isinstance(values, FrameworkTrainResult) and values.layout else None


def _call_code(values: Trained, training: bool) -> str | None:
    """How the framework worker called the model, as code: 'model.train(); model(x)', 'model(x, training=False)'."""
    if not isinstance(values, FrameworkTrainResult) or (values.training_flag is None and values.module_modes is None):
        return None  # the numpy task, or a worker that did not say
    mode = ("model.train(); " if training else "model.eval(); ") if values.module_modes else ""
    return mode + (f"model(x, training={training})" if values.training_flag else "model(x)")


def _training_diagnosis(losses: Sequence[float | str], out: np.ndarray, accuracy: float) -> Message:
    """The likeliest reason a model trained too little: divergence, guessing, a flat loss, or slow learning."""
    bad = next((i for i, v in enumerate(losses, start=1) if isinstance(v, str)), None)
    if bad is not None or not np.all(np.isfinite(out)):
        return msg("training.diverged_at", epoch=bad) if bad else msg("training.diverged")
    if accuracy < 0.2:
        return msg("training.guessing")
    numeric = [float(v) for v in losses if not isinstance(v, str)]
    if len(numeric) >= 2 and numeric[-1] >= numeric[0]:
        return msg("training.loss_flat")
    return msg("training.too_little")
