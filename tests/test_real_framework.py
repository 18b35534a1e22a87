"""Real-style framework parts graded through the CLI: input layouts, inference mode, activations, deeper models.

Each tests/real_submissions/fw_*/ folder is one student's hand-in, written as students
write them (notebook exports with `# In[3]:` cells, Markdown reports, a notebook with
outputs, template leftovers, prints, top-level training code that must never run).
They are graded as two classes, once per module: the layout and inference-mode cases
with the training check (the grader must train them in the layout they take), the
activation and depth cases with the two probe checks only.  Every verdict is checked
in English, by message id, and in Chinese for the thing it names.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from grader.cli import main
from grader.text import Message, render

pytestmark = pytest.mark.slow

REAL = Path(__file__).resolve().parent / "real_submissions"
FORWARD, ARCHITECTURE, TRAIN = "framework.model.forward", "framework.model.architecture", "framework.model.train"

LAYOUTS = ("fw_torch_flat_only", "fw_torch_dropout", "fw_torch_tanh", "fw_tf_flat_only", "fw_tf_dropout_layer", "fw_tf_keras_function",
           "fw_tf_keras_no_flatten", "fw_tf_tanh_key")
"""Correct models (patterns 1-3, and the course's tanh answer key): every framework check passes, training included."""
SHAPES = ("fw_torch_dropout_always", "fw_torch_sigmoid", "fw_torch_leaky", "fw_torch_elu", "fw_torch_gelu", "fw_torch_3layer",
          "fw_torch_4layer", "fw_tf_leaky", "fw_tf_deep_template_step", "fw_tf_deep_method_step")
"""Models the architecture check fails (patterns 4 and 5, and dropout left on in inference mode)."""

BOTH = "myModel accepts (6, 28, 28) and (6, 784) input and returns the same finite (6, 10) logits for both"
DEEP_HINT = ("the assignment's model has one hidden layer, relu(x W1 + b1) W2 + b2, with W1 of shape 784 x H and W2 of shape H x 10: "
             "remove the extra layers")
ACTIVATION_HINT = "use ReLU or tanh as the hidden activation, as this assignment asks: h = relu(x W1 + b1) (torch.relu / tf.nn.relu)"


def _grade(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path, names: tuple[str, ...], *only: str) -> dict[str, dict[str, Any]]:
    """Grade `names` as one class through the CLI; each student's checks by id, from result.json."""
    klass = tmp_path_factory.mktemp("class")
    for name in names:
        shutil.copytree(REAL / name, klass / name)
    out = tmp_path_factory.mktemp("grades")
    code = main([str(klass), "--out", str(out), "--mnist", str(mnist_dir), "--no-color", "--only", *only])
    assert code == 0
    results = {}
    for name in names:
        result = json.loads((out / name / "result.json").read_text(encoding="utf-8"))
        results[name] = {c["id"]: c for c in result["checks"]}
    return results


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> dict[str, dict[str, Any]]:
    return _grade(tmp_path_factory, mnist_dir, LAYOUTS, "framework.*")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> dict[str, dict[str, Any]]:
    return _grade(tmp_path_factory, mnist_dir, SHAPES, FORWARD, ARCHITECTURE)


def zh(check: dict[str, Any], field: str = "message") -> str:
    """The check's message (or diagnosis) rendered in Chinese from result.json's id and arguments."""
    return render(Message.model_validate({"id": check[f"{field}_id"], "args": check[f"{field}_args"]}), "zh")


def verdict(check: dict[str, Any]) -> tuple[str, str, str | None]:
    return check["status"], check["message"], check["diagnosis"]


# --------------------------------------------------------------------------- patterns 1-3: layouts, inference mode, Keras


@pytest.mark.parametrize("name", LAYOUTS)
def test_a_correct_model_passes_every_framework_check_whatever_its_layout_and_mode(layouts: dict[str, dict[str, Any]], name: str) -> None:
    checks = layouts[name]
    # (framework.model.own_step, advisory, is judged in tests/test_own_training_step.py)
    assert {k: c["status"] for k, c in checks.items() if k != "framework.model.own_step"} == {
        FORWARD: "passed", ARCHITECTURE: "passed", TRAIN: "passed"}
    assert all("internal grader error" not in c["message"] and "matches none" not in c["message"] for c in checks.values())


@pytest.mark.parametrize(
    ("name", "why"),
    [("fw_torch_flat_only", "raises an error (quoted in the evidence)"), ("fw_tf_flat_only", "raises an error (quoted in the evidence)"),
     ("fw_tf_keras_no_flatten", "returns shape (6, 28, 10)")],
)
def test_a_model_taking_flattened_input_only_passes_forward_saying_so(layouts: dict[str, dict[str, Any]], name: str, why: str) -> None:
    forward = layouts[name][FORWARD]
    assert verdict(forward) == (
        "passed", f"myModel takes flattened (N, 784) input only; for the template's (6, 28, 28) batch it {why}; for (6, 784) rows "
                  "it returns finite (6, 10) logits, so the grader probes and trains it with flattened rows", None)
    assert forward["message_id"] == "framework.forward.passed_flat_only"
    assert forward["evidence"]["accepted_layouts"] == ["(N, 784)"]
    if "raises" in why:  # the student's error is evidence, under the sentence; never the message
        assert forward["evidence"]["rejected"] == ["(6, 28, 28)"] and forward["evidence"]["detail"]
        assert "Error" not in forward["message"]
    text = zh(forward)
    assert "只接受展平的 (N, 784) 输入" in text and "(6, 28, 28)" in text and "flattened" not in text
    assert layouts[name][ARCHITECTURE]["evidence"]["output_of"] == "(N, 784)"


@pytest.mark.parametrize(("name", "mode"), [("fw_torch_dropout", ["model.eval()"]), ("fw_tf_dropout_layer", ["training=False"])])
def test_dropout_behind_the_inference_mode_passes_the_probe(layouts: dict[str, dict[str, Any]], name: str, mode: list[str]) -> None:
    forward, architecture = layouts[name][FORWARD], layouts[name][ARCHITECTURE]
    assert verdict(forward) == ("passed", BOTH, None)
    assert forward["evidence"]["inference_mode"] == mode
    assert forward["evidence"]["details"]["relative_difference_between_calls_(6, 28, 28)"] == 0
    assert architecture["message"].startswith("myModel computes relu(x W1 + b1) W2 + b2 with H = ")


def test_a_keras_sequential_built_on_its_first_call_passes_both_layouts(layouts: dict[str, dict[str, Any]]) -> None:
    checks = layouts["fw_tf_keras_function"]
    assert verdict(checks[FORWARD]) == ("passed", BOTH, None)
    assert checks[FORWARD]["evidence"]["accepted_layouts"] == ["(N, 28, 28)", "(N, 784)"]
    assert checks[ARCHITECTURE]["message"] == "myModel computes relu(x W1 + b1) W2 + b2 with H = 100 hidden units (W1 stored as 784 x 100)"


@pytest.mark.parametrize(("name", "layout"), [("fw_torch_tanh", "W1 stored as 784 x 100"), ("fw_tf_tanh_key", "W1 stored as 784 x 100")])
def test_a_tanh_model_like_the_course_s_answer_key_passes_and_is_named(layouts: dict[str, dict[str, Any]], name: str, layout: str) -> None:
    architecture = layouts[name][ARCHITECTURE]
    assert verdict(architecture) == (
        "passed", f"myModel computes tanh(x W1 + b1) W2 + b2 with H = 100 hidden units ({layout}); "
                  "the hidden activation is tanh, which this rubric accepts (ReLU or tanh)", None)
    assert architecture["evidence"]["activation"] == "tanh"
    assert "tanh(x W1 + b1) W2 + b2" in zh(architecture) and "本评分标准接受它" in zh(architecture)


def test_a_model_still_random_in_inference_mode_is_diagnosed(shapes: dict[str, dict[str, Any]]) -> None:
    forward, architecture = shapes["fw_torch_dropout_always"][FORWARD], shapes["fw_torch_dropout_always"][ARCHITECTURE]
    assert forward["status"] == "failed" and forward["message_id"] == "framework.forward.random"
    assert forward["message"].startswith("myModel gives different outputs in two calls on the same (6, 28, 28) batch in inference "
                                         "mode (after model.eval()): max difference ")
    assert forward["diagnosis"].startswith("dropout or random noise is still active in inference mode: use nn.Dropout")
    assert "推理模式" in zh(forward) and "model.eval()" in zh(forward) and "F.dropout(x, p)" in zh(forward, "diagnosis")
    assert (architecture["status"], architecture["message_id"]) == ("failed", "framework.arch.random")


# --------------------------------------------------------------------------- pattern 4: hidden activations


@pytest.mark.parametrize(
    ("name", "found", "formula", "zh_name"),
    [("fw_torch_sigmoid", "sigmoid", "sigmoid", "sigmoid"), ("fw_torch_leaky", "leaky ReLU (slope 0.1)", "leaky_relu", "斜率 0.1"),
     ("fw_tf_leaky", "leaky ReLU (slope 0.2)", "leaky_relu", "斜率 0.2"), ("fw_torch_elu", "ELU (alpha 1)", "elu", "ELU"),
     ("fw_torch_gelu", "GELU (tanh approximation)", "gelu", "tanh 近似")],
)
def test_an_activation_the_rubric_does_not_accept_fails_naming_it(shapes: dict[str, dict[str, Any]], name: str, found: str,
                                                                   formula: str, zh_name: str) -> None:
    forward, architecture = shapes[name][FORWARD], shapes[name][ARCHITECTURE]
    assert verdict(forward) == ("passed", BOTH, None)
    assert verdict(architecture) == (
        "failed", f"the hidden activation is {found}, not ReLU or tanh: myModel computes {formula}(x W1 + b1) W2 + b2", ACTIVATION_HINT)
    assert architecture["message_id"] == "framework.arch.activation_rejected"
    text = zh(architecture)
    assert text.startswith("隐藏层的激活函数是 ") and zh_name in text and "ReLU 或 tanh" in text


# --------------------------------------------------------------------------- pattern 5: deeper models


@pytest.mark.parametrize(
    ("name", "count", "sizes"),
    [("fw_torch_3layer", 3, "784 -> 256 -> 128 -> 10"), ("fw_torch_4layer", 4, "784 -> 512 -> 256 -> 128 -> 10"),
     ("fw_tf_deep_template_step", 3, "784 -> 256 -> 128 -> 10")],
)
def test_a_deeper_model_fails_the_architecture_with_its_layers_described(shapes: dict[str, dict[str, Any]], name: str, count: int,
                                                                         sizes: str) -> None:
    architecture = shapes[name][ARCHITECTURE]
    assert shapes[name][FORWARD]["status"] == "passed"
    first = f"myModel has {count} weight layers, {sizes}, with ReLU between them; the assignment asks for 784 -> H -> 10"
    assert architecture["status"] == "failed" and architecture["diagnosis"] == DEEP_HINT
    # fw_tf_deep_template_step's step is a top-level function, which intake does not (yet) give the framework part:
    # with it, the message goes on with what it trains (tests/test_framework_model.py runs that in a worker).
    assert architecture["message"] == first or architecture["message"].startswith(first + "; your own training step train_one_step")
    assert architecture["message_id"] == "framework.clauses" or architecture["message_id"] == "framework.arch.deep"
    assert architecture["evidence"]["layer_sizes"] == [int(s) for s in sizes.split(" -> ")]
    assert f"myModel 有 {count} 个权重层，{sizes}" in zh(architecture) and "作业要求的是 784 -> H -> 10" in zh(architecture)


def test_extra_layers_the_student_s_own_step_never_trains_are_named(shapes: dict[str, dict[str, Any]]) -> None:
    architecture = shapes["fw_tf_deep_method_step"][ARCHITECTURE]
    assert verdict(architecture) == (
        "failed", "myModel has 4 weight layers, 784 -> 300 -> 100 -> 50 -> 10, with ReLU between them; the assignment asks for "
                  "784 -> H -> 10; your own training step myModel.train_one_step updates only W1, b1, W2, b2: the extra layers are "
                  "never trained (W3, b3, W4, b4 keep their initial values)", DEEP_HINT)
    assert architecture["evidence"]["training_steps"] == {"myModel.train_one_step": ["W1", "b1", "W2", "b2"]}
    text = zh(architecture)
    assert "只更新 W1, b1, W2, b2" in text and "多余的层从未被训练" in text and "W3, b3, W4, b4" in text
