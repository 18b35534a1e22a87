"""Which code is which part, graded through the `grade` command on real-style hand-ins (issue 12, patterns 6-8).

tests/real_submissions/parts_*/ are written the way students hand them in: notebooks
with template leftovers, Chinese comments, training cells and prints, `.py` exports
with `# In[3]:` markers and CRLF.  All of them are graded once, as one class.

- Pattern 6: layers that compute with torch tensors, call torch.autograd or open a
  GradientTape are still the numpy part; each such layer fails its check naming the library and the
  method (rubric `numpy_only`, on by default), and the model checks use the staff layer.
- Pattern 7: no framework class named myModel: the framework model of another name
  (TinyModel, MLP) is graded, with a finding that names it.
- Pattern 8: a framework myModel of the function-fitting exercise (1 input feature) or a
  framework notebook rewritten with numpy is not taken as the framework part, and says so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from grader.checks.builtin import BUILTIN
from grader.checks.registry import CheckContext, Planned
from grader.checks.training.judge import tensorflow_installed
from grader.cli import main
from grader.intake import _default_runner, load_submission
from grader.intake.select import narrow_part
from grader.records import CheckOutcome
from grader.pipeline import GradeSettings, MnistCache, grade_submission
from grader.rubric import DEFAULT_RUBRIC, GradientCheck, load_rubric
from grader.sandbox.limits import Limits
from grader.text import Message, render

from .conftest import REPO, result_message
from .test_catalogs import english_prose

pytestmark = pytest.mark.slow

PARTS = REPO / "tests" / "real_submissions"
STUDENTS = sorted(p.name for p in PARTS.glob("parts_*"))
LAYERS = ("numpy.matmul.backward", "numpy.relu.backward", "numpy.softmax.backward", "numpy.log.backward")
MODEL_CHECKS = ("numpy.model.backward", "numpy.model.train")
FRAMEWORK_CHECKS = ("framework.model.forward", "framework.model.architecture", "framework.model.train")
BY_HAND = "this part computes gradients by hand with numpy: use numpy operations only"


# --------------------------------------------------------------------------- grading once


def _class_of(students: list[str], folder: Path) -> Path:
    """A class folder holding copies of `students` (links out of a submission are refused)."""
    for name in students:
        shutil.copytree(PARTS / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Path:
    """Every parts_* submission graded once, as a class, through the CLI; the folder of reports."""
    root = tmp_path_factory.mktemp("parts")
    out = root / "out"
    main([str(_class_of(STUDENTS, root / "class")), "--out", str(out), "--mnist", str(mnist_dir), "--no-color",
          "--jobs", "2", "--seed", "0"])
    return out


def result(graded: Path, student: str) -> dict[str, Any]:
    return json.loads((graded / student / "result.json").read_text(encoding="utf-8"))


def check(res: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in res["checks"] if c["id"] == check_id)


def statuses(res: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in res["checks"]}


def message(fields: dict[str, Any], name: str = "message") -> Message:
    """The Message of result.json's `<name>_id` and `<name>_args` (conftest.result_message)."""
    return result_message(fields, name)


def finding(res: dict[str, Any], message_id: str) -> dict[str, Any]:
    __tracebackhide__ = True
    found = [f for f in res["findings"] if f["message_id"] == message_id]
    assert len(found) == 1, [f["message"] for f in res["findings"]]
    return found[0]


def parts(res: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(p["kind"], p["file"], p["framework"]) for p in res["parts"]]


def assert_chinese(text: str, *names: str) -> None:
    """The Chinese rendering names the same things and holds no English prose."""
    __tracebackhide__ = True
    assert all(name in text for name in names), text
    assert english_prose(text) == [], text


def test_no_check_of_these_submissions_is_an_internal_error(graded: Path) -> None:
    for student in STUDENTS:
        for c in result(graded, student)["checks"]:
            assert "internal" not in c["message_id"], (student, c["id"], c["message"])
            assert "Error" not in c["message"], (student, c["id"], c["message"])  # no raw framework error as the message


# --------------------------------------------------------------------------- pattern 6: layers that compute with torch


def test_torch_tensor_layers_are_graded_as_the_numpy_part_beside_the_pytorch_notebook(graded: Path) -> None:
    res = result(graded, "parts_torch_layers")

    assert parts(res) == [("numpy", "hw4_numpy(torch实现).ipynb", None), ("framework", "hw4_pytorch.ipynb", "pytorch")]
    assert statuses(res) == {**{c: "passed" for c in (*LAYERS, "numpy.softmax.stability", *MODEL_CHECKS, *FRAMEWORK_CHECKS)},
                             "numpy.matmul.backward": "failed", "numpy.relu.backward": "failed",
                             "framework.model.own_step": "passed"}  # advisory: the student's own train_one_step
    assert res["score"] == 80


def test_a_torch_tensor_layer_fails_naming_the_library_and_the_method(graded: Path) -> None:
    res = result(graded, "parts_torch_layers")
    matmul, relu = check(res, "numpy.matmul.backward"), check(res, "numpy.relu.backward")

    assert matmul["message"] == f"Matmul.backward computes with torch (torch.matmul); {BY_HAND}"
    assert relu["message"] == f"Relu.backward computes with torch (torch.as_tensor); {BY_HAND}"
    assert matmul["message_id"] == "layers.library.method" and matmul["diagnosis_id"] == "layers.library.diag"
    assert matmul["diagnosis"].startswith("the layer computes with torch tensors instead of numpy arrays")
    # The forward computes with torch too: a note says so.
    assert [note["id"] for note in matmul["evidence"]["notes"]] == ["layers.library.also_method"]
    assert matmul["evidence"]["details"] == {"library": "torch", "method": "backward", "expression": "torch.matmul",
                                             "location": "hw4_numpy(torch实现).ipynb, cell 2, line 25"}
    assert_chinese(render(message(matmul), "zh"), "Matmul.backward", "torch", "torch.matmul")
    assert_chinese(render(message(matmul, "diagnosis"), "zh"), "torch")


def test_the_model_checks_use_the_staff_layers_for_the_torch_ones(graded: Path) -> None:
    res = result(graded, "parts_torch_layers")

    for check_id in MODEL_CHECKS:
        found = check(res, check_id)
        assert found["status"] == "passed", found["message"]
        assert found["evidence"]["reference_layers"] == ["Matmul", "Relu"]
        assert "graded with the staff solution's Matmul, Relu, because yours did not pass its own check" in found["message"]


def test_one_autograd_call_in_an_otherwise_numpy_relu_fails_that_check_alone(graded: Path) -> None:
    res = result(graded, "parts_autograd_relu")
    relu = check(res, "numpy.relu.backward")

    assert parts(res) == [("numpy", "2152001_hw4.py", None), ("framework", "2152001_hw4.py", "pytorch")]
    assert {c: s for c, s in statuses(res).items() if s != "passed"} == {"numpy.relu.backward": "failed"}
    assert relu["message"] == f"Relu.backward computes with torch (torch.autograd.grad); {BY_HAND}"
    assert relu["diagnosis"] == ("torch.autograd.grad lets the library compute the gradient; "
                                 "this part asks you to derive the gradient and write it with numpy")
    assert relu["evidence"]["details"]["location"] == "2152001_hw4.py, line 62"
    assert_chinese(render(message(relu), "zh"), "Relu.backward", "torch.autograd.grad")
    assert_chinese(render(message(relu, "diagnosis"), "zh"), "torch.autograd.grad")


def test_a_gradient_tape_in_log_backward_names_tensorflow(graded: Path) -> None:
    res = result(graded, "parts_tape_log")
    log = check(res, "numpy.log.backward")

    assert log["status"] == "failed"
    assert log["message"] == f"Log.backward computes with tensorflow (tf.GradientTape); {BY_HAND}"
    assert [statuses(res)[c] for c in (*LAYERS[:3], *MODEL_CHECKS)] == ["passed"] * 5
    assert check(res, "numpy.model.train")["evidence"]["reference_layers"] == ["Log"]
    assert_chinese(render(message(log), "zh"), "Log.backward", "tensorflow", "tf.GradientTape")


def test_layers_in_a_notebook_that_imports_torch_but_computes_with_numpy_pass(graded: Path) -> None:
    res = result(graded, "parts_torch_import_numpy")

    assert set(statuses(res).values()) == {"passed"}, [c["message"] for c in res["checks"] if c["status"] != "passed"]
    assert parts(res) == [("numpy", "hw4.ipynb", None), ("framework", "hw4.ipynb", "pytorch")]


def test_with_numpy_only_off_a_layer_that_calls_autograd_is_graded_by_its_numbers(tmp_path: Path) -> None:
    rubric = tmp_path / "rubric.toml"
    text = DEFAULT_RUBRIC.read_text(encoding="utf-8")
    rubric.write_text(text.replace('[checks."numpy.relu.backward"]\n', '[checks."numpy.relu.backward"]\nnumpy_only = false\n'),
                      encoding="utf-8")
    # The pipeline with this process's intake worker: a CLI run would start a pool for one check.
    settings = GradeSettings(rubric=load_rubric(rubric, BUILTIN), mnist=MnistCache(_no_mnist), runner=_default_runner(),
                             only=("numpy.relu.backward",))

    relu = grade_submission(PARTS / "parts_autograd_relu", settings).checks[0]
    assert (relu.id, relu.status, relu.message.id) == ("numpy.relu.backward", "passed", "layers.passed"), str(relu.message)


@pytest.mark.parametrize("numpy_only", [True, False], ids=["numpy-only", "off"])
def test_the_library_rule_is_decided_before_any_worker_runs(numpy_only: bool) -> None:
    part = load_submission(PARTS / "parts_torch_layers").numpy_part
    assert part is not None
    matmul = BUILTIN.get("numpy.matmul.backward")
    spec = GradientCheck(points=10, seed=0, numpy_only=numpy_only)
    ctx: CheckContext[GradientCheck] = CheckContext(check_id=matmul.id, part=narrow_part(part, ["Matmul"]), spec=spec,
                                                    limits=Limits(), mnist=_no_mnist, earlier={}, specs=lambda _: spec)
    planned = matmul.plan(ctx)

    if numpy_only:
        assert isinstance(planned, CheckOutcome) and planned.message.id == "layers.library.method"
    else:
        assert isinstance(planned, Planned)  # graded by its numbers, as any layer
        assert [u.source for u in ctx.part.units if u.kind == "import"] == ["import numpy as np", "import torch"]


def _no_mnist() -> Any:
    raise AssertionError("a layer check needs no MNIST")


# --------------------------------------------------------------------------- pattern 7: the model under another name


NAMED = [
    pytest.param("parts_alias_tinymodel", "TinyModel", "hw4_numpy_and_torch.ipynb", "pytorch", ["TinyModel", "compute_loss", "compute_accuracy", "train_one_step"],
                 id="torch-TinyModel"),
    pytest.param("parts_alias_mlp_torch", "MLP", "part2_pytorch.py", "pytorch", ["init_weights", "Flat", "MLP", "compute_loss", "compute_accuracy", "train_one_step"],
                 id="torch-MLP"),
    pytest.param("parts_alias_tf_mlp", "MLP", "tf2.0_exercise.ipynb", "tensorflow", ["MLP", "compute_loss", "compute_accuracy", "train_one_step"], id="tf-MLP",
                 marks=(pytest.mark.tensorflow, pytest.mark.skipif(not tensorflow_installed(), reason="needs TensorFlow"))),
]


@pytest.mark.parametrize(("student", "name", "file", "framework", "definitions"), NAMED)
def test_a_framework_model_of_another_name_is_graded_and_named(
        graded: Path, student: str, name: str, file: str, framework: str, definitions: list[str]) -> None:
    res = result(graded, student)
    alias = finding(res, "intake.framework_alias")

    assert [statuses(res)[c] for c in FRAMEWORK_CHECKS] == ["passed"] * 3, [check(res, c)["message"] for c in FRAMEWORK_CHECKS]
    assert res["score"] == 100
    assert (alias["severity"], alias["file"]) == ("info", file)
    assert alias["message"] == f"no framework class is named myModel; graded `{name}` ({file}) as the framework model"
    assert_chinese(render(message(alias), "zh"), f"`{name}`", file, "myModel")
    framework_part = next(p for p in res["parts"] if p["kind"] == "framework")
    assert (framework_part["file"], framework_part["framework"], framework_part["definitions"]) == (file, framework, definitions)
    chosen = finding(res, "intake.chosen_framework")
    title = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}[framework]
    assert chosen["message"] == f"{file}: chosen for the framework part: {name} is a {title} model (no class is named myModel)"


# --------------------------------------------------------------------------- pattern 8: another exercise, a numpy rewrite


FUNCTION_FITTING = "takes 1 input feature, not 784; it looks like the function-fitting exercise; no MNIST framework model found"
NO_FRAMEWORK = {
    "parts_fit_alone_tf": ("tf2.0_exercise.ipynb", "intake.framework_function_fitting",
                           f"myModel in tf2.0_exercise.ipynb {FUNCTION_FITTING}"),
    "parts_fit_alone_keras": ("homework.py", "intake.framework_function_fitting", f"myModel in homework.py {FUNCTION_FITTING}"),
    "parts_numpy_rewrite": ("tf2.0_exercise.ipynb", "intake.framework_numpy_rewrite",
                            "myModel in tf2.0_exercise.ipynb is written with numpy only, not PyTorch or TensorFlow; "
                            "no framework model found"),
}


def test_the_function_fitting_notebook_beside_the_homework_is_skipped_and_says_why(graded: Path) -> None:
    res = result(graded, "parts_fit_beside")
    skipped = [f for f in res["findings"] if f["message_id"] == "intake.skipped_framework"]

    assert parts(res) == [("numpy", "hw4.ipynb", None), ("framework", "hw4.ipynb", "pytorch")]
    assert set(statuses(res).values()) == {"passed"}
    assert [f["message"] for f in skipped] == [
        "function_fitting_torch.ipynb: skipped for the framework part: "
        "myModel takes 1 input feature, not 784: it looks like the function-fitting exercise"]
    assert_chinese(render(message(skipped[0]), "zh"), "function_fitting_torch.ipynb", "myModel", "784")


@pytest.mark.parametrize("student", sorted(NO_FRAMEWORK))
def test_no_mnist_framework_model_is_a_finding_that_says_what_the_framework_notebook_holds(graded: Path, student: str) -> None:
    file, message_id, text = NO_FRAMEWORK[student]
    res = result(graded, student)
    reason = finding(res, message_id)

    assert [p[0] for p in parts(res)] == ["numpy"]
    assert (reason["severity"], reason["file"], reason["message"]) == ("warning", file, text)
    assert not [f for f in res["findings"] if f["message_id"] == "intake.no_framework_part"]
    assert [statuses(res)[c] for c in FRAMEWORK_CHECKS] == ["skipped"] * 3
    assert [statuses(res)[c] for c in (*LAYERS, *MODEL_CHECKS)] == ["passed"] * 6
    assert_chinese(render(message(reason), "zh"), file, "myModel")


@pytest.mark.parametrize("student", sorted(NO_FRAMEWORK))
def test_the_framework_checks_skip_with_the_intakes_reason(graded: Path, student: str) -> None:
    res = result(graded, student)
    _, message_id, text = NO_FRAMEWORK[student]

    for check_id in FRAMEWORK_CHECKS:
        assert (check(res, check_id)["message_id"], check(res, check_id)["message"]) == (message_id, text)
