"""Cost of a worker: the same small job, cold (a new Python per job) and warm (forked from a template).

    .venv/bin/python bench/isolation.py [--runs 20]

Prints the median wall time of one worker run (a Softmax forward) with rlimits only and
with bubblewrap + seccomp, cold and warm: the cost of the stronger sandbox, and what the
warm pool (sandbox/pool.py) saves per check under the same isolation.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from grader.intake import load_submission
from grader.rubric import Limits
from grader.sandbox import Job, Runner, SubprocessRunner
from grader.sandbox.pool import WarmRunner
from grader.sandbox.isolation import select_isolation

SOFTMAX = "import numpy as np\n\nclass Softmax:\n    def forward(self, x):\n        e = np.exp(x - x.max())\n        return e / e.sum()\n"


def median_run_seconds(runner: Runner, job: Job, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = runner.run(job, {"x": np.ones((1, 3))}, Limits(), phase="forward")
        assert result.error is None, result.error
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "hw.py").write_text(SOFTMAX, encoding="utf-8")
        part = load_submission(Path(tmp)).numpy_part
        assert part is not None
        job = Job(task="softmax_stability", units=part.units)
        base = median_run_seconds(SubprocessRunner(isolation=select_isolation("rlimits")), job, args.runs)
        print(f"rlimits only:      {base * 1000:7.1f} ms per worker run (median of {args.runs})")
        strong = select_isolation("auto")
        if "bwrap" not in strong.layers:
            print("bubblewrap unavailable here: nothing to compare")
            return
        full = median_run_seconds(SubprocessRunner(isolation=strong), job, args.runs)
        print(f"{' + '.join(strong.layers):18s} {full * 1000:7.1f} ms per worker run")
        print(f"isolation overhead: {(full - base) * 1000:6.1f} ms per worker start")
        for isolation in (select_isolation("rlimits"), strong):
            with WarmRunner(1, isolation=isolation) as warm:
                median_run_seconds(warm, job, 1)  # the template's own start is paid once per batch
                took = median_run_seconds(warm, job, args.runs)
            print(f"warm, {' + '.join(isolation.layers):12s} {took * 1000:7.1f} ms per worker run (forked from a template)")


if __name__ == "__main__":
    main()
