"""Adding a check is one module: tests/tanh_check.py registers a Tanh layer check, and a submission is graded with it.

The grader itself never names Tanh: the check, its inputs, its known mistakes and
its words (tests/tanh_locale/) all come from that one module.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from grader.checks.builtin import BUILTIN
from grader.cli import main
from grader.rubric import load_rubric

REPO = Path(__file__).resolve().parents[1]
REFERENCE = (REPO / "reference" / "numpy_model.py").read_text(encoding="utf-8")
TANH = '''

class Tanh:
    def __init__(self):
        self.mem = {}

    def forward(self, x):
        y = np.tanh(x)
        self.mem["y"] = y
        return y

    def backward(self, grad_y):
        y = self.mem["y"]
        return grad_y * (1 - y ** 2)
'''
WRONG_LINE = "        return grad_y * (1 - y)\n"


@pytest.fixture
def tanh_check() -> ModuleType:
    """The Tanh check's module (its REGISTRY: the grader's checks and Tanh)."""
    return importlib.import_module("tests.tanh_check")


def write_submission(folder: Path, tanh_source: str) -> Path:
    """A student folder whose hw.py holds the template's four layers, the numpy myModel and a Tanh."""
    folder.mkdir(parents=True)
    (folder / "hw.py").write_text(REFERENCE + tanh_source, encoding="utf-8")
    return folder


def grade(folder: Path, out: Path, mnist_dir: Path, *extra: str) -> dict[str, Any]:
    from tests.tanh_check import REGISTRY

    """`grade` on one submission folder, Tanh and Relu checks only; the check of Tanh from result.json."""
    code = main([str(folder), "--out", str(out), "--mnist", str(mnist_dir), "--seed", "5", "--no-color",
                 "--only", "numpy.tanh.backward", "numpy.relu.backward", *extra], registry=REGISTRY)
    assert code == 0
    result: dict[str, Any] = json.loads((out / folder.name / "result.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in result["checks"]] == ["numpy.relu.backward", "numpy.tanh.backward"]
    return result


def test_a_correct_tanh_passes_with_its_default_points(tanh_check: ModuleType, tmp_path: Path, mnist_dir: Path) -> None:
    result = grade(write_submission(tmp_path / "good", TANH), tmp_path / "out", mnist_dir)
    tanh = result["checks"][1]
    assert (tanh["status"], tanh["score"], tanh["max_score"]) == ("passed", 5.0, 5.0)
    assert tanh["message_id"] == "layers.passed"
    assert tanh["message"].startswith("Tanh.backward matches autograd and finite differences of your forward")
    assert (result["score"], result["max_score"]) == (15.0, 15.0)


def test_a_wrong_tanh_fails_with_its_own_diagnosis_in_both_languages(tanh_check: ModuleType, tmp_path: Path, mnist_dir: Path) -> None:
    wrong = TANH.replace("        return grad_y * (1 - y ** 2)\n", WRONG_LINE)
    folder = write_submission(tmp_path / "wrong", wrong)
    result = grade(folder, tmp_path / "out", mnist_dir, "--lang", "zh")
    relu, tanh = result["checks"]
    assert relu["status"] == "passed"
    assert (tanh["status"], tanh["score"]) == ("failed", 0.0)
    assert tanh["message"].startswith("Tanh.backward: grad_x at the unit input point is wrong: ")
    assert (tanh["diagnosis_id"], tanh["diagnosis"]) == ("tanh.diag.one_minus_y", "the derivative of tanh is 1 - y^2, not 1 - y: square the output")
    assert any(g["rel_err_map"] for g in tanh["evidence"]["gradients"])
    html = (tmp_path / "out" / "wrong" / "report.html").read_text(encoding="utf-8")
    assert "tanh 的导数是 1 - y^2，而不是 1 - y：要对输出取平方" in html
    assert "其中 y = tanh(x) 是最近一次前向传播保存的输出" in html  # the check's hint, from its own catalog


def test_existing_rubrics_keep_working_and_the_check_goes_away_again(tanh_check: ModuleType) -> None:
    assert load_rubric(None, tanh_check.REGISTRY).rubric.checks.get("numpy.tanh.backward").points == 5
    assert "numpy.tanh.backward" not in BUILTIN.ids()
    assert "numpy.tanh.backward" not in load_rubric(None, BUILTIN).rubric.checks.ids()

