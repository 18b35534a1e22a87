"""framework.model.forward and framework.model.architecture: tiny framework models run in real workers.

Each file in tests/framework_models/ is a one-class submission.  It is probed once
(cached), and both checks judge that one probe, as the pipeline does (ARCHITECTURE
shares FORWARD's run).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.checks.framework_model import ARCHITECTURE, ARCHITECTURE_ID, FORWARD, FORWARD_ID, ProbeBatch
from grader.checks.registry import CheckContext, CheckDef, Planned
from grader.checks.training import TF_INSTALL_HINT, tensorflow_installed
from grader.evidence.probe import ProbeEvidence
from grader.intake import load_submission
from grader.models import CheckOutcome, CodePart, RunResult
from grader.rubric import CheckSpec, FrameworkCheck, Limits
from grader.sandbox import Job, SubprocessRunner
from grader.text import Message, render

MODELS = Path(__file__).resolve().parent / "framework_models"
RC = FrameworkCheck(points=5, seed=7)
LIMITS = Limits(timeout_s=60)
FULL = "relu(x W1 + b1) W2 + b2"
LOGITS_PASS = "myModel accepts (6, 28, 28) and (6, 784) input and returns the same finite (6, 10) logits for both"
needs_tensorflow = pytest.mark.skipif(not tensorflow_installed(), reason="the optional TensorFlow extra is not installed")


# --------------------------------------------------------------------------- running a check as the pipeline does


def context(check: CheckDef[Any, Any, Any], part: CodePart, spec: CheckSpec = RC, forward_spec: CheckSpec = RC) -> CheckContext[Any]:
    """The check's context: its own spec, and `forward_spec` as the seeded spec of framework.model.forward."""
    def specs(check_id: str) -> CheckSpec:
        assert check_id == FORWARD_ID, check_id
        return forward_spec

    def no_mnist() -> Any:
        raise AssertionError("the probe needs no MNIST")

    return CheckContext(check_id=check.id, part=part, spec=spec, limits=LIMITS, mnist=no_mnist, earlier={}, specs=specs)


def judged(check: CheckDef[Any, Any, Any], ctx: CheckContext[Any], state: Any, result: RunResult) -> CheckOutcome:
    """A worker's result judged as the pipeline does (CheckDef.judge_result)."""
    return check.judge_result(ctx, state, result)


def planned(check: CheckDef[Any, Any, Any], ctx: CheckContext[Any]) -> Planned[Any]:
    plan = check.plan(ctx)
    assert isinstance(plan, Planned), plan
    return plan


@dataclass(frozen=True)
class Judged:
    forward: CheckOutcome
    architecture: CheckOutcome


@functools.cache
def probe(name: str) -> Judged:
    """Probe tests/framework_models/<name>.py in one worker run and judge it with both checks."""
    part = load_submission(MODELS / f"{name}.py").framework_part
    assert part is not None, f"{name}.py has no framework myModel"
    forward_ctx, arch_ctx = context(FORWARD, part), context(ARCHITECTURE, part)
    plan = planned(FORWARD, forward_ctx)
    result = SubprocessRunner().run(Job(units=part.units, supplied_imports=part.supplied_imports, params=plan.params),
                                    plan.arrays, LIMITS, phase=plan.phase)
    arch_plan = planned(ARCHITECTURE, arch_ctx)
    # The architecture plans the very same job: that is why the pipeline may give it the forward's run.
    assert arch_plan.params == plan.params and np.array_equal(arch_plan.arrays["x"], plan.arrays["x"])
    return Judged(judged(FORWARD, forward_ctx, plan.state, result), judged(ARCHITECTURE, arch_ctx, arch_plan.state, result))


def evidence(outcome: CheckOutcome) -> ProbeEvidence:
    assert isinstance(outcome.evidence, ProbeEvidence), outcome.evidence
    return outcome.evidence


def assert_outcome(outcome: CheckOutcome, status: str, message: str, diagnosis: str | None = None) -> None:
    __tracebackhide__ = True
    assert (outcome.status, str(outcome.message)) == (status, message)
    assert (None if outcome.diagnosis is None else str(outcome.diagnosis)) == diagnosis


# --------------------------------------------------------------------------- models that pass


def test_nn_linear_model_returning_logits_passes_both_checks() -> None:
    judged = probe("torch_linear")
    assert (judged.forward.id, judged.architecture.id) == (FORWARD_ID, ARCHITECTURE_ID)
    assert_outcome(judged.forward, "passed", LOGITS_PASS)
    assert_outcome(judged.architecture, "passed",
                   f"myModel computes {FULL} with H = 100 hidden units (W1 stored as 100 x 784, the nn.Linear layout)")
    assert evidence(judged.forward).output_kind == "logits"
    assert evidence(judged.architecture).roles == {"W1": "'fc1.weight' (100, 784)", "b1": "'fc1.bias' (100,)",
                                                   "W2": "'fc2.weight' (10, 100)", "b2": "'fc2.bias' (10,)"}
    closeness = evidence(judged.architecture).max_relative_difference[FULL]
    assert isinstance(closeness, float) and closeness < RC.rtol
    assert evidence(judged.architecture).seed == evidence(judged.forward).seed == RC.seed


def test_raw_parameters_stored_784_by_100_pass_in_x_at_w_layout() -> None:
    judged = probe("torch_parameters")
    assert_outcome(judged.forward, "passed", LOGITS_PASS)
    assert_outcome(judged.architecture, "passed", f"myModel computes {FULL} with H = 100 hidden units (W1 stored as 784 x 100)")
    assert evidence(judged.architecture).layout == "tf"
    assert [p.name for p in evidence(judged.architecture).parameters] == ["W1", "b1", "W2", "b2"]


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
    assert evidence(judged.architecture).hidden == 64
    assert evidence(judged.architecture).roles["W1"] == "'net.1.weight' (64, 784)"


def test_unused_extra_layer_passes_and_is_reported() -> None:
    judged = probe("torch_extra_layer")
    assert_outcome(judged.architecture, "passed",
                   f"myModel computes {FULL} with H = 100 hidden units (W1 stored as 100 x 784, the nn.Linear layout); "
                   f"extra parameters not used by {FULL}: ['fc3.weight' (10, 10), 'fc3.bias' (10,)]")
    assert evidence(judged.architecture).extra_parameters == ("'fc3.weight' (10, 10)", "'fc3.bias' (10,)")


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
    assert judged.architecture.message.id == "framework.arch.no_b1"
    assert str(judged.architecture.message) == "the first layer has no bias b1: it computes relu(x W1) W2 + b2"
    assert str(judged.architecture.diagnosis) == f"'b1' (100,) is declared but the forward never adds it as b1: {FULL}"


@pytest.mark.tensorflow
@needs_tensorflow
def test_keras_dense_layers_are_named_by_their_attribute() -> None:
    judged = probe("tf_keras_dense")
    assert judged.architecture.status == "passed"
    assert [p.name for p in evidence(judged.architecture).parameters] == ["fc1.kernel", "fc1.bias", "fc2.kernel", "fc2.bias"]


def test_tensorflow_part_is_skipped_by_both_checks_without_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("grader.checks.framework_model.tensorflow_installed", lambda: False)
    part = CodePart(kind="framework", file="hw.py", framework="tensorflow", units=())
    for check in (FORWARD, ARCHITECTURE):
        outcome = check.plan(context(check, part))
        assert isinstance(outcome, CheckOutcome)
        assert (outcome.id, outcome.status) == (check.id, "skipped")
        # The catalog spells out the install command: it must stay the one the doctor and the CLI print.
        assert str(outcome.message) == f"this submission's framework part is TensorFlow, which is not installed: {TF_INSTALL_HINT}"
        assert "TensorFlow" in render(outcome.message, "zh") and "not installed" not in render(outcome.message, "zh")


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
    assert judged.architecture.message.id == "framework.arch.no_b1"
    assert evidence(judged.architecture).roles["b1"] is None
    assert render(judged.architecture.message, "zh") == "第一层没有偏置 b1：它实际计算的是 relu(x W1) W2 + b2"


def test_model_returning_softmax_probabilities_fails_forward_only() -> None:
    judged = probe("torch_softmax")
    assert_outcome(judged.forward, "failed", "myModel returns softmax probabilities: every row is in [0, 1] and sums to 1",
                   "return the logits (the loss applies softmax itself)")
    assert judged.forward.message.id == "framework.forward.probabilities"
    assert judged.architecture.status == "passed"
    assert str(judged.architecture.message).startswith(f"myModel computes softmax({FULL}) with H = ")
    assert str(judged.architecture.message).endswith("; its output then goes through a softmax, which framework.model.forward reports")


def test_model_without_reshape_fails_forward_naming_the_rejected_shape() -> None:
    judged = probe("torch_no_reshape")
    assert judged.forward.status == "failed"
    message = str(judged.forward.message)
    assert message.startswith(
        "myModel rejects a batch of images of shape (6, 28, 28) ((6, 784) is accepted): "
        "`myModel on input of shape (6, 28, 28)` raised RuntimeError: mat1 and mat2 shapes cannot be multiplied"
    )
    assert message.endswith("(torch_no_reshape.py, line 14)")
    assert str(judged.forward.diagnosis) == (
        "flatten inside the model before the first layer with x = x.reshape(-1, 784) "
        "(tf.reshape(x, (-1, 784)) in TensorFlow), which accepts both (N, 28, 28) and (N, 784)"
    )
    found = evidence(judged.forward)
    assert found.rejected == ("(6, 28, 28)",) and found.output_shapes == {"(6, 28, 28)": None, "(6, 784)": (6, 10)}
    assert found.location is not None and (found.location.file, found.location.line) == ("torch_no_reshape.py", 14)
    # The worker's own words are a nested message: in Chinese the sentence around the student's error is Chinese too.
    zh = render(judged.forward.message, "zh")
    assert "对形状为 (6, 28, 28) 的输入调用 myModel" in zh and "mat1 and mat2 shapes cannot be multiplied" in zh
    assert "rejects" not in zh and "on input of shape" not in zh
    # The layers are right: the architecture is judged on the (N, 784) output.
    assert judged.architecture.status == "passed"
    assert evidence(judged.architecture).output_of == "(N, 784)"


def test_the_pipeline_runs_one_probe_for_both_checks() -> None:
    from grader.pipeline import GradeSettings, MnistCache, run_checks
    from grader.rubric import load_rubric

    class CountingRunner(SubprocessRunner):
        def __init__(self) -> None:
            super().__init__()
            self.tasks: list[str] = []

        def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Any) -> RunResult:
            self.tasks.append(job.task)
            return super().run(job, arrays, limits, phase=phase)

    def no_mnist() -> Any:
        raise AssertionError("the probe needs no MNIST")

    runner = CountingRunner()
    settings = GradeSettings(rubric=load_rubric(), mnist=MnistCache(no_mnist), runner=runner, only=("framework.model.f*", "framework.model.a*"))
    outcomes = {o.id: o for o in run_checks(load_submission(MODELS / "torch_no_b1.py", runner=runner), settings)}
    assert runner.tasks.count("framework_probe") == 1
    assert (outcomes[FORWARD_ID].status, outcomes[ARCHITECTURE_ID].status) == ("passed", "failed")
    assert outcomes[ARCHITECTURE_ID].message.id == "framework.arch.no_b1"


# --------------------------------------------------------------------------- host-side judging only


X = np.zeros((6, 28, 28), dtype=np.float32)


DROP = object()
"""A value given to fake_probe as DROP is left out of the reply."""


def fake_probe(out: np.ndarray, params: dict[str, np.ndarray], **values: Any) -> RunResult:
    """A worker's answer without a worker: the same output for both input shapes."""
    arrays = {"out_3d": out, "out_2d": out} | {f"param{i}": v for i, v in enumerate(params.values())}
    values = {"batch": 6, "shape_3d": list(out.shape), "shape_2d": list(out.shape),
              "param_names": list(params), "param_shapes": [list(v.shape) for v in params.values()]} | values
    return RunResult("framework_probe", {k: v for k, v in values.items() if v is not DROP}, arrays)


def judge_host(check: CheckDef[Any, Any, Any], result: RunResult, x: np.ndarray = X, spec: FrameworkCheck = RC) -> CheckOutcome:
    part = CodePart(kind="framework", file="hw.py", framework="pytorch", units=())
    return judged(check, context(check, part, spec), ProbeBatch(x, RC.run_seed), result)


def test_first_weight_with_a_folded_bias_row_is_reported_with_the_shapes_found() -> None:
    result = fake_probe(np.zeros((6, 10)), {"W1": np.zeros((785, 100)), "W2": np.zeros((100, 10))})
    assert_outcome(judge_host(ARCHITECTURE, result), "failed",
                   "found no 784 x H weight (or H x 784, the nn.Linear layout) among myModel's trainable parameters: "
                   "found ['W1' (785, 100), 'W2' (100, 10)]",
                   "a 785-row W1 folds the bias into the weight as the numpy part does; here use a 784 x H W1 and a separate bias b1")


def test_missing_second_layer_weight_names_the_hidden_size() -> None:
    result = fake_probe(np.zeros((6, 10)), {"W1": np.zeros((784, 100)), "W2": np.zeros((50, 10))})
    outcome = judge_host(ARCHITECTURE, result)
    assert outcome.status == "failed"
    assert str(outcome.message) == ("found no H x 10 weight (or 10 x H) for H = 100 among myModel's trainable parameters: "
                                    "found ['W1' (784, 100), 'W2' (50, 10)]")


def test_several_first_layer_sizes_are_listed_with_or() -> None:
    result = fake_probe(np.zeros((6, 10)), {"A": np.zeros((784, 100)), "B": np.zeros((64, 784)), "W2": np.zeros((50, 10))})
    outcome = judge_host(ARCHITECTURE, result)
    assert str(outcome.message).startswith("found no H x 10 weight (or 10 x H) for H = 64 or 100 among")
    assert "H = 64 或 100 时" in render(outcome.message, "zh")


def test_unflattened_output_shape_fails_forward_with_the_reshape_hint() -> None:
    result = fake_probe(np.zeros((6 * 28, 10)), {})
    outcome = judge_host(FORWARD, result)
    assert outcome.status == "failed"
    assert str(outcome.message) == ("myModel returns shape (168, 10) for input of shape (6, 28, 28); "
                                    "expected (6, 10), one row of 10 digit scores per image")
    assert outcome.diagnosis is not None and str(outcome.diagnosis).startswith("the model did not flatten the images")


def _two_layer(x: np.ndarray, relu: bool = True, b1: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The output of an nn.Linear model (optionally without ReLU or b1) and its parameters, in float64."""
    rng = np.random.default_rng(1)
    w1, bias1, w2, bias2 = rng.normal(size=(100, 784)), rng.normal(size=100), rng.normal(size=(10, 100)), rng.normal(size=10)
    hidden = x.reshape(len(x), -1) @ w1.T + (bias1 if b1 else 0.0)
    out = (np.maximum(hidden, 0) if relu else hidden) @ w2.T + bias2
    params = {"fc1.weight": w1, "fc1.bias": bias1, "fc2.weight": w2, "fc2.bias": bias2}
    return out, params if b1 else {k: v for k, v in params.items() if k != "fc1.bias"}


def test_several_mistakes_are_said_one_after_the_other_ending_with_the_formula() -> None:
    x = np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)
    out, params = _two_layer(x, relu=False, b1=False)
    outcome = judge_host(ARCHITECTURE, fake_probe(out, params), x)
    assert_outcome(outcome, "failed",
                   "the model has no ReLU between the two layers; the first layer has no bias b1: it computes (x W1) W2 + b2",
                   "apply the ReLU to the hidden layer, h = relu(x W1 + b1) (torch.relu / tf.nn.relu), before the second layer; "
                   "without it the two layers collapse into one linear map; "
                   f"declare a bias of shape (H,) for the first layer and add it (nn.Linear has one unless bias=False): {FULL}")
    assert "framework.arch.no_b1" in {m.id for m in outcome.message.walk()}
    assert render(outcome.message, "zh") == "模型的两层之间没有 ReLU；第一层没有偏置 b1：它实际计算的是 (x W1) W2 + b2"


def test_the_architecture_judges_with_its_own_rtol() -> None:
    x = np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)
    out, params = _two_layer(x)
    noisy = out * (1 + 1e-6)  # float32-like rounding: within the default rtol 1e-4, not within 1e-9
    assert judge_host(ARCHITECTURE, fake_probe(noisy, params), x).status == "passed"
    strict = judge_host(ARCHITECTURE, fake_probe(noisy, params), x, RC.model_copy(update={"rtol": 1e-9}))
    assert strict.status == "failed" and strict.message.id == "framework.arch.matches_none"
    assert evidence(strict).rtol == 1e-9
    assert str(strict.message).endswith("(allowed 1e-09)")


@pytest.mark.parametrize(
    ("values", "forward_status"),
    [({"batch": DROP}, "error"), ({"batch": "6"}, "error"), ({"batch": True}, "error"), ({"error_3d": 7}, "error"),
     ({"error_3d": "RuntimeError: mat1 and mat2"}, "error"), ({"param_names": "fc1.weight"}, "passed"),
     ({"param_names": DROP}, "passed"), ({"batch": 5}, "error")],
    ids=["no-batch", "batch-a-string", "batch-a-bool", "error-not-an-error", "error-a-string", "names-not-a-list", "no-names",
         "batch-not-the-one-sent"],
)
def test_a_malformed_reply_is_tampered_for_the_checks_that_read_the_bad_value(values: dict[str, Any], forward_status: str) -> None:
    out = np.random.default_rng(0).normal(size=(6, 10))
    result = fake_probe(out, {}, **values)
    forward, architecture = judge_host(FORWARD, result), judge_host(ARCHITECTURE, result)
    assert architecture.status == "error" and architecture.evidence.kind == "error"
    assert str(architecture.message).startswith("tampered: ")
    assert forward.status == forward_status
    if forward_status == "error":
        assert str(forward.message).startswith("tampered: ")


def test_probe_evidence_reads_back_from_json_even_with_non_finite_differences() -> None:
    out, params = _two_layer(X)
    params["fc2.weight"] = np.full((10, 100), 1e308)  # overflows to inf in the recomputed forward
    with np.errstate(over="ignore", invalid="ignore"):
        outcome = judge_host(ARCHITECTURE, fake_probe(out, params))
    assert outcome.status == "failed"
    assert "nan" in evidence(outcome).max_relative_difference.values()
    assert CheckOutcome.model_validate_json(outcome.model_dump_json()) == outcome


def test_a_missing_parameter_array_is_tampered() -> None:
    out, params = _two_layer(X)
    result = fake_probe(out, params)
    del result.arrays["param2"]
    outcome = judge_host(ARCHITECTURE, result)
    assert (outcome.status, str(outcome.message)) == (
        "error", "tampered: the worker's reply has no valid array 'param2' (missing, or of the wrong type); the run is not trusted")


def test_every_message_of_a_failure_is_in_the_catalog_of_both_languages() -> None:
    from grader.text import catalog

    outcomes = [probe(name).forward for name in ("torch_no_reshape", "torch_softmax")]
    outcomes += [probe(name).architecture for name in ("torch_no_relu", "torch_no_b1", "torch_unused_zero_b1", "torch_extra_layer")]
    for outcome in outcomes:
        messages: list[Message] = [m for top in (outcome.message, outcome.diagnosis) if top is not None for m in top.walk()]
        for lang in ("en", "zh"):
            assert all(m.id in catalog(lang) for m in messages), [m.id for m in messages if m.id not in catalog(lang)]


# --------------------------------------------------------------------------- training


@needs_tensorflow
@pytest.mark.slow
@pytest.mark.parametrize("name", ["tf_keras_dense", "tf_variables"])
def test_tensorflow_models_train_with_the_fused_optimiser_past_the_threshold(mnist_dir: Path, name: str) -> None:
    # A Keras model has no weights until its first call; a plain class holds tf.Variables from the start.
    from grader.checks.training import FRAMEWORK_TRAIN
    from grader.evidence import TrainingEvidence
    from grader.mnist import load_mnist
    from grader.rubric import TrainingCheck, load_rubric

    rubric = load_rubric().rubric
    spec = rubric.checks.get(FRAMEWORK_TRAIN.id).with_seed(0, FRAMEWORK_TRAIN.id)
    assert isinstance(spec, TrainingCheck)
    part = load_submission(MODELS / f"{name}.py").framework_part
    assert part is not None
    mnist = load_mnist(mnist_dir)
    ctx = CheckContext(check_id=FRAMEWORK_TRAIN.id, part=part, spec=spec, limits=rubric.limits_for(FRAMEWORK_TRAIN.id),
                       mnist=lambda: mnist, earlier={}, specs=lambda check_id: rubric.checks.get(check_id))
    plan = planned(FRAMEWORK_TRAIN, ctx)
    result = SubprocessRunner().run(Job(units=part.units, supplied_imports=part.supplied_imports, params=plan.params),
                                    plan.arrays, ctx.limits, phase=plan.phase)
    outcome = judged(FRAMEWORK_TRAIN, ctx, plan.state, result)
    assert outcome.status == "passed", str(outcome.message)
    assert isinstance(outcome.evidence, TrainingEvidence) and outcome.evidence.accuracy is not None
    assert outcome.evidence.accuracy > spec.threshold
