"""Grading one submission: intake -> sandbox -> checks -> scoring -> GradeReport.

The checks are a loop over the registry (grader/checks/registry.py) in its
dependency order.  Each check runs student code in its own worker, so a hang or
crash in one backward costs that student only the checks that need the broken
code, and each check is guarded, so a bug of the grader's costs one check too.
"""

from __future__ import annotations

import fnmatch
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__
from .checks.outcome import error_hint, skipped
from .checks.registry import CheckContext, CheckDef, Planned
from .evidence import ErrorEvidence
from .intake import load_submission
from .intake.select import narrow_part, without_unused_imports
from .records import CheckOutcome, CodePart, GradedPart, GradedSource, GradeReport, RunResult, SourceUnit, Submission
from .rubric import CheckSpec
from .sandbox import Job, Runner
from .scoring import score_outcomes
from .settings import GradeSettings, MnistCache
from .text import msg, verbatim
from .versions import library_versions

__all__ = ["GradeSettings", "MnistCache", "grade_submission", "run_checks"]

REFERENCE_NUMPY = Path(__file__).resolve().parent.parent / "reference" / "numpy_model.py"
_REFERENCE: list[tuple[SourceUnit, ...]] = []
_TRACE_LIMIT = 3000


def grade_submission(path: Path, settings: GradeSettings, *, student: str | None = None) -> GradeReport:
    """Grade the submission at `path` (a folder or one file) and return its report."""
    submission = load_submission(path, student=student, runner=settings.runner)
    outcomes = run_checks(submission, settings)
    return GradeReport(
        student=submission.student,
        submission=submission.path,
        checks=tuple(score_outcomes(outcomes, settings.rubric.rubric)),
        parts=_graded_parts(submission),
        findings=submission.findings,
        sources=_graded_sources(submission),
        rubric_name=settings.rubric.rubric.name,
        rubric_hash=settings.rubric.sha256[:12],
        grader_version=__version__,
        mnist_source=settings.mnist.source,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        self_check=settings.self_check,
        seed=settings.seed,
        isolation=settings.runner.isolation.layers,
        versions=library_versions(),
    )


def run_checks(submission: Submission, settings: GradeSettings) -> list[CheckOutcome]:
    """Every selected registered check on `submission`, in registry order."""
    return _Run(submission, settings).all()


class _Run:
    """The checks of one submission: outcomes so far, and worker runs a later check may share."""

    def __init__(self, submission: Submission, settings: GradeSettings) -> None:
        self.sub = submission
        self.settings = settings
        self.outcomes: dict[str, CheckOutcome] = {}
        self.runs: dict[str, RunResult] = {}

    def all(self) -> list[CheckOutcome]:
        for check in self.settings.rubric.registry.ordered():
            if self.selected(check.id):
                self.outcomes[check.id] = self.guarded(check)
        return list(self.outcomes.values())

    def selected(self, check_id: str) -> bool:
        """Self-check runs public checks only; --only narrows to matching ids."""
        if self.settings.self_check and self.spec(check_id).visibility != "public":
            return False
        return not self.settings.only or any(fnmatch.fnmatchcase(check_id, pattern) for pattern in self.settings.only)

    def spec(self, check_id: str) -> CheckSpec:
        """The rubric's spec of `check_id` with its seed resolved."""
        return self.settings.rubric.rubric.checks.get(check_id).with_seed(self.settings.seed, check_id)

    def guarded(self, check: CheckDef[Any, Any, Any]) -> CheckOutcome:
        """One check; an exception here is the grader's bug and costs this check only."""
        try:
            return self.one(check)
        except Exception as exc:  # noqa: BLE001 - any bug of ours must cost one check, not the student
            detail = traceback.format_exc()[-_TRACE_LIMIT:]
            return CheckOutcome(id=check.id, status="error", evidence=ErrorEvidence(failure="internal", detail=detail),
                                message=msg("grader.internal_error", error=verbatim(f"{type(exc).__name__}: {exc}")))

    def one(self, check: CheckDef[Any, Any, Any]) -> CheckOutcome:
        part = self.sub.numpy_part if check.part == "numpy" else self.sub.framework_part
        if part is None:
            if check.part == "numpy":
                return skipped(check.id, msg("pipeline.no_numpy"))
            # The intake may know why: another exercise's model, or a numpy rewrite of the framework part.
            return skipped(check.id, self.sub.framework_absence or msg("pipeline.no_framework"))
        missing = next((name for name in check.needs if part.unit(name) is None), None)
        if missing is not None:
            return CheckOutcome(id=check.id, status="error", evidence=ErrorEvidence(failure="missing"),
                                message=msg("pipeline.missing_class", name=missing, file=part.file), diagnosis=error_hint("missing"))
        part, replaced = self.with_staff_layers(check, part)
        if check.narrow:
            part = narrow_part(part, check.needs)
        return _note_staff_layers(self.judged(check, part), replaced)

    def judged(self, check: CheckDef[Any, Any, Any], part: CodePart) -> CheckOutcome:
        rubric = self.settings.rubric.rubric
        ctx: CheckContext[Any] = CheckContext(check_id=check.id, part=part, spec=self.spec(check.id), limits=rubric.limits_for(check.id),
                                              mnist=self.settings.mnist.get, earlier=dict(self.outcomes), specs=self.spec)
        planned = check.plan(ctx)
        if isinstance(planned, CheckOutcome):
            return planned
        return check.judge_result(ctx, planned.state, self.run(check, part, planned, ctx))

    def run(self, check: CheckDef[Any, Any, Any], part: CodePart, planned: Planned[Any], ctx: CheckContext[Any]) -> RunResult:
        """The worker run of `planned`, or the run of the check this one shares it with."""
        key = check.share_run or check.id
        if key not in self.runs:
            task = self.settings.rubric.registry.get(key).task
            assert task is not None, f"{key} planned a worker run but names no worker task"  # a grader bug if not
            job = task.job(part.units, planned.params, part.supplied_imports)
            self.runs[key] = self.settings.runner.run(job, planned.arrays, ctx.limits, phase=planned.phase)
        return self.runs[key]

    def with_staff_layers(self, check: CheckDef[Any, Any, Any], part: CodePart) -> tuple[CodePart, tuple[str, ...]]:
        """For a check with `staff_layers`: the part with each layer that failed its own check replaced by the
        staff solution's, so a wrong Relu.backward costs numpy.relu.backward only, not the model checks too."""
        if not check.staff_layers:
            return part, ()
        failed = tuple(name for dep in check.after if dep in self.outcomes and self.outcomes[dep].status != "passed"
                       for name in self.settings.rubric.registry.get(dep).needs)
        staff = _reference_units(set(failed), self.settings.runner)
        failed = tuple(name for name in failed if any(u.name == name for u in staff))
        if not failed:
            return part, ()
        kept = [u for u in part.units if u.name not in failed]
        imports = tuple(u for u in kept if u.kind == "import")
        units = imports + staff + tuple(u for u in kept if u.kind != "import")
        # The staff layers say `np` even where the student imported numpy under another name.
        supplied = tuple(dict.fromkeys((*part.supplied_imports, "import numpy as np")))
        # A student's Relu that computed with torch is gone: its `import torch` must not cost every model check.
        return without_unused_imports(part.model_copy(update={"units": units, "supplied_imports": supplied})), failed


def _note_staff_layers(outcome: CheckOutcome, replaced: tuple[str, ...]) -> CheckOutcome:
    if not replaced:
        return outcome
    message = msg("pipeline.staff_layers", message=outcome.message, names=", ".join(replaced))
    return outcome.model_copy(update={"message": message, "evidence": outcome.evidence.model_copy(update={"reference_layers": replaced})})


def _reference_units(names: set[str], runner: Runner) -> tuple[SourceUnit, ...]:
    if not names:
        return ()
    if not _REFERENCE:
        # Read once per process, through the same intake worker as a student's file.
        part = load_submission(REFERENCE_NUMPY, runner=runner).numpy_part
        assert part is not None, f"{REFERENCE_NUMPY} must define the numpy layers"  # grader bug if not
        _REFERENCE.append(part.units)
    return tuple(u for u in _REFERENCE[0] if u.name in names)


def _graded_parts(sub: Submission) -> tuple[GradedPart, ...]:
    parts = [p for p in (sub.numpy_part, sub.framework_part) if p is not None]
    return tuple(GradedPart(kind=p.kind, file=p.file, framework=p.framework, definitions=p.definitions,
                            supplied_imports=p.supplied_imports) for p in parts)


def _graded_sources(sub: Submission) -> tuple[GradedSource, ...]:
    """Each graded definition; the framework model is named `framework:myModel`."""
    units = [(u.name, u) for u in (sub.numpy_part.units if sub.numpy_part else ()) if u.name and u.kind != "import"]
    if sub.framework_part and (model := sub.framework_part.unit("myModel")):
        # Graded under another name (`myModel = Net`, added by the intake): show the class itself.
        if model.kind == "constant" and len(model.uses) == 1 and (real := sub.framework_part.unit(model.uses[0])) is not None:
            model = real
        units.append(("framework:myModel", model))
    return tuple(GradedSource(name=name, source=u.source, file_label=u.file_label, line=u.line, outline=u.outline) for name, u in units)


