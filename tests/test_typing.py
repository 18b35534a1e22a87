"""The package type-checks under mypy --strict (configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def test_grader_package_passes_mypy_strict() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "grader"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
