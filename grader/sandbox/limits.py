"""The limits and environment every worker runs under, however it was started."""

from __future__ import annotations

import resource
from pathlib import Path

from ..rubric import Limits

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
_MIB = 1 << 20


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
