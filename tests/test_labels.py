"""Labels tell the truth: what a student's code caused never reads as the grader's own fault.

"internal grader error ... (not your fault)" is kept for real grader bugs. Each case below is the correct
attack-suite base (tests/attacks/zz_correct/homework.py) with one class changed, graded through the CLI:
the checks that use the broken class end in a labelled error (or fail), and the message names the class or
method and says how to fix it; its Chinese is Chinese but for what Python or the student wrote (quoted
verbatim). A worker reply without the values a judge reads is "tampered", for that check alone (replies
are tampered with through the in-process FakeRunner's handler).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from grader.checks.builtin import BUILTIN
from grader.intake import load_submission
from grader.mnist import load_mnist
from grader.records import CheckOutcome, RunResult, Submission
from grader.pipeline import run_checks
from grader.rubric import load_rubric
from grader.sandbox import FakeRunner, Job
from grader.sandbox.fake import run_in_process
from grader.checks.layer_gradient.worker import LayerGradientParams
from grader.settings import GradeSettings, MnistCache
from grader.text import Message, Verbatim, render, verbatim

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
        "the grader creates your PyTorch myModel with no arguments"),
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
    advisory = {"framework.model.own_step"}  # the student's own step: judged in tests/test_own_training_step.py
    assert [cid for cid, c in checks.items() if cid not in case.expect and cid not in advisory and c["status"] != "passed"] == []
    for cid in case.expect:
        message = checks[cid]["message"]
        assert case.names in message, (cid, message)
        parsed = Message.model_validate({"id": checks[cid]["message_id"], "args": checks[cid]["message_args"]})
        assert str(parsed) == message
        chinese, prose = render(parsed, "zh"), render(quotes_blanked(parsed), "zh")
        assert CJK.search(chinese) and not ENGLISH_PROSE.search(prose), chinese


def quotes_blanked(message: Message) -> Message:
    """`message` with every verbatim argument (Python's or the student's own text) emptied, nested ones too."""
    args = {key: quotes_blanked(value) if isinstance(value, Message) else verbatim("") if isinstance(value, Verbatim) else value
            for key, value in message.args.items()}
    return message.model_copy(update={"args": args})


# --------------------------------------------------------------------------- replies that lack what the judge reads

Handler = Callable[[Job, dict[str, np.ndarray]], RunResult | None]
"""FakeRunner's handler: the forged reply to a job (None: run the job in-process, as a worker would)."""


@pytest.fixture(scope="module")
def correct(tmp_path_factory: pytest.TempPathFactory) -> Submission:
    folder = tmp_path_factory.mktemp("correct")
    (folder / "hw.py").write_text(BASE, encoding="utf-8")
    return load_submission(folder, runner=FakeRunner())


def _checks(submission: Submission, mnist_dir: Path, only: tuple[str, ...], handler: Handler | None) -> dict[str, CheckOutcome]:
    """The outcomes of the checks `only` on `submission`, the worker replies given by `handler`."""
    settings = GradeSettings(rubric=load_rubric(None, BUILTIN), mnist=MnistCache(lambda: load_mnist(mnist_dir, download=False)),
                             runner=FakeRunner(handler=handler), seed=1, only=only)
    return {o.id: o for o in run_checks(submission, settings)}


def _failure(outcome: CheckOutcome) -> str | None:
    failure = getattr(outcome.evidence, "failure", None)
    return failure if isinstance(failure, str) else None


def _is_tampered(outcome: CheckOutcome) -> None:
    __tracebackhide__ = True
    assert (outcome.status, _failure(outcome)) == ("error", "tampered"), outcome
    assert str(outcome.message).startswith("tampered: the worker's reply has no valid "), outcome.message
    assert CJK.search(render(outcome.message, "zh")) and not ENGLISH_PROSE.search(render(outcome.message, "zh"))


LAYER_CHECKS = ("numpy.relu.backward", "numpy.matmul.backward")


@pytest.mark.parametrize(
    "malform",
    [
        lambda v, a: v["points"][0].pop("grad_types"),
        lambda v, a: v["points"][0].__setitem__("grad_types", "float64"),
        lambda v, a: v["points"][0].__setitem__("grad_types", [{"type": 3}]),
        lambda v, a: v["points"][1].__setitem__("fd_dtype", 64),
        lambda v, a: a.pop(v["points"][1]["fd"][0]["plus"]),
        lambda v, a: a.__setitem__(v["points"][0]["fd"][0]["minus"], np.zeros(3)),
    ],
    ids=["values-missing", "values-wrong-type", "entry-wrong-type", "dtype-not-a-string", "array-missing", "array-wrong-shape"],
)
def test_a_layer_reply_without_its_values_is_tampered_for_that_check_alone(
    correct: Submission, mnist_dir: Path, malform: Callable[[dict[str, Any], dict[str, np.ndarray]], object]
) -> None:
    def tamper(job: Job, inputs: dict[str, np.ndarray]) -> RunResult | None:
        if not isinstance(job.params, LayerGradientParams) or job.params.layer != "Relu":
            return None
        reply = run_in_process(job, inputs, phase="backward")
        report, arrays = json.loads(reply.report), dict(reply.arrays)  # the grader's own worker's JSON, in a test
        malform(report, arrays)
        return RunResult(reply.task, arrays=arrays, duration_s=reply.duration_s, report=json.dumps(report))

    outcomes = _checks(correct, mnist_dir, LAYER_CHECKS, tamper)
    _is_tampered(outcomes["numpy.relu.backward"])
    assert outcomes["numpy.matmul.backward"].status == "passed", outcomes["numpy.matmul.backward"]


def test_the_untampered_replies_pass(correct: Submission, mnist_dir: Path) -> None:
    outcomes = _checks(correct, mnist_dir, (*LAYER_CHECKS, "framework.model.forward", "framework.model.architecture",
                                            "framework.model.train"), None)
    assert {cid: o.status for cid, o in outcomes.items()} == {
        **{cid: "passed" for cid in LAYER_CHECKS}, "framework.model.forward": "passed", "framework.model.architecture": "passed",
        "framework.model.train": "passed"}


def test_a_training_reply_with_malformed_losses_is_tampered(correct: Submission, mnist_dir: Path) -> None:
    def tamper(job: Job, inputs: dict[str, np.ndarray]) -> RunResult | None:
        return RunResult("numpy_train", report=json.dumps({"losses": "2.3, 1.1", "test_out": "a0"}), arrays={"a0": np.zeros((4, 10))})

    outcomes = _checks(correct, mnist_dir, ("numpy.model.train",), tamper)
    _is_tampered(outcomes["numpy.model.train"])


def _drop_batch(report: dict[str, Any]) -> None:
    del report["batch"]


def _batch_a_string(report: dict[str, Any]) -> None:
    report["batch"] = "6"


def _error_not_an_error(report: dict[str, Any]) -> None:
    report["calls"][0]["call"]["raised"] = 7


def _names_not_a_list(report: dict[str, Any]) -> None:
    report["params"] = "fc1.weight"


@pytest.mark.parametrize(
    ("edit", "forward_tampered"),
    [(_drop_batch, True), (_batch_a_string, True), (_error_not_an_error, True), (_names_not_a_list, False)],
    ids=["no-batch", "batch-a-string", "error-not-an-error", "names-not-a-list"],
)
def test_a_probe_reply_with_malformed_values_is_tampered(correct: Submission, mnist_dir: Path, edit: Callable[[dict[str, Any]], None],
                                                         forward_tampered: bool) -> None:
    """framework.model.forward and .architecture judge one probe reply; each validates what it reads."""

    def tamper(job: Job, inputs: dict[str, np.ndarray]) -> RunResult | None:
        reply = run_in_process(job, inputs, phase="forward")
        report = json.loads(reply.report)
        edit(report)
        return dataclasses.replace(reply, report=json.dumps(report))

    outcomes = _checks(correct, mnist_dir, ("framework.model.forward", "framework.model.architecture"), tamper)
    _is_tampered(outcomes["framework.model.architecture"])
    if forward_tampered:
        _is_tampered(outcomes["framework.model.forward"])
    else:
        assert _failure(outcomes["framework.model.forward"]) != "tampered", outcomes["framework.model.forward"]
