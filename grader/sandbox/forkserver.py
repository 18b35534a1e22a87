"""A warm template process: `python -I -m grader.sandbox.forkserver SLOT [--sweep]`.

It imports numpy once (PyTorch and TensorFlow when asked), then forks one fresh
child per job.  The template never runs or reads student code: the child does,
after it has left the template's session, closed the template's pipes, taken
the job's limits and cleared its environment.  So a student costs the grader
one `fork` instead of a Python start and a 1-4 s framework import, and each
job still runs in its own process.

Protocol (typed in protocol.py): one JSON line per request on stdin, one reply per line on stdout.
    PreloadRequest {"op": "preload", "modules": ["torch"]}         -> PreloadReply {"ok": true}
    RunRequest {"op": "run", "jobdir": "...", "limits": {...}}    -> RunReply {"returncode": int, "timed_out": bool}
`returncode` follows subprocess: negative for a signal.

Inside bubblewrap (`--sweep`) the template is alone in its pid namespace with the
sandbox's init, so after each job it kills every other process there: whatever
a student left running (even after `setsid`) dies before the next job starts.
The template is not dumpable, so a child of the same uid cannot open its
memory or file descriptors through /proc.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import random
import re
import signal
import stat
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pydantic import TypeAdapter

from .limits import Limits
from .limits import apply_rlimits, worker_env
from .protocol import PreloadReply, PreloadRequest, RunReply, RunRequest, TemplateRequest
from .runner import REPORT_FD_ENV, kill_group, publish_report, wait_for_report
from .scratch import WORK_PLACE, filled_any

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_WARM_MODULES = ("numpy", "grader.sandbox.child", "grader.intake.worker.task", "grader.checks.numpy_worker",
                 "grader.checks.training.framework_worker", "grader.checks.framework_probe.worker", "grader.similarity.worker")
"""Every template holds these; frameworks (torch, tensorflow) come with preload requests."""
_REQUEST: TypeAdapter[PreloadRequest | RunRequest] = TypeAdapter(TemplateRequest)
_SWEEP_ROUNDS = 50
_REPORT_FD = 3
"""The child's report pipe (see runner.wait_for_report)."""
_SCRATCH = ("/tmp", "/dev/shm")
"""Writable places of the template's sandbox besides the job folder, wiped after every job."""


def main(argv: list[str]) -> int:
    """Serve jobs until stdin closes."""
    slot, sweep = Path(argv[1]), "--sweep" in argv
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the grader, even after kill -9
    _prctl(_PR_SET_DUMPABLE, 0)
    _preload(_WARM_MODULES)
    _scratch_mounts()  # read the mount table before the first student runs
    _dev_entries()  # and what bubblewrap put in /dev
    commands, replies = sys.stdin.buffer, sys.stdout
    for line in commands:
        request = _REQUEST.validate_json(line)
        reply: PreloadReply | RunReply
        if isinstance(request, PreloadRequest):
            try:
                _preload(request.modules)
                reply = PreloadReply(ok=True)
            except Exception as exc:  # noqa: BLE001 - a broken install: each child then reports its own import error
                reply = PreloadReply(ok=False, error=f"{type(exc).__name__}: {exc}")
        else:
            reply = _run(Path(request.jobdir), request.limits, slot if sweep else None)
        replies.write(reply.model_dump_json() + "\n")
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


def _run(jobdir: Path, limits: Limits, sweep_keeping: Path | None) -> RunReply:
    """Fork a child for the job, wait for it (killing it at the timeout), clean up after it.

    `sweep_keeping` is the slot when the template is alone in a sandbox: then every
    other process is killed and the scratch folders wiped, all but the slot.
    """
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        _child(jobdir, limits, report_w)  # never returns
    os.close(report_w)
    try:
        timed_out, report = wait_for_report(pid, report_r, limits.timeout_s)
    finally:
        os.close(report_r)
    kill_group(pid)  # the child's own session: whatever it forked without setsid dies too
    _, status = os.waitpid(pid, 0)
    full: tuple[str, str] | None = None
    if sweep_keeping is not None:
        _sweep_namespace()
        # Seen now, with no student process left and before the wipe frees the room: the host words the message.
        full = filled_any({WORK_PLACE: jobdir / "work", "/dev/shm": Path("/dev/shm"), "/tmp": Path("/tmp")})
        for scratch in _SCRATCH:
            _wipe(Path(scratch), keep=sweep_keeping)
        _restore_dev()
    else:
        full = filled_any({WORK_PLACE: jobdir / "work"})
    # Only now, with no student process left to rewrite it, does the report the child sent become a file.
    publish_report(jobdir, report)
    return RunReply(returncode=os.waitstatus_to_exitcode(status), timed_out=timed_out, filled=full)


def _child(jobdir: Path, limits: Limits, report_fd: int) -> None:
    """Become a fresh worker for one job, then run it; always ends with os._exit.

    Its report goes into the pipe `report_fd`, kept as descriptor 3 (see runner.wait_for_report).
    """
    code = 1
    try:
        os.setsid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        _first_to_go()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        _redirect(jobdir, report_fd)
        work = jobdir / "work"
        os.chdir(work)
        os.environ.clear()
        os.environ.update(worker_env(work, limits))
        os.environ[REPORT_FD_ENV] = str(_REPORT_FD)
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


def _first_to_go() -> None:
    """Make this child (and all it forks) the OOM killer's first choice in the slot's memory cgroup, before the
    template: raising one's own oom_score_adj needs no privilege."""
    try:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as fh:
            fh.write("1000")
    except OSError:
        pass


def _redirect(jobdir: Path, report_fd: int) -> None:
    """stdin from /dev/null, stdout/stderr to the job's files, the report pipe as descriptor 3, every other
    descriptor closed."""
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(jobdir / "stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(jobdir / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for src, dst in ((null, 0), (out, 1), (err, 2), (report_fd, _REPORT_FD)):
        os.dup2(src, dst)
    os.closerange(_REPORT_FD + 1, os.sysconf("SC_OPEN_MAX"))
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
    """Empty a scratch folder after a job, all but `keep` (the slot) and the mount points.

    What cannot be removed would reach the next student, so then the template
    exits instead: the pool starts a fresh sandbox with a fresh /tmp.
    """
    log = wipe(folder, keep, _scratch_mounts())
    if log.failed:
        raise RuntimeError(f"could not wipe {folder}: {', '.join(log.failed[:5])}")


@functools.lru_cache(maxsize=1)
def _dev_entries() -> dict[str, tuple[int, int, int]]:
    """/dev as bubblewrap made it, read once: name -> (inode, mode, device number)."""
    return {entry.name: _identity(entry.stat(follow_symlinks=False)) for entry in os.scandir("/dev")}


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_mode, st.st_rdev


def _restore_dev() -> None:
    """Remove what a student added to /dev (a tmpfs the sandbox user may write); exit if they changed what was there.

    A file left in /dev would reach the next student, and a removed /dev/null would
    break their worker: then the template exits and the pool starts a fresh sandbox.
    """
    known = _dev_entries()
    log = wipe(Path("/dev"), Path("/dev/shm"), frozenset(f"/dev/{name}" for name in known))
    now = {entry.name: _identity(entry.stat(follow_symlinks=False)) for entry in os.scandir("/dev")}
    if log.failed or now != known:
        raise RuntimeError(f"/dev was changed by a job: {sorted(set(now) ^ set(known)) or log.failed or 'replaced entries'}")


@dataclass
class WipeLog:
    """What one `wipe` did; nothing inside a mount point is ever visited."""

    visited: list[str] = field(default_factory=list)
    """Every entry looked at: removed unless also listed below."""
    skipped: list[str] = field(default_factory=list)
    """Mount points (the slot, a virtualenv bound below /tmp) and `keep`, left with all they hold."""
    kept: list[str] = field(default_factory=list)
    """Directories left because a mount point sits inside them; their other contents are gone."""
    failed: list[str] = field(default_factory=list)
    """Entries that could not be removed, as `path: reason`."""


@dataclass(frozen=True)
class _Walk:
    """What every level of one wipe needs."""

    device: int
    """The scratch folder's filesystem: an entry on another one is a mount point."""
    protected: frozenset[str]
    log: WipeLog


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@functools.lru_cache(maxsize=1)
def _scratch_mounts() -> frozenset[str]:
    """The mount points below the scratch folders, read once: seccomp forbids mount, so they never change."""
    return mounts_below(_SCRATCH)


def mounts_below(folders: Iterable[str], table: str = "/proc/self/mountinfo") -> frozenset[str]:
    """The mount points strictly inside `folders`, from the kernel's mount table (see proc(5))."""
    with open(table, encoding="utf-8", errors="surrogateescape") as fh:  # undecodable bytes as os.fsdecode has them
        points = {_unescape(line.split(" ")[4]) for line in fh if line.count(" ") >= 4}
    prefixes = tuple(f.rstrip("/") + "/" for f in folders)
    return frozenset(p for p in points if p.startswith(prefixes))


def _unescape(text: str) -> str:
    """The kernel writes a space, tab, newline or backslash in a path as an octal escape (`\\040`)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def wipe(folder: Path, keep: Path, mounts: frozenset[str] = frozenset()) -> WipeLog:
    """Delete what the sandbox made inside `folder`, even what a student made unreadable.

    Left alone, with everything inside them unvisited: `keep` and every mount
    point, known from `mounts` or by a device number other than `folder`'s; and
    the directories holding them.  The walk goes through directory descriptors
    and never follows a symlink, so a link a student swaps in cannot redirect it.
    """
    log = WipeLog()
    try:
        fd = _open_dir(None, str(folder))  # a symlink a student put in its place raises: the template then exits
    except FileNotFoundError:
        return log  # not in this sandbox
    try:
        st = os.fstat(fd)
        _own(fd, st)  # a student may have locked the scratch folder itself
        _empty(fd, str(folder).rstrip("/"), _Walk(st.st_dev, mounts | {str(keep)}, log))
    finally:
        os.close(fd)
    return log


def _empty(fd: int, path: str, walk: _Walk) -> bool:
    """Remove every entry of the open directory `fd` (at `path`); True if something had to stay."""
    with os.scandir(fd) as it:
        names = [entry.name for entry in it]  # listed first: removing while reading may skip entries
    kept = False
    for name in names:
        walk.log.visited.append(f"{path}/{name}")
        kept |= _remove(fd, name, f"{path}/{name}", walk)
    return kept


def _remove(parent: int, name: str, path: str, walk: _Walk) -> bool:
    """Remove entry `name` of `parent`; True if it stays (a mount point, or a directory holding one)."""
    try:
        if path in walk.protected:
            walk.log.skipped.append(path)
            return True
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if st.st_dev != walk.device:  # a bind mount the table did not name: never look inside
            walk.log.skipped.append(path)
            return True
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=parent)  # a symlink goes, never what it points at
            return False
        return _remove_dir(parent, name, path, walk)
    except FileNotFoundError:
        return False
    except OSError as exc:
        walk.log.failed.append(f"{path}: {exc.strerror}")
        return True


def _remove_dir(parent: int, name: str, path: str, walk: _Walk) -> bool:
    """Empty directory `name` of `parent` and remove it, unless something inside it stays."""
    fd = _open_dir(parent, name)
    try:
        st = os.fstat(fd)
        if st.st_dev != walk.device:  # cannot happen while seccomp forbids mount; one fstat makes sure
            walk.log.skipped.append(path)
            return True
        _own(fd, st)
        kept = _empty(fd, path, walk)
    finally:
        os.close(fd)
    if kept:
        walk.log.kept.append(path)
    else:
        os.rmdir(name, dir_fd=parent)
    return kept


def _own(fd: int, st: os.stat_result) -> None:
    """Give us rwx on a directory a student locked (d-w------- and the like): else its entries stay."""
    if (st.st_mode & stat.S_IRWXU) != stat.S_IRWXU:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)


def _open_dir(parent: int | None, name: str) -> int:
    """Open directory `name` (of `parent`) without following a symlink, even if its owner made it unreadable."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        pass
    # An O_PATH handle needs no permission on the directory, and chmod through
    # /proc/self/fd reaches the very inode it holds, whatever the name now means.
    handle = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    try:
        os.chmod(f"/proc/self/fd/{handle}", stat.S_IRWXU)
        return os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(handle)


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
