"""The `grade` command.

    grade submissions/2151131          one submission -> grades/2151131/{report.html,result.json}
    grade submissions/                 every submission folder inside, plus grades/gradebook.csv
    grade class.zip                    the same, for a class archive as downloaded from the course site
    grade submissions/ --similarity    also similarity.csv and similarity.html: copies found, for staff
    grade --self-check hw.ipynb        public checks only; exit 1 when one fails
    grade review grades/               the TAs' review web app (and override, comment, history: docs/review.md)

Exit codes: 0 graded (self-check: all public checks passed), 1 self-check found a
failing check, 2 usage or rubric error, 3 MNIST could not be found or read.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import os
import secrets
import sys
from pathlib import Path
from typing import ContextManager, Sequence

from .checks.builtin import BUILTIN
from .checks.registry import Registry
from .checks.training.judge import tensorflow_installed
from .batch import BatchResult, grade_class, grade_one
from .errors import GraderError, UsageError
from .diskfull import disk_full_line, is_disk_full
from .outnames import student_folder
from .intake import load_submission
from .intake.archive import unpack_download
from .intake.course_site import roll_for_folder
from .intake.layout import class_members, is_class_folder
from .rubric import load_rubric
from .sandbox.limits import Limits
from .sandbox import Runner, SubprocessRunner
from .mnist import load_mnist
from .progress import BatchProgress
from .reports import format_batch_table, format_summary
from .reports.i18n import LANGS
from .reports.similarity import format_similarity
from .roster import ClassRoll, load_roster
from .sandbox.pool import FRAMEWORK_MODULES, WarmRunner
from .settings import GradeSettings, MnistCache
from .similarity import similarity_options

# Light imports only: grading itself (pipeline.py) imports PyTorch, about 2 s, when the first
# submission is graded, after the warm workers have started.


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade", description="Grade the chap4 simple neural network homework.",
        epilog="Review a graded class: grade review OUT | grade override OUT STUDENT CHECK POINTS --reason ... | "
               "grade comment OUT STUDENT FILE:LINE TEXT | grade history OUT [STUDENT] (see `grade review --help`). "
               "A submission folder named like one of these words is graded as ./review.")
    # Optional only for --doctor: _run refuses a missing path otherwise.
    parser.add_argument("path", type=Path, nargs="?", default=None,
                        help="a submission (folder, .ipynb, .py or .md) or a folder of submissions")
    parser.add_argument("--doctor", action="store_true",
                        help="print which sandbox layers hold on this machine, why any does not and the fix; "
                             "exit 0 when bwrap, seccomp, rlimits and the timeout hold and something bounds a job's memory "
                             "or files (a cgroup, a sized tmpfs), 1 otherwise")
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
    parser.add_argument("--scheduler", default=os.environ.get("GRADER_SCHEDULER") or None, metavar="ADDR",
                        help="class mode: grade on the Dask cluster of this scheduler, e.g. tcp://host:8786 (or env GRADER_SCHEDULER)")
    parser.add_argument("--no-color", action="store_true", help="plain output even on a terminal")
    parser.add_argument("--roster", type=Path, default=None, metavar="FILE",
                        help="class mode: the Canvas gradebook export or Moodle grading worksheet (CSV): names students, "
                             "lists who handed nothing in, and canvas.csv / moodle.csv are written for it to upload")
    parser.add_argument("--assignment", default=None, metavar="ID",
                        help="with a Canvas --roster of several assignments: the Canvas id (or title) of the one graded")
    parser.add_argument("--similarity", action="store_true",
                        help="class mode: compare the students' code with each other and with --known-solutions; writes "
                             "similarity.csv and similarity.html (staff only; no score changes)")
    parser.add_argument("--template", type=Path, default=None, metavar="DIR",
                        help="with --similarity: the course's blank notebooks or files; code they hold is never evidence")
    parser.add_argument("--known-solutions", type=Path, default=None, metavar="DIR",
                        help="with --similarity: published or earlier solutions (.ipynb, .py, .md), each compared with every student")
    return parser


def main(argv: Sequence[str] | None = None, registry: Registry = BUILTIN) -> int:
    """Entry point of the `grade` console script; returns the exit code.  `registry`: the checks graded
    (a course or a test that adds checks passes `Registry([*BUILTIN, its_check])`)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in REVIEW_COMMANDS:
        return _review(words)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its one-line usage error
        return 0 if exc.code == 0 else 2
    color = sys.stdout.isatty() and not args.no_color and "NO_COLOR" not in os.environ
    try:
        return _run(args, color, registry)
    except GraderError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `grade ... | head`: the reader left; reports are already written
        sys.stderr.close()
        return 0
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        print(disk_full_line(args.out, exc), file=sys.stderr)
        return 1


REVIEW_COMMANDS = ("review", "override", "comment", "history")
"""First words handed to grader/review/cli.py (imported only then: grading never loads the review code)."""


def _review(words: list[str]) -> int:
    from .review.cli import run

    try:
        return run(words)
    except GraderError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code


def _run(args: argparse.Namespace, color: bool, registry: Registry) -> int:
    if args.doctor:
        if args.path is not None:
            raise UsageError(f"--doctor checks this machine and grades nothing; run `grade --doctor` without {args.path}")
        from .doctor import diagnose, format_diagnosis

        diagnosis = diagnose(args.mnist)
        print(format_diagnosis(diagnosis))
        return 0 if diagnosis.acceptable else 1
    if args.path is None:
        raise UsageError("no PATH given; pass a submission folder, .ipynb, .py or .md file, a class folder or .zip "
                         "(or --doctor to check this machine's sandbox)")
    if not args.path.exists():
        raise UsageError(f"{args.path}: no such file or folder; pass a submission folder, .ipynb, .py or .md file, or a class .zip")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: pass a number of parallel submissions of at least 1")
    if args.scheduler and args.cold_workers:
        raise UsageError("--cold-workers starts workers on this machine, --scheduler grades on Dask workers; drop one of them")
    _check_only(args.only, registry)
    rubric = load_rubric(args.rubric, registry)
    # Gradescope hands over one student's upload, whatever folders it holds.
    is_class = args.format != "gradescope" and (args.path.suffix.lower() == ".zip" or is_class_folder(args.path))
    roster = load_roster(args.roster, assignment=args.assignment) if args.roster is not None else None
    if roster is not None and not is_class:
        raise UsageError(f"--roster {args.roster}: a roster belongs to a class; pass the class's folder or .zip, not one submission")
    roll: ClassRoll | None = None
    if is_class and args.path.suffix.lower() == ".zip":
        archive, unpacked = args.path, unpack_download(args.path, args.out / ".unpacked" / args.path.stem, roster=roster)
        args.path, roll = unpacked.folder, unpacked.roll
        print(f"unpacked {archive} into {args.path}/ ({len(class_members(args.path))} submissions)")
    elif is_class:
        roll = roll_for_folder(args.path, roster)
    args.roll = roll
    args.similarity_options = similarity_options(
        args.similarity, template=args.template, known=args.known_solutions, is_class=is_class, self_check=args.self_check,
        scheduler=bool(args.scheduler), settings=rubric.rubric.similarity)
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
    print(f"report: {args.out / student_folder(report.student) / 'report.html'}")
    return 0


def _check_only(patterns: Sequence[str], registry: Registry) -> None:
    """Refuse an --only pattern that matches no registered check: it would grade nothing and look like a pass."""
    ids = registry.ids()
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(check_id, p) for check_id in ids)]
    if unmatched:
        raise UsageError(f"--only {' '.join(unmatched)}: matches no check; pass a glob over these check ids: {', '.join(ids)}")


def _grade_class(args: argparse.Namespace, settings: GradeSettings, color: bool) -> int:
    folder = args.path
    todo = len(class_members(folder))
    with BatchProgress(todo, color=color) as progress:
        if args.scheduler:
            result = _grade_on_cluster(args, settings, progress)
        else:
            result = grade_class(folder, settings, out=args.out, jobs=args.jobs, force=args.force, lang=args.lang,
                                 on_done=progress.update, roll=args.roll, similarity=args.similarity_options)
    print(format_batch_table(result.reports, color=color))
    if result.unchanged:
        print(f"{len(result.unchanged)} unchanged since they were graded, not regraded (--force regrades them)")
    for report in result.errored:
        first = report.errored[0]
        print(f"errored: {report.student}: {first.id}: {str(first.message)[:150]}")
    if args.roll is not None and format_roll(args.roll):
        print(format_roll(args.roll))
    if result.similarity is not None:
        print(format_similarity(result.similarity, args.out))
    site_file = "moodle.csv" if args.roll and args.roll.roster and args.roll.roster.kind == "moodle" else "canvas.csv"
    print(f"reports in {args.out}/, class summary {args.out / 'summary.html'}, gradebook {args.out / 'gradebook.csv'} "
          f"and gradebook.xlsx (grade import: {site_file}), results database {result.gradebook}")
    return 0


def format_roll(roll: ClassRoll) -> str:
    """The closing lines about who is who: late submissions, roster students with none, submissions the roster lacks."""
    lines = [f"late: {m.student}{f' ({m.name})' if m.name else ''}" for m in roll.members if m.late]
    lines += [f"missing: {e.student}{f' ({e.name})' if e.name else ''}: in the roster, no submission" for e in roll.missing]
    lines += [f"not in the roster: {m.student}{f' ({m.name})' if m.name else ''}: graded, but left out of the site's import file"
              for m in roll.unknown]
    return "\n".join(lines)


def _runner(args: argparse.Namespace, limits: Limits, is_class: bool) -> ContextManager[Runner]:
    """Warm workers, or a fresh process per check with --cold-workers.

    A class gets --jobs templates plus one that never imports a framework, for
    numpy checks (forks of it are cheapest); one submission gets two.  The first
    submission is read through the pool (its intake worker forks the numpy
    template), and the other templates then import its framework in the
    background: a guess for a class, whose other students import theirs on first use.
    """
    if args.cold_workers:
        return contextlib.nullcontext(SubprocessRunner())
    if is_class and args.scheduler:
        from .cluster.nolocal import NoLocalRunner  # the workers grade: no templates here

        return contextlib.nullcontext(NoLocalRunner())
    # Still at most --jobs checks run at once: one per grading thread.
    runner = WarmRunner(args.jobs + 1 if is_class else 2, limits=limits)
    sample = class_members(args.path)[:1] if is_class else [args.path]
    framework = _framework_of(sample[0], runner) if sample else None
    if framework is not None and (framework != "tensorflow" or tensorflow_installed()):
        runner.preload({FRAMEWORK_MODULES[framework]})
    return runner


def _framework_of(path: Path, runner: Runner) -> str | None:
    """The framework of a submission's framework part, read ahead of grading (intake costs tens of ms)."""
    try:
        part = load_submission(path, runner=runner).framework_part
    except (GraderError, OSError):  # only a guess for the preload: grading reports this submission's trouble as its own
        return None
    return part.framework if part else None


def _grade_on_cluster(args: argparse.Namespace, settings: GradeSettings, progress: BatchProgress) -> BatchResult:
    """--scheduler: the class is graded by Dask workers (grader/cluster/); the gradebook stays here."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise UsageError("--scheduler needs Dask's distributed, which is not installed here; pip install 'nn-grader[cluster]'")
    from .cluster.client import ClusterOptions, format_cluster_info, grade_class_on_cluster

    return grade_class_on_cluster(args.path, settings, cluster=ClusterOptions(args.scheduler), out=args.out, force=args.force,
                                  lang=args.lang, on_done=progress.update, on_connected=lambda info: print(format_cluster_info(info)),
                                  roll=args.roll)


if __name__ == "__main__":
    sys.exit(main())
