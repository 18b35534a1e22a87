"""Batch grading speed and memory: a synthetic class of N submissions, graded through `grade`.

    .venv/bin/python bench/batch.py [--n 100] [--framework pytorch|tensorflow] [--jobs 2]
                                    [--baseline 10] [--mnist DIR] [--scheduler ADDR]

The class is a realistic mix built from tests/corpus: 60 % correct (Markdown and notebook
hand-ins), 25 % with one bug (a wrong layer gradient, a sign-flipped model, a missing ReLU),
10 % crashing (syntax error, sys.exit at import) and 5 % slow (a Relu that sleeps 1 ms per
forward); each copy gets a unique comment so no two hash alike.  Framework parts are PyTorch
or TensorFlow (--framework).

Prints: wall time, submissions per second and wall time per submission of the batch; peak
resident memory of the grader and all its workers together (sampled every 50 ms); wall time
of re-running the unchanged class; and the ratio to a naive baseline, one fresh `grade`
process per submission with cold workers (`--cold-workers`: a new Python per check), timed
on the first --baseline submissions and extrapolated per submission.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "corpus"
MIX = {
    "correct": ["correct_md_torch", "correct_ipynb_torch"],
    "bug": ["mutant_matmul", "mutant_relu", "mutant_softmax", "mutant_log", "model_sign_flip", "torch_mutant_no_relu"],
    "crash": ["syntax_error", "sys_exit_import"],
}
SHARES = (("correct", 60), ("bug", 25), ("crash", 10), ("slow", 5))


def build_class(root: Path, n: int, framework: str) -> dict[str, int]:
    """Write n submission folders into root; returns how many of each kind."""
    plan = [kind for kind, share in SHARES for _ in range(share)]
    counts: dict[str, int] = {}
    for i in range(n):
        kind = plan[(i * 37) % len(plan)]  # spread the kinds through the class
        counts[kind] = counts.get(kind, 0) + 1
        folder = root / f"21{i:05d}"
        _copy_case(_case(kind, i), folder, framework)
        for file in folder.iterdir():
            _tag(file, i, slow=(kind == "slow"))
    return counts


def _case(kind: str, i: int) -> str:
    cases = MIX[kind if kind != "slow" else "correct"]
    return cases[i % len(cases)]


def _copy_case(case: str, folder: Path, framework: str) -> None:
    shutil.copytree(CORPUS / case, folder)
    if framework == "tensorflow":
        # Keep the case's numpy part; its PyTorch model is renamed away and a TensorFlow one added.
        for file in folder.iterdir():
            text = file.read_text(encoding="utf-8")
            file.write_text(text.replace("class myModel(nn.Module):", "class TorchModelUnused(nn.Module):"), encoding="utf-8")
        shutil.copy(REPO / "reference" / "tf_model.py", folder / "tf_model.py")


def _tag(file: Path, i: int, *, slow: bool) -> None:
    text = file.read_text(encoding="utf-8")
    if slow:
        text = text.replace("class Relu:", "import time as _bench_time\nclass Relu:", 1)
        text = text.replace("    def forward(self, x):", "    def forward(self, x):\n        _bench_time.sleep(0.001)", 1)
    if file.suffix == ".py":
        text += f"\n# bench student {i}\n"
    elif file.suffix == ".md":
        text += f"\n<!-- bench student {i} -->\n"
    else:  # a notebook: a unique trailing markdown cell keeps it valid JSON
        text = text.rstrip().removesuffix("}").rstrip()
        text = text.replace('"cells": [', f'"cells": [{{"cell_type": "markdown", "metadata": {{}}, "source": ["student {i}"]}}, ', 1) + "\n}"
    file.write_text(text, encoding="utf-8")


class PeakRss:
    """Samples the summed RSS of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _tree_rss(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def timed_grade(args: list[str]) -> tuple[float, int]:
    """Run `grade ARGS` in a fresh process; wall seconds and peak RSS of its process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", *args, "--no-color"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = PeakRss(proc.pid)
    _, err = proc.communicate()
    peak = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"grade {' '.join(args)} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return time.perf_counter() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="submissions in the class")
    parser.add_argument("--framework", choices=("pytorch", "tensorflow"), default="pytorch")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline", type=int, default=10, help="submissions timed for the naive baseline (0: skip)")
    parser.add_argument("--mnist", type=Path, default=None)
    parser.add_argument("--scheduler", default=None, metavar="ADDR",
                        help="instead: the class on this Dask scheduler's workers against local --jobs (bench/cluster.py)")
    args = parser.parse_args()
    mnist = ["--mnist", str(args.mnist)] if args.mnist else []
    with tempfile.TemporaryDirectory(prefix="nn-grader-bench-") as tmp:
        klass, out = Path(tmp) / "class", Path(tmp) / "grades"
        klass.mkdir()
        counts = build_class(klass, args.n, args.framework)
        print(f"class: {args.n} submissions ({', '.join(f'{v} {k}' for k, v in counts.items())}), "
              f"framework {args.framework}, --jobs {args.jobs}, {os.cpu_count()} CPUs")
        if args.scheduler:
            from cluster import cluster_figures  # bench/cluster.py, beside this script

            cluster_figures(klass, Path(tmp), scheduler=args.scheduler, jobs=args.jobs, mnist=mnist, n=args.n,
                            timed_grade=timed_grade)
            return
        wall, peak = timed_grade([str(klass), "--out", str(out), "--jobs", str(args.jobs), *mnist])
        print(f"batch:      {wall:6.1f} s wall, {args.n / wall:5.2f} submissions/s, {wall / args.n:5.2f} s per submission, "
              f"peak RSS {peak / 2**20:,.0f} MiB (grader + workers)")
        rerun, _ = timed_grade([str(klass), "--out", str(out), "--jobs", str(args.jobs), *mnist])
        print(f"re-run:     {rerun:6.1f} s wall (unchanged class, nothing regraded)")
        single, _ = timed_grade([str(REPO / "submissions" / "2151131"), "--out", str(Path(tmp) / "single"), *mnist])
        print(f"one student: {single:5.1f} s wall (grade submissions/2151131, cold start)")
        if args.baseline:
            subs = sorted(klass.iterdir())[: args.baseline]
            start = time.perf_counter()
            for sub in subs:
                timed_grade([str(sub), "--out", str(Path(tmp) / "naive"), "--cold-workers", *mnist])
            per_sub = (time.perf_counter() - start) / len(subs)
            print(f"naive:      {per_sub:6.2f} s per submission (fresh `grade` per submission, cold workers, "
                  f"first {len(subs)}), {per_sub * args.n:.0f} s for the class -> batch is {per_sub * args.n / wall:.1f}x faster")


if __name__ == "__main__":
    main()
