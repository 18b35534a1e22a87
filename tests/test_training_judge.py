"""The judges of numpy.model.backward, numpy.model.train and framework.model.train, called directly.

Replies are made by hand (good ones, wrong ones, malformed ones), so the judging
logic is tested without workers; a reply that does not validate against the
check's result model, or lacks an array, is "tampered" for that check alone.
Two tests at the end run the framework training worker in-process (FakeRunner)
to check its typed parameters and its messages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import json

import numpy as np
import pytest

from grader.checks.model_backward import check as model_gradient
from grader.checks.model_backward.worker import ModelBackwardResult
from grader.checks.training.numpy_worker import NumpyTrainParams, NumpyTrainResult
from grader.checks.training import framework_check, numpy_check
from grader.checks.training import judge as training
from grader.checks.outcome import evaluate
from grader.checks.registry import CheckContext, CheckDef, Planned, Reply
from grader.evidence import GradientEvidence, TrainingEvidence
from grader.mnist import Mnist
from grader.records import CheckOutcome, CodePart, RunResult
from grader.rubric import GradientCheck, TrainingCheck
from grader.sandbox.limits import Limits
from grader.sandbox import FakeRunner
from grader.checks.training.framework_worker import FrameworkTrainParams, FrameworkTrainResult
from grader.sandbox.wire import decode_result
from grader.text import catalog, placeholders, render

CJK = re.compile(r"[\u4e00-\u9fff]")
CODE_WORDS = {"myModel", "PyTorch", "forward", "tuple", "Parameter", "Linear", "requires_grad", "True", "self", "logits"}
"""Words a Chinese message may hold: code names and identifiers, never English prose."""
NUMPY_PART = CodePart(kind="numpy", file="hw.py", units=())
TORCH_PART = CodePart(kind="framework", file="hw.py", framework="pytorch", units=())
TF_PART = CodePart(kind="framework", file="hw.py", framework="tensorflow", units=())
TRAIN = TrainingCheck(points=20, epochs=10, batch_size=32, lr=0.1, threshold=0.75, seed=3, train_samples=40, test_samples=20)
BACKWARD = GradientCheck(points=15, seed=5)
LABELS = np.arange(20) % 10


def _mnist() -> Mnist:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    labels = (np.arange(60) % 10).astype(np.uint8)
    return Mnist(train_images=images, train_labels=labels, test_images=images[:30], test_labels=labels[:30], source="test")


def _ctx(check_id: str, part: CodePart, spec: Any) -> CheckContext[Any]:
    return CheckContext(check_id=check_id, part=part, spec=spec, limits=Limits(), mnist=_mnist, earlier={},
                        specs=lambda _: spec)


def _judged(check: CheckDef[Any, Any, Any], ctx: CheckContext[Any], state: Any, values: dict[str, Any],
            arrays: dict[str, np.ndarray]) -> CheckOutcome:
    """What the pipeline does with a worker's reply: validate the values, then judge under `evaluate`."""
    # The same values as the task's JSON report, the arrays named by the fields that hold them.
    report, seconds = _typed_report(check, values, arrays)
    result = RunResult(check.result.__name__, arrays=arrays, duration_s=1.5, report=json.dumps(report), worker_seconds=seconds)
    return check.judge_result(ctx, state, result)


def _typed_report(check: CheckDef[Any, Any, Any], values: dict[str, Any], arrays: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """What the typed worker of `check` reports for `values`; its arrays keep their old names as keys."""
    if check.result is ModelBackwardResult:
        steps = {f"step{kind}": {"plus": f"h2_log_plus{kind}", "minus": f"h2_log_minus{kind}"} for kind in ("64", "32")}
        return {**values, "h2_log": "h2_log", "W1_grad": "W1_grad", "W2_grad": "W2_grad", **steps}, None
    dropped = ("worker_seconds", "warnings") + (("W1_shape", "W2_shape") if check.result is FrameworkTrainResult else ())
    report = {k: v for k, v in values.items() if k not in dropped}
    if isinstance(report.get("curve"), dict) and isinstance(report["curve"].get("loss"), list):
        report["curve"] = report["curve"] | {"loss": [_number(v) for v in report["curve"]["loss"]]}
    if isinstance(report.get("losses"), list):  # NaN is a float now; a malformed value stays malformed
        report["losses"] = [_number(v) for v in report["losses"]]
    report |= {"test_out": "test_out"} if "test_out" in arrays else {}
    return report, values.get("worker_seconds")


def _number(v: Any) -> Any:
    """A worker's number: 'nan' and 'inf' written as the evidence shows them are floats on the wire."""
    return float(v) if v in ("nan", "inf", "-inf") else v


def _tampered(outcome: CheckOutcome) -> bool:
    return outcome.status == "error" and getattr(outcome.evidence, "failure", None) == "tampered"


# --------------------------------------------------------------------------- training


def _train(values: dict[str, Any], out: np.ndarray | None, check: CheckDef[Any, Any, Any] = numpy_check.NUMPY_TRAIN) -> CheckOutcome:
    ctx = _ctx(check.id, NUMPY_PART if check.part == "numpy" else TORCH_PART, TRAIN)
    state = training.TrainingState(labels=LABELS, n_train=40)
    return _judged(check, ctx, state, values, {} if out is None else {"test_out": out})


def _scores(correct: int) -> np.ndarray:
    """Test outputs whose argmax is right for the first `correct` of the 20 test images."""
    predicted = np.where(np.arange(20) < correct, LABELS, (LABELS + 1) % 10)
    return np.eye(10)[predicted] * 5.0


GOOD = {"losses": [2.3, 1.1, 0.6], "curve": {"step": [5, 10], "loss": [2.0, "nan"], "accuracy": [0.4, 0.6]},
        "worker_seconds": 0.8, "W1_shape": [785, 100], "W2_shape": [100, 10], "warnings": []}


@pytest.mark.parametrize("check", [numpy_check.NUMPY_TRAIN, framework_check.FRAMEWORK_TRAIN], ids=lambda c: c.id)
def test_an_accurate_model_passes_with_the_training_evidence(check: CheckDef[Any, Any, Any]) -> None:
    outcome = _train(GOOD, _scores(18), check)
    assert (outcome.id, outcome.status) == (check.id, "passed")
    assert str(outcome.message) == "test accuracy 0.900 >= 0.75 after 10 epochs of the grader's training"
    assert outcome.diagnosis is None and outcome.duration_s == 1.5
    ev = outcome.evidence
    assert isinstance(ev, TrainingEvidence)
    assert (ev.accuracy, ev.threshold, ev.epochs, ev.batch_size, ev.lr, ev.optimizer, ev.seed) == (0.9, 0.75, 10, 32, 0.1, "sgd", 3)
    assert (ev.train_images, ev.test_images, ev.losses, ev.train_seconds) == (40, 20, (2.3, 1.1, 0.6), 0.8)
    assert ev.curve is not None and (ev.curve.step, ev.curve.loss) == ((5, 10), (2.0, "nan"))
    assert ev.model_dump(mode="json")["curve"]["step"] == [5, 10]  # steps stay integers in result.json


def test_a_reply_without_a_curve_is_judged_without_one() -> None:
    outcome = _train({"losses": [2.3, 1.1]}, _scores(20))
    assert outcome.status == "passed" and isinstance(outcome.evidence, TrainingEvidence) and outcome.evidence.curve is None


@pytest.mark.parametrize(
    ("losses", "correct", "out_nan", "diagnosis_id", "diagnosis"),
    [
        ([2.3, 2.2, "nan", "nan"], 1, False, "training.diverged_at",
         "training diverged: the loss became NaN or infinite at epoch 3; an overflowing softmax or a wrong gradient scale are the usual causes"),
        ([2.3, 2.2, 2.1], 1, True, "training.diverged",
         "training diverged: the loss became NaN or infinite; an overflowing softmax or a wrong gradient scale are the usual causes"),
        ([2.3, 2.2, 2.1], 2, False, "training.guessing",
         "the model is no better than guessing: the gradients probably point the wrong way (check signs in backward) or are not applied"),
        ([2.3, 2.3], 10, False, "training.loss_flat",
         "the training loss did not go down: the gradients do not reduce the loss (check backward)"),
        ([2.3, 1.2], 10, False, "training.too_little",
         "the model learns, but too little: check the gradients of each layer and the model's initialisation"),
    ],
    ids=["diverged-at-epoch", "diverged-outputs", "guessing", "flat-loss", "too-little"],
)
def test_a_model_below_the_threshold_fails_with_the_likeliest_cause(
    losses: list[Any], correct: int, out_nan: bool, diagnosis_id: str, diagnosis: str
) -> None:
    out = _scores(correct)
    if out_nan:
        out[0, 0] = np.nan
    outcome = _train({"losses": losses}, out)
    accuracy = correct / 20
    assert outcome.status == "failed"
    assert str(outcome.message) == f"test accuracy {accuracy:.3f} is below the threshold 0.75 after 10 epochs"
    assert outcome.diagnosis is not None and (outcome.diagnosis.id, str(outcome.diagnosis)) == (diagnosis_id, diagnosis)
    assert isinstance(outcome.evidence, TrainingEvidence) and outcome.evidence.accuracy == accuracy


def test_an_output_of_the_wrong_shape_fails_the_check() -> None:
    outcome = _train({"losses": [2.3]}, np.zeros((20, 9)))
    assert outcome.status == "failed" and outcome.diagnosis is None
    assert str(outcome.message) == "the model's output on 20 test images has shape (20, 9), expected (20, 10)"
    assert isinstance(outcome.evidence, TrainingEvidence) and outcome.evidence.accuracy is None


FLAT = "test accuracy 0.900 >= 0.75 after 10 epochs of the grader's training, on flattened (N, 784) input: " \
       "myModel does not accept the template's (N, 28, 28) images"


def test_a_model_trained_on_flattened_input_passes_and_says_which_layout_it_took() -> None:
    outcome = _train(GOOD | {"layout": "2d", "training_flag": False, "module_modes": True}, _scores(18), framework_check.FRAMEWORK_TRAIN)
    assert (outcome.status, outcome.message.id, str(outcome.message)) == ("passed", "training.passed_flat", FLAT)
    zh = render(outcome.message, "zh")
    assert "(N, 784)" in zh and "(N, 28, 28)" in zh and "0.900" in zh and CJK.search(zh)
    ev = outcome.evidence
    assert isinstance(ev, TrainingEvidence) and ev.notes == ()
    assert (ev.input_layout, ev.train_call, ev.test_call) == ("(N, 784)", "model.train(); model(x)", "model.eval(); model(x)")


def test_a_model_trained_on_the_templates_images_keeps_the_passed_message() -> None:
    outcome = _train(GOOD | {"layout": "3d", "training_flag": True, "module_modes": False}, _scores(18), framework_check.FRAMEWORK_TRAIN)
    assert (outcome.message.id, str(outcome.message)) == (
        "training.passed", "test accuracy 0.900 >= 0.75 after 10 epochs of the grader's training")
    ev = outcome.evidence
    assert isinstance(ev, TrainingEvidence)
    assert (ev.input_layout, ev.train_call, ev.test_call) == ("(N, 28, 28)", "model(x, training=True)", "model(x, training=False)")


def test_a_flattened_model_below_the_threshold_fails_with_a_note_on_the_layout() -> None:
    outcome = _train({"losses": [2.3, 1.2], "layout": "2d"}, _scores(10), framework_check.FRAMEWORK_TRAIN)
    assert outcome.status == "failed" and outcome.message.id == "training.below_threshold"
    assert isinstance(outcome.evidence, TrainingEvidence) and [n.id for n in outcome.evidence.notes] == ["training.note_flat"]
    assert str(outcome.evidence.notes[0]) == (
        "myModel was trained and tested on flattened (N, 784) input: it does not accept the template's (N, 28, 28) images")


@pytest.mark.parametrize(
    ("flag", "modules", "train_call", "test_call"),
    [(False, False, "model(x)", "model(x)"), (True, False, "model(x, training=True)", "model(x, training=False)"),
     (False, True, "model.train(); model(x)", "model.eval(); model(x)"),
     (True, True, "model.train(); model(x, training=True)", "model.eval(); model(x, training=False)")],
    ids=["plain", "flag", "module", "module-and-flag"],
)
def test_the_evidence_says_how_the_model_was_called_in_each_mode(flag: bool, modules: bool, train_call: str, test_call: str) -> None:
    outcome = _train({"losses": [2.3, 1.1], "training_flag": flag, "module_modes": modules}, _scores(20), framework_check.FRAMEWORK_TRAIN)
    assert isinstance(outcome.evidence, TrainingEvidence)
    assert (outcome.evidence.train_call, outcome.evidence.test_call) == (train_call, test_call)


def test_the_numpy_training_evidence_has_no_layout_or_modes() -> None:
    ev = _train(GOOD, _scores(18)).evidence
    assert isinstance(ev, TrainingEvidence) and (ev.input_layout, ev.train_call, ev.test_call) == (None, None, None)


NO_LAYOUT = {"kind": "exception", "phase": "train", "traceback": "x.shape == (100, 28, 28):\nRuntimeError: mat1 and mat2",
             "location": {"file": "hw.py", "line": 12, "cell": None},
             "message": {"id": "training.no_layout", "args": {
                 "n": 100, "on_3d": {"id": "training.layout_raised", "args": {"type": {"verbatim": "RuntimeError"}}},
                 "on_2d": {"id": "training.layout_shape", "args": {"shape": "(100, 28, 10)"}}}}}


def test_a_model_that_takes_neither_layout_fails_with_the_workers_sentence_and_the_errors_as_evidence() -> None:
    from grader.evidence import ErrorEvidence

    outcome = _train({"losses": [], "no_layout": NO_LAYOUT}, None, framework_check.FRAMEWORK_TRAIN)  # no test outputs: nothing was trained
    assert (outcome.status, outcome.message.id) == ("failed", "training.no_layout")
    assert str(outcome.message) == (
        "myModel accepts neither (N, 28, 28) nor (N, 784) images: called on (100, 28, 28) it raised RuntimeError, and on (100, 784) "
        "it returned shape (100, 28, 10); it must take the template's (N, 28, 28) images (or flattened (N, 784) rows) and return "
        "(N, 10) logits (the errors are quoted in the evidence)")
    assert "mat1" not in str(outcome.message)
    ev = outcome.evidence
    assert isinstance(ev, ErrorEvidence) and ev.failure == "exception" and "mat1 and mat2" in ev.detail
    assert ev.location is not None and (ev.location.file, ev.location.line) == ("hw.py", 12)
    zh = render(outcome.message, "zh")
    assert zh.startswith("myModel 既不接受 (N, 28, 28) 也不接受 (N, 784) 的图像") and "RuntimeError" in zh and "(100, 28, 10)" in zh


@pytest.mark.parametrize(
    "values",
    [{}, {"losses": "2.3, 1.1"}, {"losses": [True, 1.0]}, {"losses": ["2.3"]}, {"losses": [None]}, {"losses": ["nonsense"]},
     {"losses": [1.0], "curve": {"step": [5], "loss": [1.0]}},
     {"losses": [1.0], "curve": {"step": [5], "loss": [1.0], "accuracy": [0.5], "extra": []}},
     {"losses": [1.0], "curve": {"step": [5, 10], "loss": [1.0], "accuracy": [0.5]}},
     {"losses": [1.0], "layout": "4d"}, {"losses": [1.0], "layout": 2},
     {"losses": [1.0], "training_flag": "yes"}, {"losses": [1.0], "module_modes": 1},
     {"losses": [], "no_layout": {"kind": "exception", "phase": "train"}}, {"losses": [], "no_layout": "neither"},
     {"losses": [], "no_layout": NO_LAYOUT | {"message": {"id": "training.passed", "args": {}}}},
     {"losses": [], "no_layout": NO_LAYOUT, "layout": "3d"}],
    ids=["no-losses", "losses-a-string", "a-bool", "a-numeric-string", "a-null", "a-word", "curve-no-accuracy", "curve-extra-key",
         "curve-uneven", "layout-unknown", "layout-a-number", "flag-a-string", "modes-a-number",
         "no-layout-without-message", "no-layout-a-string", "no-layout-another-message", "no-layout-and-a-layout"],
)
def test_a_training_reply_with_malformed_values_is_tampered(values: dict[str, Any]) -> None:
    # (worker_seconds is the report's own field now, validated with the report: see test_sandbox's forged reports)
    framework_only = {"layout", "training_flag", "module_modes", "no_layout"}.intersection(values)
    outcome = _train(values, _scores(20), framework_check.FRAMEWORK_TRAIN if framework_only else numpy_check.NUMPY_TRAIN)
    assert _tampered(outcome), outcome
    assert str(outcome.message).startswith("tampered: the worker's reply has no valid ")


@pytest.mark.parametrize("out", [None, np.zeros((2, 2, 2)).tolist()], ids=["missing", "a-list"])
def test_a_training_reply_without_its_test_outputs_is_tampered(out: Any) -> None:
    ctx = _ctx(training.NUMPY_ID, NUMPY_PART, TRAIN)
    arrays = {} if out is None else {"test_out": out}
    outcome = _judged(numpy_check.NUMPY_TRAIN, ctx, training.TrainingState(LABELS, 40), {"losses": [1.0]}, arrays)
    assert _tampered(outcome)
    assert str(outcome.message) == "tampered: the worker's reply has no valid value 'test_out' (missing, or of the wrong type); the run is not trusted"


def test_the_numpy_plan_sends_images_but_keeps_the_test_labels() -> None:
    planned = numpy_check.NUMPY_TRAIN.plan(_ctx(training.NUMPY_ID, NUMPY_PART, TRAIN))
    assert isinstance(planned, Planned)
    assert planned.params == NumpyTrainParams(seed=3, epochs=10, batch_size=32, lr=0.1, threads=1)
    assert planned.phase == "train" and sorted(planned.arrays) == ["test_x", "train_x", "train_y"]
    assert (len(planned.arrays["train_x"]), len(planned.arrays["test_x"])) == (40, 20)
    assert planned.state.n_train == 40 and planned.state.labels.tolist() == _mnist().test_labels[:20].tolist()


def test_the_framework_plan_names_framework_and_optimizer() -> None:
    spec = TRAIN.model_copy(update={"optimizer": "adam", "train_samples": 1000})
    planned = framework_check.FRAMEWORK_TRAIN.plan(_ctx(training.FRAMEWORK_ID, TORCH_PART, spec))
    assert isinstance(planned, Planned)
    assert planned.params == FrameworkTrainParams(framework="pytorch", seed=3, epochs=10, batch_size=32, lr=0.1, optimizer="adam")
    assert len(planned.arrays["train_x"]) == 60  # train_samples is capped by what MNIST has


def test_a_tensorflow_part_without_tensorflow_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framework_check, "tensorflow_installed", lambda: False)
    outcome = framework_check.FRAMEWORK_TRAIN.plan(_ctx(training.FRAMEWORK_ID, TF_PART, TRAIN))
    assert isinstance(outcome, CheckOutcome) and outcome.status == "skipped"
    assert str(outcome.message) == f"this submission's framework part is TensorFlow, which is not installed: {training.TF_INSTALL_HINT}"
    assert "pip install 'nn-grader[tensorflow]'" in render(outcome.message, "zh")


# --------------------------------------------------------------------------- numpy.model.backward


def _forward(inputs: dict[str, np.ndarray], w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """The template's h2_log at weights W1, W2 (what a correct student forward sets)."""
    return model_gradient.reference_grads(inputs | {"W1": w1, "W2": w2})["h2_log"]


def _backward_reply(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays a correct myModel gives for the grader's `inputs`."""
    want = model_gradient.reference_grads(inputs)
    arrays = {"h2_log": want["h2_log"], "W1_grad": want["W1_grad"], "W2_grad": want["W2_grad"]}
    for kind, tol in (("64", BACKWARD.tolerance.float64), ("32", BACKWARD.tolerance.float32)):
        h = model_gradient.directional_step(inputs, tol.fd_eps)
        for sign, label in ((1.0, "plus"), (-1.0, "minus")):
            arrays[f"h2_log_{label}{kind}"] = _forward(inputs, inputs["W1"] + sign * h * inputs["D1"], inputs["W2"] + sign * h * inputs["D2"])
    return arrays


SHAPES = {"W1_shape": [785, 100], "W2_shape": [100, 10]}


def _backward(arrays: dict[str, np.ndarray], inputs: dict[str, np.ndarray] | None = None,
              values: dict[str, Any] | None = None) -> CheckOutcome:
    inputs = inputs if inputs is not None else model_gradient.model_inputs(BACKWARD.run_seed)
    ctx = _ctx(model_gradient.CHECK_ID, NUMPY_PART, BACKWARD)
    return _judged(model_gradient.MODEL_BACKWARD, ctx, inputs, SHAPES if values is None else values, arrays)


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    return model_gradient.model_inputs(BACKWARD.run_seed)


@pytest.fixture(scope="module")
def correct(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return _backward_reply(inputs)


def test_the_backward_plan_sends_the_grader_inputs_and_steps() -> None:
    planned = model_gradient.MODEL_BACKWARD.plan(_ctx(model_gradient.CHECK_ID, NUMPY_PART, BACKWARD))
    assert isinstance(planned, Planned) and planned.phase == "backward"
    assert sorted(planned.arrays) == ["D1", "D2", "W1", "W2", "label", "x"] and planned.state is planned.arrays
    assert planned.params.seed == 5
    assert planned.params.fd_step64 == model_gradient.directional_step(planned.arrays, 1e-6)
    assert planned.params.fd_step32 == model_gradient.directional_step(planned.arrays, 1e-2)


def test_a_correct_model_backward_passes_with_gradient_evidence(correct: dict[str, np.ndarray]) -> None:
    outcome = _backward(correct)
    assert outcome.status == "passed", outcome
    assert str(outcome.message) == ("myModel's W1_grad and W2_grad match autograd of -sum(label * log(softmax(relu([x,1] W1) W2))) "
                                    "and a finite difference of your own loss")
    ev = outcome.evidence
    assert isinstance(ev, GradientEvidence) and ev.seed == 5 and ev.notes == ()
    assert [g.name for g in ev.gradients] == ["W2_grad", "W1_grad"]
    assert all(g.vs_autograd.mismatched == 0 and g.rel_err_map and g.rel_err_tol == 1e-6 for g in ev.gradients)
    assert ev.details["batch"] == 7 and ev.details["W1_shape_in_your_model"] == [785, 100]
    directional = ev.details["directional_derivative"]
    assert isinstance(directional, dict) and isinstance(directional["rel_err"], float) and directional["rel_err"] < 1e-4


def test_a_sign_flipped_gradient_fails_with_the_generic_diagnosis(correct: dict[str, np.ndarray]) -> None:
    outcome = _backward(correct | {"W2_grad": -correct["W2_grad"]})
    assert outcome.status == "failed"
    assert re.fullmatch(r"myModel\.backward: W2_grad is wrong: \d+ / 1000 entries differ; worst at \[\d, \d\]: "
                        r"expected -?[0-9.]+, got -?[0-9.]+ \(relative error 2, allowed 1e-06\)", str(outcome.message))
    assert outcome.diagnosis is not None and outcome.diagnosis.id == "compare.diag.sign_flipped"
    assert isinstance(outcome.evidence, GradientEvidence) and [g.name for g in outcome.evidence.gradients] == ["W2_grad"]


def test_a_gradient_of_the_wrong_shape_fails(correct: dict[str, np.ndarray]) -> None:
    outcome = _backward(correct | {"W1_grad": correct["W1_grad"][:784]})
    assert outcome.status == "failed"
    assert str(outcome.message) == "myModel.backward: W1_grad has shape (784, 100), expected (785, 100)"
    assert outcome.diagnosis is not None and outcome.diagnosis.id == "compare.diag.wrong_shape"


def test_a_wrong_gradient_after_a_right_forward_blames_the_backward_chain(correct: dict[str, np.ndarray]) -> None:
    noise = np.random.default_rng(1).normal(size=correct["W1_grad"].shape)
    outcome = _backward(correct | {"W1_grad": correct["W1_grad"] + noise})
    assert outcome.status == "failed" and outcome.diagnosis == model_gradient.CHAIN_HINT
    assert str(outcome.diagnosis).startswith("the forward is right but the backward chain is not: check that backward starts from")


def test_a_wrong_gradient_after_a_wrong_forward_blames_the_forward(correct: dict[str, np.ndarray]) -> None:
    noise = np.random.default_rng(1).normal(size=correct["W1_grad"].shape)
    outcome = _backward(correct | {"h2_log": correct["h2_log"] * 2, "W1_grad": correct["W1_grad"] + noise})
    assert outcome.status == "failed" and outcome.diagnosis is not None
    assert str(outcome.diagnosis) == ("myModel.forward computes something else than log(softmax(relu([x, 1] W1) W2)): "
                                      "check the bias column of ones, the layer order, and that h2_log is the last output")
    assert isinstance(outcome.evidence, GradientEvidence) and isinstance(outcome.evidence.details["h2_log"], dict)


def test_gradients_that_disagree_with_the_own_forward_fail_the_directional_check(correct: dict[str, np.ndarray]) -> None:
    outcome = _backward(correct | {"h2_log_plus64": correct["h2_log_minus64"]})
    assert outcome.status == "failed"
    assert str(outcome.message).startswith("myModel: your gradients predict a loss change of ")
    assert str(outcome.message).endswith(", your forward gives 0 (relative error 1)")
    assert outcome.diagnosis is not None and str(outcome.diagnosis) == (
        "your backward and your forward disagree: the forward probably computes something else than the template")


def test_a_moved_forward_of_the_wrong_shape_fails(correct: dict[str, np.ndarray]) -> None:
    outcome = _backward(correct | {"h2_log_minus64": correct["h2_log_minus64"][:, :9]})
    assert outcome.status == "failed"
    assert str(outcome.message) == "myModel.forward set h2_log of shape (7, 9) for a batch of 7 images; expected (7, 10)"
    assert outcome.diagnosis is not None and outcome.diagnosis.id == "model.h2_log_hint"


def test_the_directional_check_is_skipped_with_a_note_when_no_step_avoids_a_kink(inputs: dict[str, np.ndarray]) -> None:
    kinked = inputs | {"W1": inputs["W1"].copy()}
    kinked["W1"][:, 0] = 0.0  # hidden unit 0 sits on its kink for every image: no kink-free step
    outcome = _backward(_backward_reply(kinked), kinked)
    assert outcome.status == "passed", outcome
    assert isinstance(outcome.evidence, GradientEvidence) and "directional_derivative" not in outcome.evidence.details
    assert [n.id for n in outcome.evidence.notes] == ["model.directional_skipped"]
    assert str(outcome.evidence.notes[0]) == ("the directional finite difference was skipped: a kink-free step (0) "
                                              "is too small for your float64 forward")


@pytest.mark.parametrize(
    "values", [{}, {"W1_shape": [785, 100]}, {"W1_shape": ["785", 100], "W2_shape": [100, 10]},
               {"W1_shape": 785, "W2_shape": [100, 10]}, {"W1_shape": [785.0, 100], "W2_shape": [100, 10]}],
    ids=["nothing", "no-W2_shape", "a-string", "not-a-list", "a-float"],
)
def test_a_backward_reply_with_malformed_values_is_tampered(correct: dict[str, np.ndarray], values: dict[str, Any]) -> None:
    assert _tampered(_backward(correct, values=values))


@pytest.mark.parametrize("missing", ["W1_grad", "W2_grad", "h2_log", "h2_log_plus32", "h2_log_minus64"])
def test_a_backward_reply_without_one_of_its_arrays_is_tampered(correct: dict[str, np.ndarray], missing: str) -> None:
    outcome = _backward({k: v for k, v in correct.items() if k != missing})
    field = {"h2_log_plus32": "step32.plus", "h2_log_minus64": "step64.minus"}.get(missing, missing)  # the typed result's field
    assert _tampered(outcome) and f"value {field!r}" in str(outcome.message)


# --------------------------------------------------------------------------- catalogs and the worker


def test_every_message_of_these_checks_has_both_languages_with_the_same_placeholders() -> None:
    ids = [i for i in catalog("en") if i.startswith(("model.", "training."))]
    assert len(ids) >= 40
    for message_id in ids:
        zh = catalog("zh").get(message_id)
        assert zh is not None and placeholders(zh) == placeholders(catalog("en")[message_id]), message_id


TORCH_MODELS = {
    "good": "class myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n\n"
            "    def forward(self, x):\n        return self.fc(x.reshape(-1, 784))\n",
    "no_forward": "class myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n",
    "no_parameters": "class myModel:\n    def __call__(self, x):\n        return torch.zeros(len(x), 10)\n",
    "returns_tuple": "class myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n\n"
                     "    def forward(self, x):\n        return self.fc(x.reshape(-1, 784)), 1\n",
    # Takes only flattened rows: trained and tested as (N, 784).
    "flat": "class myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n\n"
            "    def forward(self, x):\n        return self.fc(x)\n",
    # Learns only in training mode; in inference mode it answers class 3 for every image.
    "mode_module": "class myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n\n"
                   "    def forward(self, x):\n        if self.training:\n            return self.fc(x.reshape(-1, 784))\n"
                   "        return torch.eye(10)[[3] * len(x)]\n",
    "mode_flag": "class myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n\n"
                 "    def forward(self, x, training=True):\n        if training:\n            return self.fc(x.reshape(-1, 784))\n"
                 "        return torch.eye(10)[[3] * len(x)]\n",
    # A student's own training loop named `train`: model.train() would run it; the grader sets the flags instead.
    "train_method": "class myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n\n"
                    "    def forward(self, x):\n        return self.fc(x.reshape(-1, 784))\n\n"
                    "    def train(self, x, y, epochs=50):\n        raise RuntimeError('my own training loop')\n",
    # Wants (N, 1, 28, 28): rejects both layouts, with a different error each time.
    "conv": "class myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(1, 1, 3, padding=1)\n"
            "        self.fc = nn.Linear(784, 10)\n\n    def forward(self, x):\n        return self.fc(torch.relu(self.conv(x)).flatten(1))\n",
    # Fails the same way whatever the input.
    "typo": "class myModel(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 10)\n\n"
            "    def forward(self, x):\n        return self.fc2(x.reshape(-1, 784))\n",
}


def _framework_run(tmp_path: Path, name: str) -> tuple[CheckContext[Any], Planned[Any], RunResult]:
    from grader.intake import load_submission

    path = tmp_path / "hw.py"
    path.write_text("import torch\nfrom torch import nn\n\n\n" + TORCH_MODELS[name], encoding="utf-8")
    runner = FakeRunner()
    part = load_submission(path, runner=runner).framework_part
    assert part is not None and part.framework == "pytorch"
    ctx = _ctx(training.FRAMEWORK_ID, part, TRAIN.model_copy(update={"epochs": 2, "batch_size": 20}))
    planned = framework_check.FRAMEWORK_TRAIN.plan(ctx)
    assert isinstance(planned, Planned)
    assert framework_check.FRAMEWORK_TRAIN.task is not None
    job = framework_check.FRAMEWORK_TRAIN.task.job(part.units, planned.params, part.supplied_imports)
    return ctx, planned, runner.run(job, planned.arrays, ctx.limits, phase=planned.phase)


def test_the_framework_worker_trains_and_its_reply_validates(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    ctx, planned, result = _framework_run(tmp_path, "good")
    assert result.error is None, result.error
    values = decode_result(FrameworkTrainResult, result.report, result.arrays)
    assert len(values.losses) == 2 and values.n_parameters == 7850 and values.curve is not None
    outcome = evaluate(ctx.check_id, result, lambda: training.judge(ctx, planned.state, Reply(values, result.arrays, result)))
    assert outcome.status in ("passed", "failed") and isinstance(outcome.evidence, TrainingEvidence)
    assert outcome.evidence.test_images == 20 and outcome.evidence.losses == values.losses


@pytest.mark.parametrize(
    ("name", "kind", "message_id", "english"),
    [
        ("no_forward", "missing", "sandbox.no_method",
         "missing: your PyTorch myModel has no forward method; define forward(self, x) returning (N, 10) logits"),
        ("no_parameters", "exception", "training.no_parameters",
         "found no trainable parameters in `myModel` (nn.Parameter, nn.Linear, or tensors with requires_grad=True)"),
        ("returns_tuple", "exception", "training.not_a_tensor",
         "your PyTorch myModel's forward returned tuple; it must return one (20, 10) tensor of logits"),
    ],
    ids=["no-forward", "no-parameters", "returns-a-tuple"],
)
def test_the_framework_worker_names_what_is_wrong_with_the_model(tmp_path: Path, name: str, kind: str, message_id: str, english: str) -> None:
    pytest.importorskip("torch")
    _, _, result = _framework_run(tmp_path, name)
    assert result.error is not None and (result.error.kind, result.error.message.id) == (kind, message_id)
    assert str(result.error.message) == english
    zh = render(result.error.message, "zh")
    assert CJK.search(zh) and set(re.findall(r"[A-Za-z_]{3,}", zh)) <= CODE_WORDS, zh


@pytest.mark.parametrize(("name", "layout", "flag"), [("good", "3d", False), ("flat", "2d", False), ("train_method", "3d", False)],
                         ids=["template-layout", "flattened-only", "own-train-method"])
def test_the_framework_worker_trains_in_the_layout_the_model_takes(tmp_path: Path, name: str, layout: str, flag: bool) -> None:
    pytest.importorskip("torch")
    ctx, planned, result = _framework_run(tmp_path, name)
    assert result.error is None, result.error
    values = decode_result(FrameworkTrainResult, result.report, result.arrays)
    assert (values.layout, values.training_flag, values.module_modes, values.no_layout) == (layout, flag, True, None)
    assert values.test_out is not None and values.test_out.shape == (20, 10) and len(values.losses) == 2


@pytest.mark.parametrize("name", ["mode_module", "mode_flag"])
def test_the_framework_worker_trains_in_training_mode_and_tests_in_inference_mode(tmp_path: Path, name: str) -> None:
    pytest.importorskip("torch")
    _, _, result = _framework_run(tmp_path, name)
    # Training worked, so it ran in training mode (inference mode has no gradient); the test outputs are inference mode's.
    assert result.error is None, result.error
    values = decode_result(FrameworkTrainResult, result.report, result.arrays)
    assert values.training_flag is (name == "mode_flag")
    assert values.test_out is not None and values.test_out.argmax(axis=1).tolist() == [3] * 20


def test_a_model_that_takes_neither_layout_is_reported_as_a_value_and_fails(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    ctx, planned, result = _framework_run(tmp_path, "conv")
    assert result.error is None, result.error
    values = decode_result(FrameworkTrainResult, result.report, result.arrays)
    assert values.no_layout is not None and values.layout is None and values.test_out is None
    outcome = evaluate(ctx.check_id, result, lambda: training.judge(ctx, planned.state, Reply(values, result.arrays, result)))
    assert (outcome.status, outcome.message.id) == ("failed", "training.no_layout")
    assert str(outcome.message) == (
        "myModel accepts neither (N, 28, 28) nor (N, 784) images: called on (20, 28, 28) it raised RuntimeError (hw.py, line 12), "
        "and on (20, 784) it raised RuntimeError (hw.py, line 12); it must take the template's (N, 28, 28) images (or flattened "
        "(N, 784) rows) and return (N, 10) logits (the errors are quoted in the evidence)")
    detail = getattr(outcome.evidence, "detail", "")
    assert "x.shape == (20, 28, 28):" in detail and "x.shape == (20, 784):" in detail and "conv2d" in detail
    zh = render(outcome.message, "zh")
    assert "既不接受" in zh and "RuntimeError" in zh and "hw.py" in zh


def test_a_model_failing_the_same_way_in_both_layouts_says_the_layout_is_not_the_cause(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    _, _, result = _framework_run(tmp_path, "typo")
    assert result.error is not None and (result.error.kind, result.error.message.id) == ("exception", "training.same_error")
    assert str(result.error.message) == (
        "myModel fails on a batch of 20 images as (N, 28, 28) and as (N, 784) alike: it raised AttributeError (hw.py, line 11) both "
        "times, so the input layout is not the cause (the error is quoted in the evidence)")
    assert "'myModel' object has no attribute 'fc2'" in result.error.detail and "internal" not in str(result.error.message)
    assert result.error.location is not None and result.error.location.line == 11
    zh = render(result.error.message, "zh")
    assert CJK.search(zh) and "AttributeError" in zh and "(N, 784)" in zh
