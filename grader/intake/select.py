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
    findings = [_info(best, f"chosen for the {kind} part: {_fit_msg(best)}")]
    findings += [_info(c, f"skipped for the {kind} part: {_skipped_msg(c, best)}") for c in others]
    return best.part, findings


def _info(candidate: Candidate, text: str) -> Finding:
    file = candidate.part.file
    return Finding(severity="info", file=file, message=f"{file}: {text}")


def _missing_msg(kind: PartKind) -> str:
    if kind == "numpy":
        return "no numpy part found: no Matmul, Relu, Softmax, Log or numpy myModel in any file"
    return "no framework part found: no myModel using PyTorch or TensorFlow in any file"


def _fit_msg(c: Candidate) -> str:
    """e.g. "defines Matmul, Relu, myModel but no Softmax/Log and no MNIST shapes"."""
    if c.part.kind == "framework" and c.part.framework is not None:
        head = f"myModel uses {_FRAMEWORK_TITLE[c.part.framework]}"
        return head + (" with the MNIST shapes" if c.mnist_shapes else " but no MNIST shapes (784 and 10)")
    missing = [n for n in NUMPY_NAMES if n not in c.defines]
    gaps = ([f"no {'/'.join(missing)}"] if missing else []) + ([] if c.mnist_shapes else ["no MNIST shapes"])
    head = f"defines {', '.join(c.defines)}"
    return head + (f" but {' and '.join(gaps)}" if gaps else " with the MNIST shapes")


def _skipped_msg(c: Candidate, best: Candidate) -> str:
    if c.score < best.score:
        return _fit_msg(c)
    return f"fits as well as {best.part.file}, which wins as {_tie_reason(c, best)}"


def _tie_reason(c: Candidate, best: Candidate) -> str:
    if is_checkpoint(c.part.file) and not is_checkpoint(best.part.file):
        return "the file outside .ipynb_checkpoints/"
    if suffix_of(c.part.file) != suffix_of(best.part.file):
        return f"the {suffix_of(best.part.file)} file (.ipynb before .py before .md)"
    return "the first path in alphabetical order"


