"""The worker process: limits, failure labels, and the data-only protocol."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.errors import UsageError
from grader.intake import load_submission
from grader.records import Location, RunResult
from grader.sandbox.limits import Limits
from grader.sandbox import Job, SubprocessRunner
from grader.sandbox.isolation import select_isolation
from grader.checks.softmax_stability.worker import TASK as STABILITY, StabilityParams
from tests.conftest import stability_out
from grader.text import Verbatim

from .conftest import REPO

LIMITS = Limits(timeout_s=10, cpu_s=20, memory_mb=1024)
LOGITS = {"x": np.array([[1.0, 2.0, 3.0]])}


def run_softmax(tmp_path: Path, forward_body: str, *, limits: Limits = LIMITS, runner: SubprocessRunner | None = None) -> RunResult:
    """Run the softmax_stability task on a Softmax whose forward has `forward_body`."""
    body = textwrap.indent(textwrap.dedent(forward_body).strip(), " " * 8)
    (tmp_path / "hw.py").write_text(
        f"import numpy as np\nimport os, sys, time\n\nclass Softmax:\n    def forward(self, x):\n{body}\n", encoding="utf-8"
    )
    part = load_submission(tmp_path).numpy_part
    assert part is not None
    job = STABILITY.job(part.units, StabilityParams(), part.supplied_imports)
    return (runner or SubprocessRunner()).run(job, LOGITS, limits, phase="forward")


def test_plain_arrays_come_back_from_a_correct_forward(tmp_path: Path) -> None:
    result = run_softmax(tmp_path, "e = np.exp(x - x.max()); return e / e.sum()")
    assert result.error is None
    np.testing.assert_allclose(stability_out(result), np.exp([[1.0, 2.0, 3.0]]) / np.exp([1.0, 2.0, 3.0]).sum())


def test_endless_loop_is_killed_at_the_wall_clock_limit(tmp_path: Path) -> None:
    result = run_softmax(tmp_path, "while True:\n    pass", limits=LIMITS.model_copy(update={"timeout_s": 2.0}))
    assert result.error is not None
    assert (result.error.kind, result.error.phase) == ("timeout", "forward")
    assert str(result.error.message).startswith("timeout: your code did not finish within 2 s")
    assert result.duration_s < 8


def test_memory_bomb_is_labelled_memory(tmp_path: Path) -> None:
    result = run_softmax(tmp_path, "return np.ones((1 << 32,))")
    assert result.error is not None
    assert result.error.kind == "memory"
    assert str(result.error.message) == "memory: `Softmax.forward` ran out of memory"


def test_segfault_is_labelled_crash(tmp_path: Path) -> None:
    result = run_softmax(tmp_path, "import ctypes\nctypes.string_at(0)")
    assert result.error is not None
    assert result.error.kind == "crash"
    assert str(result.error.message) == "crash: the process running your code died with SIGSEGV"


def test_sys_exit_is_labelled_exit_and_never_read_as_success(tmp_path: Path) -> None:
    result = run_softmax(tmp_path, "sys.exit(0)")
    assert result.error is not None
    assert result.error.kind == "exit"
    assert str(result.error.message) == "exit: `Softmax.forward` called sys.exit(0); remove that call"


def test_os_exit_without_a_report_is_labelled_exit(tmp_path: Path) -> None:
    result = run_softmax(tmp_path, "os._exit(0)")
    assert result.error is not None
    assert result.error.kind == "exit"
    assert str(result.error.message).startswith("exit: the process running your code exited (status 0) before reporting a result")


def test_exception_names_the_student_file_and_line(tmp_path: Path) -> None:
    result = run_softmax(tmp_path, "raise ValueError('bad shape')")
    assert result.error is not None
    assert result.error.kind == "exception"
    assert str(result.error.message) == "`Softmax.forward` raised ValueError: bad shape (hw.py, line 6)"
    assert 'File "hw.py", line 6, in forward' in result.error.detail
    assert result.error.location == Location(file="hw.py", line=6)


def test_exception_in_a_notebook_cell_names_the_cell_and_its_line(tmp_path: Path) -> None:
    cells = ["import numpy as np\n", "class Softmax:\n    def forward(self, x):\n        raise ValueError('bad shape')\n"]
    notebook = {"nbformat": 4, "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []} for c in cells]}
    (tmp_path / "hw.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    part = load_submission(tmp_path).numpy_part
    assert part is not None
    job = STABILITY.job(part.units, StabilityParams(), part.supplied_imports)
    result = SubprocessRunner().run(job, LOGITS, LIMITS, phase="forward")
    assert result.error is not None and result.error.kind == "exception"
    assert str(result.error.message) == "`Softmax.forward` raised ValueError: bad shape (hw.ipynb [cell 2], line 3)"
    assert result.error.location == Location(file="hw.ipynb", cell=2, line=3)
    assert isinstance(result.error.message.args["error"], Verbatim) and isinstance(result.error.message.args["type"], Verbatim)


def test_a_class_that_does_not_compile_names_its_place(tmp_path: Path) -> None:
    # ast.parse accepts `return` outside a function; compile refuses it in the worker.
    (tmp_path / "hw.py").write_text("import numpy as np\n\nclass Softmax:\n    return 1\n", encoding="utf-8")
    part = load_submission(tmp_path).numpy_part
    assert part is not None
    job = STABILITY.job(part.units, StabilityParams(), part.supplied_imports)
    result = SubprocessRunner().run(job, LOGITS, LIMITS, phase="forward")
    assert result.error is not None and (result.error.kind, result.error.phase) == ("exception", "import")
    assert str(result.error.message) == "SyntaxError in hw.py, line 3: 'return' outside function"
    assert result.error.location == Location(file="hw.py", line=4)


def test_returning_a_non_numeric_object_is_refused(tmp_path: Path) -> None:
    result = run_softmax(tmp_path, "return {'a': 1}")
    assert result.error is not None
    assert "it must return a numeric numpy array" in str(result.error.message)


def test_processes_the_student_starts_do_not_outlive_the_worker(tmp_path: Path) -> None:
    marker = f"sleep {4242 + len(str(tmp_path)) % 100}"
    result = run_softmax(tmp_path, f"import subprocess\nsubprocess.Popen({marker.split()!r})\nreturn x")
    assert result.error is None
    survivors = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert survivors == ""


def test_a_report_without_the_run_token_is_not_accepted(tmp_path: Path) -> None:
    # A fake interpreter that writes a well-formed report with a forged token and exits 0.
    fake = tmp_path / "fake_python"
    fake.write_text(
        "#!/bin/sh\n"
        "printf '{\"token\": \"forged\", \"values\": {}}' > \"$4/out/report.json\"\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    (tmp_path / "sub").mkdir()
    result = run_softmax(tmp_path / "sub", "return x", runner=SubprocessRunner(python=str(fake), isolation=select_isolation("rlimits")))
    assert result.error is not None
    assert result.error.kind == "tampered"
    assert str(result.error.message).startswith("tampered: the result file was not the grader's")


@pytest.mark.parametrize("threads", [1, 2])
def test_worker_environment_is_cleared_and_threads_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    monkeypatch.setenv("GRADER_SECRET", "s3cret")
    body = "v = os.environ.get('GRADER_SECRET', '') + os.environ['OMP_NUM_THREADS']\nreturn np.array([[float(len(v))]])"
    result = run_softmax(tmp_path, body, limits=LIMITS.model_copy(update={"threads": threads}))
    assert result.error is None
    assert stability_out(result).tolist() == [[1.0]]


# --------------------------------------------------------------------------- isolation layers

BWRAP = select_isolation("auto")
needs_bwrap = pytest.mark.usefixtures("bwrap_required")


def test_forced_fallback_records_only_rlimits_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_SANDBOX", "rlimits")
    monkeypatch.setenv("GRADER_CGROUP", "off")
    monkeypatch.setenv("GRADER_SCRATCH_MOUNT", "off")
    assert SubprocessRunner().isolation.layers == ("rlimits", "timeout")


def test_forced_fallback_keeps_the_containment_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    # cgroups and the grader's own tmpfs need no bubblewrap: GRADER_SANDBOX=rlimits keeps them where they work.
    monkeypatch.setenv("GRADER_SANDBOX", "rlimits")
    layers = SubprocessRunner().isolation.layers
    assert layers[-2:] == ("rlimits", "timeout") and "bwrap" not in layers and "seccomp" not in layers
    assert set(layers[:-2]) <= {"cgroup", "scratch"}


def test_unknown_sandbox_mode_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_SANDBOX", "docker")
    with pytest.raises(UsageError, match="GRADER_SANDBOX='docker' is not one of auto, bwrap, rlimits"):
        SubprocessRunner()


@needs_bwrap
def test_bwrap_layers_are_recorded() -> None:
    assert BWRAP.layers[:1] == ("bwrap",) and BWRAP.layers[-2:] == ("rlimits", "timeout")


@needs_bwrap
def test_network_is_forbidden_inside_bwrap(tmp_path: Path) -> None:
    body = "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)"
    result = run_softmax(tmp_path, body, runner=SubprocessRunner(isolation=BWRAP))
    assert result.error is not None
    if "seccomp" in BWRAP.layers:  # denied by the filter; without it the empty network namespace refuses
        assert result.error.kind == "forbidden"
        assert str(result.error.message).startswith("forbidden: `Softmax.forward` tried something the sandbox does not allow")
    else:
        assert "ConnectionRefusedError" in str(result.error.message)


@needs_bwrap
def test_staff_solution_and_repository_are_invisible_inside_bwrap(tmp_path: Path) -> None:
    body = ("import importlib.util, os\n"
            f"seen = [os.path.exists({str(REPO / 'reference' / 'numpy_model.py')!r}), os.path.exists({str(REPO / 'rubrics')!r}),\n"
            "        importlib.util.find_spec('reference') is not None]\n"
            "return np.array([[float(sum(seen))]])")
    result = run_softmax(tmp_path, body, runner=SubprocessRunner(isolation=BWRAP))
    assert result.error is None, result.error
    assert stability_out(result).tolist() == [[0.0]]


@needs_bwrap
def test_writes_outside_the_job_do_not_reach_the_host(tmp_path: Path) -> None:
    marker = Path("/tmp") / f"nn_grader_escape_{tmp_path.name}"
    body = f"open({str(marker)!r}, 'w').write('x')\nreturn x"
    result = run_softmax(tmp_path, body, runner=SubprocessRunner(isolation=BWRAP))
    assert result.error is None
    assert not marker.exists()


def test_fallback_still_limits_time_and_memory(tmp_path: Path) -> None:
    runner = SubprocessRunner(isolation=select_isolation("rlimits"))
    result = run_softmax(tmp_path, "return np.ones((1 << 32,))", runner=runner)
    assert result.error is not None and result.error.kind == "memory"
