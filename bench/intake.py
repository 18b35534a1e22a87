"""Cost of reading a submission: intake in the sandboxed worker, per submission.

    .venv/bin/python bench/intake.py [--runs 10]

Every file of a submission is decoded, extracted and parsed in a sandboxed intake worker
(grader/intake/reader.py); the grader's process only validates what comes back. Prints the
median wall time of `load_submission` per example submission (submissions/ and tests/corpus/),
warm (forked from a template, as `grade` runs it) and cold (a new Python per worker run).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from grader.intake import load_submission
from grader.sandbox import Runner, SubprocessRunner
from grader.sandbox.pool import WarmRunner

REPO = Path(__file__).resolve().parents[1]


def median_seconds(folder: Path, runner: Runner, runs: int) -> float:
    """Median wall time of reading `folder` through `runner`."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        load_submission(folder, runner=runner)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    folders = sorted([*(REPO / "submissions").iterdir(), *(p for p in (REPO / "tests" / "corpus").iterdir() if p.is_dir())])
    cold = SubprocessRunner()
    with WarmRunner(1) as warm:
        load_submission(folders[0], runner=warm)  # the template's own start is paid once per batch
        print(f"{'submission':28s} {'files':>5s} {'KiB':>7s} {'warm ms':>8s} {'cold ms':>8s}   ({', '.join(warm.isolation.layers)})")
        rows = []
        for folder in folders:
            files = [p for p in folder.rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files) / 1024
            rows.append((median_seconds(folder, warm, args.runs), median_seconds(folder, cold, max(1, args.runs // 3))))
            print(f"{folder.name:28s} {len(files):5d} {size:7.1f} {rows[-1][0] * 1000:8.1f} {rows[-1][1] * 1000:8.1f}")
    print(f"median over {len(rows)} submissions: warm {statistics.median(r[0] for r in rows) * 1000:.1f} ms, "
          f"cold {statistics.median(r[1] for r in rows) * 1000:.1f} ms per submission")


if __name__ == "__main__":
    main()
