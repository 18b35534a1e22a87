"""framework.model.forward and framework.model.architecture: tiny framework models run in real workers.

Each file in tests/framework_models/ is a one-class submission.  It is probed once
(cached), and both checks judge that one probe, as the pipeline does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from grader.checks.framework_model import ARCHITECTURE_ID, FORWARD_ID, judge_architecture, judge_forward, run_probe
from grader.checks.training import tensorflow_installed
from grader.intake import load_submission
from grader.models import CheckOutcome, RunResult
from grader.rubric import FrameworkCheck, Limits
from grader.sandbox import SubprocessRunner

MODELS = Path(__file__).resolve().parent / "framework_models"
RC = FrameworkCheck(points=5, seed=7)
LIMITS = Limits(timeout_s=60)
FULL = "relu(x W1 + b1) W2 + b2"
LOGITS_PASS = "myModel accepts (6, 28, 28) and (6, 784) input and returns the same finite (6, 10) logits for both"
needs_tensorflow = pytest.mark.skipif(not tensorflow_installed(), reason="the optional TensorFlow extra is not installed")


@dataclass(frozen=True)
class Judged:
    forward: CheckOutcome
    architecture: CheckOutcome


@functools.cache
def probe(name: str) -> Judged:
    """Probe tests/framework_models/<name>.py in a worker and judge it with both checks."""
    part = load_submission(MODELS / f"{name}.py").framework_part
    assert part is not None, f"{name}.py has no framework myModel"
    result, x = run_probe(part, RC, LIMITS, SubprocessRunner())
    return Judged(judge_forward(result), judge_architecture(result, x, RC))


def assert_outcome(outcome: CheckOutcome, status: str, message: str, diagnosis: str | None = None) -> None:
    __tracebackhide__ = True
    assert (outcome.status, outcome.message) == (status, message)
    assert outcome.diagnosis == diagnosis


# --------------------------------------------------------------------------- models that pass


def test_nn_linear_model_returning_logits_passes_both_checks() -> None:
    judged = probe("torch_linear")
    assert (judged.forward.id, judged.architecture.id) == (FORWARD_ID, ARCHITECTURE_ID)
    assert_outcome(judged.forward, "passed", LOGITS_PASS)
    assert_outcome(judged.architecture, "passed",
                   f"myModel computes {FULL} with H = 100 hidden units (W1 stored as 100 x 784, the nn.Linear layout)")
    assert judged.forward.evidence["output_kind"] == "logits"
    assert judged.architecture.evidence["roles"] == {"W1": "'fc1.weight' (100, 784)", "b1": "'fc1.bias' (100,)",
                                                     "W2": "'fc2.weight' (10, 100)", "b2": "'fc2.bias' (10,)"}
    assert judged.architecture.evidence["max_relative_difference"][FULL] < RC.rtol


def test_raw_parameters_stored_784_by_100_pass_in_x_at_w_layout() -> None:
    judged = probe("torch_parameters")
    assert_outcome(judged.forward, "passed", LOGITS_PASS)
    assert_outcome(judged.architecture, "passed", f"myModel computes {FULL} with H = 100 hidden units (W1 stored as 784 x 100)")
    assert judged.architecture.evidence["layout"] == "tf"
    assert [p["name"] for p in judged.architecture.evidence["parameters"]] == ["W1", "b1", "W2", "b2"]


def test_model_returning_log_softmax_passes_and_is_called_log_probabilities() -> None:
    judged = probe("torch_log_softmax")
    assert_outcome(judged.forward, "passed",
                   "myModel accepts (6, 28, 28) and (6, 784) input and returns the same finite (6, 10) log-probabilities "
                   "(log_softmax; accepted: cross-entropy treats them exactly like logits) for both")
    assert_outcome(judged.architecture, "passed",
                   f"myModel computes log_softmax({FULL}) with H = 100 hidden units (W1 stored as 100 x 784, the nn.Linear layout)")


def test_hidden_size_64_passes() -> None:
    judged = probe("torch_hidden64")
    assert_outcome(judged.forward, "passed", LOGITS_PASS)
    assert_outcome(judged.architecture, "passed",
                   f"myModel computes {FULL} with H = 64 hidden units (W1 stored as 64 x 784, the nn.Linear layout)")
    assert judged.architecture.evidence["hidden"] == 64
    assert judged.architecture.evidence["roles"]["W1"] == "'net.1.weight' (64, 784)"


def test_unused_extra_layer_passes_and_is_reported() -> None:
    judged = probe("torch_extra_layer")
    assert_outcome(judged.architecture, "passed",
                   f"myModel computes {FULL} with H = 100 hidden units (W1 stored as 100 x 784, the nn.Linear layout); "
                   f"extra parameters not used by {FULL}: ['fc3.weight' (10, 10), 'fc3.bias' (10,)]")
    assert judged.architecture.evidence["extra_parameters"] == ["'fc3.weight' (10, 10)", "'fc3.bias' (10,)"]


@pytest.mark.tensorflow
@needs_tensorflow
def test_tensorflow_plain_class_with_zero_initialised_biases_passes() -> None:
    # The probe gives every parameter random values first, so zero biases cannot hide anything.
    judged = probe("tf_variables")
    assert_outcome(judged.forward, "passed", LOGITS_PASS)
    assert_outcome(judged.architecture, "passed", f"myModel computes {FULL} with H = 98 hidden units (W1 stored as 784 x 98)")


def test_zero_initialised_bias_that_the_forward_never_adds_is_found() -> None:
    judged = probe("torch_unused_zero_b1")
    assert judged.architecture.status == "failed"
    assert judged.architecture.message == "the first layer has no bias b1: it computes relu(x W1) W2 + b2"
    assert judged.architecture.diagnosis == f"'b1' (100,) is declared but the forward never adds it as b1: {FULL}"


@pytest.mark.tensorflow
@needs_tensorflow
def test_keras_dense_layers_are_named_by_their_attribute() -> None:
    judged = probe("tf_keras_dense")
    assert judged.architecture.status == "passed"
    assert [p["name"] for p in judged.architecture.evidence["parameters"]] == ["fc1.kernel", "fc1.bias", "fc2.kernel", "fc2.bias"]


# --------------------------------------------------------------------------- models that fail


def test_model_without_relu_fails_architecture_naming_the_relu() -> None:
    judged = probe("torch_no_relu")
    assert_outcome(judged.forward, "passed", LOGITS_PASS)
    assert_outcome(judged.architecture, "failed",
                   "the model has no ReLU between the two layers: it computes (x W1 + b1) W2 + b2",
                   "apply the ReLU to the hidden layer, h = relu(x W1 + b1) (torch.relu / tf.nn.relu), before the second layer; "
                   "without it the two layers collapse into one linear map")


def test_model_without_first_bias_fails_architecture_naming_b1() -> None:
    judged = probe("torch_no_b1")
    assert_outcome(judged.architecture, "failed", "the first layer has no bias b1: it computes relu(x W1) W2 + b2",
                   f"declare a bias of shape (H,) for the first layer and add it (nn.Linear has one unless bias=False): {FULL}")
    assert judged.architecture.evidence["roles"]["b1"] is None


def test_model_returning_softmax_probabilities_fails_forward_only() -> None:
    judged = probe("torch_softmax")
    assert_outcome(judged.forward, "failed", "myModel returns softmax probabilities: every row is in [0, 1] and sums to 1",
                   "return the logits (the loss applies softmax itself)")
    assert judged.architecture.status == "passed"
    assert judged.architecture.message.startswith(f"myModel computes softmax({FULL}) with H = ")
    assert judged.architecture.message.endswith("; its output then goes through a softmax, which framework.model.forward reports")


def test_model_without_reshape_fails_forward_naming_the_rejected_shape() -> None:
    judged = probe("torch_no_reshape")
    assert judged.forward.status == "failed"
    assert judged.forward.message.startswith(
        "myModel rejects a batch of images of shape (6, 28, 28) ((6, 784) is accepted): "
        "`myModel on input of shape (6, 28, 28)` raised RuntimeError: mat1 and mat2 shapes cannot be multiplied"
    )
    assert judged.forward.message.endswith("(torch_no_reshape.py, line 14)")
    assert judged.forward.diagnosis == (
        "flatten inside the model before the first layer with x = x.reshape(-1, 784) "
        "(tf.reshape(x, (-1, 784)) in TensorFlow), which accepts both (N, 28, 28) and (N, 784)"
    )
    # The layers are right: the architecture is judged on the (N, 784) output.
    assert judged.architecture.status == "passed"
    assert judged.architecture.evidence["output_of"] == "(N, 784) input"


# --------------------------------------------------------------------------- host-side judging only


def fake_probe(out: np.ndarray, params: dict[str, np.ndarray]) -> RunResult:
    """A worker's answer without a worker: the same output for both input shapes."""
    arrays = {"out_3d": out, "out_2d": out} | {f"param{i}": v for i, v in enumerate(params.values())}
    values = {"batch": 6, "shape_3d": list(out.shape), "shape_2d": list(out.shape),
              "param_names": list(params), "param_shapes": [list(v.shape) for v in params.values()]}
    return RunResult("framework_probe", values, arrays)


def test_first_weight_with_a_folded_bias_row_is_reported_with_the_shapes_found() -> None:
    x = np.zeros((6, 28, 28), dtype=np.float32)
    result = fake_probe(np.zeros((6, 10)), {"W1": np.zeros((785, 100)), "W2": np.zeros((100, 10))})
    assert_outcome(judge_architecture(result, x, RC), "failed",
                   "found no 784 x H weight (or H x 784, the nn.Linear layout) among myModel's trainable parameters: "
                   "found ['W1' (785, 100), 'W2' (100, 10)]",
                   "a 785-row W1 folds the bias into the weight as the numpy part does; here use a 784 x H W1 and a separate bias b1")


def test_missing_second_layer_weight_names_the_hidden_size() -> None:
    x = np.zeros((6, 28, 28), dtype=np.float32)
    result = fake_probe(np.zeros((6, 10)), {"W1": np.zeros((784, 100)), "W2": np.zeros((50, 10))})
    outcome = judge_architecture(result, x, RC)
    assert outcome.status == "failed"
    assert outcome.message == ("found no H x 10 weight (or 10 x H) for H = 100 among myModel's trainable parameters: "
                               "found ['W1' (784, 100), 'W2' (50, 10)]")


def test_unflattened_output_shape_fails_forward_with_the_reshape_hint() -> None:
    result = fake_probe(np.zeros((6 * 28, 10)), {})
    outcome = judge_forward(result)
    assert outcome.status == "failed"
    assert outcome.message == ("myModel returns shape (168, 10) for input of shape (6, 28, 28); "
                               "expected (6, 10), one row of 10 digit scores per image")
    assert outcome.diagnosis is not None and outcome.diagnosis.startswith("the model did not flatten the images")


# --------------------------------------------------------------------------- training


@needs_tensorflow
@pytest.mark.slow
@pytest.mark.parametrize("name", ["tf_keras_dense", "tf_variables"])
def test_tensorflow_models_train_with_the_fused_optimiser_past_the_threshold(mnist_dir: Path, name: str) -> None:
    # A Keras model has no weights until its first call; a plain class holds tf.Variables from the start.
    from grader.checks.training import check_framework_training
    from grader.mnist import load_mnist
    from grader.rubric import load_rubric

    rubric = load_rubric().rubric
    part = load_submission(MODELS / f"{name}.py").framework_part
    assert part is not None
    outcome = check_framework_training(part, rubric.checks.framework_model_train, rubric.limits, SubprocessRunner(), load_mnist(mnist_dir))
    assert outcome.status == "passed", outcome.message
    assert outcome.evidence["accuracy"] > rubric.checks.framework_model_train.threshold
