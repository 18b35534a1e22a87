"""The limits and environment every worker runs under, however it was started."""

from __future__ import annotations

import ctypes
import resource
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    """Resource limits of one sandboxed worker run (the rubric's [limits] table)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    timeout_s: float = Field(60.0, gt=0, description="Wall-clock seconds before the worker is killed.")
    cpu_s: int = Field(120, gt=0, description="CPU seconds (RLIMIT_CPU).")
    memory_mb: int = Field(4096, ge=512, description="Memory of the job in MiB: its memory cgroup (with scratch_mb on top, for its files) "
                                                    "and each process's address space (RLIMIT_AS).")
    file_size_mb: int = Field(256, gt=0, description="Largest file the worker may write (RLIMIT_FSIZE).")
    scratch_mb: int = Field(256, ge=16, description="Files the job may keep in all its writable places together "
                                                     "(/tmp, /dev/shm, its working folder): a sized tmpfs, charged to its memory cgroup.")
    threads: int = Field(1, ge=1, description="BLAS/OpenMP/torch threads inside the worker.")
    processes: int = Field(1024, ge=16, description="Processes and threads of the worker's user (RLIMIT_NPROC; root is exempt).")
    open_files: int = Field(1024, ge=64, description="Open file descriptors (RLIMIT_NOFILE).")


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
_MIB = 1 << 20
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAPABILITY_VERSION_3 = 0x20080522


def worker_env(work: Path, limits: Limits) -> dict[str, str]:
    """A cleared environment: no secrets, no PYTHONPATH, one thread per math library."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8"}
    env.update({var: str(limits.threads) for var in THREAD_VARS})
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "MPLBACKEND": "Agg", "CUDA_VISIBLE_DEVICES": ""})
    return env


def apply_rlimits(limits: Limits, *, base_address_space: int = 0) -> None:
    """Limit the calling process: address space, CPU, file size, processes, descriptors, no core.

    `base_address_space` is what the process already maps: a worker forked from a
    warm template starts with numpy and PyTorch mapped, and the student gets
    `memory_mb` on top of that, as a fresh worker gets it on top of nothing.
    """
    address_space = base_address_space + limits.memory_mb * _MIB
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * _MIB, limits.file_size_mb * _MIB))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))


def drop_privileges() -> None:
    """Give up every capability for good; called in the worker before any student code runs.

    Without bubblewrap a worker started by root keeps root's capabilities, and
    CAP_SYS_RESOURCE would let student code raise its own hard limits (setrlimit
    RLIMIT_AS to infinity) and allocate as much memory as the machine has.  With
    no capabilities the kernel refuses any raise above the hard limits set by
    `apply_rlimits`.  no_new_privs and an empty bounding set keep an exec (a
    setuid program, or root's exec rule) from handing any capability back.
    Inside bubblewrap the capabilities are already gone and this changes nothing.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    for cap in range(_last_capability() + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # refused without CAP_SETPCAP, i.e. when there is nothing to drop
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    no_caps = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable; for capabilities 0-31 and 32-63
    if libc.capset(header, no_caps) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"capset: cannot drop the worker's capabilities (errno {errno})")


def _last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 63
