"""framework.model.own_step through the `grade` CLI: the student's own training step, run on 64 images.

Each tests/real_submissions/own_step_*/ folder is one student's hand-in (a notebook or its .py
export, Chinese comments, the template's top-level training loop that must never run): a correct
PyTorch method with the optimizer made in __init__, a top-level PyTorch step without
optimizer.zero_grad(), the TensorFlow template's step listing only W1 and W2, one whose update
has its sign flipped, and the template's correct top-level train_one_step with Adam.  A hand-in
with no step of its own (train_torch_dropout trains in a loop) is skipped.  They are graded as
one class with --only framework.*, so the other framework checks are seen to be unaffected.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from grader.checks.own_training_step.worker import bind
from grader.cli import main
from grader.text import Message, render

pytestmark = pytest.mark.slow

REAL = Path(__file__).resolve().parent / "real_submissions"
OWN_STEP = "framework.model.own_step"
NUMBER = r"[0-9.]+"

CASES: dict[str, tuple[str, str, str, str | None, str]] = {
    "own_step_torch_ok": (
        "passed", "own_step.passed",
        rf"your training step myModel\.train_step, called 5 times on the same 64 training images, updates every parameter the loss "
        rf"depends on and lowers the grader's cross-entropy on them from {NUMBER} to {NUMBER}", None,
        "你的训练步 myModel.train_step 在同样 64 张训练图像上调用 5 次：更新了损失所依赖的每个参数"),
    "own_step_torch_no_zero_grad": (
        "failed", "own_step.accumulates",
        rf"your training step train_one_step does not clear the gradients: after each call, W1\.grad is that call's gradient plus all "
        rf"the earlier ones \(its norm is {NUMBER} after the first call, {NUMBER} after call 5\)",
        "call optimizer.zero_grad() in each step, before loss.backward(): PyTorch adds every backward pass to .grad",
        "你的训练步 train_one_step 没有清零梯度：每次调用后 W1.grad 都是本次梯度与之前所有梯度之和"),
    "own_step_tf_weights_only": (
        "failed", "own_step.updates_some",
        r"your training step train_one_step updates only W1, W2: b1, b2 keep their initial values in 5 calls, although the loss "
        r"depends on them",
        "update every parameter in the step: take the gradients of model.trainable_variables (TensorFlow) or give the optimizer "
        "model.parameters() (PyTorch), or list b1, b2 too",
        "你的训练步 train_one_step 只更新 W1, W2：调用 5 次后 b1, b2 仍是初始值"),
    "own_step_tf_sign_flip": (
        "failed", "own_step.loss_up",
        rf"in 5 calls of your training step train_one_step on the same 64 training images, the grader's cross-entropy on them went "
        rf"from {NUMBER} to {NUMBER} instead of down",
        "the update goes uphill: subtract the gradient (v.assign_sub(lr * g), p -= lr * p.grad) and minimise the loss itself, "
        "not its negative",
        "评分器在这些图像上的交叉熵从"),
    "own_step_tf_top_level": (
        "passed", "own_step.passed",
        rf"your training step train_one_step, called 5 times on the same 64 training images, updates every parameter the loss "
        rf"depends on and lowers the grader's cross-entropy on them from {NUMBER} to {NUMBER}", None,
        "你的训练步 train_one_step 在同样 64 张训练图像上调用 5 次"),
    "train_torch_dropout": (
        "skipped", "own_step.no_step",
        r"no training step of your own was found in the framework part \(a function or method with \"step\" in its name that "
        r"computes or applies gradients, like the template's train_one_step\); nothing to run", None,
        "框架部分中没有找到你自己的训练步"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The cases graded as one class through the CLI; each student's checks by id, from result.json."""
    klass, out = tmp_path_factory.mktemp("class"), tmp_path_factory.mktemp("grades")
    for name in CASES:
        shutil.copytree(REAL / name, klass / name)
    code = main([str(klass), "--out", str(out), "--mnist", str(mnist_dir), "--no-color", "--only", "framework.*"])
    assert code == 0
    return {name: {c["id"]: c for c in json.loads((out / name / "result.json").read_text(encoding="utf-8"))["checks"]} for name in CASES}


def _zh(check: dict[str, Any]) -> str:
    return render(Message.model_validate({"id": check["message_id"], "args": check["message_args"]}), "zh")


@pytest.mark.parametrize("name", list(CASES))
def test_the_student_s_own_step_is_read_for_what_it_does(graded: dict[str, dict[str, dict[str, Any]]], name: str) -> None:
    status, message_id, english, diagnosis, chinese = CASES[name]
    check = graded[name][OWN_STEP]

    assert (check["status"], check["message_id"]) == (status, message_id)
    assert re.fullmatch(english, check["message"]), check["message"]
    assert check["diagnosis"] == diagnosis
    assert chinese in _zh(check)
    assert check["score"] == 0 and check["max_score"] == 0  # advisory by default: the rubric decides what it costs


@pytest.mark.parametrize("name", [n for n in CASES if n != "train_torch_dropout"])
def test_the_other_framework_checks_pass_beside_it(graded: dict[str, dict[str, dict[str, Any]]], name: str) -> None:
    # Every case's model is right: the step's mistake costs no other check (the intake now keeps the step in the part).
    statuses = {check_id: c["status"] for check_id, c in graded[name].items() if check_id != OWN_STEP}
    assert statuses == {"framework.model.forward": "passed", "framework.model.architecture": "passed", "framework.model.train": "passed"}


def test_the_accumulation_evidence_shows_grad_growing_against_the_fresh_gradient(graded: dict[str, dict[str, dict[str, Any]]]) -> None:
    row = graded["own_step_torch_no_zero_grad"][OWN_STEP]["evidence"]["details"]["parameters"]["W1"]
    after, before, fresh = row["|grad| after each step"], row["|grad| before each step"], row["|grad| from a cleared .grad"]

    assert before[0] == 0 and before[1:] == after[:-1]  # nothing cleared .grad between two calls
    assert after[-1] > 2 * fresh[-1]  # it grew as the sum of the earlier steps' gradients


def test_the_correct_step_clears_its_gradients(graded: dict[str, dict[str, dict[str, Any]]]) -> None:
    row = graded["own_step_torch_ok"][OWN_STEP]["evidence"]["details"]["parameters"]["fc1.weight"]

    assert row["|grad| after each step"] == row["|grad| from a cleared .grad"]


def _parameters(source: str) -> list[inspect.Parameter]:
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # the test's own code, not a student's
    return list(inspect.signature(namespace["f"]).parameters.values())


@pytest.mark.parametrize(
    ("source", "method", "roles", "unbound"),
    [("def f(model, optimizer, x, y): pass", False, ["model", "optimizer", "x", "y"], []),
     ("def f(net, opt, images, labels): pass", False, ["model", "optimizer", "x", "y"], []),
     ("def f(x_batch, y_batch): pass", True, ["x", "y"], []),
     ("def f(a, b, c): pass", True, ["optimizer", "x", "y"], []),
     ("def f(x, y, lr=0.01): pass", True, ["x", "y"], []),
     ("def f(model, x, y, epoch, extra): pass", False, ["model", "x", "y", "optimizer"], ["extra"])],
    ids=["template", "other-names", "method", "positional", "default-left", "too-many"],
)
def test_a_step_s_parameters_are_matched_by_name_then_in_the_template_s_order(source: str, method: bool, roles: list[str],
                                                                               unbound: list[str]) -> None:
    assert bind(_parameters(source), method) == (roles, unbound)
