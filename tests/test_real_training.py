"""framework.model.train on real-style framework models, graded through the `grade` command (issue 12, patterns 1-3, 10).

tests/real_submissions/train_*/ are framework notebooks as students hand them in (`.py`
exports with `# In[3]:` markers, a Markdown report, a notebook, template leftovers,
Chinese comments, top-level training code and prints): models that take only flattened
(N, 784) input, dropout behind a training flag or nn.Dropout, Keras layers built on their
first call, tanh hidden layers, and three broken ones.  All are graded once, as one class,
with `--only framework.model.train`.

- Pattern 1: a model that takes only (N, 784) rows is trained and tested on them, and the
  passed message and the evidence say so.
- Pattern 2: training runs in training mode and the test set in inference mode
  (model.train() / model.eval(), training=True / training=False), and the evidence says how.
- Pattern 3: a Keras model built on its first call is tried on a throwaway instance, so
  the trained one is built for the layout it takes.
- Pattern 10: a model that takes neither layout fails with a sentence in the student's
  terms; the framework's error text is only in the evidence.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from grader.checks.training.judge import tensorflow_installed
from grader.cli import main
from grader.text import Message, render

from .conftest import REPO, result_message
from .test_catalogs import english_prose

pytestmark = pytest.mark.slow

SUBMISSIONS = REPO / "tests" / "real_submissions"
STUDENTS = sorted(p.name for p in SUBMISSIONS.glob("train_*"))
CHECK = "framework.model.train"
PASSED = r"test accuracy 0\.\d{3} >= 0\.75 after 2 epochs of the grader's training"
FLAT = ", on flattened \\(N, 784\\) input: myModel does not accept the template's \\(N, 28, 28\\) images"
MODULE = ("model.train(); model(x)", "model.eval(); model(x)")
PLAIN = ("model(x)", "model(x)")
FLAG = ("model(x, training=True)", "model(x, training=False)")
MODULE_FLAG = ("model.train(); model(x, training=True)", "model.eval(); model(x, training=False)")
TEMPLATE, FLATTENED = "(N, 28, 28)", "(N, 784)"
needs_tensorflow = pytest.mark.skipif(not tensorflow_installed(), reason="the optional TensorFlow extra is not installed")

# Correct models: (input layout, how they were called while training and on the test images).  Each is in
# bench/calibrate.py's SOLUTIONS and passes at seeds 0-4.
CORRECT: dict[str, tuple[str, tuple[str, str]]] = {
    "train_torch_flat": (FLATTENED, MODULE),  # nn.Linear(784, 128) with no reshape: the data was flattened first
    "train_torch_flat_params": (FLATTENED, MODULE),  # raw nn.Parameters and torch.mm
    "train_torch_lazy": (FLATTENED, MODULE),  # nn.LazyLinear: built on its first call, tanh
    "train_torch_dropout": (TEMPLATE, MODULE),  # nn.Sequential(nn.Flatten(), ..., nn.Dropout(0.5), ...)
    "train_torch_dropout_flag": (TEMPLATE, MODULE_FLAG),  # forward(self, x, training=True) with F.dropout (a Markdown report)
    "train_torch_tanh": (TEMPLATE, MODULE),
    "train_tf_flat": (FLATTENED, PLAIN),  # the template's plain class, tf.matmul(x, W1) on flattened data
    "train_tf_dropout_flag": (TEMPLATE, FLAG),  # __call__(self, x, training=True) with tf.nn.dropout
    "train_tf_tanh_key": (TEMPLATE, PLAIN),  # the course's published answer key: tanh, uniform init, trainable_variables list
    "train_tf_sequential": (TEMPLATE, FLAG),  # keras.Model holding Sequential([Flatten(), Dense, Dense])
    "train_tf_sequential_flat": (FLATTENED, PLAIN),  # plain class holding Sequential([Dense, Dense]): built on first call
    "train_keras_dropout": (TEMPLATE, FLAG),  # keras.Model, call(self, x, training=False) with a Dropout layer
    "train_keras_input_shape": (FLATTENED, PLAIN),  # a notebook: Dense(100, activation='tanh', input_shape=(784,))
    "train_keras_sequential_subclass": (FLATTENED, FLAG),  # class myModel(tf.keras.Sequential) with Dropout, no Flatten
}
BROKEN = ("train_torch_conv_neither", "train_tf_neither", "train_torch_fixed_batch")
TENSORFLOW = {name for name in STUDENTS if "_tf_" in name or "keras" in name}


def _marks(name: str) -> Any:
    return pytest.param(name, marks=[pytest.mark.tensorflow, needs_tensorflow]) if name in TENSORFLOW else name


# --------------------------------------------------------------------------- grading once


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Path:
    """Every train_* submission graded once, as a class, through the CLI (Chinese reports); the folder of reports."""
    root = tmp_path_factory.mktemp("training")
    for name in STUDENTS:
        shutil.copytree(SUBMISSIONS / name, root / "class" / name)
    out = root / "out"
    main([str(root / "class"), "--out", str(out), "--mnist", str(mnist_dir), "--no-color", "--jobs", "2", "--only", CHECK,
          "--lang", "zh"])
    return out


def outcome(graded: Path, student: str) -> dict[str, Any]:
    res = json.loads((graded / student / "result.json").read_text(encoding="utf-8"))
    (found,) = [c for c in res["checks"] if c["id"] == CHECK]
    return found  # type: ignore[no-any-return]


def message(fields: dict[str, Any], name: str = "message") -> Message:
    """The Message of result.json's `<name>_id` and `<name>_args` (conftest.result_message)."""
    return result_message(fields, name)


def assert_chinese(text: str, *names: str) -> None:
    """The Chinese rendering names the same things and holds no English prose."""
    __tracebackhide__ = True
    assert re.search(r"[\u4e00-\u9fff]", text) and all(name in text for name in names), text
    assert english_prose(text) == [], text


def test_every_train_submission_is_expected() -> None:
    assert set(STUDENTS) == set(CORRECT) | set(BROKEN)


# --------------------------------------------------------------------------- patterns 1-3: correct models pass


@pytest.mark.parametrize("student", [_marks(n) for n in sorted(CORRECT)])
def test_a_correct_model_passes_in_the_layout_and_modes_it_takes(graded: Path, student: str) -> None:
    found = outcome(graded, student)
    layout, (train_call, test_call) = CORRECT[student]
    flat = layout == FLATTENED
    assert (found["status"], found["message_id"]) == ("passed", "training.passed_flat" if flat else "training.passed"), found["message"]
    assert re.fullmatch(PASSED + (FLAT if flat else ""), found["message"]), found["message"]
    ev = found["evidence"]
    assert (ev["input_layout"], ev["train_call"], ev["test_call"]) == (layout, train_call, test_call)
    assert ev["accuracy"] >= 0.75 and ev["test_images"] == 10000
    zh = render(message(found), "zh")
    assert_chinese(zh, f"{ev['accuracy']:.3f}", *(["(N, 784)", "(N, 28, 28)"] if flat else []))


@pytest.mark.parametrize("student", ["train_torch_flat", _marks("train_tf_sequential_flat")])
def test_the_report_says_the_model_took_flattened_input(graded: Path, student: str) -> None:
    page = (graded / student / "report.html").read_text(encoding="utf-8")
    assert "输入为展平的 (N, 784)" in page and "input_layout" in page


# --------------------------------------------------------------------------- pattern 10: broken models, in the student's terms


def test_a_pytorch_model_that_takes_neither_layout_fails_saying_so(graded: Path) -> None:
    found = outcome(graded, "train_torch_conv_neither")
    assert (found["status"], found["message_id"]) == ("failed", "training.no_layout")
    assert found["message"] == (
        "myModel accepts neither (N, 28, 28) nor (N, 784) images: called on (100, 28, 28) it raised RuntimeError (cnn.py, line 14), "
        "and on (100, 784) it raised RuntimeError (cnn.py, line 14); it must take the template's (N, 28, 28) images (or flattened "
        "(N, 784) rows) and return (N, 10) logits (the errors are quoted in the evidence)")
    ev = found["evidence"]
    # The framework's words are evidence: each call's error under the shape it was called with.
    assert ev["kind"] == "error" and ev["location"] == {"file": "cnn.py", "line": 14, "cell": None}
    assert "x.shape == (100, 28, 28):" in ev["detail"] and "to have 1 channels, but got 100 channels instead" in ev["detail"]
    assert "x.shape == (100, 784):" in ev["detail"] and "input to conv2d, but got input of size: [100, 784]" in ev["detail"]
    assert_chinese(render(message(found), "zh"), "myModel", "(N, 28, 28)", "(N, 784)", "RuntimeError", "cnn.py", "14")


@pytest.mark.tensorflow
@needs_tensorflow
def test_a_tensorflow_model_that_takes_neither_layout_fails_saying_so(graded: Path) -> None:
    found = outcome(graded, "train_tf_neither")
    assert (found["status"], found["message_id"]) == ("failed", "training.no_layout")
    assert found["message"].startswith("myModel accepts neither (N, 28, 28) nor (N, 784) images: called on (100, 28, 28) it raised "
                                       "InvalidArgumentError (tf_wrong_input.py, line 13), and on (100, 784) it raised "
                                       "InvalidArgumentError (tf_wrong_input.py, line 13); ")
    assert "Matrix size-incompatible" not in found["message"]
    assert found["evidence"]["detail"].count("Matrix size-incompatible") == 2
    assert_chinese(render(message(found), "zh"), "既不接受", "InvalidArgumentError", "tf_wrong_input.py")


def test_a_model_failing_alike_in_both_layouts_says_the_layout_is_not_the_cause(graded: Path) -> None:
    found = outcome(graded, "train_torch_fixed_batch")
    assert (found["status"], found["message_id"]) == ("error", "training.same_error")
    assert found["message"] == (
        "myModel fails on a batch of 100 images as (N, 28, 28) and as (N, 784) alike: it raised RuntimeError (mnist_torch.py, "
        "line 16) both times, so the input layout is not the cause (the error is quoted in the evidence)")
    assert "mat1 and mat2 shapes cannot be multiplied (64x1225 and 784x100)" in found["evidence"]["detail"]
    assert_chinese(render(message(found), "zh"), "myModel", "(N, 28, 28)", "(N, 784)", "RuntimeError", "mnist_torch.py")


def test_the_chinese_report_of_a_broken_model_says_what_happened(graded: Path) -> None:
    page = (graded / "train_torch_conv_neither" / "report.html").read_text(encoding="utf-8")
    assert "myModel 既不接受 (N, 28, 28) 也不接受 (N, 784) 的图像" in page and "expected input[1, 100, 28, 28]" in page


@pytest.mark.parametrize("student", [_marks(n) for n in STUDENTS])
def test_no_message_is_an_internal_error_or_a_raw_framework_error(graded: Path, student: str) -> None:
    found = outcome(graded, student)
    assert "internal" not in found["message_id"] and "internal grader error" not in found["message"]
    for raw in ("mat1 and mat2", "Matrix size-incompatible", "channels", "conv2d", "Op:"):
        assert raw not in found["message"], found["message"]
