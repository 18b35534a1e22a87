"""A memory cgroup per job: heap, tmpfs and memfd pages, pipes and child processes together.

RLIMIT_AS bounds one process's address space; it does not see files in a tmpfs
(/tmp, /dev/shm), memfd buffers written with `write`, pipe buffers, or a second
process.  A memory cgroup charges all of them to the job, whatever process
made them, and the kernel's OOM killer then acts inside the job, never on the
grader or another student.

The job's cgroups are made below the grader's own (cgroup v1's memory
hierarchy, as on these machines, or cgroup v2), named `nn-grader-<pid>-<n>`,
and removed when the job ends.  Creating them needs write access to the
grader's own cgroup: root, or a delegated cgroup (systemd `Delegate=yes`).
GRADER_CGROUP=off turns the layer off (to test the fallbacks).
"""

from __future__ import annotations

import functools
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_COUNTER = itertools.count()
_PREFIX = "nn-grader-"
_RMDIR_TRIES = 100


@dataclass(frozen=True)
class CgroupSupport:
    """Whether job cgroups can be made here: where (the grader's own memory cgroup), or why not."""

    version: Literal[1, 2] | None
    base: Path | None
    why: str = ""

    @property
    def holds(self) -> bool:
        """Whether each job gets a memory cgroup."""
        return self.base is not None


class JobCgroup:
    """One memory cgroup below the grader's; `close` kills what is left in it and removes it."""

    def __init__(self, support: CgroupSupport, limit_bytes: int) -> None:
        assert support.base is not None and support.version is not None
        self.version = support.version
        self.path = support.base / f"{_PREFIX}{os.getpid()}-{next(_COUNTER)}"
        self.path.mkdir()
        self._procs = str(self.path / "cgroup.procs")
        self.set_limit(limit_bytes)
        self._oom_at_start = self.oom_kills()

    def set_limit(self, limit_bytes: int) -> None:
        """Bound everything charged to the cgroup at `limit_bytes` (swap too, where v1 accounts it)."""
        if self.version == 2:
            _write(self.path / "memory.max", str(limit_bytes))
            _write_optional(self.path / "memory.swap.max", "0")
            return
        memsw = self.path / "memory.memsw.limit_in_bytes"
        # v1 keeps memory <= memory+swap at every step: raise memory+swap first, lower it last.
        if limit_bytes >= self.limit():
            _write_optional(memsw, str(limit_bytes))
            _write(self.path / "memory.limit_in_bytes", str(limit_bytes))
        else:
            _write(self.path / "memory.limit_in_bytes", str(limit_bytes))
            _write_optional(memsw, str(limit_bytes))

    def unlimit(self) -> None:
        """No limit of its own (the grader's cgroup still bounds it): for a template's own imports between jobs."""
        if self.version == 2:
            _write(self.path / "memory.max", "max")
        else:
            _write_optional(self.path / "memory.memsw.limit_in_bytes", "-1")
            _write(self.path / "memory.limit_in_bytes", "-1")

    def limit(self) -> int:
        """The limit now set, in bytes."""
        text = _read(self.path / ("memory.max" if self.version == 2 else "memory.limit_in_bytes"))
        return 1 << 62 if text == "max" else int(text)

    def usage(self) -> int:
        """Bytes charged to the cgroup now."""
        return int(_read(self.path / ("memory.current" if self.version == 2 else "memory.usage_in_bytes")))

    def peak(self) -> int:
        """The most bytes charged to it at once (0 where the kernel does not say)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int(_read(self.path / name))
        except (OSError, ValueError):
            return 0

    def oom_kills(self) -> int:
        """How many processes the kernel has killed in it for want of memory, ever."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in _read(self.path / name).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def ran_out(self) -> bool:
        """Whether the kernel killed a process of this job for want of memory since the cgroup was made."""
        return self.oom_kills() > self._oom_at_start

    def reset_oom(self) -> None:
        """Count kills from now on (a pool's cgroup serves one job after another)."""
        self._oom_at_start = self.oom_kills()

    def enter(self) -> None:
        """Move the calling process into the cgroup: call it in a new worker before it runs anything.

        Safe between fork and exec (subprocess's preexec_fn): a plain write, no allocation worth naming.
        """
        fd = os.open(self._procs, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    def close(self) -> None:
        """Kill every process still in the cgroup and remove it (its pages go to the grader's cgroup)."""
        for _ in range(_RMDIR_TRIES):
            for pid in self._members():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY: a killed process not yet reaped
                time.sleep(0.02)

    def _members(self) -> list[int]:
        try:
            return [int(p) for p in _read(self.path / "cgroup.procs").split()]
        except (OSError, ValueError):
            return []


def memory_cgroups() -> CgroupSupport:
    """Whether job cgroups can be made here (found and tried once per process)."""
    if os.environ.get("GRADER_CGROUP", "auto").lower() == "off":
        return CgroupSupport(None, None, "turned off by GRADER_CGROUP=off")
    return _detect()


@functools.lru_cache(maxsize=1)
def _detect() -> CgroupSupport:
    found = _v1_base() or _v2_base()
    if isinstance(found, str) or found is None:
        return CgroupSupport(None, None, found or "no memory cgroup controller is mounted (/proc/self/mountinfo)")
    version, base = found
    support = CgroupSupport(version, base)
    _remove_stale(base)
    try:
        trial = JobCgroup(support, 64 << 20)
    except OSError as exc:
        return CgroupSupport(None, None, f"cannot make a cgroup below {base} ({exc.strerror}): run as root or delegate it")
    try:
        if trial.limit() != 64 << 20:
            return CgroupSupport(None, None, f"{base}: a memory limit set below it does not read back")
    finally:
        trial.close()
    return support


def _mounts() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fs type, super options) of each mount (proc(5) mountinfo)."""
    rows = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            fields = line.split()
            if "-" not in fields:
                continue
            dash = fields.index("-")
            rows.append((fields[3], fields[4], fields[dash + 1], fields[dash + 3] if len(fields) > dash + 3 else ""))
    return rows


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path in the hierarchy of `controller` ("" for cgroup v2's)."""
    with open("/proc/self/cgroup", encoding="utf-8") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return path
    return None


def _v1_base() -> tuple[Literal[1], Path] | str | None:
    own = _own_cgroup("memory")
    if own is None:
        return None
    for root, point, fstype, options in _mounts():
        if fstype == "cgroup" and "memory" in options.split(","):
            relative = os.path.relpath(own, root) if own.startswith(root) else own.lstrip("/")
            return 1, Path(point) / relative.removeprefix(".").lstrip("/")
    return None


def _v2_base() -> tuple[Literal[2], Path] | str | None:
    own = _own_cgroup("")
    if own is None:
        return None
    for root, point, fstype, _ in _mounts():
        if fstype != "cgroup2":
            continue
        base = Path(point) / os.path.relpath(own, root).removeprefix(".").lstrip("/")
        try:
            if "memory" not in _read(base / "cgroup.controllers").split():
                return f"cgroup v2 at {base} offers no memory controller"
            if "memory" not in _read(base / "cgroup.subtree_control").split():
                _write(base / "cgroup.subtree_control", "+memory")
        except OSError as exc:
            # v2 lets a cgroup hand controllers to children only when no process sits in it itself.
            return f"cgroup v2 at {base}: cannot enable memory for its children ({exc.strerror}); run the grader in a delegated cgroup of its own"
        return 2, base
    return None


def _remove_stale(base: Path) -> None:
    """Empty job cgroups left by a grader that was killed (kill -9 skips its cleanup)."""
    for folder in base.glob(f"{_PREFIX}*"):
        pid = folder.name.removeprefix(_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            try:
                folder.rmdir()
            except OSError:
                pass


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()


def _write(path: Path, value: str) -> None:
    with open(path, "w", encoding="ascii") as fh:
        fh.write(value)


def _write_optional(path: Path, value: str) -> None:
    """Write a control file the kernel may not have (no swap accounting)."""
    try:
        _write(path, value)
    except FileNotFoundError:
        pass
