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

import dataclasses

import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Iterable, Sequence

import numpy as np
from pydantic import ValidationError

from ..records import Phase, RunError, RunResult
from .containment import Containment, Overrun, overrun_error
from .limits import Limits
from ..text import msg
from .isolation import Isolation, select_isolation
from .limits import worker_env
from .protocol import Job, PreloadReply, PreloadRequest, RunReply, RunRequest
from .runner import inputs_bytes, kill_group, read_result, seccomp_pipe, stderr_tail, write_job

_REPLY_MARGIN_S = 30.0
"""How much longer than a job's own timeout the host waits for its template's reply."""
_PRELOAD_TIMEOUT_S = 120.0
_POOL_PREFIX = "nn-grader-pool-"
FRAMEWORK_MODULES = {"pytorch": "torch", "tensorflow": "tensorflow"}
"""A job's `framework` parameter -> the module its template must have imported."""


class TemplateClient:
    """The grader's side of one warm template (forkserver.py) and its slot folder; used by one thread at a time."""

    def __init__(self, python: str, isolation: Isolation, root: Path, limits: Limits) -> None:
        self._python = python
        self._isolation = isolation
        self._limits = limits
        self.slot = Path(tempfile.mkdtemp(prefix="slot-", dir=root))
        self.log = self.slot.with_suffix(".log")
        """The template's own stderr (outside the slot, where students cannot write): grader bugs only."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._bounds: Containment | None = None
        """The slot's memory cgroup and sized tmpfs, made anew with each template process."""
        self._loaded: set[str] = set()
        self._pending: set[str] = set()
        """Modules of a preload request sent at start whose reply has not been read yet."""
        self.starts = 0

    def holds(self, modules: set[str]) -> bool:
        """Whether the template has, or is already importing, all of `modules`."""
        return modules <= self._loaded | self._pending

    @property
    def weight(self) -> int:
        """How many frameworks the template holds or is importing."""
        return len(self._loaded | self._pending)

    @property
    def importing(self) -> bool:
        """Whether a preload sent at start may still be running."""
        return bool(self._pending)

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, phase: Phase) -> RunResult:
        """Run `job` in a child of the template; start or restart the template as needed."""
        job = job.model_copy(update={"token": secrets.token_hex(16)})
        start = time.monotonic()
        self._ensure(_modules_for(job))
        bounds = self._bounds
        assert bounds is not None  # made by _start, which _ensure has called
        bounds.make_room(limits, inputs_bytes(arrays))
        jobdir = Path(tempfile.mkdtemp(prefix="job-", dir=self.slot))
        try:
            write_job(jobdir, job, arrays)
            (jobdir / "work").mkdir()
            bounds.prepare(limits)
            reply = self._request(RunRequest(jobdir=str(jobdir), limits=limits), limits.timeout_s + _REPLY_MARGIN_S)
            if not isinstance(reply, RunReply):
                tail = stderr_tail(jobdir / "stderr.txt")
                overrun = bounds.memory_overrun()  # the OOM killer may take the template when the child is not enough
                error = overrun_error(overrun, limits, phase, tail) if overrun else RunError("crash", phase, msg("sandbox.template_died"), tail)
                result = RunResult(job.task_name, error=error)
            else:
                overrun = Overrun(*reply.filled) if reply.filled else bounds.memory_overrun()
                result = read_result(jobdir, job, reply.returncode, reply.timed_out, limits, phase, overrun=overrun)
        finally:
            shutil.rmtree(jobdir, ignore_errors=True)
            if self._isolation.bwrap is not None and self._proc is not None:
                bounds.relax()  # the sweep left only the template running
        return dataclasses.replace(result, duration_s=time.monotonic() - start)

    def start(self, preload: Iterable[str] = ()) -> None:
        """Start the template now, and ask it to import `preload` too, without waiting for either."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
            modules = set(preload)
            if modules and self._send(PreloadRequest(modules=tuple(sorted(modules)))):
                self._pending = modules

    def preload(self, modules: set[str]) -> None:
        """Ask the running template to import `modules` in the background; its reply is read before the next job."""
        if self._proc is None or self.holds(modules) or self._pending:
            return
        if self._send(PreloadRequest(modules=tuple(sorted(modules)))):
            self._pending = set(modules)

    def _ensure(self, modules: set[str]) -> None:
        self.start()
        missing = sorted(modules - self._loaded)
        if missing and self._request(PreloadRequest(modules=tuple(missing)), _PRELOAD_TIMEOUT_S) is not None:
            self._loaded.update(missing)

    def _start(self) -> None:
        self.close()
        self.release()
        for leftover in self.slot.iterdir():
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        bounds = self._bounds = Containment(self._isolation, self.slot, self._limits)
        seccomp_fd = seccomp_pipe(deny_memfd=self._isolation.deny_memfd) if self._isolation.uses_seccomp else None
        try:
            with open(self.log, "ab") as log:
                self._proc = subprocess.Popen(
                    self._isolation.server_argv(self._python, self.slot, seccomp_fd, bounds.scratch(self._limits)),
                    pass_fds=(seccomp_fd,) if seccomp_fd is not None else (),
                    cwd=self.slot,
                    env=worker_env(self.slot, self._limits),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,  # a child's stderr goes to its job folder, never here
                    start_new_session=True,
                    preexec_fn=bounds.enter,  # the template, and every child it forks, in the slot's cgroup
                )
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        self._loaded, self._pending = set(), set()
        self.starts += 1

    def _request(self, request: PreloadRequest | RunRequest, timeout: float) -> PreloadReply | RunReply | None:
        """Send one command and wait for its reply line; None (and the template killed) if none came."""
        if self._pending:  # first collect the reply of the preload sent at start
            pending, self._pending = self._pending, set()
            if self._reply(_PRELOAD_TIMEOUT_S, PreloadReply) is None:
                return None
            self._loaded |= pending
        if not self._send(request):
            self.close()
            return None
        return self._reply(timeout, RunReply if isinstance(request, RunRequest) else PreloadReply)

    def _send(self, request: PreloadRequest | RunRequest) -> bool:
        proc = self._proc
        if proc is None or proc.stdin is None:  # stopped: a preload before this request failed
            return False
        try:
            proc.stdin.write((request.model_dump_json() + "\n").encode())
            proc.stdin.flush()
        except OSError:  # BrokenPipeError: the template is gone
            return False
        return True

    def _reply(self, timeout: float, kind: type[PreloadReply] | type[RunReply]) -> PreloadReply | RunReply | None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return None
        try:
            line = _readline(proc.stdout, timeout)
        except OSError:
            line = b""
        if not line:
            self.close()
            return None
        try:
            return kind.model_validate_json(line)
        except ValidationError:  # not what the template writes: treat it as gone, and start a fresh one
            self.close()
            return None

    def close(self) -> None:
        """Stop the template (its children die with it)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        kill_group(proc.pid)
        proc.wait()

    def release(self) -> None:
        """Remove the slot's cgroup (killing anything left in it) and unmount its tmpfs; after `close`."""
        bounds, self._bounds = self._bounds, None
        if bounds is not None:
            bounds.close()


class WarmRunner:
    """A `Runner` backed by `size` warm templates; safe to share between threads.

    `preload[i]` lists the frameworks template i imports from the start, in the
    background ("torch", "tensorflow"); a template imports what a job needs on
    first use otherwise.  Jobs go to an idle template that holds what they need
    and, for numpy jobs, to one that is not busy importing: so one student's numpy
    checks run while another template is still loading their framework.
    """

    def __init__(self, size: int = 1, python: str = sys.executable, isolation: Isolation | None = None,
                 limits: Limits | None = None, *, preload: Sequence[Iterable[str]] = ()) -> None:
        self.isolation = isolation or select_isolation()
        _remove_stale_pools()
        self._root = Path(tempfile.mkdtemp(prefix=f"{_POOL_PREFIX}{os.getpid()}-"))
        self._servers = [TemplateClient(python, self.isolation, self._root, limits or Limits()) for _ in range(size)]
        for i, server in enumerate(self._servers):
            # Started now: their imports run while the grader loads torch, MNIST and the submissions.
            server.start(preload[i] if i < len(preload) else ())
        self._idle = list(self._servers)
        self._changed = threading.Condition()

    @property
    def size(self) -> int:
        """How many student processes can run at once."""
        return len(self._servers)

    def run(self, job: Job, arrays: dict[str, np.ndarray], limits: Limits, *, phase: Phase) -> RunResult:
        """Run `job` in a fresh child of the best idle template; see `Runner.run`."""
        server = self._acquire(_modules_for(job))
        try:
            return server.run(job, arrays, limits, phase)
        finally:
            with self._changed:
                self._idle.append(server)
                self._changed.notify()

    def preload(self, modules: set[str]) -> None:
        """Every idle template but the first (kept framework-free for numpy jobs) imports `modules` in the background."""
        with self._changed:
            for server in self._servers[1:]:
                if server in self._idle:
                    server.preload(modules)

    def _acquire(self, needs: set[str]) -> TemplateClient:
        """An idle template, preferring one that holds what the job needs and is not busy importing."""
        with self._changed:
            self._changed.wait_for(lambda: bool(self._idle))
            # A numpy job forks fastest from a template without frameworks (1 ms against 8-13 ms).
            best = min(self._idle, key=lambda s: (not s.holds(needs), not needs and s.importing, 0 if needs else s.weight))
            self._idle.remove(best)
            return best

    def close(self) -> None:
        """Stop every template and delete the slots."""
        for server in self._servers:
            server.close()
            server.release()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> WarmRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remove_stale_pools() -> None:
    """Slots left behind by a grader that was killed (kill -9 skips its cleanup)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_POOL_PREFIX}*"):
        pid = folder.name.removeprefix(_POOL_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def _modules_for(job: Job) -> set[str]:
    """The framework the template must hold before forking this job (numpy it always holds)."""
    module = FRAMEWORK_MODULES.get(str(getattr(job.params, "framework", None)))
    return {module} if module else set()


def _readline(stream: IO[bytes], timeout: float) -> bytes:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else b""
