"""What holds one worker folder's memory and files: its memory cgroup and its sized tmpfs.

A cold worker's job folder gets both for its one job; a warm template's slot
gets both for the template's life, and each job resets them (`prepare`): the
cgroup's limit becomes what the template holds now plus the job's budget, the
tmpfs's size what the slot holds now plus the job's scratch.  After the job,
`overrun` says whether it hit either bound, for the student's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..records import Phase, RunError
from ..text import Message, msg, verbatim
from ..text.message import Verbatim
from .cgroup import JobCgroup
from .isolation import Isolation, Scratch
from .limits import Limits
from .scratch import MIB, SCRATCH_DIRS, WORK_PLACE, ScratchMount, filled, scratch_bytes, scratch_inodes

PLACES = {"tmp": "/tmp", "shm": "/dev/shm"}
"""A mounted folder's scratch folders -> where the student sees them."""


@dataclass(frozen=True)
class Overrun:
    """A job that hit a bound: which, and where its files were."""

    bound: str
    """"memory", "scratch_bytes" or "scratch_files"."""
    where: str = ""


def memory_budget(limits: Limits) -> int:
    """Bytes a job may hold in its cgroup: its memory and its files (tmpfs pages are charged there too)."""
    return limits.memory_mb * MIB + scratch_bytes(limits)


class Containment:
    """The cgroup and scratch tmpfs of one folder; `close` removes both (killing what is left in the cgroup)."""

    def __init__(self, isolation: Isolation, folder: Path, limits: Limits) -> None:
        self.folder = folder
        self.mount: ScratchMount | None = None
        self.cgroup: JobCgroup | None = None
        try:
            if isolation.mounts_scratch:
                self.mount = ScratchMount(folder, scratch_bytes(limits), scratch_inodes(limits))
            if isolation.cgroups.holds:
                self.cgroup = JobCgroup(isolation.cgroups, memory_budget(limits))
        except BaseException:
            self.close()
            raise

    def scratch(self, limits: Limits) -> Scratch:
        """Where the sandbox's /tmp and /dev/shm come from, and how large bwrap's own tmpfs are."""
        return Scratch(scratch_bytes(limits), self.folder if self.mount is not None else None)

    def make_room(self, limits: Limits, inputs: int) -> None:
        """Room for a job's `inputs` bytes, written by the grader before `prepare`."""
        if self.mount is not None:
            self.mount.resize(self.mount.use().bytes + inputs + scratch_bytes(limits))

    def prepare(self, limits: Limits) -> None:
        """Give the next job its bounds on top of what the folder and cgroup hold now (its inputs, a template)."""
        if self.mount is not None:
            self.mount.resize(self.mount.use().bytes + scratch_bytes(limits))
        if self.cgroup is not None:
            self.cgroup.set_limit(self.cgroup.usage() + memory_budget(limits))
            self.cgroup.reset_oom()

    def relax(self) -> None:
        """Lift the cgroup's job limit between jobs, while only the template runs (its framework imports)."""
        if self.cgroup is not None:
            self.cgroup.unlimit()

    def enter(self) -> None:
        """Put the calling process into the cgroup (a new worker, before it runs anything)."""
        if self.cgroup is not None:
            self.cgroup.enter()

    def overrun(self, work: Path | None = None) -> Overrun | None:
        """Whether the job just run hit its scratch or its memory bound; `work` is its working folder, when mounted."""
        if self.mount is not None:
            places = {WORK_PLACE: work} if work is not None else {}
            full = filled(self.folder, places | {place: self.folder / name for name, place in PLACES.items()})
            if full is not None:
                return Overrun(*full)
        return self.memory_overrun()

    def memory_overrun(self) -> Overrun | None:
        """Whether the kernel killed a process of the job for want of memory."""
        if self.cgroup is not None and self.cgroup.ran_out():
            return Overrun("memory")
        return None

    def close(self) -> None:
        """Kill what is left in the cgroup, remove it, and unmount the tmpfs."""
        if self.cgroup is not None:
            self.cgroup.close()
            self.cgroup = None
        if self.mount is not None:
            self.mount.close()
            self.mount = None


def overrun_error(overrun: Overrun, limits: Limits, phase: Phase, detail: str) -> RunError:
    """The student's message for a job that hit a bound, in their terms."""
    if overrun.bound == "memory":
        return RunError("memory", phase, msg("sandbox.memory_total", size=size_text(limits.memory_mb)), detail)
    where = _place(overrun.where)
    if overrun.bound == "scratch_files":
        return RunError("memory", phase, msg("sandbox.scratch_files", count=scratch_inodes(limits), where=where), detail)
    return RunError("memory", phase, msg("sandbox.scratch_full", size=size_text(limits.scratch_mb), where=where), detail)


def _place(where: str) -> Message | Verbatim:
    """/tmp and /dev/shm as they are; the working folder in the student's language."""
    return msg("sandbox.working_folder") if where == WORK_PLACE else verbatim(where)


def size_text(mib: int) -> str:
    """'2 GiB', '256 MiB': a size as a student reads it."""
    return f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"


__all__ = ["SCRATCH_DIRS", "WORK_PLACE", "Containment", "Overrun", "memory_budget", "overrun_error", "size_text"]
