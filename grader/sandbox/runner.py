"""Host side of the sandbox: start a worker, enforce limits, read back plain data."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import ValidationError

from ..models import Phase, RunError, RunResult
from ..rubric import Limits
from .isolation import Isolation, select_isolation
from .limits import apply_rlimits, worker_env
from .seccomp import filter_program
from .protocol import (
    ARRAYS_FILE,
    INPUTS_FILE,
    JOB_FILE,
    MAX_REPORT_BYTES,
    OUT_DIR,
    REPORT_FILE,
    ChildReport,
    Job,
)

_STDERR_TAIL = 4000


class Runner(Protocol):
    """Runs one job somewhere and returns what came back, never raising for student failures."""

    isolation: Isolation

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        """Run `job` with input `arrays` under `limits`; `phase` labels a failure with no report."""
        ...


class SubprocessRunner:
    """Runs each job in a fresh `python -I` process: inside bubblewrap and seccomp where available
    (see isolation.py), always under rlimits and a wall-clock timeout."""

    def __init__(self, python: str = sys.executable, isolation: Isolation | None = None) -> None:
        self._python = python
        self.isolation = isolation or select_isolation()

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        """Run `job` in a worker; see `Runner.run`."""
        job = job.model_copy(update={"token": secrets.token_hex(16)})
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="nn-grader-") as tmp:
            jobdir = Path(tmp)
            write_job(jobdir, job, arrays)
            returncode, timed_out = self._spawn(jobdir, limits)
            result = read_result(jobdir, job, returncode, timed_out, limits, phase)
        duration = time.monotonic() - start
        return RunResult(job.task, result.values, result.arrays, result.error, duration)

    def _spawn(self, jobdir: Path, limits: Limits) -> tuple[int, bool]:
        """Start the worker in its own session and wait; kill its whole group on timeout."""
        work = jobdir / "work"
        work.mkdir()
        seccomp_fd = seccomp_pipe() if self.isolation.uses_seccomp else None
        fds = (seccomp_fd,) if seccomp_fd is not None else ()
        with open(jobdir / "stdout.txt", "wb") as out, open(jobdir / "stderr.txt", "wb") as err:
            proc = subprocess.Popen(
                self.isolation.argv(self._python, jobdir, seccomp_fd),
                pass_fds=fds,
                cwd=work,
                env=worker_env(work, limits),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # own process group: killpg reaches anything it forks
                preexec_fn=lambda: apply_rlimits(limits),
            )
            timed_out = False
            try:
                proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            kill_group(proc.pid)
            proc.wait()
        if seccomp_fd is not None:
            os.close(seccomp_fd)
        returncode = proc.returncode
        if self.isolation.bwrap and returncode > 128:
            returncode = 128 - returncode  # bwrap reports a worker killed by signal N as exit status 128 + N
        return returncode, timed_out


def seccomp_pipe() -> int:
    """A pipe's read end holding the compiled filter, for bwrap's --seccomp FD."""
    program = filter_program()
    assert program is not None  # Isolation only lists seccomp where a program exists
    read_fd, write_fd = os.pipe()
    os.write(write_fd, program)  # a few hundred bytes: fits the pipe buffer
    os.close(write_fd)
    return read_fd


def write_job(jobdir: Path, job: Job, arrays: dict[str, np.ndarray]) -> None:
    (jobdir / JOB_FILE).write_text(job.model_dump_json(), encoding="utf-8")
    np.savez(jobdir / INPUTS_FILE, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    (jobdir / OUT_DIR).mkdir()


def kill_group(pid: int) -> None:
    """SIGKILL the process group `pid` leads, if it still exists."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def read_result(jobdir: Path, job: Job, returncode: int, timed_out: bool, limits: Limits, phase: Phase) -> RunResult:
    """Turn what the worker left behind into a RunResult; trust only a complete, tokened report."""
    tail = stderr_tail(jobdir / "stderr.txt")
    if timed_out:
        msg = f"timeout: your code did not finish within {limits.timeout_s:g} s (an endless loop, or far too slow)"
        return RunResult(job.task, error=RunError("timeout", phase, msg, tail))
    report = _load_report(jobdir / OUT_DIR / REPORT_FILE, job.token)
    if report is None and (jobdir / OUT_DIR / REPORT_FILE).exists():
        msg = "tampered: the result file was not the grader's (wrong token or malformed); the run is not trusted"
        return RunResult(job.task, error=RunError("tampered", phase, msg, tail))
    if report is None:
        return RunResult(job.task, error=_no_report_error(returncode, limits, phase, tail))
    arrays = _load_arrays(jobdir / OUT_DIR / ARRAYS_FILE)
    if report.error is not None:
        err = report.error
        detail = err.traceback or tail
        return RunResult(job.task, report.values, arrays or {}, RunError(err.kind, err.phase, err.message, detail))
    if arrays is None:
        return RunResult(job.task, error=RunError("tampered", phase, "tampered: the worker's arrays were missing or unreadable"))
    return RunResult(job.task, {**report.values, "warnings": report.warnings}, arrays)


def _load_report(path: Path, token: str) -> ChildReport | None:
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            return None
        report = ChildReport.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None
    return report if secrets.compare_digest(report.token, token) else None


def _load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Numeric arrays only: allow_pickle=False refuses object arrays."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError):
        return None


def _no_report_error(returncode: int, limits: Limits, phase: Phase, stderr_tail: str) -> RunError:
    """Explain a worker that ended without a valid report: signal, limit, or early exit."""
    if returncode < 0:
        sig = signal.Signals(-returncode)
        if sig == signal.SIGXCPU:
            return RunError("timeout", phase, f"timeout: your code used more than {limits.cpu_s} s of CPU time", stderr_tail)
        if sig == signal.SIGXFSZ:
            msg = f"crash: your code wrote a file larger than {limits.file_size_mb} MiB (or printed far too much)"
            return RunError("crash", phase, msg, stderr_tail)
        if sig == signal.SIGKILL and "MemoryError" in stderr_tail:
            return RunError("memory", phase, f"memory: your code needed more than {limits.memory_mb} MiB", stderr_tail)
        return RunError("crash", phase, f"crash: the process running your code died with {sig.name}", stderr_tail)
    if "MemoryError" in stderr_tail or "std::bad_alloc" in stderr_tail:
        return RunError("memory", phase, f"memory: your code needed more than {limits.memory_mb} MiB", stderr_tail)
    msg = (
        f"exit: the process running your code exited (status {returncode}) before reporting a result; "
        "remove sys.exit()/os._exit()/exit() calls from your classes"
    )
    return RunError("exit", phase, msg, stderr_tail)


def stderr_tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - _STDERR_TAIL))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
