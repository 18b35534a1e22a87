"""Code similarity on a synthetic class: how well each method separates copies from honest students, and how fast.

    .venv/bin/python bench/similarity.py [--n 200] [--methods tokens copydetect] [--jobs 2] [--seeds 1 2 3] [--unique]

Builds the class of tests/similarity_corpus.py (`--n` honest, template-faithful
students plus the originals, their disguised copies and the known-solution
copiers), runs `find_similarity` with the template and the known solutions
through warm sandboxed workers (already started, as after grading a class),
writes similarity.csv, similarity.html and the staff notes, and prints per
method and seed: the lowest score of a pair that must be flagged, the highest
score of any other pair (from a second run that lists every pair), the flags
missed and the flags raised wrongly at the default threshold, and the wall time
of the similarity step with the default settings.  `--unique` appends a comment
to every block, so that no two students share a block word for word and each is
tokenised (the worst case; in a real class most students keep the template's
given classes as they are, and each distinct text is tokenised once).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.reports.similarity import write_similarity_outputs  # noqa: E402
from grader.rubric import SimilaritySettings  # noqa: E402
from grader.sandbox.pool import WarmRunner  # noqa: E402
from grader.similarity import SimilarityOptions, find_similarity  # noqa: E402
from tests.similarity_corpus import Student, as_report, build_class, template_files, write_folder  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="honest students (the class has 14 more)")
    parser.add_argument("--methods", nargs="+", default=["tokens", "copydetect"], choices=["tokens", "copydetect"])
    parser.add_argument("--jobs", type=int, default=2, help="fingerprinting workers at once")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--unique", action="store_true", help="make every block distinct (no text tokenised once for many)")
    args = parser.parse_args()
    print("method      seed  students  lowest copy  highest other  missed  wrong  wall (s)")
    with WarmRunner(args.jobs + 1) as runner, tempfile.TemporaryDirectory() as tmp:
        _warm(runner, args.jobs)
        for method in args.methods:
            for seed in args.seeds:
                print(_row(method, seed, args, runner, Path(tmp)))
    return 0


def _row(method: str, seed: int, args: argparse.Namespace, runner: WarmRunner, tmp: Path) -> str:
    corpus = build_class(honest=args.n, seed=seed)
    students = [_distinct(s) for s in corpus.students] if args.unique else list(corpus.students)
    folder = tmp / f"{method}-{seed}"
    options = SimilarityOptions(template=write_folder(template_files(), folder / "template"),
                                known=write_folder(corpus.known, folder / "known"))
    settings = SimilaritySettings.model_validate({"method": method})
    reports = [as_report(s) for s in students]
    start = time.perf_counter()
    result = find_similarity(reports, options, settings=settings, runner=runner, jobs=args.jobs)
    (folder / "out").mkdir()
    write_similarity_outputs(reports, result, folder / "out", lang="en")
    wall = time.perf_counter() - start
    listed = find_similarity(reports, options, settings=settings.model_copy(update={"report_floor": 0.01}), runner=runner, jobs=args.jobs)
    scores = {(p.part, p.student, p.other): p for p in listed.pairs}
    lowest = min((scores[f].score if f in scores else 0.0) for f in corpus.flagged)
    highest = max((p.score for k, p in scores.items() if k not in corpus.flagged), default=0.0)
    flags = {(p.part, p.student, p.other) for p in result.flagged}
    missed, wrong = len(corpus.flagged - flags), len(flags - corpus.flagged)
    return f"{method:<11} {seed:>4}  {len(reports):>8}  {lowest:>11.3f}  {highest:>13.3f}  {missed:>6}  {wrong:>5}  {wall:>8.2f}"


def _distinct(student: Student) -> Student:
    """`student` with a comment naming them at the end of every block: no block shared word for word."""
    tag = f"\n# {student.name}"
    return replace(student, numpy=tuple((n, s + tag) for n, s in student.numpy),
                   framework=student.framework + tag if student.framework else None)


def _warm(runner: WarmRunner, jobs: int) -> None:
    """Start every template and let each fork once, as a graded class leaves them."""
    from concurrent.futures import ThreadPoolExecutor

    settings = SimilaritySettings()
    from grader.similarity.fingerprint import fingerprint_sources

    with ThreadPoolExecutor(jobs + 1) as pool:
        list(pool.map(lambda _: fingerprint_sources(["x = 1"], settings, runner, jobs=1), range(jobs + 1)))


if __name__ == "__main__":
    sys.exit(main())
