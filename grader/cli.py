"""The `grade` command.

    grade submissions/2151131          one submission -> grades/2151131/{report.html,result.json}
    grade submissions/                 every submission folder inside, plus grades/gradebook.csv
    grade class.zip                    the same, for a class archive as downloaded from the course site
    grade --self-check hw.ipynb        public checks only; exit 1 when one fails

Exit codes: 0 graded (self-check: all public checks passed), 1 self-check found a
failing check, 2 usage or rubric error, 3 MNIST could not be found or read.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from pathlib import Path
from typing import ContextManager, Sequence

from .checks.training import tensorflow_installed
from .batch import grade_class, grade_one
from .errors import GraderError, UsageError
from .intake import load_submission
from .intake.archive import unpack_class
from .intake.layout import class_members, is_class_folder
from .rubric import Limits, load_rubric
from .sandbox import Runner, SubprocessRunner
from .mnist import load_mnist
from .progress import BatchProgress
from .reports import format_batch_table, format_summary
from .reports.i18n import LANGS
from .sandbox.pool import FRAMEWORK_MODULES, WarmRunner
from .settings import GradeSettings, MnistCache

# Light imports only: grading itself (pipeline.py) imports PyTorch, about 2 s, when the first
# submission is graded, after the warm workers have started.


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grade", description="Grade the chap4 simple neural network homework.")
    parser.add_argument("path", type=Path, help="a submission (folder, .ipynb, .py or .md) or a folder of submissions")
    parser.add_argument("--self-check", action="store_true", help="run the public checks only and print what failed")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="where reports are written (default: grades/)")
    parser.add_argument("--rubric", type=Path, default=None, help="rubric TOML file (default: rubrics/default.toml)")
    parser.add_argument("--mnist", type=Path, default=None, help="folder with the four MNIST IDX files (or env GRADER_MNIST_DIR)")
    parser.add_argument("--seed", type=int, default=None, help="base seed of generated inputs (default: fresh; each result records it)")
    parser.add_argument("--only", nargs="+", default=(), metavar="GLOB", help="run only the checks whose id matches, e.g. 'numpy.*'")
    parser.add_argument("--format", choices=("standard", "gradescope"), default="standard",
                        help="gradescope: also write Gradescope's results.json into --out (for run_autograder)")
    parser.add_argument("--lang", choices=LANGS, default="en", help="language of report.html and summary.html (zh: Chinese)")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="class mode: submissions graded at once (default: the CPU count)")
    parser.add_argument("--force", action="store_true", help="class mode: regrade submissions whose stored result is current")
    parser.add_argument("--cold-workers", action="store_true",
                        help="start a fresh Python per check instead of forking warm workers (slower; for comparison)")
    parser.add_argument("--no-color", action="store_true", help="plain output even on a terminal")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `grade` console script; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its one-line usage error
        return 0 if exc.code == 0 else 2
    color = sys.stdout.isatty() and not args.no_color and "NO_COLOR" not in os.environ
    try:
        return _run(args, color)
    except GraderError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `grade ... | head`: the reader left; reports are already written
        sys.stderr.close()
        return 0


def _run(args: argparse.Namespace, color: bool) -> int:
    if not args.path.exists():
        raise UsageError(f"{args.path}: no such file or folder; pass a submission folder, .ipynb, .py or .md file, or a class .zip")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: pass a number of parallel submissions of at least 1")
    rubric = load_rubric(args.rubric)
    # Gradescope hands over one student's upload, whatever folders it holds.
    is_class = args.format != "gradescope" and (args.path.suffix.lower() == ".zip" or is_class_folder(args.path))
    if is_class and args.path.suffix.lower() == ".zip":
        archive, args.path = args.path, unpack_class(args.path, args.out / ".unpacked" / args.path.stem)
        print(f"unpacked {archive} into {args.path}/ ({len(class_members(args.path))} submissions)")
    with _runner(args, rubric.rubric.limits, is_class) as runner:
        settings = GradeSettings(
            rubric=rubric,
            mnist=MnistCache(lambda: load_mnist(args.mnist, progress=sys.stderr.isatty())),
            runner=runner,
            seed=secrets.randbelow(2**31) if args.seed is None else args.seed,
            self_check=args.self_check,
            only=tuple(args.only),
        )
        settings.mnist.get()  # fail now, with the fix, rather than after the first student's gradient checks
        if args.self_check:
            report = grade_one(args.path, settings, out=None)
            print(format_summary(report, color=color))
            return 1 if report.failed else 0
        if is_class:
            return _grade_class(args, settings, color)
        report = grade_one(args.path, settings, out=args.out, lang=args.lang)
    if args.format == "gradescope":
        from .reports.gradescope import write_gradescope_results

        write_gradescope_results(report, args.out / "results.json")
    print(format_summary(report, color=color))
    print(f"report: {args.out / report.student / 'report.html'}")
    return 0


def _grade_class(args: argparse.Namespace, settings: GradeSettings, color: bool) -> int:
    folder = args.path
    todo = len(class_members(folder))
    with BatchProgress(todo, color=color) as progress:
        result = grade_class(folder, settings, out=args.out, jobs=args.jobs, force=args.force, lang=args.lang,
                             on_done=progress.update)
    print(format_batch_table(result.reports, color=color))
    if result.unchanged:
        print(f"{len(result.unchanged)} unchanged since they were graded, not regraded (--force regrades them)")
    for report in result.errored:
        first = next(c for c in report.checks if c.status == "error")
        print(f"errored: {report.student}: {first.id}: {first.message[:150]}")
    print(f"reports in {args.out}/, class summary {args.out / 'summary.html'}, gradebook {args.out / 'gradebook.csv'} "
          f"(Canvas import: canvas.csv), results database {result.gradebook}")
    return 0


def _runner(args: argparse.Namespace, limits: Limits, is_class: bool) -> ContextManager[Runner]:
    """Warm workers, or a fresh process per check with --cold-workers.

    A class gets --jobs templates, each importing from the start the framework of
    the class's first submission (a guess: the others import theirs on first use),
    and one more that imports none, for numpy checks.
    One submission gets one template for its numpy checks and, when it has a
    framework part, a second that imports that framework meanwhile.
    """
    if args.cold_workers:
        return contextlib.nullcontext(SubprocessRunner())
    if is_class:
        members = class_members(args.path)
        first = _framework_of(members[0]) if members else None
        preload = [FRAMEWORK_MODULES[first]] if first and (first != "tensorflow" or tensorflow_installed()) else []
        # Plus one template without a framework, for the numpy checks: forks of it are cheapest.
        # Still at most --jobs checks run at once: one per grading thread.
        return WarmRunner(args.jobs + 1, limits=limits, preload=[[]] + [preload] * args.jobs)
    framework = _framework_of(args.path)
    if framework is None or (framework == "tensorflow" and not tensorflow_installed()):
        return WarmRunner(1, limits=limits)
    return WarmRunner(2, limits=limits, preload=[[], [FRAMEWORK_MODULES[framework]]])


def _framework_of(path: Path) -> str | None:
    """The framework of a single submission's framework part, read ahead of grading (intake is cheap)."""
    try:
        part = load_submission(path).framework_part
    except GraderError:
        return None  # grading will report it
    return part.framework if part else None


if __name__ == "__main__":
    sys.exit(main())
