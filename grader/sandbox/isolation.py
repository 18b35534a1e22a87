"""Which isolation layers hold the worker, strongest available first.

    bwrap     bubblewrap: new user/pid/net/ipc/uts namespaces, uid 65534 inside, a
              filesystem of read-only allowlisted paths (system, Python, the
              grader package; never the staff solution, rubrics, other students
              or MNIST labels), private /tmp, only the job's out/ and work/
              writable, dies with its parent
    seccomp   a BPF filter loaded by bwrap (see seccomp.py); it also refuses
              memfd_create where no memory cgroup holds
    cgroup    a memory cgroup per job: heap, tmpfs and memfd pages, pipes and
              child processes together, within memory_mb + scratch_mb (cgroup.py)
    scratch   every writable place of a job on one sized tmpfs the grader mounts
              (scratch.py); without it bwrap's own --size tmpfs cover /tmp,
              /dev/shm and work/, and out/ stays on the host's disk
    rlimits   address space, CPU seconds, file size, processes, no core files
    timeout   wall-clock limit; the whole process group is killed

GRADER_SANDBOX=auto (default) uses bwrap when it works here and falls back,
with one warning, to rlimits; GRADER_SANDBOX=rlimits forces the fallback;
GRADER_SANDBOX=bwrap refuses to run without it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .cgroup import CgroupSupport, memory_cgroups
from .scratch import SCRATCH_DIRS, mountable
from .seccomp import filter_program

BASE_LAYERS = ("rlimits", "timeout")
SYSTEM_DIRS = ("/usr", "/etc")
HIDDEN_FILES = ("/etc/shadow", "/etc/gshadow")


@dataclass(frozen=True)
class Scratch:
    """Where a sandbox's /tmp and /dev/shm come from."""

    size: int
    """Bytes of each tmpfs bubblewrap makes (a job's scratch limit plus room for the grader's files)."""
    mounted: Path | None = None
    """The grader's sized tmpfs (a job folder or a slot) whose tmp/ and shm/ become /tmp and /dev/shm;
    None: bubblewrap makes a tmpfs of `size` for each."""


@dataclass(frozen=True)
class Isolation:
    """How workers are started, and the layers that then hold them."""

    layers: tuple[str, ...]
    bwrap: str | None = None
    cgroups: CgroupSupport = CgroupSupport(None, None, "not asked for")

    def argv(self, python: str, jobdir: Path, seccomp_fd: int | None, scratch: Scratch | None = None) -> list[str]:
        """The command that starts the worker for `jobdir`."""
        worker = [python, "-I", "-m", "grader.sandbox.child", str(jobdir)]
        if self.bwrap is None:
            return worker
        scratch = scratch or Scratch(0)
        work = jobdir / "work"
        # On the grader's tmpfs work/ may be bound; on the disk it gets a sized tmpfs of its own.
        writable, sized = ([jobdir / "out", work], ()) if scratch.mounted else ([jobdir / "out"], (work,))
        return [self.bwrap, *_bwrap_args([jobdir], writable, work, seccomp_fd, scratch, sized), "--", *worker]

    def server_argv(self, python: str, slot: Path, seccomp_fd: int | None, scratch: Scratch | None = None) -> list[str]:
        """The command that starts a warm template (forkserver.py) whose jobs live in `slot`."""
        server = [python, "-I", "-m", "grader.sandbox.forkserver", str(slot)]
        if self.bwrap is None:
            return server
        return [self.bwrap, *_bwrap_args([], [slot], slot, seccomp_fd, scratch or Scratch(0)), "--", *server, "--sweep"]

    @property
    def uses_seccomp(self) -> bool:
        """Whether a seccomp program must be handed to bwrap."""
        return "seccomp" in self.layers

    @property
    def mounts_scratch(self) -> bool:
        """Whether job folders and slots are sized tmpfs the grader mounts (the `scratch` layer)."""
        return "scratch" in self.layers

    @property
    def deny_memfd(self) -> bool:
        """Whether seccomp refuses memfd_create: where no cgroup charges its pages to the job."""
        return not self.cgroups.holds


def select_isolation(mode: str | None = None) -> Isolation:
    """The strongest isolation this machine offers, per GRADER_SANDBOX (see module doc)."""
    mode = (mode or os.environ.get("GRADER_SANDBOX", "auto")).lower()
    if mode not in ("auto", "bwrap", "rlimits"):
        raise UsageError(f"GRADER_SANDBOX={mode!r} is not one of auto, bwrap, rlimits; unset it to use the default (auto)")
    cgroups = memory_cgroups()
    contained = (*(("cgroup",) if cgroups.holds else ()), *(("scratch",) if mountable()[0] else ()))
    if mode == "rlimits":
        return Isolation((*contained, *BASE_LAYERS), cgroups=cgroups)
    bwrap, why = _working_bwrap()
    if bwrap is None:
        if mode == "bwrap":
            raise UsageError(f"GRADER_SANDBOX=bwrap but bubblewrap cannot run here: {why}; install it (apt install bubblewrap)")
        _warn_once(f"grader: bubblewrap unavailable ({why}); student code runs with rlimits and a timeout only")
        return Isolation((*contained, *BASE_LAYERS), cgroups=cgroups)
    seccomp = ("seccomp",) if filter_program() is not None else ()
    return Isolation(("bwrap", *seccomp, *contained, *BASE_LAYERS), bwrap, cgroups)


def working_bwrap() -> tuple[str | None, str]:
    """(bwrap's path, "") when a trial sandbox starts here, else (None, why not).

    The very answer select_isolation decides on (cached per process), for `grade --doctor`.
    """
    return _working_bwrap()


@functools.lru_cache(maxsize=1)
def _working_bwrap() -> tuple[str | None, str]:
    """bwrap's path if a trial sandbox starts (user namespaces may be disabled), else why not."""
    path = shutil.which("bwrap")
    if path is None:
        return None, "bwrap is not installed"
    # The mounts of a real sandbox (_bwrap_args) too: inside a container whose /proc is masked
    # (Docker, so Gradescope) bwrap starts but cannot mount a new /proc, and every worker would
    # then die at its start instead of the grader falling back to rlimits and the timeout.
    trial = [path, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--uid", "65534",
             "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--die-with-parent", "true"]
    try:
        done = subprocess.run(trial, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"trial run failed: {exc}"
    if done.returncode != 0:
        return None, done.stderr.decode("utf-8", "replace").strip()[:200] or f"trial run exited {done.returncode}"
    return path, ""


@functools.lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _bwrap_args(readable: list[Path], writable: list[Path], chdir: Path, seccomp_fd: int | None, scratch: Scratch | None = None,
                sized: tuple[Path, ...] = ()) -> list[str]:
    scratch = scratch or Scratch(0)
    args = ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--dev", "/dev", "--proc", "/proc"]
    # Every tmpfs bwrap makes has a size: a tmpfs without one may take half the machine's memory.
    for place, name in zip(("/tmp", "/dev/shm"), SCRATCH_DIRS):
        if scratch.mounted is not None:
            args += ["--bind", str(scratch.mounted / name), place]
        else:
            args += _sized_tmpfs(place, scratch.size)
    for link in ("bin", "sbin", "lib", "lib64", "lib32"):
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
    for path in _readable_paths():
        args += ["--ro-bind", path, path]
    for hidden in HIDDEN_FILES:
        if Path(hidden).exists():
            args += ["--ro-bind", "/dev/null", hidden]
    for folder in _hidden_packages():
        args += [*_sized_tmpfs(folder, 4096), "--remount-ro", folder]
    for ro in readable:
        args += ["--ro-bind", str(ro), str(ro)]
    for rw in writable:
        args += ["--bind", str(rw), str(rw)]
    for own in sized:
        args += _sized_tmpfs(str(own), scratch.size)
    args += ["--chdir", str(chdir)]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return args


def _sized_tmpfs(place: str, size: int) -> list[str]:
    """bwrap's arguments for a tmpfs of `size` bytes at `place` (64 MiB when unset); unsized where bwrap is
    older than 0.7 (Ubuntu 22.04 has 0.6), which doctor reports."""
    return ["--size", str(size or 64 << 20), "--tmpfs", place] if bwrap_sizes_tmpfs() else ["--tmpfs", place]


@functools.lru_cache(maxsize=1)
def bwrap_sizes_tmpfs() -> bool:
    """Whether this machine's bubblewrap takes `--size` (0.7 and later)."""
    path = _working_bwrap()[0]
    if path is None:
        return False
    trial = [path, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--size", str(1 << 20), "--tmpfs", "/tmp", "true"]
    try:
        return subprocess.run(trial, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.lru_cache(maxsize=1)
def _hidden_packages() -> tuple[str, ...]:
    """The staff solution, wherever it is installed, covered by an empty folder."""
    spec = importlib.util.find_spec("reference")
    if spec is None or not spec.submodule_search_locations:
        return ()
    return tuple(os.path.realpath(p) for p in spec.submodule_search_locations)


@functools.lru_cache(maxsize=1)
def _readable_paths() -> tuple[str, ...]:
    """System dirs, the Python installation and virtualenv, and the grader package: nothing else."""
    import grader  # the package's own location, wherever it is installed

    paths = [p for p in SYSTEM_DIRS if Path(p).is_dir()]
    paths += [sys.base_prefix, sys.prefix, str(Path(grader.__file__).resolve().parent)]
    return tuple(dict.fromkeys(os.path.realpath(p) for p in paths))
