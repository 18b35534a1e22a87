"""Cost of a worker: the same small job, cold (a new Python per job) and warm (forked from a template).

    .venv/bin/python bench/isolation.py [--runs 20] [--venv-under-tmp]

Prints the median wall time of one worker run (a Softmax forward) with rlimits only and
with bubblewrap + seccomp, cold and warm: the cost of the stronger sandbox, and what the
warm pool (sandbox/pool.py) saves per check under the same isolation.

`--venv-under-tmp` measures the same rows again with the virtualenv copied below /tmp
(`cp -a`), where the sandbox ro-binds it below its own private /tmp that each warm
template wipes after every job, and prints both columns and their ratio.  The copy
runs this script as a subprocess: the sandbox binds the *grader process's* sys.prefix.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from grader.checks.softmax_stability.worker import TASK as STABILITY
from grader.checks.softmax_stability.worker import StabilityParams
from grader.intake import load_submission
from grader.sandbox.limits import Limits
from grader.sandbox import Job, Runner, SubprocessRunner
from grader.sandbox.isolation import Isolation, select_isolation
from grader.sandbox.pool import WarmRunner

SOFTMAX = "import numpy as np\n\nclass Softmax:\n    def forward(self, x):\n        e = np.exp(x - x.max())\n        return e / e.sum()\n"
WARM_GOAL = 2.0
"""The warm sandboxed check with the venv below /tmp should cost at most this many times its cost elsewhere."""


def median_run_seconds(runner: Runner, job: Job, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = runner.run(job, {"x": np.ones((1, 3))}, Limits(), phase="forward")
        assert result.error is None, result.error
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def softmax_job() -> Job:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "hw.py").write_text(SOFTMAX, encoding="utf-8")
        part = load_submission(Path(tmp)).numpy_part
        assert part is not None
        return STABILITY.job(part.units, StabilityParams(), part.supplied_imports)


def measure(runs: int) -> dict[str, float]:
    """Median seconds per worker run, by row label: cold and warm, rlimits only and the strongest sandbox."""
    job = softmax_job()
    isolations = [select_isolation("rlimits")]
    strong = select_isolation("auto")
    if "bwrap" in strong.layers:
        isolations.append(strong)
    rows = {f"cold, {_name(i)}": median_run_seconds(SubprocessRunner(isolation=i), job, runs) for i in isolations}
    for isolation in isolations:
        with WarmRunner(1, isolation=isolation) as warm:
            median_run_seconds(warm, job, 1)  # the template's own start is paid once per batch
            rows[f"warm, {_name(isolation)}"] = median_run_seconds(warm, job, runs)
    return rows


def _name(isolation: Isolation) -> str:
    return "rlimits only" if isolation.bwrap is None else " + ".join(isolation.layers)


def print_rows(rows: dict[str, float], runs: int) -> None:
    for label, seconds in rows.items():
        print(f"{label:42s} {seconds * 1000:7.1f} ms per worker run (median of {runs})")
    cold = [s for label, s in rows.items() if label.startswith("cold")]
    if len(cold) < 2:
        print("bubblewrap unavailable here: nothing to compare")
    else:
        print(f"isolation overhead: {(cold[1] - cold[0]) * 1000:6.1f} ms per cold worker start")


def measure_under_tmp(runs: int) -> tuple[dict[str, float], float]:
    """The same rows with the virtualenv copied below /tmp, and how long the copy took."""
    if sys.prefix == sys.base_prefix:
        raise SystemExit("--venv-under-tmp copies the virtualenv: run this with a venv's python")
    with tempfile.TemporaryDirectory(prefix="nn-grader-bench-venv-", dir="/tmp") as tmp:
        copy = Path(tmp) / ".venv"
        start = time.perf_counter()
        subprocess.run(["cp", "-a", sys.prefix, str(copy)], check=True)
        copied = time.perf_counter() - start
        # `<copy>/bin/python` finds its pyvenv.cfg, so its sys.prefix is the copy; the editable
        # install's finder is absolute, so the grader package still comes from this checkout.
        done = subprocess.run([str(copy / "bin" / "python"), __file__, "--runs", str(runs), "--json"],
                              check=True, capture_output=True, text=True)
        rows: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
        return rows, copied


def print_comparison(elsewhere: dict[str, float], under_tmp: dict[str, float]) -> None:
    print(f"\nvenv at {sys.prefix} (elsewhere) vs a copy below /tmp:")
    print(f"{'':42s} {'elsewhere':>10s} {'under /tmp':>11s} {'ratio':>7s}")
    for label, seconds in elsewhere.items():
        other = under_tmp.get(label, float("nan"))
        print(f"{label:42s} {seconds * 1000:7.1f} ms {other * 1000:8.1f} ms {other / seconds:6.2f}x")
    warm = [label for label in elsewhere if label.startswith("warm") and "bwrap" in label]
    if warm:
        ratio = under_tmp[warm[0]] / elsewhere[warm[0]]
        verdict = "met" if ratio <= WARM_GOAL else "NOT met"
        print(f"goal: warm sandboxed check under /tmp within {WARM_GOAL:g}x of elsewhere: {ratio:.2f}x, {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--venv-under-tmp", action="store_true",
                        help="also measure with the virtualenv copied below /tmp, and print the ratio")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the copy's report to its parent
    args = parser.parse_args()
    rows = measure(args.runs)
    if args.json:
        print(json.dumps(rows))
        return
    print_rows(rows, args.runs)
    if args.venv_under_tmp:
        under_tmp, copied = measure_under_tmp(args.runs)
        print(f"\n(copied the venv below /tmp in {copied:.1f} s)")
        print_comparison(rows, under_tmp)


if __name__ == "__main__":
    main()
