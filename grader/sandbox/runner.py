"""Host side of the sandbox: start a worker, enforce limits, read back plain data."""

from __future__ import annotations

import dataclasses

import hashlib
import io
import os
import secrets
import select
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import ValidationError

from ..records import Phase, RunError, RunResult
from .containment import Containment, Overrun, overrun_error
from .limits import Limits
from ..text import msg
from .isolation import Isolation, select_isolation
from .limits import apply_rlimits, worker_env
from .seccomp import filter_program
from .protocol import (
    ARRAYS_FILE,
    INPUTS_FILE,
    JOB_FILE,
    OUT_DIR,
    REPORT_FILE,
    ChildReport,
    Job,
)
from .tasks import find

_STDERR_TAIL = 4000
REPORT_FD_ENV = "GRADER_REPORT_FD"
"""The worker's environment variable naming the pipe it writes its report into (see `wait_for_report`)."""
"""A report value: the sha256 of the arrays file as the worker wrote it, checked before it is read."""
_PIPE_LIMIT = 64_000_000
"""No task may send more (the intake's task, whose report carries a submission's kept source, allows this much)."""
_CHUNK = 1 << 20


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
            bounds = Containment(self.isolation, jobdir, limits)
            try:
                bounds.make_room(limits, inputs_bytes(arrays))
                write_job(jobdir, job, arrays)
                (jobdir / "work").mkdir()
                bounds.prepare(limits)
                returncode, timed_out = self._spawn(jobdir, limits, bounds)
                overrun = bounds.overrun(jobdir / "work" if bounds.mount is not None else None)
                result = read_result(jobdir, job, returncode, timed_out, limits, phase, overrun=overrun)
            finally:
                bounds.close()
        duration = time.monotonic() - start
        return dataclasses.replace(result, duration_s=duration)

    def _start(self, jobdir: Path, limits: Limits, report_fd: int, bounds: Containment) -> subprocess.Popen[bytes]:
        """The worker, started in its own session with the report pipe `report_fd`, inside `bounds`."""
        work = jobdir / "work"
        seccomp_fd = seccomp_pipe(deny_memfd=self.isolation.deny_memfd) if self.isolation.uses_seccomp else None
        fds = (report_fd,) if seccomp_fd is None else (seccomp_fd, report_fd)

        def before_exec() -> None:  # in the new process: into the job's cgroup before anything else runs
            bounds.enter()
            apply_rlimits(limits)

        try:
            with open(jobdir / "stdout.txt", "wb") as out, open(jobdir / "stderr.txt", "wb") as err:
                return subprocess.Popen(
                    self.isolation.argv(self._python, jobdir, seccomp_fd, bounds.scratch(limits)),
                    pass_fds=fds,
                    cwd=work,
                    env=worker_env(work, limits) | {REPORT_FD_ENV: str(report_fd)},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,  # own process group: killpg reaches anything it forks
                    preexec_fn=before_exec,
                )
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)

    def _spawn(self, jobdir: Path, limits: Limits, bounds: Containment) -> tuple[int, bool]:
        """Start the worker in its own session and wait, reading its report pipe; kill its whole group
        when it ends or times out, then publish its report (see `publish_report`)."""
        report_r, report_w = os.pipe()
        try:
            try:
                proc = self._start(jobdir, limits, report_w, bounds)
            finally:
                os.close(report_w)  # the worker has its copy: the pipe is its alone
            try:
                timed_out, report = wait_for_report(proc.pid, report_r, limits.timeout_s)
            finally:
                kill_group(proc.pid)
                proc.wait()
        finally:
            os.close(report_r)
        publish_report(jobdir, report)
        returncode = proc.returncode
        if self.isolation.bwrap and returncode > 128:
            returncode = 128 - returncode  # bwrap reports a worker killed by signal N as exit status 128 + N
        return returncode, timed_out


def seccomp_pipe(*, deny_memfd: bool = False) -> int:
    """A pipe's read end holding the compiled filter, for bwrap's --seccomp FD (see seccomp.filter_program)."""
    program = filter_program(deny_memfd=deny_memfd)
    assert program is not None  # Isolation only lists seccomp where a program exists
    read_fd, write_fd = os.pipe()
    os.write(write_fd, program)  # a few hundred bytes: fits the pipe buffer
    os.close(write_fd)
    return read_fd


def inputs_bytes(arrays: dict[str, np.ndarray]) -> int:
    """About how many bytes `write_job` writes for `arrays` (with room for the job file and npz headers)."""
    return sum(int(a.nbytes) for a in arrays.values()) + (1 << 20) + 4096 * len(arrays)


def write_job(jobdir: Path, job: Job, arrays: dict[str, np.ndarray]) -> None:
    (jobdir / JOB_FILE).write_text(job.model_dump_json(), encoding="utf-8")
    np.savez(jobdir / INPUTS_FILE, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
    (jobdir / OUT_DIR).mkdir()


def wait_for_report(pid: int, report_fd: int, timeout: float) -> tuple[bool, bytes | None]:
    """Wait until the worker `pid` ends or `timeout` seconds pass, reading its report pipe meanwhile.

    Returns whether it timed out, and the first line the worker wrote into the pipe: its report (None when it
    wrote no whole line).  The pipe keeps what was written in order, so student code that writes into it after
    the report (a thread, a child process) changes nothing: only the first line is read.
    """
    pidfd = os.pidfd_open(pid)
    try:
        reader, poller = _FirstLine(report_fd), select.poll()
        for fd in (pidfd, report_fd):
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready = {fd for fd, _ in poller.poll(left * 1000)}
            if reader.drain():  # its end: poll would report it at once, forever
                poller.unregister(report_fd)
            if pidfd in ready:  # ended: all it wrote is in the pipe, and drained
                return False, reader.line()
        return True, None
    finally:
        os.close(pidfd)


class _FirstLine:
    """The first line written into a pipe, read without blocking and kept up to the largest report."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd, self._data, self._eof, self._complete = fd, bytearray(), False, False

    def drain(self) -> bool:
        """Read everything the pipe holds now, keeping bytes only until the first newline; True when the pipe
        has just ended (every copy of its write end is closed)."""
        while not self._eof:
            try:
                chunk = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return False
            self._eof = not chunk
            if not self._complete and len(self._data) <= _PIPE_LIMIT:
                self._data += chunk
                self._complete = b"\n" in chunk
            if self._eof:
                return True
        return False

    def line(self) -> bytes | None:
        line, newline, _ = bytes(self._data).partition(b"\n")
        return line if newline else None


def publish_report(jobdir: Path, report: bytes | None) -> None:
    """Make `report`, the line the worker wrote into its pipe, the job's out/report.json.

    Called once the worker and everything it started are dead: whatever student code wrote at that path is
    replaced.  Without a report, a report.json left there is emptied, so it reads as tampered, never as a result.
    """
    try:
        out = open_dirs(jobdir, OUT_DIR)
    except OSError:  # out/ removed or replaced by a link: no report
        return
    try:
        if report is None and not _lexists(REPORT_FILE, out):
            return
        tmp = f".report-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=out)
        with os.fdopen(fd, "wb") as fh:
            fh.write(report or b"")
        try:
            os.replace(tmp, REPORT_FILE, src_dir_fd=out, dst_dir_fd=out)
        except OSError:  # student code made report.json a folder: it reads as tampered
            os.unlink(tmp, dir_fd=out)
    except OSError:
        pass
    finally:
        os.close(out)


def _is_folder(path: Path) -> bool:
    """A folder itself, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _lexists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def open_dirs(base: Path, *names: str) -> int:
    """A descriptor of folder base/names..., where none of `names` may be a symlink (student code can plant one)."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    for name in names:
        try:
            nested = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
        fd = nested
    return fd


def read_regular(path: Path, limit: int, *, tail: bool = False) -> bytes | None:
    """The bytes of the regular file at `path` (at most `limit`: the last ones with `tail`), or None.

    None when it is missing, larger than `limit` (unless `tail`), not a regular file (a FIFO left by student
    code would block the grader forever), or reached through a symlink in its last two path components.
    """
    try:
        parent = open_dirs(path.parent.parent, path.parent.name)
    except OSError:
        return None
    try:
        fd = os.open(path.name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError:
        return None
    finally:
        os.close(parent)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fd)
        if not stat.S_ISREG(size.st_mode) or (size.st_size > limit and not tail):
            return None
        fh.seek(max(0, size.st_size - limit))
        return fh.read(limit)


def kill_group(pid: int) -> None:
    """SIGKILL the process group `pid` leads, if it still exists."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def read_result(jobdir: Path, job: Job, returncode: int, timed_out: bool, limits: Limits, phase: Phase, *,
                overrun: Overrun | None = None) -> RunResult:
    """Turn what the worker left behind into a RunResult; trust only a complete, tokened report.

    A job that hit its memory or scratch bound (`overrun`) fails with that, whatever it reported.
    """
    tail = stderr_tail(jobdir / "stderr.txt")
    if overrun is not None:
        return RunResult(job.task_name, error=overrun_error(overrun, limits, phase, tail))
    if timed_out:
        return RunResult(job.task_name, error=RunError("timeout", phase, msg("sandbox.timeout", seconds=limits.timeout_s), tail))
    report = parse_report(read_regular(jobdir / OUT_DIR / REPORT_FILE, find(job.task).max_report_bytes), job.token)
    if report is None and (os.path.lexists(jobdir / OUT_DIR / REPORT_FILE) or not _is_folder(jobdir / OUT_DIR)):
        return RunResult(job.task_name, error=RunError("tampered", phase, msg("sandbox.bad_report"), tail))
    if report is None:
        return RunResult(job.task_name, error=_no_report_error(returncode, limits, phase, tail))
    arrays = load_arrays(read_regular(jobdir / OUT_DIR / ARRAYS_FILE, limits.file_size_mb << 20), report.arrays_sha256)
    return result_from_report(job, report, arrays, tail, phase)


def result_from_report(job: Job, report: ChildReport, arrays: dict[str, np.ndarray] | None, tail: str, phase: Phase) -> RunResult:
    """The RunResult of a worker's validated, tokened report and its arrays (None: missing or changed)."""
    if report.error is not None:
        err = report.error
        detail = err.traceback or tail
        return RunResult(job.task_name, arrays=arrays or {}, error=RunError(err.kind, err.phase, err.message, detail, err.location),
                         worker_seconds=report.worker_seconds)
    if arrays is None:
        return RunResult(job.task_name, error=RunError("tampered", phase, msg("sandbox.bad_arrays")))
    return RunResult(job.task_name, arrays=arrays, report=report.result, warnings=tuple(report.warnings),
                     worker_seconds=report.worker_seconds)


def parse_report(data: bytes | None, token: str) -> ChildReport | None:
    """The worker's report from its bytes, if it validates and carries the run's token."""
    try:
        report = ChildReport.model_validate_json(data) if data is not None else None
    except ValidationError:
        return None
    return report if report is not None and secrets.compare_digest(report.token, token) else None


def load_arrays(data: bytes | None, digest: object) -> dict[str, np.ndarray] | None:
    """The arrays the worker reported, if their bytes still have the digest it reported; numeric only
    (allow_pickle=False refuses object arrays)."""
    if data is None or not isinstance(digest, str) or not secrets.compare_digest(hashlib.sha256(data).hexdigest(), digest):
        return None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
            return {name: loaded[name] for name in loaded.files}
    except (OSError, ValueError, EOFError):
        return None


def _no_report_error(returncode: int, limits: Limits, phase: Phase, stderr_tail: str) -> RunError:
    """Explain a worker that ended without a valid report: signal, limit, or early exit."""
    if returncode < 0:
        sig = signal.Signals(-returncode)
        if sig == signal.SIGXCPU:
            return RunError("timeout", phase, msg("sandbox.cpu_time", seconds=limits.cpu_s), stderr_tail)
        if sig == signal.SIGXFSZ:
            return RunError("crash", phase, msg("sandbox.file_too_large", mib=limits.file_size_mb), stderr_tail)
        if sig == signal.SIGKILL and "MemoryError" in stderr_tail:
            return RunError("memory", phase, msg("sandbox.memory", mib=limits.memory_mb), stderr_tail)
        return RunError("crash", phase, msg("sandbox.died", signal=sig.name), stderr_tail)
    if "MemoryError" in stderr_tail or "std::bad_alloc" in stderr_tail:
        return RunError("memory", phase, msg("sandbox.memory", mib=limits.memory_mb), stderr_tail)
    return RunError("exit", phase, msg("sandbox.exited", status=returncode), stderr_tail)


def stderr_tail(path: Path) -> str:
    """The last few thousand bytes of the worker's stderr, however much it wrote (never more in memory)."""
    return (read_regular(path, _STDERR_TAIL, tail=True) or b"").decode("utf-8", "replace")
