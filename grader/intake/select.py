"""Choosing what to grade: per part, the file whose definitions fit this homework.

Runs in the grader's process on the intake worker's validated records
(records.FileAnalysis): no student text is parsed here.  Students keep other
exercises in the same folder (a function-fitting notebook also defines Matmul,
Relu and myModel), so each file's candidate is scored by how well it fits the
MNIST homework (candidates.py, in the worker) and the best one wins.  A class
named myModel wins over a framework model of another name (`Net`), which is
graded only when no file has one, and said so.  When no framework part is
taken, the intake's reason (a myModel of the function-fitting exercise, a
framework notebook rewritten with numpy) is `Selection.framework_absence`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..records import CodePart, Finding, Framework, SourceUnit
from ..text import Message, msg
from .files import is_checkpoint
from .records import Candidate, FileAnalysis, suffix_of

PartKind = Literal["numpy", "framework"]

MODEL = "myModel"
NUMPY_NAMES = ("Matmul", "Relu", "Softmax", "Log", MODEL)
_FRAMEWORK_TITLE: dict[Framework, str] = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}


@dataclass(frozen=True)
class Selection:
    """The parts chosen for grading and the reasons, as intake findings."""

    numpy_part: CodePart | None
    framework_part: CodePart | None
    findings: tuple[Finding, ...]
    framework_absence: Message | None = None
    """Why no framework part was taken, when more can be said than "none found"."""


def select_parts(files: Sequence[FileAnalysis], *, where: str) -> Selection:
    """Choose, per part, the file to grade and say why the others were not chosen.

    Args:
        files: every readable file of the submission, as the intake worker analysed it.
        where: how findings about the whole submission name it (its folder or file name).
    """
    numpy = [f.numpy for f in files if f.numpy is not None]
    framework = [f.framework for f in files if f.framework is not None]
    numpy_part, numpy_findings = _choose("numpy", numpy, where)
    absence = _absence_msg(files, numpy_part) if not framework else None
    if absence is None:
        framework_part, framework_findings = _choose("framework", framework, where)
    else:
        framework_part, framework_findings = None, [Finding(severity="warning", file=absence[0], message=absence[1])]
    others = [_info_at(f.file, _other_exercise_msg(f)) for f in files if f.other_exercise is not None and absence is None]
    findings = (*numpy_findings, *framework_findings, *others, *_alias_findings(framework_part, framework))
    return Selection(numpy_part, framework_part, findings, absence[1] if absence else None)


def narrow_part(part: CodePart, names: Iterable[str]) -> CodePart:
    """`part` with only the classes and functions `names` need, directly or through each other.

    Constants stay, and the imports the kept code uses (all of them when the intake
    could not tell what an import binds).  A broken or hostile class elsewhere in
    the file (an endless loop in a class body) then cannot cost a check that never
    uses it, and a Relu check does not import TensorFlow for the Log that uses it.
    """
    names = tuple(names)
    defs = {u.name: u for u in part.units if u.kind in ("class", "function") and u.name}
    keep: set[str] = set()
    # Constants stay, so what they name stays too: the alias `myModel = Net` of a model named otherwise.
    constants = (n for u in part.units if u.kind == "constant" and u.name in names for n in u.uses)
    todo = [n for n in (*names, *constants) if n in defs]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend(n for n in defs[name].uses if n in defs)
    units = tuple(u for u in part.units if u.kind in ("import", "constant") or u.name in keep)
    return without_unused_imports(part.model_copy(update={"units": units}))


def without_unused_imports(part: CodePart) -> CodePart:
    """`part` without the imports none of its definitions uses (an import whose names the intake could not
    tell, `from x import *`, stays).

    After the staff layers replace a student's Relu that computed with torch, its
    `import torch` would otherwise cost every model check a torch import for nothing.
    """
    used = {n for u in part.units if u.kind != "import" for n in _needs(u)}
    units = tuple(u for u in part.units if u.kind != "import" or u.binds is None or used & set(u.binds))
    return part.model_copy(update={"units": units})


def _needs(unit: SourceUnit) -> Iterable[str]:
    """The module-level names a unit loads: its own, and each method's (a method may use a name the class binds elsewhere)."""
    yield from unit.uses
    for method in unit.outline.methods if unit.outline else ():
        yield from method.uses


# --------------------------------------------------------------------------- choosing


def _choose(kind: PartKind, candidates: list[Candidate], where: str) -> tuple[CodePart | None, list[Finding]]:
    if not candidates:
        return None, [Finding(severity="warning", file=where, message=_missing_msg(kind))]
    best, *others = sorted(candidates, key=lambda c: c.rank)
    findings = [_info(best, _chosen_msg(kind, best))]
    findings += [_info(c, _skipped_msg(kind, c, best)) for c in others]
    return best.part, findings


def _info(candidate: Candidate, message: Message) -> Finding:
    return _info_at(candidate.part.file, message)


def _info_at(file: str, message: Message) -> Finding:
    return Finding(severity="info", file=file, message=message)


def _alias_findings(part: CodePart | None, candidates: list[Candidate]) -> list[Finding]:
    """"no framework class is named myModel; graded `Net` (hw.py) as the framework model", when so."""
    chosen = next((c for c in candidates if c.part is part), None)
    if chosen is None or not chosen.aliased:
        return []
    return [_info(chosen, msg("intake.framework_alias", name=chosen.model, file=chosen.part.file))]


def _absence_msg(files: Sequence[FileAnalysis], numpy_part: CodePart | None) -> tuple[str, Message] | None:
    """Why no file offers a framework part, when a file shows more than "none found": (file, reason)."""
    other = next((f for f in files if f.other_exercise is not None), None)
    if other is not None and other.other_exercise is not None:
        exercise = other.other_exercise
        if exercise.inputs == 1:
            return other.file, msg("intake.framework_function_fitting", name=exercise.model, file=other.file)
        return other.file, msg("intake.framework_other_inputs", name=exercise.model, file=other.file, n=exercise.inputs)
    numpy_file = numpy_part.file if numpy_part is not None else None
    rewrite = next((f for f in files if f.numpy_rewrite and f.file != numpy_file and f.numpy is not None), None)
    if rewrite is not None:
        return rewrite.file, msg("intake.framework_numpy_rewrite", file=rewrite.file)
    return None


def _other_exercise_msg(f: FileAnalysis) -> Message:
    """e.g. "fit.ipynb: skipped for the framework part: myModel takes 1 input feature, not 784 (...)"."""
    exercise = f.other_exercise
    assert exercise is not None  # callers filter
    if exercise.inputs == 1:
        why = msg("intake.fit_function_fitting", name=exercise.model)
    else:
        why = msg("intake.fit_other_inputs", name=exercise.model, n=exercise.inputs)
    return msg("intake.skipped_framework", file=f.file, fit=why)


def _missing_msg(kind: PartKind) -> Message:
    if kind == "numpy":
        return msg("intake.no_numpy_part")
    return msg("intake.no_framework_part")


def _chosen_msg(kind: PartKind, c: Candidate) -> Message:
    """e.g. "hw.ipynb: chosen for the numpy part: defines Matmul, Relu, ... with the MNIST shapes"."""
    if kind == "numpy":
        return msg("intake.chosen_numpy", file=c.part.file, fit=_fit_msg(c))
    return msg("intake.chosen_framework", file=c.part.file, fit=_fit_msg(c))


def _skipped_msg(kind: PartKind, c: Candidate, best: Candidate) -> Message:
    why = _fit_msg(c) if c.score < best.score else msg("intake.tie", other=best.part.file, why=_tie_reason(c, best))
    if kind == "numpy":
        return msg("intake.skipped_numpy", file=c.part.file, fit=why)
    return msg("intake.skipped_framework", file=c.part.file, fit=why)


def _fit_msg(c: Candidate) -> Message:
    """e.g. "defines Matmul, Relu, myModel but no Softmax/Log and no MNIST shapes"."""
    if c.part.kind == "framework" and c.part.framework is not None:
        framework = _FRAMEWORK_TITLE[c.part.framework]
        if c.aliased:
            return msg("intake.fit_framework_named", name=c.model, framework=framework)
        if c.mnist_shapes:
            return msg("intake.fit_framework", framework=framework)
        return msg("intake.fit_framework_no_shapes", framework=framework)
    names = ", ".join(c.defines)
    missing = "/".join(n for n in NUMPY_NAMES if n not in c.defines)
    if missing and c.mnist_shapes:
        return msg("intake.fit_numpy_missing", names=names, missing=missing)
    if missing:
        return msg("intake.fit_numpy_missing_no_shapes", names=names, missing=missing)
    if not c.mnist_shapes:
        return msg("intake.fit_numpy_no_shapes", names=names)
    return msg("intake.fit_numpy", names=names)


def _tie_reason(c: Candidate, best: Candidate) -> Message:
    if is_checkpoint(c.part.file) and not is_checkpoint(best.part.file):
        return msg("intake.tie_checkpoint")
    if suffix_of(c.part.file) != suffix_of(best.part.file):
        return msg("intake.tie_suffix", suffix=suffix_of(best.part.file))
    return msg("intake.tie_alphabetical")
