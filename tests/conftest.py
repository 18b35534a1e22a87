"""Shared fixtures: where MNIST is, running the `grade` command in-process, and skips that CI refuses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.cli import main
from grader.errors import DataError
from grader.intake.worker.outline import class_outline
from grader.mnist import mnist_folder
from grader.records import ClassOutline, RunResult
from grader.text import Message

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"


def in_ci() -> bool:
    """Whether this is a CI run (CI=true, as .ci/run and CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_or_skip(condition: bool, reason: str, *, xfail: bool = False) -> None:
    """Go on when `condition` holds; else skip the test (xfail it with `xfail=True`), but fail it in CI.

    CI installs bubblewrap and Chromium (.ci/run), so there a missing one is a broken
    machine to fix, not an optional piece to skip past: the test fails with `reason`.
    """
    __tracebackhide__ = True
    if condition:
        return
    if in_ci():
        pytest.fail(f"CI=true: {reason}")
    if xfail:
        pytest.xfail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The IDX folder the grader itself would read (grader.mnist.mnist_folder: GRADER_MNIST_DIR,
    the existing copies, the cache ./setup.sh filled, then the verified download)."""
    try:
        return mnist_folder(progress=False)
    except DataError as exc:
        pytest.fail(f"MNIST not found the way the grader looks for it: {exc}")


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


@pytest.fixture
def grade(capsys: pytest.CaptureFixture[str], mnist_dir: Path):  # type: ignore[no-untyped-def]
    """Run `grade ARGS... --mnist <the mnist_dir fixture>` and return its exit code and output."""

    def run(*args: str | Path) -> CliRun:
        code = main([str(a) for a in args] + ["--mnist", str(mnist_dir), "--no-color"])
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


def outline_of(source: str) -> ClassOutline | None:
    """A class's outline as the intake worker computes it (tests parse trusted text in-process)."""
    import ast

    try:
        return class_outline(ast.parse(source))
    except SyntaxError:
        return None


def outlines_of(sources: dict[str, str]) -> dict[str, ClassOutline]:
    """`GradeReport.source_outlines` for report fixtures built by hand from `sources`."""
    return {name: outline for name, source in sources.items() if (outline := outline_of(source)) is not None}


@pytest.fixture
def bwrap_required() -> None:
    """Skip a test that needs bubblewrap where it cannot run (fail it in CI, which installs it)."""
    from grader.sandbox.isolation import select_isolation

    require_or_skip("bwrap" in select_isolation("auto").layers, "bubblewrap cannot run on this machine: apt-get install bubblewrap")


def result_message(fields: dict[str, Any], name: str = "message") -> Message:
    """The Message that result.json writes as `<name>_id` and `<name>_args`, to render in another language."""
    return Message.model_validate({"id": fields[f"{name}_id"], "args": fields[f"{name}_args"]})


def stability_out(result: RunResult) -> np.ndarray:
    """What Softmax.forward returned in a numpy.softmax.stability worker run (the task sandbox tests use)."""
    from grader.checks.softmax_stability.worker import StabilityResult
    from grader.sandbox.wire import decode_result

    return decode_result(StabilityResult, result.report, result.arrays).out
