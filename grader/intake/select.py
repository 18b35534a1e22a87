"""Choosing what to grade: per part, the file whose definitions fit this homework.

Runs in the grader's process on the intake worker's validated records
(records.FileAnalysis): no student text is parsed here.  Students keep other
exercises in the same folder (a function-fitting notebook also defines Matmul,
Relu and myModel), so each file's candidate is scored by how well it fits the
MNIST homework (candidates.py, in the worker) and the best one wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..models import CodePart, Finding, Framework
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


def select_parts(files: Sequence[FileAnalysis], *, where: str) -> Selection:
    """Choose, per part, the file to grade and say why the others were not chosen.

    Args:
        files: every readable file of the submission, as the intake worker analysed it.
        where: how findings about the whole submission name it (its folder or file name).
    """
    numpy = [f.numpy for f in files if f.numpy is not None]
    framework = [f.framework for f in files if f.framework is not None]
    numpy_part, numpy_findings = _choose("numpy", numpy, where)
    framework_part, framework_findings = _choose("framework", framework, where)
    return Selection(numpy_part, framework_part, (*numpy_findings, *framework_findings))


def narrow_part(part: CodePart, names: Iterable[str]) -> CodePart:
    """`part` with only the classes and functions `names` need, directly or through each other.

    Imports and constants stay.  A broken or hostile class elsewhere in the file
    (an endless loop in a class body) then cannot cost a check that never uses it.
    """
    defs = {u.name: u for u in part.units if u.kind in ("class", "function") and u.name}
    keep: set[str] = set()
    todo = [n for n in names if n in defs]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend(n for n in defs[name].uses if n in defs)
    units = tuple(u for u in part.units if u.kind in ("import", "constant") or u.name in keep)
    return part.model_copy(update={"units": units})


# --------------------------------------------------------------------------- choosing


def _choose(kind: PartKind, candidates: list[Candidate], where: str) -> tuple[CodePart | None, list[Finding]]:
    if not candidates:
        return None, [Finding(severity="warning", file=where, message=_missing_msg(kind))]
    best, *others = sorted(candidates, key=lambda c: c.rank)
    findings = [_info(best, _chosen_msg(kind, best))]
    findings += [_info(c, _skipped_msg(kind, c, best)) for c in others]
    return best.part, findings


def _info(candidate: Candidate, message: Message) -> Finding:
    return Finding(severity="info", file=candidate.part.file, message=message)


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
