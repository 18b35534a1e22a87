"""The in-process FakeRunner gives what the real sandbox gives: same values, arrays, errors and locations.

Each case runs one job through a real worker (SubprocessRunner) and through FakeRunner and compares
the replies field by field; a handler's canned reply is returned as is.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.intake import load_submission
from grader.records import CodePart, RunError, RunResult
from grader.sandbox.limits import Limits
from grader.sandbox import FakeRunner, Job, Runner, SubprocessRunner
from grader.sandbox.isolation import select_isolation
from grader.checks.layer_gradient.worker import TASK as LAYER_TASK
from grader.checks.layer_gradient.worker import LayerGradientParams, LayerGradientResult
from grader.intake.worker.task import TASK as INTAKE, IntakeParams
from grader.sandbox.wire import decode_result
from grader.checks.softmax_stability.worker import TASK as STABILITY, StabilityParams
from grader.text import msg, render

LIMITS = Limits(timeout_s=20, cpu_s=30, memory_mb=1024)
RELU = """import numpy as np

class Relu:
    def __init__(self):
        self.mem = {}

    def forward(self, x):
        self.mem['x'] = x
        return np.where(x > 0, x, np.zeros_like(x))

    def backward(self, grad_y):
        x = self.mem['x']
        return grad_y * (x > 0)
"""


@pytest.fixture(scope="module")
def real() -> SubprocessRunner:
    return SubprocessRunner(isolation=select_isolation("rlimits"))


def numpy_part(folder: Path, source: str, runner: Runner) -> CodePart:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hw.py").write_text(source, encoding="utf-8")
    part = load_submission(folder, runner=runner).numpy_part
    assert part is not None
    return part


def relu_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The inputs of a one-point, one-argument layer_gradient job (see checks/layer_gradient/worker.py)."""
    x = rng.normal(size=(2, 3))
    return {"p0_arg0": x, "p0_gy": rng.normal(size=(2, 3)), "stale_arg0": rng.normal(size=(2, 3)),
            "p0_step64_0": np.full(x.shape, 1e-6), "p0_step32_0": np.full(x.shape, 1e-3)}


def same_reply(fake: RunResult, real: RunResult) -> None:
    """Everything but timings and the run's token is equal."""
    __tracebackhide__ = True
    assert fake.task == real.task
    assert fake.report == real.report and fake.warnings == real.warnings
    assert sorted(fake.arrays) == sorted(real.arrays)
    for name, array in real.arrays.items():
        assert fake.arrays[name].dtype == array.dtype and fake.arrays[name].shape == array.shape, name
        np.testing.assert_array_equal(fake.arrays[name], array, err_msg=name)
    assert fake.error == real.error


def test_intake_in_process_reads_a_submission_as_the_worker_does(tmp_path: Path, real: SubprocessRunner) -> None:
    (tmp_path / "hw.py").write_text(RELU, encoding="utf-8")
    (tmp_path / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    (tmp_path / "notes.md").write_text("```python\ndef f(:\n```\n", encoding="utf-8")
    fake = load_submission(tmp_path, runner=FakeRunner())
    assert fake == load_submission(tmp_path, runner=real)
    assert [str(f.message) for f in fake.findings if f.severity == "error"] == [
        "not a valid notebook: JSON error at line 1: Expecting value; open it in Jupyter and save it again",
        "SyntaxError: invalid syntax (code block at line 1); this block was skipped, the other blocks are still used"]


def test_a_correct_layer_gives_the_real_runners_values_and_arrays(tmp_path: Path, real: SubprocessRunner) -> None:
    part = numpy_part(tmp_path, RELU, real)
    job = LAYER_TASK.job(part.units, LayerGradientParams(layer="Relu", n_args=1, n_points=1), part.supplied_imports)
    inputs = relu_inputs(np.random.default_rng(0))
    from_real = real.run(job, inputs, LIMITS, phase="backward")
    from_fake = FakeRunner().run(job, inputs, LIMITS, phase="backward")
    assert from_real.error is None, from_real.error
    same_reply(from_fake, from_real)
    point = decode_result(LayerGradientResult, from_fake.report, from_fake.arrays).points[0]
    np.testing.assert_array_equal(point.grads[0], inputs["p0_gy"] * (inputs["p0_arg0"] > 0))
    assert from_fake.warnings == ()


BROKEN = {
    "raises": "raise ValueError('bad shape')",
    "exits": "import sys\nsys.exit(3)",
    "forbidden": "raise PermissionError(1, 'Operation not permitted')",
    "returns_text": "return 'grad'",
    "uses_an_undefined_name": "return helper(x)",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_failing_student_method_gives_the_real_runners_error(tmp_path: Path, real: SubprocessRunner, name: str) -> None:
    body = textwrap.indent(BROKEN[name], " " * 8)
    source = f"import numpy as np\n\nclass Softmax:\n    def forward(self, x):\n{body}\n"
    part = numpy_part(tmp_path, source, real)
    job = STABILITY.job(part.units, StabilityParams(), part.supplied_imports)
    inputs = {"x": np.array([[1.0, 2.0, 3.0]])}
    from_real = real.run(job, inputs, LIMITS, phase="forward")
    from_fake = FakeRunner().run(job, inputs, LIMITS, phase="forward")
    assert from_real.error is not None
    same_reply(from_fake, from_real)


def test_a_missing_class_names_what_the_code_defines(tmp_path: Path, real: SubprocessRunner) -> None:
    part = numpy_part(tmp_path, RELU, real)
    job = STABILITY.job(part.units, StabilityParams(), part.supplied_imports)
    from_real = real.run(job, {"x": np.ones((1, 3))}, LIMITS, phase="forward")
    from_fake = FakeRunner().run(job, {"x": np.ones((1, 3))}, LIMITS, phase="forward")
    same_reply(from_fake, from_real)
    assert from_fake.error is not None and (from_fake.error.kind, from_fake.error.phase) == ("missing", "import")
    assert str(from_fake.error.message) == "missing: `Softmax` is not defined in the graded code (found: Relu)"
    assert render(from_fake.error.message, "zh") == "缺失：评分的代码中没有定义 `Softmax`（找到的是：Relu）"


def test_an_exception_carries_its_message_and_its_location(tmp_path: Path) -> None:
    source = "import numpy as np\n\nclass Softmax:\n    def forward(self, x):\n        raise ValueError('bad shape')\n"
    part = numpy_part(tmp_path, source, FakeRunner())
    job = STABILITY.job(part.units, StabilityParams(), part.supplied_imports)
    error = FakeRunner().run(job, {"x": np.ones((1, 3))}, LIMITS, phase="forward").error
    assert error is not None and (error.kind, error.phase) == ("exception", "forward")
    assert str(error.message) == "`Softmax.forward` raised ValueError: bad shape (hw.py, line 5)"
    assert error.message.id == "sandbox.raised_at"
    assert error.location is not None and (error.location.file, error.location.cell, error.location.line) == ("hw.py", None, 5)
    assert 'File "hw.py", line 5, in forward' in error.detail
    # Python's text is quoted, never translated; the sentence around it is.
    assert render(error.message, "zh") == "`Softmax.forward` 抛出了异常 ValueError，异常信息：bad shape（hw.py，第 5 行）"


def test_a_handlers_canned_reply_is_returned_and_none_runs_the_job(tmp_path: Path) -> None:
    canned = RunResult("intake", error=RunError("crash", "intake", msg("sandbox.died", signal="SIGSEGV")))
    (tmp_path / "hw.py").write_text(RELU, encoding="utf-8")
    (tmp_path / "odd.py").write_text("x = 1\n", encoding="utf-8")

    def handler(job: Job, arrays: dict[str, np.ndarray]) -> RunResult | None:
        return canned if "odd.py" in job.params_as(IntakeParams).files else None

    runner = FakeRunner(handler=handler)
    assert runner.run(INTAKE.job((), IntakeParams(files=("odd.py",))), {"f0": np.zeros(0, np.uint8)}, LIMITS,
                      phase="intake") is canned
    submission = load_submission(tmp_path, runner=runner)
    # The whole-submission job failed, so each file was read alone: only odd.py was refused.
    assert [job.params_as(IntakeParams).files for job in runner.jobs[1:]] == [("hw.py", "odd.py"), ("hw.py",), ("odd.py",)]
    [finding] = [f for f in submission.findings if f.severity == "error"]
    assert str(finding.message) == ("odd.py was left out: the process reading it stopped (SIGSEGV): it is far too big or too "
                                    "deeply nested; clear its outputs or split long expressions; the other files are still graded")
    assert submission.numpy_part is not None and submission.numpy_part.file == "hw.py"
    assert all(job.token for job in runner.jobs) and len({job.token for job in runner.jobs}) == len(runner.jobs)


def test_the_fake_runner_says_it_isolates_nothing() -> None:
    runner: Runner = FakeRunner()
    assert runner.isolation.layers == ("in-process",) and runner.isolation.bwrap is None
