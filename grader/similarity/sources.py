"""The code compared: each student's parts from their report, the staff files through intake.

A student's code is what their `GradeReport` keeps of the sandboxed intake's
units (`sources`, one `GradedSource` each): every graded numpy definition, and the
framework `myModel`.  No student file is read again.  The template and the known
solutions are staff files, but they are read the same way as a hand-in
(`load_submission`, in the intake worker), one file at a time: each known
solution is its own owner, and everything any template file holds is
subtracted.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import UsageError
from ..intake import load_submission
from ..intake.files import CODE_SUFFIXES, find_code_files
from ..records import CodePart, GradeReport, SourceUnit, display_path
from ..sandbox.runner import Runner
from .records import KNOWN_PREFIX, CodeBlock, OwnerKind, PartCode, PartName

FRAMEWORK_KEY = "framework:"
"""`GradeReport.sources` names the framework part's definitions framework:<name>."""
_MODEL = "myModel"


def student_parts(report: GradeReport) -> list[PartCode]:
    """The student's numpy and framework parts, as their report kept them (none for an unreadable hand-in)."""
    by_part: dict[PartName, list[CodeBlock]] = {"numpy": [], "framework": []}
    for kept in report.sources:
        part: PartName = "framework" if kept.name.startswith(FRAMEWORK_KEY) else "numpy"
        by_part[part].append(CodeBlock(name=kept.name.removeprefix(FRAMEWORK_KEY), label=kept.file_label, line=kept.line,
                                       source=kept.source))
    return [PartCode(owner=report.student, kind="student", part=part, blocks=tuple(sorted(blocks, key=_place)))
            for part, blocks in by_part.items() if blocks]


def staff_parts(folder: Path, kind: OwnerKind, runner: Runner) -> tuple[list[PartCode], list[str]]:
    """The parts of every code file in `folder` (template or known solutions), each file its own owner, and notes.

    Raises:
        UsageError: `folder` is not a folder or holds no .ipynb, .py or .md file.
    """
    option = "--template" if kind == "template" else "--known-solutions"
    if not folder.is_dir():
        raise UsageError(f"{option} {folder}: not a folder; pass the folder that holds the {_what(kind)}")
    files = find_code_files(folder)
    if not files:
        raise UsageError(f"{option} {folder}: no {', '.join(CODE_SUFFIXES)} file in it; pass the folder that holds the {_what(kind)}")
    parts: list[PartCode] = []
    notes: list[str] = []
    for file in files:
        name = display_path(file, folder)
        found = _file_parts(file, _owner(kind, name), kind, runner)
        parts.extend(found)
        if not found:
            notes.append(f"{option} {name}: intake found no numpy or framework code in it; it was not used")
    return parts, notes


def _file_parts(file: Path, owner: str, kind: OwnerKind, runner: Runner) -> list[PartCode]:
    """One staff file's parts: all of the template's code; a known solution's numpy part and framework myModel."""
    submission = load_submission(file, runner=runner)
    found: list[PartCode] = []
    for code in (submission.numpy_part, submission.framework_part):
        if code is None:
            continue
        units = code.units if kind == "template" else _compared_units(code)
        blocks = tuple(_block(u) for u in units)
        if blocks:
            found.append(PartCode(owner=owner, kind=kind, part=code.kind, blocks=blocks))
    return found


def _compared_units(code: CodePart) -> Iterable[SourceUnit]:
    """The units a student's report would keep of this part: numpy definitions, or the framework myModel."""
    if code.kind == "framework":
        model = code.unit(_MODEL)
        return (model,) if model is not None else ()
    return (u for u in code.units if u.kind != "import")


def _block(unit: SourceUnit) -> CodeBlock:
    return CodeBlock(name=unit.name or unit.kind, label=unit.file_label, line=unit.line, source=unit.source)


def _owner(kind: OwnerKind, name: str) -> str:
    return f"{KNOWN_PREFIX}{name}" if kind == "known" else f"template:{name}"


def _what(kind: OwnerKind) -> str:
    return "course's blank notebooks or files" if kind == "template" else "published or earlier solutions"


def _place(block: CodeBlock) -> tuple[str, int]:
    return (block.label, block.line)
