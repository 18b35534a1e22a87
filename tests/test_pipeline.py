"""The pipeline as a loop over the check registry: selection, seeds, missing parts and classes, staff layers
standing in for failed ones, a shared worker run, an invalid reply, and a grader bug costing one check."""

from __future__ import annotations

import json

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.checks.builtin import BUILTIN
from grader.checks.registry import Registry
from grader.checks.registry import CheckContext, CheckDef, Planned, Reply
from grader.intake import _default_runner, load_submission
from grader.intake.worker.task import TASK as INTAKE
from grader.records import CheckOutcome, Phase, RunResult
from grader.pipeline import GradeSettings, MnistCache, _Run, run_checks
from grader.rubric import AdvisoryCheck, load_rubric
from grader.sandbox.limits import Limits
from grader.sandbox import Job
from grader.sandbox.isolation import Isolation
from grader.checks.softmax_stability.worker import TASK as STABILITY_TASK
from grader.checks.softmax_stability.worker import StabilityParams
from grader.sandbox.wire import TaskResult
from grader.text import msg


class ScriptedRunner:
    """Check workers answer from a script (files are still read by the real intake worker)."""

    isolation = Isolation(("rlimits",))

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.jobs: list[Job] = []
        self.answer = answer

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        if job.task == INTAKE.ref:
            return _default_runner().run(job, arrays, limits, phase=phase)
        if self.answer is None:
            raise AssertionError("no worker should start here")
        self.jobs.append(job)
        return RunResult(job.task_name, report=json.dumps(self.answer))


def no_mnist() -> object:
    raise AssertionError("MNIST should not be needed here")


def settings(runner: object | None = None, registry: Registry = BUILTIN, **overrides: object) -> GradeSettings:
    return GradeSettings(rubric=load_rubric(None, registry), mnist=MnistCache(no_mnist), runner=runner or ScriptedRunner(), **overrides)  # type: ignore[arg-type]


class _Values(TaskResult):
    answer: int


def _plan(ctx: CheckContext[AdvisoryCheck]) -> Planned[None]:
    return Planned(params=StabilityParams(), arrays={}, phase="forward", state=None)


def _judge(ctx: CheckContext[AdvisoryCheck], state: None, reply: Reply[_Values]) -> CheckOutcome:
    if reply.values.answer == 13:
        raise RuntimeError("simulated grader bug")
    return CheckOutcome(id=ctx.check_id, status="passed", message=msg("pipeline.no_numpy"))


@pytest.fixture
def probe_checks() -> Registry:
    """Two test checks on Relu, the second judging the first one's run."""
    first = CheckDef(id="test.probe.first", part="numpy", needs=("Relu",), spec=AdvisoryCheck, default=AdvisoryCheck(),
                     plan=_plan, result=_Values, judge=_judge, task=STABILITY_TASK)
    second = CheckDef(id="test.probe.second", part="numpy", needs=("Relu",), spec=AdvisoryCheck, default=AdvisoryCheck(),
                      plan=_plan, result=_Values, judge=_judge, task=STABILITY_TASK, share_run="test.probe.first", after=("test.probe.first",))
    return Registry([*BUILTIN, first, second])


def _relu_file(tmp_path: Path) -> Path:
    (tmp_path / "hw.py").write_text("import numpy as np\nclass Relu:\n    def forward(self, x):\n        return np.maximum(x, 0)\n",
                                    encoding="utf-8")
    return tmp_path


def test_failed_layer_is_replaced_by_the_staff_one_and_numpy_is_supplied(tmp_path: Path) -> None:
    (tmp_path / "hw.py").write_text(
        "import numpy\nclass Relu:\n    def forward(self, x):\n        return numpy.maximum(x, 0)\n"
        "    def backward(self, g):\n        return g\nclass myModel:\n    W = numpy.zeros(3)\n",
        encoding="utf-8",
    )
    sub = load_submission(tmp_path)
    run = _Run(sub, settings())
    run.outcomes["numpy.relu.backward"] = CheckOutcome(id="numpy.relu.backward", status="failed", message=msg("pipeline.no_numpy"))
    assert sub.numpy_part is not None
    part, replaced = run.with_staff_layers(BUILTIN.get("numpy.model.backward"), sub.numpy_part)
    assert replaced == ("Relu",)
    relu = part.unit("Relu")
    assert relu is not None and relu.file == "numpy_model.py" and "def backward" in relu.source
    assert part.unit("myModel") == sub.numpy_part.unit("myModel")
    assert "import numpy as np" in part.supplied_imports
    # A layer check itself never runs with the staff layer.
    assert run.with_staff_layers(BUILTIN.get("numpy.relu.backward"), sub.numpy_part) == (sub.numpy_part, ())


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
    run = _Run(load_submission(tmp_path), settings(only=only, self_check=self_check))
    assert run.selected(check_id) is selected


def test_unpinned_checks_derive_distinct_seeds_from_the_run_seed() -> None:
    checks = load_rubric(None, BUILTIN).rubric.checks
    a = checks.get("numpy.relu.backward").with_seed(7, "numpy.relu.backward").run_seed
    b = checks.get("numpy.log.backward").with_seed(7, "numpy.log.backward").run_seed
    again = checks.get("numpy.relu.backward").with_seed(7, "numpy.relu.backward").run_seed
    assert a != b and a == again
    assert checks.get("numpy.model.train").with_seed(7, "numpy.model.train").run_seed == 0  # pinned in the rubric


def test_registry_order_is_the_report_order_and_respects_dependencies() -> None:
    ids = [c.id for c in BUILTIN.ordered()]
    assert ids[:4] == ["numpy.matmul.backward", "numpy.relu.backward", "numpy.softmax.backward", "numpy.log.backward"]
    for check in BUILTIN.ordered():
        assert all(ids.index(dep) < ids.index(check.id) for dep in (*check.after, *filter(None, [check.share_run])))
    assert load_rubric(None, BUILTIN).rubric.checks.ids() == tuple(ids)  # the rubric's [checks] table is derived from the registry


def test_a_check_depending_on_an_unregistered_one_is_refused() -> None:
    orphan = CheckDef(id="test.orphan", part="numpy", needs=(), spec=AdvisoryCheck, default=AdvisoryCheck(), plan=_plan,
                      result=_Values, judge=_judge, after=("test.nowhere",))
    with pytest.raises(ValueError, match="'test.nowhere', which is not registered yet"):
        Registry(BUILTIN).register(orphan)


def test_missing_parts_and_classes_cost_their_checks_only(tmp_path: Path) -> None:
    outcomes = {o.id: o for o in run_checks(load_submission(_relu_file(tmp_path)), settings(only=("numpy.matmul.backward", "framework.*")))}
    assert outcomes["numpy.matmul.backward"].status == "error"
    assert str(outcomes["numpy.matmul.backward"].message) == "missing: class `Matmul` is not defined in hw.py"
    assert outcomes["numpy.matmul.backward"].evidence.kind == "error"
    assert {o.status for i, o in outcomes.items() if i.startswith("framework")} == {"skipped"}
    assert outcomes["framework.model.forward"].message.id == "pipeline.no_framework"


def test_a_shared_run_is_one_worker_job_judged_twice(tmp_path: Path, probe_checks: Registry) -> None:
    runner = ScriptedRunner({"answer": 1})
    outcomes = run_checks(load_submission(_relu_file(tmp_path)), settings(runner, probe_checks, only=("test.probe.*",)))
    assert [(o.id, o.status) for o in outcomes] == [("test.probe.first", "passed"), ("test.probe.second", "passed")]
    assert len(runner.jobs) == 1
    assert [u.name for u in runner.jobs[0].units if u.kind == "class"] == ["Relu"]  # narrowed to what the check needs


def test_an_invalid_reply_is_tampered_for_that_check_alone(tmp_path: Path, probe_checks: Registry) -> None:
    runner = ScriptedRunner({"answer": "not a number"})
    outcomes = run_checks(load_submission(_relu_file(tmp_path)), settings(runner, probe_checks, only=("test.probe.first",)))
    assert [(o.status, o.message.id) for o in outcomes] == [("error", "outcome.tampered_reply")]
    assert str(outcomes[0].message).startswith("tampered: the worker's reply has no valid value 'answer'")


def test_a_grader_bug_in_a_judge_costs_one_check(tmp_path: Path, probe_checks: Registry) -> None:
    runner = ScriptedRunner({"answer": 13})
    outcomes = run_checks(load_submission(_relu_file(tmp_path)), settings(runner, probe_checks, only=("test.probe.*", "numpy.matmul.backward")))
    by_id = {o.id: o for o in outcomes}
    assert by_id["test.probe.first"].status == "error" and by_id["test.probe.first"].message.id == "grader.internal_error"
    assert "simulated grader bug" in str(by_id["test.probe.first"].message)
    assert by_id["test.probe.first"].evidence.kind == "error" and "RuntimeError" in by_id["test.probe.first"].evidence.detail
    assert by_id["numpy.matmul.backward"].message.id == "pipeline.missing_class"  # the next check still ran
