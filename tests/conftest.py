"""Shared fixtures: where MNIST is, and running the `grade` command in-process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.cli import main

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"


def _mnist_dir() -> Path:
    # CI and tests use the shared copy next to the checkout; GRADER_MNIST_DIR overrides it.
    return Path(os.environ.get("GRADER_MNIST_DIR", REPO.parent / "shared" / "data" / "mnist"))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    path = _mnist_dir()
    if not (path / "t10k-labels-idx1-ubyte.gz").exists() and not (path / "t10k-labels-idx1-ubyte").exists():
        pytest.fail(f"MNIST not found at {path}: set GRADER_MNIST_DIR to a folder with the four IDX files")
    return path


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


@pytest.fixture
def grade(capsys: pytest.CaptureFixture[str], mnist_dir: Path):  # type: ignore[no-untyped-def]
    """Run `grade ARGS... --mnist <shared MNIST>` and return its exit code and output."""

    def run(*args: str | Path) -> CliRun:
        code = main([str(a) for a in args] + ["--mnist", str(mnist_dir), "--no-color"])
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run
