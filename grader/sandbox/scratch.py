"""A job's writable places on one sized tmpfs the grader mounts, never on the host's disk.

Without this, a worker's out/ and work/ folders (and a warm template's slot) are
folders on the host's disk under $TMPDIR: RLIMIT_FSIZE bounds one file, not how
many, so a student could fill the disk.  When the grader may mount (root with
CAP_SYS_ADMIN, as on the grading machines and in most CI containers) each job
folder, or each template slot, is a tmpfs of its own with a size and an inode
count, and bubblewrap binds its `tmp/` and `shm/` folders at /tmp and /dev/shm:
so everything a job writes anywhere counts against one `scratch_mb`, and its
pages are charged to the job's memory cgroup.  The host reads the job's results
from it before unmounting.

Where the grader may not mount, bubblewrap's own `--size` tmpfs cover /tmp,
/dev/shm and a cold worker's work/ (each sized `scratch_mb`), and out/ stays on
the disk (doctor.py says so).
"""

from __future__ import annotations

import ctypes
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .limits import Limits

MIB = 1 << 20
RESERVE_BYTES = 32 * MIB
"""Room beyond `scratch_mb` for the grader's own result files (out/arrays.npz, stdout and stderr)."""
FILES_PER_MIB = 40
"""Inodes per MiB of scratch (10,240 for 256 MiB): many small files cost kernel memory a size does not count."""
SCRATCH_DIRS = ("tmp", "shm")
"""Folders of a mounted job folder or slot that bubblewrap shows as /tmp and /dev/shm."""
_MS_NOSUID, _MS_NODEV, _MS_REMOUNT = 2, 4, 32
_MNT_DETACH = 2


@dataclass(frozen=True)
class Use:
    """How much of a scratch tmpfs is in use."""

    bytes: int
    files: int


class ScratchMount:
    """One tmpfs mounted by the grader at `path` (an empty folder), unmounted by `close`."""

    def __init__(self, path: Path, size_bytes: int, inodes: int) -> None:
        self.path = path
        self.inodes = inodes
        _mount(path, size_bytes, inodes, remount=False)
        self.size = size_bytes
        for name in SCRATCH_DIRS:
            (path / name).mkdir()

    def resize(self, size_bytes: int) -> None:
        """Change its size (never below what it holds now); the same tmpfs everywhere it is bound."""
        _mount(self.path, size_bytes, self.inodes, remount=True)
        self.size = size_bytes

    def use(self) -> Use:
        """Bytes and files in it now."""
        st = os.statvfs(self.path)
        return Use((st.f_blocks - st.f_bfree) * st.f_frsize, st.f_files - st.f_ffree)

    def close(self) -> None:
        """Unmount it (lazily: a template still bound to it lets go when it dies); its pages are freed."""
        libc = ctypes.CDLL(None, use_errno=True)
        libc.umount2(os.fsencode(self.path), _MNT_DETACH)


WORK_PLACE = "the working folder"
"""How a student's message names the job's working folder (its HOME and TMPDIR)."""
_DU_ENTRIES = 100_000


def filled(folder: Path, places: dict[str, Path]) -> tuple[str, str] | None:
    """(bound, place) when the tmpfs holding `folder` has no room left, else None.

    bound is "scratch_files" (no inode left) or "scratch_bytes"; place is the key of `places` (where the
    student sees a folder -> where this process reaches it) whose files take the most room; a file reachable
    from two places counts for the first listed.
    """
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_ffree > 2 and st.f_bavail * st.f_frsize >= MIB:
        return None
    bound = "scratch_files" if st.f_ffree <= 2 else "scratch_bytes"
    seen: set[tuple[int, int]] = set()
    sizes = {place: _du(path, seen, count_files=bound == "scratch_files") for place, path in places.items()}
    return bound, max(sizes, key=lambda place: sizes[place]) if sizes else WORK_PLACE


def filled_any(places: dict[str, Path]) -> tuple[str, str] | None:
    """`filled` for each filesystem among `places` (one tmpfs for all, or bubblewrap's one per place)."""
    devices: dict[int, dict[str, Path]] = {}
    for place, path in places.items():
        try:
            devices.setdefault(os.stat(path, follow_symlinks=False).st_dev, {})[place] = path
        except OSError:
            continue
    for same in devices.values():
        full = filled(next(iter(same.values())), same)
        if full is not None:
            return full
    return None


def _du(folder: Path, seen: set[tuple[int, int]], *, count_files: bool = False) -> int:
    """Bytes (or, with `count_files`, entries) below `folder` not in `seen` (inodes already counted under another
    place: a slot is visible below /tmp too), never following a link; at most `_DU_ENTRIES` looked at."""
    total, stack = 0, [str(folder)]
    while stack and len(seen) < _DU_ENTRIES:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            total += 1 if count_files else st.st_blocks * 512
    return total


def scratch_bytes(limits: Limits, extra: int = 0) -> int:
    """The size of a job's tmpfs: its scratch limit, room for the grader's result files, and `extra` (its inputs)."""
    return limits.scratch_mb * MIB + RESERVE_BYTES + extra


def scratch_inodes(limits: Limits) -> int:
    """How many files a job's tmpfs may hold."""
    return max(1024, limits.scratch_mb * FILES_PER_MIB)


def mountable() -> tuple[bool, str]:
    """(True, "") when this process may mount a tmpfs for job folders, else (False, why not); tried once."""
    if os.environ.get("GRADER_SCRATCH_MOUNT", "auto").lower() == "off":
        return False, "turned off by GRADER_SCRATCH_MOUNT=off"
    return _try_mount()


@functools.lru_cache(maxsize=1)
def _try_mount() -> tuple[bool, str]:
    trial = Path(tempfile.mkdtemp(prefix="nn-grader-mount-"))
    try:
        mount = ScratchMount(trial, MIB, 16)
    except OSError as exc:
        trial.rmdir()
        return False, f"cannot mount a tmpfs ({exc.strerror}): the grader is not root with CAP_SYS_ADMIN"
    mount.close()  # its tmp/ and shm/ go with it
    trial.rmdir()
    return True, ""


def _mount(path: Path, size_bytes: int, inodes: int, *, remount: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    flags = _MS_NOSUID | _MS_NODEV | (_MS_REMOUNT if remount else 0)
    options = f"size={size_bytes},nr_inodes={inodes},mode=0700".encode()
    if libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", flags, options) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount tmpfs on {path}: {os.strerror(errno)}")
