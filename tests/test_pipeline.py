"""Planning a submission's checks: selection, seeds, and the staff layers that stand in for failed ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.intake import _default_runner, load_submission
from grader.models import CheckOutcome, Phase, RunResult
from grader.pipeline import GradeSettings, MnistCache, _Plan
from grader.rubric import Limits, load_rubric
from grader.sandbox import Job
from grader.sandbox.isolation import Isolation


class NoRunner:
    """A runner for plans that must not start any check worker (files are still read by the intake worker)."""

    isolation = Isolation(("rlimits",))

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        if job.task == "intake":
            return _default_runner().run(job, arrays, limits, phase=phase)
        raise AssertionError("no worker should start here")


def no_mnist() -> object:
    raise AssertionError("MNIST should not be needed here")


def settings(**overrides: object) -> GradeSettings:
    return GradeSettings(rubric=load_rubric(), mnist=MnistCache(no_mnist), runner=NoRunner(), **overrides)  # type: ignore[arg-type]


def test_failed_layer_is_replaced_by_the_staff_one_and_numpy_is_supplied(tmp_path: Path) -> None:
    (tmp_path / "hw.py").write_text(
        "import numpy\nclass Relu:\n    def forward(self, x):\n        return numpy.maximum(x, 0)\n"
        "    def backward(self, g):\n        return g\nclass myModel:\n    W = numpy.zeros(3)\n",
        encoding="utf-8",
    )
    sub = load_submission(tmp_path)
    plan = _Plan(sub, settings())
    plan.outcomes.append(CheckOutcome(id="numpy.relu.backward", status="failed", message="wrong"))
    part, replaced = plan._with_reference_layers(sub.numpy_part)
    assert part is not None and replaced == ("Relu",)
    relu = part.unit("Relu")
    assert relu is not None and relu.file == "numpy_model.py" and "def backward" in relu.source
    assert part.unit("myModel") == sub.numpy_part.unit("myModel")  # type: ignore[union-attr]
    assert "import numpy as np" in part.supplied_imports


@pytest.mark.parametrize(
    ("only", "self_check", "check_id", "selected"),
    [((), False, "numpy.model.train", True),
     (("numpy.*",), False, "framework.model.train", False),
     (("numpy.*", "framework.model.forward"), False, "framework.model.forward", True),
     ((), True, "numpy.relu.backward", True)],
    ids=["all", "glob-excludes", "second-glob", "self-check-public"],
)
def test_only_and_self_check_select_checks(tmp_path: Path, only: tuple[str, ...], self_check: bool, check_id: str, selected: bool) -> None:
    (tmp_path / "hw.py").write_text("class Relu: pass\n", encoding="utf-8")
    plan = _Plan(load_submission(tmp_path), settings(only=only, self_check=self_check))
    assert plan._selected(check_id) is selected


def test_unpinned_checks_derive_distinct_seeds_from_the_run_seed() -> None:
    checks = load_rubric().rubric.checks
    a = checks.numpy_relu_backward.with_seed(7, "numpy.relu.backward").run_seed
    b = checks.numpy_log_backward.with_seed(7, "numpy.log.backward").run_seed
    again = checks.numpy_relu_backward.with_seed(7, "numpy.relu.backward").run_seed
    assert a != b and a == again
    assert checks.numpy_model_train.with_seed(7, "numpy.model.train").run_seed == 0  # pinned in the rubric
