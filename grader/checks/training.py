"""Training checks: the grader's own seeded loop on the student's model, then test accuracy.

The worker trains and returns the model's outputs on the test images; the test
labels never leave the grader's process, and accuracy is computed here.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..mnist import Mnist
from ..models import CheckOutcome, CodePart, RunResult
from ..rubric import Limits, TrainingCheck
from ..sandbox import Job, Runner
from .outcome import CheckFailed, array, error_outcome, evaluate, expect, skipped, value

NUMPY_ID = "numpy.model.train"
FRAMEWORK_ID = "framework.model.train"
TF_INSTALL_HINT = "pip install 'nn-grader[tensorflow]' (or pip install tensorflow-cpu) and grade again"


def check_numpy_training(part: CodePart, rc: TrainingCheck, limits: Limits, runner: Runner, mnist: Mnist) -> CheckOutcome:
    """Mini-batch SGD on the student's numpy myModel with the template's update W -= lr * W_grad."""
    job = Job(task="numpy_train", units=part.units, supplied_imports=part.supplied_imports, params=_params(rc, limits))
    return _train_and_judge(NUMPY_ID, job, rc, limits, runner, mnist)


def check_framework_training(part: CodePart, rc: TrainingCheck, limits: Limits, runner: Runner, mnist: Mnist) -> CheckOutcome:
    """The student's PyTorch or TensorFlow myModel trained by the grader's loop with the rubric's optimizer."""
    if part.framework == "tensorflow" and not tensorflow_installed():
        return skipped(FRAMEWORK_ID, f"this submission's framework part is TensorFlow, which is not installed: {TF_INSTALL_HINT}")
    params = _params(rc, limits) | {"framework": part.framework, "optimizer": rc.optimizer}
    job = Job(task="framework_train", units=part.units, supplied_imports=part.supplied_imports, params=params)
    return _train_and_judge(FRAMEWORK_ID, job, rc, limits, runner, mnist)


def tensorflow_installed() -> bool:
    """Whether the optional TensorFlow extra can be imported here (and so in the worker)."""
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except ValueError:  # sys.modules["tensorflow"] is None: import is blocked
        return False


def _params(rc: TrainingCheck, limits: Limits) -> dict[str, object]:
    return {"epochs": rc.epochs, "batch_size": rc.batch_size, "lr": rc.lr, "seed": rc.seed, "threads": limits.threads}


def _train_and_judge(check_id: str, job: Job, rc: TrainingCheck, limits: Limits, runner: Runner, mnist: Mnist) -> CheckOutcome:
    n_train = min(rc.train_samples, len(mnist.train_images))
    n_test = min(rc.test_samples, len(mnist.test_images))
    arrays = {"train_x": mnist.train_images[:n_train], "train_y": mnist.train_labels[:n_train], "test_x": mnist.test_images[:n_test]}
    result = runner.run(job, arrays, limits, phase="train")
    if result.error:
        return error_outcome(check_id, result)
    return evaluate(check_id, result, lambda: _judge(check_id, result, rc, mnist.test_labels[:n_test], n_train))


def _judge(check_id: str, result: RunResult, rc: TrainingCheck, labels: np.ndarray, n_train: int) -> CheckOutcome:
    out = array(result, "test_out")
    losses = value(result, "losses", list)
    expect(all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in losses), "value 'losses' (numbers)")
    evidence = {"threshold": rc.threshold, "epochs": rc.epochs, "batch_size": rc.batch_size, "lr": rc.lr,
                "optimizer": rc.optimizer, "seed": rc.seed, "train_images": n_train, "test_images": len(labels),
                "losses": losses, "train_seconds": result.values.get("worker_seconds")}
    if (curve := _curve(result.values.get("curve"))) is not None:
        evidence["curve"] = curve
    if out.shape != (len(labels), 10):
        raise CheckFailed(f"the model's output on {len(labels)} test images has shape {out.shape}, expected ({len(labels)}, 10)", None, evidence)
    accuracy = float(np.mean(np.argmax(out, axis=1) == labels))
    evidence["accuracy"] = accuracy
    if accuracy < rc.threshold:
        raise CheckFailed(f"test accuracy {accuracy:.3f} is below the threshold {rc.threshold:.2f} after {rc.epochs} epochs",
                          _training_diagnosis(losses, out, accuracy), evidence)
    return CheckOutcome(id=check_id, status="passed", evidence=evidence,
                        message=f"test accuracy {accuracy:.3f} >= {rc.threshold:.2f} after {rc.epochs} epochs of the grader's training")


def _curve(value: object) -> dict[str, list[float | str]] | None:
    """The worker's training curve if it is what the task writes (equal-length lists of numbers), else None."""
    keys = ("step", "loss", "accuracy")
    if not isinstance(value, dict) or set(value) != set(keys):
        return None
    columns = [value[k] for k in keys]
    if not all(isinstance(c, list) and len(c) == len(columns[0]) for c in columns):
        return None
    ok = all(isinstance(v, (int, float)) or v in ("nan", "inf", "-inf") for c in columns for v in c)
    return {k: list(c) for k, c in zip(keys, columns)} if ok else None


def _training_diagnosis(losses: list[float | str], out: np.ndarray, accuracy: float) -> str:
    bad = next((i for i, v in enumerate(losses, start=1) if isinstance(v, str)), None)
    if bad is not None or not np.all(np.isfinite(out)):
        where = f" at epoch {bad}" if bad else ""
        return f"training diverged: the loss became NaN or infinite{where}; an overflowing softmax or a wrong gradient scale are the usual causes"
    if accuracy < 0.2:
        return "the model is no better than guessing: the gradients probably point the wrong way (check signs in backward) or are not applied"
    numeric = [float(v) for v in losses if not isinstance(v, str)]
    if len(numeric) >= 2 and numeric[-1] >= numeric[0]:
        return "the training loss did not go down: the gradients do not reduce the loss (check backward)"
    return "the model learns, but too little: check the gradients of each layer and the model's initialisation"
