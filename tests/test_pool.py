"""Warm workers: each job still runs in a fresh process, and nothing of one student reaches the next."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.intake import load_submission
from grader.records import RunResult
from grader.sandbox.limits import Limits
from grader.sandbox import Job
from grader.checks.softmax_stability.worker import TASK as STABILITY, StabilityParams
from grader.sandbox.isolation import select_isolation
from grader.sandbox.pool import WarmRunner

from .conftest import require_or_skip

LIMITS = Limits(timeout_s=5)


def run_class_body(runner: WarmRunner, tmp_path: Path, body: str) -> RunResult:
    """Run a job whose `Softmax` class body is `body` (it reports by raising RuntimeError)."""
    folder = tmp_path / f"sub{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    source = "import os, sys, time, subprocess\nimport numpy as np\n\nclass Softmax:\n" + textwrap.indent(body, "    ")
    source += "\n    def forward(self, x):\n        return x\n"
    (folder / "hw.py").write_text(source, encoding="utf-8")
    part = load_submission(folder).numpy_part
    assert part is not None and part.unit("Softmax") is not None
    job = STABILITY.job(part.units, StabilityParams(), part.supplied_imports)
    return runner.run(job, {"x": np.ones((1, 3))}, LIMITS, phase="forward")


def reported(result: RunResult) -> str:
    assert result.error is not None, "the probe class body always raises"
    return str(result.error.message)


@pytest.fixture(params=["auto", "rlimits"])
def runner(request: pytest.FixtureRequest) -> WarmRunner:  # type: ignore[misc]
    with WarmRunner(1, isolation=select_isolation(request.param), limits=LIMITS) as pool:
        yield pool


def test_each_job_gets_a_fresh_process_and_a_fresh_numpy(runner: WarmRunner, tmp_path: Path) -> None:
    first = run_class_body(runner, tmp_path, "np.sum = lambda *a, **k: 0\nraise RuntimeError(f'pid {os.getpid()}')")
    second = run_class_body(runner, tmp_path, "raise RuntimeError(f'pid {os.getpid()} sum {np.sum([1, 2])}')")
    assert "sum 3" in reported(second)
    assert reported(first).split("pid ")[1].split()[0] != reported(second).split("pid ")[1].split()[0]


def test_a_job_that_kills_its_template_costs_only_that_job(runner: WarmRunner, tmp_path: Path) -> None:
    killed = run_class_body(runner, tmp_path, "import signal\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(10)")
    assert killed.error is not None and killed.error.kind == "crash"
    after = run_class_body(runner, tmp_path, "raise RuntimeError('alive')")
    assert "alive" in reported(after)


def test_a_timeout_kills_the_job_and_the_template_serves_the_next(runner: WarmRunner, tmp_path: Path) -> None:
    slow = run_class_body(runner, tmp_path, "while True:\n    pass")
    assert slow.error is not None and slow.error.kind == "timeout"
    assert "alive" in reported(run_class_body(runner, tmp_path, "raise RuntimeError('alive')"))


def test_leftover_files_and_processes_never_reach_the_next_student(tmp_path: Path) -> None:
    isolation = select_isolation("auto")
    require_or_skip("bwrap" in isolation.layers,
                    "bubblewrap is not available: without a pid namespace the template cannot sweep (see sandbox/pool.py)")
    with WarmRunner(1, isolation=isolation, limits=LIMITS) as pool:
        leave = ("open('/tmp/left_by_a', 'w').write('secret')\nopen('/dev/shm/left_by_a', 'w').write('secret')\n"
                 "subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
                 "if os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n"
                 "raise RuntimeError(f'left {sorted(os.listdir(\"/tmp\"))}')")
        assert "left_by_a" in reported(run_class_body(pool, tmp_path, leave))
        seen = ("procs = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())]\n"
                # Entries holding a mount point (the slot; a checkout or venv below /tmp) stay, by design.
                "tmp = [e for e in os.listdir('/tmp')\n"
                "       if not any(line.split()[4].startswith(f'/tmp/{e}/') for line in open('/proc/self/mountinfo'))]\n"
                "raise RuntimeError(f'tmp {tmp} shm {os.listdir(\"/dev/shm\")} procs {procs}')")
        assert "tmp [] shm [] procs []" in reported(run_class_body(pool, tmp_path, seen))


def test_a_framework_that_fails_to_import_in_the_template_does_not_stop_the_jobs(tmp_path: Path) -> None:
    with WarmRunner(1, limits=LIMITS, preload=[["no_such_framework_nn_grader"]]) as pool:
        assert "alive" in reported(run_class_body(pool, tmp_path, "raise RuntimeError('alive')"))


def test_what_a_student_does_to_dev_never_reaches_the_next_student(tmp_path: Path) -> None:
    isolation = select_isolation("auto")
    require_or_skip("bwrap" in isolation.layers, "bubblewrap is not available: /dev is the host's without it")
    with WarmRunner(1, isolation=isolation, limits=LIMITS) as pool:
        added = "open('/dev/left_by_a', 'w').write('secret')\nos.mkdir('/dev/dir_by_a')\nraise RuntimeError('wrote')"
        assert "wrote" in reported(run_class_body(pool, tmp_path, added))
        look = "raise RuntimeError(f'dev {sorted(e for e in os.listdir(\"/dev\") if \"by_a\" in e)}')"
        assert "dev []" in reported(run_class_body(pool, tmp_path, look))
        # /dev/null is a bind mount (EBUSY); /dev/stdin is a plain link the next worker may rely on:
        # removing it replaces the template, and costs this job.
        broken = run_class_body(pool, tmp_path, "os.unlink('/dev/stdin')\nraise RuntimeError('removed')")
        assert broken.error is not None and broken.error.kind == "crash"
        after = run_class_body(pool, tmp_path, "raise RuntimeError(f'stdin {os.path.islink(\"/dev/stdin\")}')")
        assert "stdin True" in reported(after)
