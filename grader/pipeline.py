"""Grading one submission: intake -> sandbox -> checks -> scoring -> GradeReport.

Each check runs student code in its own worker, so a hang or crash in one
backward costs that student only the checks that need the broken code.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np

from . import __version__
from .checks.framework_model import ARCHITECTURE_ID, FORWARD_ID, judge_architecture, judge_forward, run_probe
from .checks.gradients import check_layer
from .checks.layers import LAYERS, LayerSpec
from .checks.model_gradient import check_model_backward
from .checks.outcome import skipped
from .checks.stability import check_softmax_stability
from .checks.training import check_framework_training, check_numpy_training
from .intake import load_submission
from .intake.select import narrow_part
from .models import CheckOutcome, CodePart, GradedPart, GradeReport, RunResult, SourceUnit, Submission
from .rubric import CheckSpec, Limits, Rubric
from .sandbox import Runner
from .settings import GradeSettings, MnistCache
from .versions import library_versions
from .scoring import score_outcomes, total

SpecT = TypeVar("SpecT", bound=CheckSpec)

REFERENCE_NUMPY = Path(__file__).resolve().parent.parent / "reference" / "numpy_model.py"
NO_NUMPY = "no numpy part was found: no file defines the layers Matmul, Relu, Softmax, Log and a numpy myModel"
NO_FRAMEWORK = "no framework part was found: no myModel using PyTorch or TensorFlow in any file"
_REFERENCE: list[tuple[SourceUnit, ...]] = []
MISSING_HINT = "define the class with exactly this name (names are case-sensitive) in the file you hand in"


def grade_submission(path: Path, settings: GradeSettings, *, student: str | None = None) -> GradeReport:
    """Grade the submission at `path` (a folder or one file) and return its report."""
    submission = load_submission(path, student=student, runner=settings.runner)
    outcomes = _Plan(submission, settings).run()
    results = score_outcomes(outcomes, settings.rubric.rubric)
    score, max_score = total(results)
    return GradeReport(
        student=submission.student,
        submission=submission.path,
        score=score,
        max_score=max_score,
        framework=submission.framework_part.framework if submission.framework_part else None,
        checks=tuple(results),
        parts=_graded_parts(submission),
        findings=submission.findings,
        sources={name: unit.source for name, unit in _graded_units(submission).items()},
        source_origins={name: (unit.file_label, unit.line) for name, unit in _graded_units(submission).items()},
        source_outlines={name: unit.outline for name, unit in _graded_units(submission).items() if unit.outline},
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


class _Plan:
    """The checks for one submission, in order, with the layer results the model checks depend on."""

    def __init__(self, submission: Submission, settings: GradeSettings) -> None:
        self.sub = submission
        self.settings = settings
        self.rubric: Rubric = settings.rubric.rubric
        self.outcomes: list[CheckOutcome] = []

    def run(self) -> list[CheckOutcome]:
        numpy_part, fw_part = self.sub.numpy_part, self.sub.framework_part
        checks, runner, mnist = self.rubric.checks, self.settings.runner, self.settings.mnist
        for spec in LAYERS:
            self.add(spec.check_id, numpy_part, spec.name, self._layer_check(spec))
        stability = self._seeded(checks.numpy_softmax_stability, "numpy.softmax.stability")
        self.add("numpy.softmax.stability", numpy_part, "Softmax",
                 lambda p: check_softmax_stability(narrow_part(p, ["Softmax"]), stability, self._limits("numpy.softmax.stability"), runner))
        model_part, replaced = self._with_reference_layers(numpy_part)
        backward = self._seeded(checks.numpy_model_backward, "numpy.model.backward")
        self.add("numpy.model.backward", model_part, "myModel",
                 lambda p: check_model_backward(p, backward, self._limits("numpy.model.backward"), runner), replaced)
        numpy_train = self._seeded(checks.numpy_model_train, "numpy.model.train")
        self.add("numpy.model.train", model_part, "myModel",
                 lambda p: check_numpy_training(p, numpy_train, self._limits("numpy.model.train"), runner, mnist.get()), replaced)
        self._framework_model_checks(fw_part)
        framework_train = self._seeded(checks.framework_model_train, "framework.model.train")
        self.add("framework.model.train", fw_part, "myModel",
                 lambda p: check_framework_training(p, framework_train, self._limits("framework.model.train"), runner, mnist.get()))
        return self.outcomes

    def _framework_model_checks(self, part: CodePart | None) -> None:
        """forward and architecture judge one probe of the model: run it once, when either is selected."""
        rc = self._seeded(self.rubric.checks.framework_model_forward, FORWARD_ID)
        probe: list[tuple[RunResult, np.ndarray]] = []

        def probed(p: CodePart) -> tuple[RunResult, np.ndarray]:
            if not probe:
                probe.append(run_probe(p, rc, self._limits(FORWARD_ID), self.settings.runner))
            return probe[0]

        arch_rc = self._seeded(self.rubric.checks.framework_model_architecture, ARCHITECTURE_ID)
        self.add(FORWARD_ID, part, "myModel", lambda p: judge_forward(probed(p)[0]))
        self.add(ARCHITECTURE_ID, part, "myModel", lambda p: judge_architecture(*probed(p), arch_rc))

    def _seeded(self, spec: SpecT, check_id: str) -> SpecT:
        return spec.with_seed(self.settings.seed, check_id)

    def _selected(self, check_id: str) -> bool:
        """Self-check runs public checks only; --only narrows to matching ids."""
        if self.settings.self_check and self.rubric.checks.get(check_id).visibility != "public":
            return False
        return not self.settings.only or any(fnmatch.fnmatchcase(check_id, pattern) for pattern in self.settings.only)

    def add(self, check_id: str, part: CodePart | None, name: str, run: Callable[[CodePart], CheckOutcome],
            replaced: tuple[str, ...] = ()) -> None:
        """Run one check if selected; skip when the part is absent, error when `name` is missing."""
        if not self._selected(check_id):
            return
        if part is None:
            outcome = skipped(check_id, NO_FRAMEWORK if check_id.startswith("framework") else NO_NUMPY)
        elif part.unit(name) is None:
            outcome = CheckOutcome(id=check_id, status="error", evidence={"failure": "missing"},
                                   message=f"missing: class `{name}` is not defined in {part.file}", diagnosis=MISSING_HINT)
        else:
            outcome = _note_reference_layers(run(part), replaced)
        self.outcomes.append(outcome)

    def _layer_check(self, spec: LayerSpec) -> Callable[[CodePart], CheckOutcome]:
        rubric_check = self._seeded(self.rubric.checks.gradient(spec.check_id), spec.check_id)
        limits, runner = self._limits(spec.check_id), self.settings.runner
        return lambda part: check_layer(spec, narrow_part(part, [spec.name]), rubric_check, limits, runner)

    def _limits(self, check_id: str) -> Limits:
        return self.rubric.limits_for(check_id)

    def _with_reference_layers(self, part: CodePart | None) -> tuple[CodePart | None, tuple[str, ...]]:
        """The numpy part with each layer that failed its own check replaced by the staff solution's.

        A wrong Relu.backward then costs the student numpy.relu.backward only, not
        the model checks that build on it too.
        """
        failed = tuple(s.name for s in LAYERS for o in self.outcomes if o.id == s.check_id and o.status != "passed")
        if part is None or not failed:
            return part, ()
        kept = [u for u in part.units if u.name not in failed]
        imports = tuple(u for u in kept if u.kind == "import")
        units = imports + _reference_units(set(failed), self.settings.runner) + tuple(u for u in kept if u.kind != "import")
        # The staff layers say `np` even where the student imported numpy under another name.
        supplied = tuple(dict.fromkeys((*part.supplied_imports, "import numpy as np")))
        return part.model_copy(update={"units": units, "supplied_imports": supplied}), failed


def _note_reference_layers(outcome: CheckOutcome, replaced: tuple[str, ...]) -> CheckOutcome:
    if not replaced:
        return outcome
    names = ", ".join(replaced)
    note = f" (graded with the staff solution's {names}, because yours did not pass its own check)"
    return outcome.model_copy(update={"message": outcome.message + note, "evidence": outcome.evidence | {"reference_layers": list(replaced)}})


def _reference_units(names: set[str], runner: Runner) -> tuple[SourceUnit, ...]:
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


def _graded_units(sub: Submission) -> dict[str, SourceUnit]:
    """Each graded definition by name; the framework model is keyed `framework:myModel`."""
    units = {u.name: u for u in (sub.numpy_part.units if sub.numpy_part else ()) if u.name and u.kind != "import"}
    if sub.framework_part and (model := sub.framework_part.unit("myModel")):
        units["framework:myModel"] = model
    return units
