"""framework.model.forward and framework.model.architecture: tiny framework models run in real workers.

Each file in tests/framework_models/ is a one-class submission.  It is probed once
(cached), and both checks judge that one probe, as the pipeline does (ARCHITECTURE
shares FORWARD's run).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.checks.builtin import BUILTIN
from grader.checks.framework_probe.check import ARCHITECTURE, FORWARD
from grader.checks.framework_probe.common import ARCHITECTURE_ID, FORWARD_ID, ProbeBatch
from grader.checks.registry import CheckContext, CheckDef, Planned
from grader.checks.training.judge import TF_INSTALL_HINT, tensorflow_installed
from grader.evidence.probe import ProbeEvidence
from grader.intake import load_submission
from grader.records import CheckOutcome, CodePart, RunResult
from grader.checks.framework_probe.spec import FrameworkCheck
from grader.rubric import CheckSpec
from grader.sandbox.limits import Limits
from grader.sandbox import Job, SubprocessRunner
from grader.text import Message, msg, render, verbatim

MODELS = Path(__file__).resolve().parent / "framework_models"
REAL = Path(__file__).resolve().parent / "real_submissions"
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
def probe_run(name: str) -> tuple[CodePart, RunResult]:
    """Probe tests/framework_models/<name>.py in one worker run (cached: judged again with other specs)."""
    part = load_submission(MODELS / f"{name}.py").framework_part
    assert part is not None, f"{name}.py has no framework myModel"
    return part, run_probe(part)


def run_probe(part: CodePart) -> RunResult:
    plan = planned(FORWARD, context(FORWARD, part))
    assert FORWARD.task is not None
    return SubprocessRunner().run(FORWARD.task.job(part.units, plan.params, part.supplied_imports), plan.arrays, LIMITS, phase=plan.phase)


def judge_run(part: CodePart, result: RunResult, spec: FrameworkCheck = RC) -> Judged:
    """Both checks on one probe, as the pipeline judges them (ARCHITECTURE shares FORWARD's run)."""
    forward_ctx, arch_ctx = context(FORWARD, part, spec, spec), context(ARCHITECTURE, part, spec, spec)
    plan, arch_plan = planned(FORWARD, forward_ctx), planned(ARCHITECTURE, arch_ctx)
    # The architecture plans the very same job: that is why the pipeline may give it the forward's run.
    assert arch_plan.params == plan.params and np.array_equal(arch_plan.arrays["x"], plan.arrays["x"])
    return Judged(judged(FORWARD, forward_ctx, plan.state, result), judged(ARCHITECTURE, arch_ctx, arch_plan.state, result))


def probe(name: str, spec: FrameworkCheck = RC) -> Judged:
    """Probe tests/framework_models/<name>.py (once) and judge it with both checks under `spec`."""
    return judge_run(*probe_run(name), spec)


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
    monkeypatch.setattr("grader.checks.framework_probe.check.tensorflow_installed", lambda: False)
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


def test_model_without_reshape_passes_forward_saying_it_takes_flattened_input_only() -> None:
    judged = probe("torch_no_reshape")
    assert_outcome(judged.forward, "passed",
                   "myModel takes flattened (N, 784) input only; for the template's (6, 28, 28) batch it raises an error "
                   "(quoted in the evidence); for (6, 784) rows it returns finite (6, 10) logits, so the grader probes and "
                   "trains it with flattened rows")
    assert judged.forward.message.id == "framework.forward.passed_flat_only"
    found = evidence(judged.forward)
    assert found.accepted_layouts == ("(N, 784)",) and found.rejected == ("(6, 28, 28)",)
    assert found.output_shapes == {"(6, 28, 28)": None, "(6, 784)": (6, 10)}
    assert found.location is not None and (found.location.file, found.location.line) == ("torch_no_reshape.py", 14)
    assert "mat1 and mat2 shapes cannot be multiplied" in found.detail  # the raw error is evidence, not the message
    assert "mat1" not in str(judged.forward.message)
    zh = render(judged.forward.message, "zh")
    assert "只接受展平的 (N, 784) 输入" in zh and "(6, 28, 28)" in zh and "takes" not in zh
    # The layers are right: the architecture is judged on the (N, 784) instance.
    assert judged.architecture.status == "passed"
    assert evidence(judged.architecture).output_of == "(N, 784)"


def test_a_rubric_requiring_the_template_layout_fails_a_flattened_only_model_naming_the_rejected_shape() -> None:
    judged = probe("torch_no_reshape", RC.model_copy(update={"require_template_layout": True}))
    assert_outcome(judged.forward, "failed",
                   "myModel rejects a batch of images of shape (6, 28, 28) ((6, 784) is accepted): it raised RuntimeError "
                   "(torch_no_reshape.py, line 14) (the error is quoted in the evidence)",
                   "flatten inside the model before the first layer with x = x.reshape(-1, 784) "
                   "(tf.reshape(x, (-1, 784)) in TensorFlow), which accepts both (N, 28, 28) and (N, 784)")
    found = evidence(judged.forward)
    assert found.rejected == ("(6, 28, 28)",) and found.output_shapes == {"(6, 28, 28)": None, "(6, 784)": (6, 10)}
    assert found.location is not None and (found.location.file, found.location.line) == ("torch_no_reshape.py", 14)
    assert found.detail.startswith("x.shape == (6, 28, 28):\n") and "mat1 and mat2 shapes cannot be multiplied" in found.detail
    zh = render(judged.forward.message, "zh")
    assert "不接受形状为 (6, 28, 28) 的图片批次" in zh and "它抛出了 RuntimeError" in zh and "torch_no_reshape.py" in zh
    assert "rejects" not in zh and "mat1" not in zh
    # The layers are right: the architecture is judged on the (N, 784) output.
    assert judged.architecture.status == "passed"
    assert evidence(judged.architecture).output_of == "(N, 784)"


def test_the_pipeline_runs_one_probe_for_both_checks() -> None:
    from grader.pipeline import GradeSettings, MnistCache, run_checks
    from grader.rubric import load_rubric

    class CountingRunner(SubprocessRunner):
        def __init__(self) -> None:
            super().__init__()
            self.tasks: list[Any] = []

        def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Any) -> RunResult:
            self.tasks.append(job.task)
            return super().run(job, arrays, limits, phase=phase)

    def no_mnist() -> Any:
        raise AssertionError("the probe needs no MNIST")

    runner = CountingRunner()
    settings = GradeSettings(rubric=load_rubric(None, BUILTIN), mnist=MnistCache(no_mnist), runner=runner, only=("framework.model.f*", "framework.model.a*"))
    outcomes = {o.id: o for o in run_checks(load_submission(MODELS / "torch_no_b1.py", runner=runner), settings)}
    assert FORWARD.task is not None and runner.tasks.count(FORWARD.task.ref) == 1
    assert (outcomes[FORWARD_ID].status, outcomes[ARCHITECTURE_ID].status) == ("passed", "failed")
    assert outcomes[ARCHITECTURE_ID].message.id == "framework.arch.no_b1"


# --------------------------------------------------------------------------- host-side judging only


X = np.zeros((6, 28, 28), dtype=np.float32)


DROP = object()
"""A value given to fake_probe as DROP is left out of the reply."""


def fake_probe(out: np.ndarray, parameters: dict[str, np.ndarray], **values: Any) -> RunResult:
    """A worker's answer without a worker: the same output for both input shapes and both calls.

    error_3d / error_2d make that layout's call one that raised (with no outputs), shape_3d / shape_2d set what
    its call says it returned; other values replace the reply's own fields (DROP leaves one out)."""
    arrays = {"out_3d": out, "out_2d": out, "out_3d_again": out, "out_2d_again": out}
    arrays |= {f"param{i}": v for i, v in enumerate(parameters.values())}
    calls: list[dict[str, Any]] = []
    for layout in ("3d", "2d"):
        error, shape = values.pop(f"error_{layout}", None), values.pop(f"shape_{layout}", list(out.shape))
        if error is not None:
            del arrays[f"out_{layout}"], arrays[f"out_{layout}_again"]
            calls.append({"call": {"layout": layout, "raised": error}})
        else:
            calls.append({"call": {"layout": layout, "returned": {"type": "Tensor", "shape": shape}},
                          "out": f"out_{layout}", "again": f"out_{layout}_again"})
    # No params_of: the architecture judge reads the (N, 784) output, else the (N, 28, 28) one.
    report = {"batch": 6, "calls": calls, "params": [{"name": name, "value": f"param{i}"} for i, name in enumerate(parameters)]} | values
    return RunResult("framework_probe", arrays=arrays, report=json.dumps({k: v for k, v in report.items() if v is not DROP}))


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
     ({"error_3d": "RuntimeError: mat1 and mat2"}, "error"), ({"params": "fc1.weight"}, "passed"),
     ({"params": DROP}, "passed"), ({"batch": 5}, "error")],
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
        "error", "tampered: the worker's reply has no valid value 'params.2.value' (missing, or of the wrong type); the run is not trusted")


def test_every_message_of_a_failure_is_in_the_catalog_of_both_languages() -> None:
    from grader.text import catalog

    outcomes = [probe(name).forward for name in ("torch_no_reshape", "torch_softmax")]
    outcomes += [probe(name).architecture for name in ("torch_no_relu", "torch_no_b1", "torch_unused_zero_b1", "torch_extra_layer")]
    for outcome in outcomes:
        messages: list[Message] = [m for top in (outcome.message, outcome.diagnosis) if top is not None for m in top.walk()]
        for lang in ("en", "zh"):
            assert all(m.id in catalog(lang) for m in messages), [m.id for m in messages if m.id not in catalog(lang)]


# --------------------------------------------------------------------------- input layouts and inference mode (host side)


def raised(shape: str, text: str = "mat1 and mat2 shapes cannot be multiplied") -> dict[str, Any]:
    """A worker's raw outcome (JSON) of a call that raised RuntimeError(text) on input of `shape`."""
    what = msg("framework.probe.call", shape=shape)
    message = msg("sandbox.raised", what=what, type=verbatim("RuntimeError"), error=verbatim(text))
    error = {"kind": "exception", "phase": "forward", "message": message.model_dump(mode="json"), "traceback": "RuntimeError: mat1 ..."}
    return {"error": error, "exception": "RuntimeError", "text": text}


def test_a_forward_taking_a_training_flag_is_probed_with_training_false_after_eval() -> None:
    judged = probe("torch_training_flag")
    assert_outcome(judged.forward, "passed", LOGITS_PASS)
    assert evidence(judged.forward).inference_mode == ("model.eval()", "training=False")
    assert judged.architecture.status == "passed"


def test_a_model_taking_only_images_passes_and_says_so() -> None:
    x = np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)
    out, params = _two_layer(x)
    result = fake_probe(out, params, error_2d=raised("(6, 784)"))
    outcome = judge_host(FORWARD, result, x)
    assert_outcome(outcome, "passed",
                   "myModel takes (N, 28, 28) images only; for a flattened (6, 784) batch it raises an error (quoted in the evidence); "
                   "for (6, 28, 28) images it returns finite (6, 10) logits")
    assert evidence(outcome).accepted_layouts == ("(N, 28, 28)",) and evidence(outcome).rejected == ("(6, 784)",)
    assert "只接受 (N, 28, 28) 的图片输入" in render(outcome.message, "zh")
    # The template's layout is the one it takes: a rubric requiring it passes it too.
    assert judge_host(FORWARD, result, x, RC.model_copy(update={"require_template_layout": True})).status == "passed"


def test_a_keras_model_returning_rows_per_pixel_row_for_images_takes_flattened_input_only() -> None:
    # Dense without Flatten: (N, 28, 28) gives (N, 28, 10), which is not an answer, but (N, 784) works.
    x = np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)
    out, params = _two_layer(x)
    result = fake_probe(out, params, shape_3d=[6, 28, 10])
    result.arrays["out_3d"] = result.arrays["out_3d_again"] = np.zeros((6, 28, 10))
    outcome = judge_host(FORWARD, result, x)
    assert outcome.status == "passed" and outcome.message.id == "framework.forward.passed_flat_only"
    assert "for the template's (6, 28, 28) batch it returns shape (6, 28, 10);" in str(outcome.message)
    strict = judge_host(FORWARD, result, x, RC.model_copy(update={"require_template_layout": True}))
    assert (strict.status, strict.message.id) == ("failed", "framework.forward.wrong_shape")


def test_a_model_rejecting_both_layouts_says_what_each_call_did_and_quotes_the_errors_as_evidence() -> None:
    result = fake_probe(np.zeros((6, 10)), {}, error_3d=raised("(6, 28, 28)"), error_2d=raised("(6, 784)", "other text"))
    outcome = judge_host(FORWARD, result)
    assert_outcome(outcome, "failed",
                   "myModel rejects both (6, 28, 28) and (6, 784) input: for (6, 28, 28) it raised RuntimeError, and for (6, 784) "
                   "it raised RuntimeError (the errors are quoted in the evidence)",
                   "the forward fails before returning: fix the error quoted in the evidence, and flatten inside the model before "
                   "the first layer with x = x.reshape(-1, 784) (tf.reshape(x, (-1, 784)) in TensorFlow), which accepts both "
                   "(N, 28, 28) and (N, 784)")
    assert evidence(outcome).rejected == ("(6, 28, 28)", "(6, 784)") and "x.shape == (6, 784):" in evidence(outcome).detail
    same = judge_host(FORWARD, fake_probe(np.zeros((6, 10)), {}, error_3d=raised("(6, 28, 28)"), error_2d=raised("(6, 784)")))
    assert (same.status, str(same.message)) == (
        "failed", "myModel fails on (6, 28, 28) and on (6, 784) input alike: it raised RuntimeError both times, so the input layout "
                  "is not the cause (the error is quoted in the evidence)")
    assert "mat1" not in render(same.message, "zh") and "两次都是它抛出了 RuntimeError" in render(same.message, "zh")


def test_when_no_layout_works_the_call_that_returned_something_says_what_is_wrong() -> None:
    result = fake_probe(np.zeros((6, 5)), {}, error_3d=raised("(6, 28, 28)"))
    outcome = judge_host(FORWARD, result)
    assert (outcome.status, outcome.message.id) == ("failed", "framework.forward.wrong_shape")
    assert str(outcome.diagnosis) == "the last layer has 5 outputs; it must have 10, one per digit"


def test_outputs_that_differ_between_two_calls_in_inference_mode_are_diagnosed_as_dropout_left_on() -> None:
    x = np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)
    out, params = _two_layer(x)
    result = fake_probe(out, params, inference={"eval": True, "training_false": False})
    result.arrays["out_3d_again"] = result.arrays["out_2d_again"] = out * 0.5
    forward = judge_host(FORWARD, result, x)
    assert_outcome(forward, "failed",
                   "myModel gives different outputs in two calls on the same (6, 28, 28) batch in inference mode (after model.eval()): "
                   "max difference 0.5 relative to the largest output (allowed 0.0001)",
                   "dropout or random noise is still active in inference mode: use nn.Dropout or F.dropout(x, p, training=self.training), "
                   "which model.eval() turns off; a bare F.dropout(x, p) or torch.randn noise in forward stays on")
    assert evidence(forward).inference_mode == ("model.eval()",)
    assert "推理模式" in render(forward.message, "zh") and "dropout" in render(forward.diagnosis, "zh")  # type: ignore[arg-type]
    architecture = judge_host(ARCHITECTURE, result, x)
    assert (architecture.status, architecture.message.id) == ("failed", "framework.arch.random")
    assert str(architecture.message).endswith("see framework.model.forward")


# --------------------------------------------------------------------------- hidden activations (host side)

PX = np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)
"""A probe batch as the worker gets it (pixels in [0, 1)), for recomputed models."""


def _act(name: str, z: np.ndarray, slope: float = 0.01) -> np.ndarray:
    import math

    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "elu":
        return np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1)
    if name == "gelu":
        return 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    assert name == "gelu_tanh"
    return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))


def _mlp(sizes: tuple[int, ...], acts: str | tuple[str, ...] = "relu", slope: float = 0.01, head: str = "",
         b1: bool = True, names: str = "torch") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The output of a model of len(sizes) - 1 layers on PX, as float32 would compute it, and its parameters
    (nn.Linear's fc{i}.weight (out, in) or the template's W{i} (in, out))."""
    rng = np.random.default_rng(1)
    h = PX.reshape(len(PX), -1).astype(np.float64)
    params: dict[str, np.ndarray] = {}
    layers = len(sizes) - 1
    for i in range(layers):
        w, b = rng.normal(scale=0.1, size=(sizes[i], sizes[i + 1])), rng.normal(scale=0.1, size=sizes[i + 1])
        with_bias = b1 or i > 0
        h = h @ w + (b if with_bias else 0.0)
        if i < layers - 1:
            h = _act(acts if isinstance(acts, str) else acts[i], h, slope)
        if names == "torch":
            params[f"fc{i + 1}.weight"] = w.T
            if with_bias:
                params[f"fc{i + 1}.bias"] = b
        else:
            params[f"W{i + 1}"] = w
            if with_bias:
                params[f"b{i + 1}"] = b
    if head == "log_softmax":
        h = h - h.max(axis=1, keepdims=True)
        h = h - np.log(np.exp(h).sum(axis=1, keepdims=True))
    return h.astype(np.float32).astype(np.float64), params


@pytest.mark.parametrize(
    ("act", "status", "message", "activation"),
    [
        ("tanh", "passed", "myModel computes tanh(x W1 + b1) W2 + b2 with H = 100 hidden units (W1 stored as 100 x 784, the nn.Linear "
         "layout); the hidden activation is tanh, which this rubric accepts (ReLU or tanh)", "tanh"),
        ("sigmoid", "failed", "the hidden activation is sigmoid, not ReLU or tanh: myModel computes sigmoid(x W1 + b1) W2 + b2", "sigmoid"),
        ("leaky_relu", "failed", "the hidden activation is leaky ReLU (slope 0.05), not ReLU or tanh: myModel computes "
         "leaky_relu(x W1 + b1) W2 + b2", "leaky_relu(0.05)"),
        ("elu", "failed", "the hidden activation is ELU (alpha 1), not ReLU or tanh: myModel computes elu(x W1 + b1) W2 + b2", "elu(1)"),
        ("gelu", "failed", "the hidden activation is GELU, not ReLU or tanh: myModel computes gelu(x W1 + b1) W2 + b2", "gelu"),
        ("gelu_tanh", "failed", "the hidden activation is GELU (tanh approximation), not ReLU or tanh: myModel computes "
         "gelu(x W1 + b1) W2 + b2", "gelu (tanh approximation)"),
    ],
)
def test_the_hidden_activation_is_identified_and_judged_by_the_rubric_s_accepted_activations(
        act: str, status: str, message: str, activation: str) -> None:
    out, params = _mlp((784, 100, 10), act, slope=0.05)
    outcome = judge_host(ARCHITECTURE, fake_probe(out, params), PX)
    assert (outcome.status, str(outcome.message)) == (status, message)
    assert evidence(outcome).activation == activation
    if status == "failed":
        assert outcome.message.id == "framework.arch.activation_rejected"
        assert str(outcome.diagnosis) == ("use ReLU or tanh as the hidden activation, as this assignment asks: "
                                          "h = relu(x W1 + b1) (torch.relu / tf.nn.relu)")
        assert render(outcome.message, "zh").startswith("隐藏层的激活函数是 ")
    assert "matches none" not in str(outcome.message)


def test_a_rubric_may_accept_other_activations_or_only_one() -> None:
    out, params = _mlp((784, 100, 10), "sigmoid")
    lenient = judge_host(ARCHITECTURE, fake_probe(out, params), PX, RC.model_copy(update={"accepted_activations": ("relu", "sigmoid")}))
    assert lenient.status == "passed"
    assert str(lenient.message).endswith("; the hidden activation is sigmoid, which this rubric accepts (ReLU or sigmoid)")
    relu_out, relu_params = _mlp((784, 100, 10), "relu")
    strict = judge_host(ARCHITECTURE, fake_probe(relu_out, relu_params), PX, RC.model_copy(update={"accepted_activations": ("tanh",)}))
    assert (strict.status, str(strict.message)) == (
        "failed", "the hidden activation is ReLU, not tanh: myModel computes relu(x W1 + b1) W2 + b2")


def test_a_leaky_relu_slope_is_fitted_under_log_softmax_too() -> None:
    out, params = _mlp((784, 64, 10), "leaky_relu", slope=0.3, head="log_softmax")
    outcome = judge_host(ARCHITECTURE, fake_probe(out, params), PX, RC.model_copy(update={"accepted_activations": ("relu", "leaky_relu")}))
    assert outcome.status == "passed"
    assert str(outcome.message).startswith("myModel computes log_softmax(leaky_relu(x W1 + b1) W2 + b2) with H = 64 hidden units")
    assert "the hidden activation is leaky ReLU (slope 0.3), which this rubric accepts (ReLU or leaky ReLU)" in str(outcome.message)
    assert "斜率 0.3" in render(outcome.message, "zh")


def test_another_activation_and_a_missing_bias_are_both_said() -> None:
    out, params = _mlp((784, 100, 10), "sigmoid", b1=False)
    outcome = judge_host(ARCHITECTURE, fake_probe(out, params), PX)
    assert_outcome(outcome, "failed",
                   "the hidden activation is sigmoid, not ReLU or tanh; the first layer has no bias b1: it computes sigmoid(x W1) W2 + b2",
                   "use ReLU or tanh as the hidden activation, as this assignment asks: h = relu(x W1 + b1) (torch.relu / tf.nn.relu); "
                   f"declare a bias of shape (H,) for the first layer and add it (nn.Linear has one unless bias=False): {FULL}")
    tanh_out, tanh_params = _mlp((784, 100, 10), "tanh", b1=False)
    assert str(judge_host(ARCHITECTURE, fake_probe(tanh_out, tanh_params), PX).message) == (
        "the first layer has no bias b1: it computes tanh(x W1) W2 + b2")


# --------------------------------------------------------------------------- deeper models (host side)


def test_a_three_layer_model_fails_with_its_layers_described() -> None:
    out, params = _mlp((784, 256, 128, 10))
    outcome = judge_host(ARCHITECTURE, fake_probe(out, params), PX)
    assert_outcome(outcome, "failed",
                   "myModel has 3 weight layers, 784 -> 256 -> 128 -> 10, with ReLU between them; the assignment asks for 784 -> H -> 10",
                   "the assignment's model has one hidden layer, relu(x W1 + b1) W2 + b2, with W1 of shape 784 x H and W2 of shape "
                   "H x 10: remove the extra layers")
    found = evidence(outcome)
    assert found.layer_sizes == (784, 256, 128, 10) and found.formula == "relu(relu(x W1 + b1) W2 + b2) W3 + b3"
    assert found.roles["W3"] == "'fc3.weight' (10, 128)"
    assert render(outcome.message, "zh") == "myModel 有 3 个权重层，784 -> 256 -> 128 -> 10，层与层之间是 ReLU；作业要求的是 784 -> H -> 10"


def test_a_five_layer_tanh_model_with_a_square_layer_is_described() -> None:
    out, params = _mlp((784, 128, 128, 64, 32, 10), "tanh", names="tf")
    outcome = judge_host(ARCHITECTURE, fake_probe(out, params), PX)
    assert str(outcome.message) == ("myModel has 5 weight layers, 784 -> 128 -> 128 -> 64 -> 32 -> 10, with tanh between them; "
                                    "the assignment asks for 784 -> H -> 10")


def test_deeper_layers_that_match_no_recomputation_are_still_described_by_their_shapes() -> None:
    out, params = _mlp((784, 100, 50, 10), ("relu", "sigmoid"))
    outcome = judge_host(ARCHITECTURE, fake_probe(out, params), PX)
    assert (outcome.status, str(outcome.message)) == (
        "failed", "myModel has 3 weight layers by their shapes, 784 -> 100 -> 50 -> 10; the assignment asks for 784 -> H -> 10")
    assert evidence(outcome).formula is None and evidence(outcome).max_relative_difference


def step(name: str, *paths: str, everything: bool = False, unknown: bool = False) -> dict[str, Any]:
    return {"name": name, "paths": list(paths), "everything": everything, "unknown": unknown}


@pytest.mark.parametrize(
    ("names", "steps", "clause"),
    [
        ("tf", [step("train_one_step", "W1", "W2", "b1", "b2")],
         "your own training step train_one_step updates only W1, b1, W2, b2: the extra layers are never trained "
         "(W3, b3 keep their initial values)"),
        ("torch", [step("myModel.fit", "fc1", "fc2")],
         "your own training step myModel.fit updates only fc1.weight, fc1.bias, fc2.weight, fc2.bias: the extra layers are "
         "never trained (fc3.weight, fc3.bias keep their initial values)"),
        ("tf", [step("train", "model.W1", "model.b1", "model.W3", "model.b3")],
         "your own training step train updates only W1, b1, W3, b3: W2, b2 are never trained"),
        ("tf", [step("train_one_step", everything=True)], "your own training step train_one_step updates all of these layers"),
        ("tf", [step("train_one_step", "W1", unknown=True)], None),
        ("tf", [step("plot", "figure")], None),
    ],
    ids=["template-list", "layer-objects", "a-middle-layer", "everything", "partly-unreadable", "not-the-model"],
)
def test_the_student_s_own_training_step_says_which_layers_it_trains(names: str, steps: list[dict[str, Any]], clause: str | None) -> None:
    out, params = _mlp((784, 256, 128, 10), names=names)
    outcome = judge_host(ARCHITECTURE, fake_probe(out, params, training_steps=steps), PX)
    message = str(outcome.message)
    first = "myModel has 3 weight layers, 784 -> 256 -> 128 -> 10, with ReLU between them; the assignment asks for 784 -> H -> 10"
    assert message == (first if clause is None else f"{first}; {clause}")
    if clause is not None and "only" in clause:
        zh = render(outcome.message, "zh")
        assert "只更新" in zh and "only" not in zh


def test_training_steps_are_read_from_the_code_with_ast() -> None:
    import ast

    from grader.checks.framework_probe.steps import step_variables

    def listed(source: str) -> tuple[list[str], bool, bool] | None:
        fn = ast.parse(source).body[0]
        assert isinstance(fn, ast.FunctionDef)
        found = step_variables(fn)
        return None if found is None else (found.paths, found.everything, found.unknown)

    template = ("def train_one_step(model, optimizer, x, y):\n    with tf.GradientTape() as tape:\n        loss = f(model(x), y)\n"
                "    trainable_vars = [model.W1, model.W2, model.b1, model.b2]\n    grads = tape.gradient(loss, trainable_vars)\n"
                "    optimizer.apply_gradients(zip(grads, trainable_vars))\n")
    assert listed(template) == (["W1", "W2", "b1", "b2"], False, False)
    assert listed("def step(self):\n    g = tape.gradient(loss, self.trainable_variables)\n") == ([], True, False)
    assert listed("def fit(self):\n    self.opt = torch.optim.SGD(list(self.fc1.parameters()) + [self.fc2.weight], lr=0.1)\n") == (
        ["fc1", "fc2.weight"], False, False)
    assert listed("def fit(m):\n    opt = optim.Adam(m.parameters())\n") == ([], True, False)
    assert listed("def fit(m):\n    opt = optim.Adam(params=[m.layers[0].weight, *extra])\n") == (["layers.0.weight"], False, True)
    assert listed("def train(model, variables):\n    grads = tape.gradient(loss, variables)\n") is None
    assert listed("def evaluate(model):\n    return model(x)\n") is None


@pytest.mark.tensorflow
@needs_tensorflow
def test_a_top_level_template_training_step_of_a_deeper_model_is_read_in_the_worker() -> None:
    import ast

    from grader.records import SourceUnit

    path = REAL / "fw_tf_deep_template_step" / "tf_exercise.py"
    source = path.read_text(encoding="utf-8")
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "train_one_step")
    lines = source.splitlines()[node.decorator_list[0].lineno - 1:node.end_lineno]
    unit = SourceUnit(kind="function", name="train_one_step", source="\n".join(lines) + "\n", file=path.name,
                      line=node.decorator_list[0].lineno)
    part = load_submission(path).framework_part
    assert part is not None
    # Intake keeps only what myModel uses; a top-level training step given to the probe is read, never called.
    with_step = part.model_copy(update={"units": (*part.units, unit)})
    found = judge_run(with_step, run_probe(with_step))
    assert found.forward.status == "passed"
    assert_outcome(found.architecture, "failed",
                   "myModel has 3 weight layers, 784 -> 256 -> 128 -> 10, with ReLU between them; the assignment asks for 784 -> H -> 10; "
                   "your own training step train_one_step updates only W1, b1, W2, b2: the extra layers are never trained "
                   "(W3, b3 keep their initial values)",
                   "the assignment's model has one hidden layer, relu(x W1 + b1) W2 + b2, with W1 of shape 784 x H and W2 of shape "
                   "H x 10: remove the extra layers")
    assert evidence(found.architecture).training_steps == {"train_one_step": ("W1", "W2", "b1", "b2")}


# --------------------------------------------------------------------------- training


@needs_tensorflow
@pytest.mark.slow
@pytest.mark.parametrize("name", ["tf_keras_dense", "tf_variables"])
def test_tensorflow_models_train_with_the_fused_optimiser_past_the_threshold(mnist_dir: Path, name: str) -> None:
    # A Keras model has no weights until its first call; a plain class holds tf.Variables from the start.
    from grader.checks.training.framework_check import FRAMEWORK_TRAIN
    from grader.evidence import TrainingEvidence
    from grader.mnist import load_mnist
    from grader.rubric import TrainingCheck, load_rubric

    rubric = load_rubric(None, BUILTIN).rubric
    spec = rubric.checks.get(FRAMEWORK_TRAIN.id).with_seed(0, FRAMEWORK_TRAIN.id)
    assert isinstance(spec, TrainingCheck)
    part = load_submission(MODELS / f"{name}.py").framework_part
    assert part is not None
    mnist = load_mnist(mnist_dir)
    ctx = CheckContext(check_id=FRAMEWORK_TRAIN.id, part=part, spec=spec, limits=rubric.limits_for(FRAMEWORK_TRAIN.id),
                       mnist=lambda: mnist, earlier={}, specs=lambda check_id: rubric.checks.get(check_id))
    plan = planned(FRAMEWORK_TRAIN, ctx)
    assert FRAMEWORK_TRAIN.task is not None
    result = SubprocessRunner().run(FRAMEWORK_TRAIN.task.job(part.units, plan.params, part.supplied_imports), plan.arrays, ctx.limits,
                                    phase=plan.phase)
    outcome = judged(FRAMEWORK_TRAIN, ctx, plan.state, result)
    assert outcome.status == "passed", str(outcome.message)
    assert isinstance(outcome.evidence, TrainingEvidence) and outcome.evidence.accuracy is not None
    assert outcome.evidence.accuracy > spec.threshold
