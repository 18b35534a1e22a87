"""Cluster figures for bench/batch.py --scheduler ADDR: the class on Dask workers against local --jobs, and per-task overhead.

Start the cluster first, e.g. on this machine two single-thread workers:

    dask scheduler --host 127.0.0.1 --port 8786 &
    GRADER_MNIST_DIR=... dask worker tcp://127.0.0.1:8786 --nthreads 1 --nworkers 2 --memory-limit 0 &
    .venv/bin/python bench/batch.py --n 100 --jobs 2 --baseline 0 --scheduler tcp://127.0.0.1:8786

The workers' plugin (pool, PyTorch, MNIST) is set up by a small warm-up run first, as on a
department's standing workers; then the class is graded locally with --jobs and on the cluster,
each through `grade` in a fresh process, twice, in the order local, cluster, cluster, local
(so that other load that comes and goes weighs on both alike).  The per-task overhead is
measured with one student at a time (nothing queued): the client's round trip minus the
worker's own grading time, i.e. packing, Dask's scheduling and transfers, unpacking, and
validating the report.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
OVERHEAD_CHECKS = ("numpy.relu.backward",)
"""One cheap check: the overhead does not depend on what is graded."""


def cluster_figures(klass: Path, tmp: Path, *, scheduler: str, jobs: int, mnist: list[str], n: int,
                    timed_grade: Callable[[list[str]], tuple[float, int]], rounds: int = 20) -> None:
    """Print local wall, cluster wall, their ratio and the per-task overhead for the class in `klass`."""
    warm = tmp / "warm-class"
    for sub in sorted(klass.iterdir())[:2]:
        shutil.copytree(sub, warm / sub.name)
    setup, _ = timed_grade([str(warm), "--out", str(tmp / "warm-out"), "--scheduler", scheduler, *mnist])
    print(f"cluster warm-up: {setup:5.1f} s (plugin setup on every worker, 2 submissions)")
    idle_load = os.getloadavg()[0]  # before the runs: what the rest of the machine is doing
    # local, cluster, cluster, local: a load that rises or falls meanwhile weighs on both alike.
    walls: dict[str, list[float]] = {"local": [], "cluster": []}
    for i, where in enumerate(("local", "cluster", "cluster", "local")):
        args = ["--jobs", str(jobs)] if where == "local" else ["--scheduler", scheduler]
        wall, _ = timed_grade([str(klass), "--out", str(tmp / f"{where}-out-{i}"), *args, *mnist])
        walls[where].append(wall)
        print(f"{where + ':':11} {wall:6.1f} s wall, {n / wall:5.2f} submissions/s"
              + (f", --jobs {jobs}" if where == "local" else ", 2 workers' threads"))
    local, remote = sum(walls["local"]), sum(walls["cluster"])
    print(f"ratio:      {remote / local:.2f}x the local wall over both pairs (target under 1.2); "
          f"load {idle_load:.1f} before the runs (1-minute average: other work on the machine slows both)")
    overhead = per_task_overhead(klass, scheduler=scheduler, mnist=mnist, rounds=rounds)
    print(f"per task:   {statistics.median(overhead) * 1000:6.1f} ms overhead (median of {len(overhead)} one-at-a-time "
          f"round trips; min {min(overhead) * 1000:.1f}, max {max(overhead) * 1000:.1f})")


def per_task_overhead(klass: Path, *, scheduler: str, mnist: list[str], rounds: int) -> list[float]:
    """Seconds each of `rounds` students spent outside the worker's grading, sent one at a time."""
    from grader.checks.builtin import BUILTIN
    from grader.cluster.client import Arrival, ClusterOptions, open_session
    from grader.cluster.nolocal import NoLocalRunner
    from grader.mnist import load_mnist
    from grader.rubric import load_rubric
    from grader.settings import GradeSettings, MnistCache

    mnist_dir = Path(mnist[1]) if mnist else None
    settings = GradeSettings(rubric=load_rubric(None, BUILTIN), mnist=MnistCache(lambda: load_mnist(mnist_dir, progress=False)),
                             runner=NoLocalRunner(), seed=0, only=OVERHEAD_CHECKS)
    subs = sorted(klass.iterdir())
    overheads = []
    with open_session(ClusterOptions(scheduler), settings) as (session, _):
        for i in range(rounds):
            sub = subs[i % len(subs)]
            start = time.perf_counter()
            sent = session.submit(sub)
            arrival = sent if isinstance(sent, Arrival) else session.collect(sent, sub)
            overheads.append(time.perf_counter() - start - arrival.worker_seconds)
    return overheads
