"""Labels tell the truth: what a student's code caused never reads as the grader's own fault.

"internal grader error ... (not your fault)" is kept for real grader bugs. Each case below is the correct
attack-suite base (tests/attacks/zz_correct/homework.py) with one class changed, graded through the CLI:
the checks that use the broken class end in a labelled error (or fail), and the message names the class or
method and says how to fix it. A worker reply without the values a judge reads is "tampered", for that
check alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from grader.checks import training
from grader.checks.framework_model import judge_architecture, judge_forward
from grader.checks.gradients import check_layer
from grader.checks.layers import LAYERS
from grader.checks.outcome import evaluate
from grader.intake import load_submission
from grader.intake.select import narrow_part
from grader.models import CheckOutcome, Phase, RunResult
from grader.reports.i18n import translate
from grader.rubric import Limits, load_rubric
from grader.sandbox import Job, SubprocessRunner
from grader.sandbox.isolation import select_isolation

BASE = (Path(__file__).resolve().parent / "attacks" / "zz_correct" / "homework.py").read_text(encoding="utf-8")
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_PROSE = re.compile(r"\b[a-z]+(?: [a-z]+){3,}\b")
"""Four or more lowercase English words in a row: a clause the Chinese report would leave in English."""

TORCH_FORWARD = """    def forward(self, x):
        x = x.reshape(-1, 28 * 28)
        h1 = F.relu(self.fc1(x))
        return self.fc2(h1)
"""
RELU_BACKWARD_RETURN = "        return grad_y * (x > 0)\n"


def _changed(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


@dataclass(frozen=True)
class Case:
    """One changed class, the checks it costs, and what they must say."""

    source: str
    only: str
    """--only pattern: the checks that use the changed class."""
    expect: dict[str, tuple[str, str | None]]
    """check id -> (status, evidence.failure) of each selected check."""
    names: str
    """A phrase every one of those checks' messages contains: the class or method."""
    translated: bool = True
    """Whether the messages are wholly the grader's text (not Python's), so their Chinese must be complete."""


FRAMEWORK = ("framework.model.forward", "framework.model.architecture", "framework.model.train")
CASES = {
    "torch_model_without_forward": Case(
        _changed(TORCH_FORWARD, ""), "framework.*",
        {cid: ("error", "missing") for cid in FRAMEWORK},
        "has no forward method; define forward(self, x) returning (N, 10) logits"),
    "numpy_model_without_backward": Case(
        _changed("    def backward(self, label):\n", "    def backward_(self, label):\n"), "numpy.model.*",
        {"numpy.model.backward": ("error", "missing"), "numpy.model.train": ("error", "missing")},
        "your numpy myModel has no backward method; define backward(self, label)"),
    "torch_forward_returns_a_tuple": Case(
        _changed("        return self.fc2(h1)\n", "        return self.fc2(h1), h1\n"), "framework.model.train",
        {"framework.model.train": ("error", "exception")},
        "myModel's forward returned tuple; it must return one (100, 10) tensor of logits"),
    "torch_init_takes_an_argument": Case(
        _changed("    def __init__(self):\n        super(myModel", "    def __init__(self, hidden):\n        super(myModel"),
        "framework.*", {cid: ("error", "exception") for cid in FRAMEWORK},
        "the grader creates your PyTorch myModel with no arguments", translated=False),
    "relu_backward_returns_a_string": Case(
        _changed(RELU_BACKWARD_RETURN, "        return 'grad'\n"), "numpy.relu.backward",
        {"numpy.relu.backward": ("error", "exception")}, "`Relu.backward` returned str"),
    "relu_forward_returns_a_tuple": Case(
        _changed("        return np.where(x > 0, x, np.zeros_like(x))\n", "        return np.where(x > 0, x, 0.0), x > 0\n"),
        "numpy.*.backward", {"numpy.relu.backward": ("failed", None)}, "Relu.forward returned shape (2, 3, 4)"),
    "relu_replaces_a_numpy_function": Case(
        _changed("class Relu:\n", "class Relu:\n    np.stack = lambda *arrays, **kwargs: 1 / 0\n\n"), "numpy.relu.backward",
        {"numpy.relu.backward": ("error", "exception")}, "while the grader was using it (did it replace a numpy or torch function?)"),
    "relu_without_backward": Case(
        _changed("""    def backward(self, grad_y):
        '''
        grad_y: same shape as x
        '''
        x = self.mem['x']
        return grad_y * (x > 0)
""", ""), "numpy.relu.backward",
        {"numpy.relu.backward": ("error", "missing")}, "your Relu has no backward method; define backward(self, grad_y)"),
}


def _grade(grade: Any, tmp_path: Path, case: Case) -> dict[str, Any]:
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "homework.py").write_text(case.source, encoding="utf-8")
    run = grade(tmp_path / "student", "--out", tmp_path / "out", "--only", case.only, "--seed", "1")
    assert run.code == 0, run.err
    text = (tmp_path / "out" / "student" / "result.json").read_text(encoding="utf-8")
    assert "internal grader error" not in text and "not your fault" not in text
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_broken_class_costs_labelled_checks_whose_message_names_it(grade, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    case = CASES[name]
    result = _grade(grade, tmp_path, case)
    checks = {c["id"]: c for c in result["checks"]}
    assert {cid: (c["status"], c["evidence"].get("failure")) for cid, c in checks.items() if cid in case.expect} == case.expect
    assert [cid for cid, c in checks.items() if cid not in case.expect and c["status"] != "passed"] == []
    for cid in case.expect:
        message = checks[cid]["message"]
        assert case.names in message, (cid, message)
        if case.translated:
            chinese = translate(message, "zh")
            assert CJK.search(chinese) and not ENGLISH_PROSE.search(chinese), chinese


# --------------------------------------------------------------------------- replies that lack what the judge reads


class Canned:
    """A Runner that runs the first job in a real worker, then answers every job with `reply` when it is set."""

    isolation = select_isolation("rlimits")

    def __init__(self) -> None:
        self.reply: RunResult | None = None

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        if self.reply is None:
            self.reply = SubprocessRunner(isolation=self.isolation).run(job, arrays, limits, phase=phase)
        return self.reply


@pytest.fixture(scope="module")
def relu_check(tmp_path_factory: pytest.TempPathFactory) -> tuple[Callable[[RunResult], CheckOutcome], RunResult]:
    """numpy.relu.backward of the correct base with a fixed seed, judging any reply; and the real reply."""
    folder = tmp_path_factory.mktemp("relu")
    (folder / "hw.py").write_text(BASE, encoding="utf-8")
    part = load_submission(folder).numpy_part
    assert part is not None
    spec = next(s for s in LAYERS if s.name == "Relu")
    rc = load_rubric().rubric.checks.gradient(spec.check_id).with_seed(1, spec.check_id)
    runner = Canned()

    def judge(reply: RunResult) -> CheckOutcome:
        runner.reply = reply
        return check_layer(spec, narrow_part(part, ["Relu"]), rc, Limits(timeout_s=20), runner)

    assert check_layer(spec, narrow_part(part, ["Relu"]), rc, Limits(timeout_s=20), runner).status == "passed"
    assert runner.reply is not None
    return judge, runner.reply


@pytest.mark.parametrize(
    "malform",
    [
        lambda v, a: v.pop("p0_grad_types"),
        lambda v, a: v.__setitem__("p0_grad_types", "float64"),
        lambda v, a: v.__setitem__("p0_grad_types", [{"type": 3}]),
        lambda v, a: v.__setitem__("p1_fd_dtype", 64),
        lambda v, a: a.pop("p1_fd_plus0"),
        lambda v, a: a.__setitem__("p0_fd_minus0", np.zeros(3)),
    ],
    ids=["values-missing", "values-wrong-type", "entry-wrong-type", "dtype-not-a-string", "array-missing", "array-wrong-shape"],
)
def test_a_layer_reply_without_its_values_is_tampered_for_that_check_alone(
    relu_check: tuple[Callable[[RunResult], CheckOutcome], RunResult], malform: Callable[[dict[str, Any], dict[str, np.ndarray]], object]
) -> None:
    judge, reply = relu_check
    values, arrays = dict(reply.values), dict(reply.arrays)
    malform(values, arrays)
    outcome = judge(RunResult(reply.task, values, arrays, None, reply.duration_s))
    assert (outcome.status, outcome.evidence["failure"]) == ("error", "tampered")
    assert outcome.message.startswith("tampered: the worker's reply has no valid ")
    assert CJK.search(translate(outcome.message, "zh"))


def test_a_training_reply_with_malformed_losses_is_tampered() -> None:
    rc = load_rubric().rubric.checks.numpy_model_train.with_seed(0, training.NUMPY_ID)
    reply = RunResult("numpy_train", values={"losses": "2.3, 1.1"}, arrays={"test_out": np.zeros((4, 10))})
    outcome = evaluate(training.NUMPY_ID, reply, lambda: training._judge(training.NUMPY_ID, reply, rc, np.zeros(4), 10))
    assert (outcome.status, outcome.evidence["failure"]) == ("error", "tampered")


@pytest.mark.parametrize(
    "values",
    [{}, {"batch": "6"}, {"batch": 6, "error_3d": 7}, {"batch": 6, "param_names": "fc1.weight"}],
    ids=["no-batch", "batch-a-string", "error-not-a-string", "names-not-a-list"],
)
def test_a_probe_reply_with_malformed_values_is_tampered(values: dict[str, Any]) -> None:
    """framework.model.forward and .architecture judge one probe reply; each reads its own values."""
    x = np.zeros((6, 28, 28), dtype=np.float32)
    out = np.random.default_rng(0).normal(size=(6, 10))
    reply = RunResult("framework_probe", values=values, arrays={"out_3d": out, "out_2d": out})
    rc = load_rubric().rubric.checks.framework_model_architecture.with_seed(0, "framework.model.architecture")
    outcomes = [judge_forward(reply), judge_architecture(reply, x, rc)]
    if "batch" in values and isinstance(values["batch"], int) and "error_3d" not in values:
        outcomes = outcomes[1:]  # the forward judge needs only the batch and the outputs
    assert {(o.status, o.evidence.get("failure")) for o in outcomes} == {("error", "tampered")}
