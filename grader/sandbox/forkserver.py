"""A warm template process: `python -I -m grader.sandbox.forkserver SLOT [--sweep]`.

It imports numpy once (PyTorch and TensorFlow when asked), then forks one fresh
child per job.  The template never runs or reads student code: the child does,
after it has left the template's session, closed the template's pipes, taken
the job's limits and cleared its environment.  So a student costs the grader
one `fork` instead of a Python start and a 1-4 s framework import, and each
job still runs in its own process.

Protocol: one JSON object per line on stdin, one reply per line on stdout.
    {"op": "preload", "modules": ["torch"]}      -> {"ok": true}
    {"op": "run", "jobdir": "...", "limits": {...}} -> {"returncode": int, "timed_out": bool}
`returncode` follows subprocess: negative for a signal.

Inside bubblewrap (`--sweep`) the template is alone in its pid namespace with the
sandbox's init, so after each job it kills every other process there: whatever
a student left running (even after `setsid`) dies before the next job starts.
The template is not dumpable, so a child of the same uid cannot open its
memory or file descriptors through /proc.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import random
import select
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ..rubric import Limits
from .limits import apply_rlimits, worker_env
from .runner import kill_group

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_WARM_MODULES = ("numpy", "grader.sandbox.child", "grader.sandbox.tasks_numpy", "grader.sandbox.tasks_framework",
                 "grader.sandbox.tasks_probe")
"""Every template holds these; frameworks (torch, tensorflow) come with preload requests."""
_SWEEP_ROUNDS = 50
_SCRATCH = ("/tmp", "/dev/shm")
"""Writable places of the template's sandbox besides the job folder, wiped after every job."""


def main(argv: list[str]) -> int:
    """Serve jobs until stdin closes."""
    slot, sweep = Path(argv[1]), "--sweep" in argv
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the grader, even after kill -9
    _prctl(_PR_SET_DUMPABLE, 0)
    _preload(_WARM_MODULES)
    commands, replies = sys.stdin.buffer, sys.stdout
    for line in commands:
        request: dict[str, Any] = json.loads(line)
        if request["op"] == "preload":
            try:
                _preload(tuple(request["modules"]))
                reply: dict[str, Any] = {"ok": True}
            except Exception as exc:  # noqa: BLE001 - a broken install: each child then reports its own import error
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        else:
            reply = _run(Path(request["jobdir"]), Limits.model_validate(request["limits"]), slot if sweep else None)
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


def _preload(modules: tuple[str, ...]) -> None:
    for name in modules:
        module = importlib.import_module(name)
        if name == "numpy":
            module.random.seed()  # its first call imports entropy helpers: ~15 ms a child otherwise
        if name == "torch":
            module.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
            _warm_torch(module)
        if name == "tensorflow":
            module.keras.optimizers.Adam  # noqa: B018 - keras loads lazily; pay for it here, once


def _warm_torch(torch: Any) -> None:
    """One tiny optimiser step: torch imports optim, autograd and dynamo helpers on first use (~1 s)."""
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.ones(1, 2)), torch.zeros(1, dtype=torch.long))
    loss.backward()
    opt.step()
    torch.optim.SGD(model.parameters(), lr=0.1).step()


def _run(jobdir: Path, limits: Limits, sweep_keeping: Path | None) -> dict[str, Any]:
    """Fork a child for the job, wait for it (killing it at the timeout), clean up after it.

    `sweep_keeping` is the slot when the template is alone in a sandbox: then every
    other process is killed and the scratch folders wiped, all but the slot.
    """
    pid = os.fork()
    if pid == 0:
        _child(jobdir, limits)  # never returns
    pidfd = os.pidfd_open(pid)
    ready, _, _ = select.select([pidfd], [], [], limits.timeout_s)
    os.close(pidfd)
    timed_out = not ready
    kill_group(pid)  # the child's own session: whatever it forked without setsid dies too
    _, status = os.waitpid(pid, 0)
    if sweep_keeping is not None:
        _sweep_namespace()
        for scratch in _SCRATCH:
            _wipe(Path(scratch), keep=sweep_keeping)
    return {"returncode": os.waitstatus_to_exitcode(status), "timed_out": timed_out}


def _child(jobdir: Path, limits: Limits) -> None:
    """Become a fresh worker for one job, then run it; always ends with os._exit."""
    code = 1
    try:
        os.setsid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        _redirect(jobdir)
        work = jobdir / "work"
        os.chdir(work)
        os.environ.clear()
        os.environ.update(worker_env(work, limits))
        # A fresh interpreter would draw fresh seeds; a fork inherits the template's.
        random.seed()
        sys.modules["numpy"].random.seed()
        apply_rlimits(limits, base_address_space=_address_space())
        from .child import main as child_main

        code = child_main(["child", str(jobdir)])
    except BaseException:  # noqa: BLE001 - a grader bug here: leave its traceback in the job's stderr
        traceback.print_exc()
    finally:
        os._exit(code)


def _redirect(jobdir: Path) -> None:
    """stdin from /dev/null, stdout/stderr to the job's files, every other descriptor closed."""
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(jobdir / "stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(jobdir / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for src, dst in ((null, 0), (out, 1), (err, 2)):
        os.dup2(src, dst)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)


def _address_space() -> int:
    """Bytes of address space this process already maps (the warm imports)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _sweep_namespace() -> None:
    """Kill every process of this pid namespace except its init (pid 1) and the template."""
    keep = {1, os.getpid()}
    for _ in range(_SWEEP_ROUNDS):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in keep and not _zombie(p)]
        if not others:
            return
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)  # init reaps them; a zombie still lists until then


def _wipe(folder: Path, keep: Path) -> None:
    """Delete everything inside `folder`, even what a student made unreadable, except `keep`.

    `keep` is the slot: it may sit under /tmp on the host, and is bind-mounted
    there inside the sandbox too, so its ancestors are walked, never removed.
    """
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry == keep:
            continue
        if keep.is_relative_to(entry):
            _wipe(entry, keep)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, onerror=_force_remove)
        else:
            entry.unlink(missing_ok=True)


def _force_remove(func: Any, path: str, exc: object) -> None:
    try:
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        func(path)
    except OSError:
        pass


def _zombie(pid: str) -> bool:
    """Dead and waiting for init to reap it (or already gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, value, 0, 0, 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
