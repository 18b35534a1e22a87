"""Warm workers: a pool of template processes (forkserver.py) that fork one child per job.

`WarmRunner` is a `Runner`: the checks cannot tell it from `SubprocessRunner`.
The difference is cost.  A cold worker starts Python and imports numpy and, for
a framework job, PyTorch (1-2 s) or TensorFlow (3-4 s); a warm one forks a
template that has already paid for those imports, once per template.

Each template lives inside the same isolation as a cold worker (bubblewrap,
seccomp, uid 65534, read-only filesystem), with one private folder, its *slot*,
as the only writable place.  A job gets a fresh folder inside the slot, which is
deleted when the job ends; the template then kills everything the child left
running and wipes its /tmp, so nothing of one student reaches the next.  A
template that dies (a student may kill its parent) is replaced, and that job is
reported as a crash.

Threads share one `WarmRunner`: each run borrows an idle template, so at most
`size` students' code runs at once and memory stays bounded by the pool size.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..models import Phase, RunError, RunResult
from ..rubric import Limits
from .isolation import Isolation, select_isolation
from .limits import worker_env
from .protocol import Job
from .runner import read_result, seccomp_pipe, stderr_tail, write_job

_REPLY_MARGIN_S = 30.0
"""How much longer than a job's own timeout the host waits for its template's reply."""
_PRELOAD_TIMEOUT_S = 120.0
_TENSORFLOW = "tensorflow"


class ForkServer:
    """One template process and its slot folder; used by one thread at a time."""

    def __init__(self, python: str, isolation: Isolation, root: Path, limits: Limits) -> None:
        self._python = python
        self._isolation = isolation
        self._limits = limits
        self.slot = Path(tempfile.mkdtemp(prefix="slot-", dir=root))
        self.log = self.slot.with_suffix(".log")
        """The template's own stderr (outside the slot, where students cannot write): grader bugs only."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._loaded: set[str] = set()
        self.starts = 0

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, phase: Phase) -> RunResult:
        """Run `job` in a child of the template; start or restart the template as needed."""
        job = job.model_copy(update={"token": secrets.token_hex(16)})
        start = time.monotonic()
        self._ensure(_modules_for(job))
        jobdir = Path(tempfile.mkdtemp(prefix="job-", dir=self.slot))
        try:
            write_job(jobdir, job, arrays)
            (jobdir / "work").mkdir()
            reply = self._request({"op": "run", "jobdir": str(jobdir), "limits": limits.model_dump()},
                                  limits.timeout_s + _REPLY_MARGIN_S)
            if reply is None:
                msg = "crash: the process running your code stopped its grader worker (did it kill its parent process?)"
                result = RunResult(job.task, error=RunError("crash", phase, msg, stderr_tail(jobdir / "stderr.txt")))
            else:
                result = read_result(jobdir, job, int(reply["returncode"]), bool(reply["timed_out"]), limits, phase)
        finally:
            shutil.rmtree(jobdir, ignore_errors=True) if not os.environ.get("KEEPJOB") else print(jobdir)
        return RunResult(job.task, result.values, result.arrays, result.error, time.monotonic() - start)

    def start(self) -> None:
        """Start the template now, without waiting for its imports."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()

    def _ensure(self, modules: set[str]) -> None:
        self.start()
        missing = sorted(modules - self._loaded)
        if missing and self._request({"op": "preload", "modules": missing}, _PRELOAD_TIMEOUT_S) is not None:
            self._loaded.update(missing)

    def _start(self) -> None:
        self.close()
        for leftover in self.slot.iterdir():
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        seccomp_fd = seccomp_pipe() if self._isolation.uses_seccomp else None
        try:
            with open(self.log, "ab") as log:
                self._proc = subprocess.Popen(
                    self._isolation.server_argv(self._python, self.slot, seccomp_fd),
                    pass_fds=(seccomp_fd,) if seccomp_fd is not None else (),
                    cwd=self.slot,
                    env=worker_env(self.slot, self._limits),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,  # a child's stderr goes to its job folder, never here
                    start_new_session=True,
                )
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        self._loaded = set()
        self.starts += 1

    def _request(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send one command and wait for its reply line; None (and the template killed) if none came."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
            line = _readline(proc.stdout, timeout)
        except (BrokenPipeError, OSError):
            line = b""
        if not line:
            self.close()
            return None
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        """Stop the template (its children die with it)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()


class WarmRunner:
    """A `Runner` backed by `size` warm templates; safe to share between threads."""

    def __init__(self, size: int = 1, python: str = sys.executable, isolation: Isolation | None = None,
                 limits: Limits | None = None) -> None:
        self.isolation = isolation or select_isolation()
        self._root = Path(tempfile.mkdtemp(prefix=f"nn-grader-pool-{os.getpid()}-"))
        self._servers = [ForkServer(python, self.isolation, self._root, limits or Limits()) for _ in range(size)]
        self._idle: queue.Queue[ForkServer] = queue.Queue()
        for server in self._servers:
            server.start()  # imports run while the grader loads MNIST and reads submissions
            self._idle.put(server)
        self._closed = threading.Event()

    @property
    def size(self) -> int:
        """How many student processes can run at once."""
        return len(self._servers)

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        """Run `job` in the next idle template's fresh child; see `Runner.run`."""
        server = self._idle.get()
        try:
            return server.run(job, arrays, limits, phase)
        finally:
            self._idle.put(server)

    def close(self) -> None:
        """Stop every template and delete the slots."""
        for server in self._servers:
            server.close()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> WarmRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _modules_for(job: Job) -> set[str]:
    """Frameworks the template must hold before forking this job (numpy and torch always do)."""
    return {_TENSORFLOW} if job.params.get("framework") == _TENSORFLOW else set()


def _readline(stream: IO[bytes], timeout: float) -> bytes:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else b""
