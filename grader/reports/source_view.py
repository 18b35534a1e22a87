"""The student's own code beside a check: real line numbers, and the line a diagnosis points at.

A check that errored carries where the student's code raised (ErrorEvidence.location:
file, notebook cell, line); when that is inside the definition shown, in the same
file label ("hw.ipynb [cell 3]") and numbering as the source, that line is marked.

Marking is deliberately conservative.  A rule fires only when its message id is
among the ids of the check's message or diagnosis (nested clauses included); it
then looks inside one method of the student's class (usually `backward`) for
statement lines that match a simple pattern, e.g. "only the diagonal of the softmax
Jacobian" (layers.diag.softmax_diagonal_only) -> the line of `backward` with `1 - s`
in it.  Nothing is marked when no line, or more than two lines, match: a wrong mark
would send the student to the wrong place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from grader.evidence import ErrorEvidence
from grader.records import CheckResult, ClassOutline, GradedSource, GradeReport, Location, Message

_NUMPY_CLASSES = {"matmul": "Matmul", "relu": "Relu", "softmax": "Softmax", "log": "Log", "model": "myModel"}
"""Second part of a `numpy.*` check id -> the graded definition it is about."""
_MAX_MARKED = 2
_FORWARD = ("forward", "call", "__call__")


@dataclass(frozen=True)
class _Rule:
    ids: tuple[str, ...]
    """Message ids that select this rule (in the message or the diagnosis, at any depth)."""
    methods: tuple[str, ...]
    """Methods of the class to look in; () means the whole class."""
    pattern: str
    """A statement line (comments cut off) must match this regular expression."""
    upstream: bool = False
    """The line must also use the method's first parameter (the upstream gradient, or the label)."""


_RULES: tuple[_Rule, ...] = (
    _Rule(("layers.diag.softmax_diagonal_only",), ("backward",), r"1\s*-"),
    _Rule(("layers.diag.softmax_batch_axis",), ("backward",), r"axis\s*=\s*0"),
    _Rule(("layers.diag.softmax_correction_sign",), ("backward",), r"\+.*\bsum\b|\bsum\b.*\+"),
    _Rule(("layers.diag.relu_mask_missing",), ("backward",), r".", upstream=True),
    _Rule(("layers.diag.relu_mask_inverted",), ("backward",), r"<", upstream=True),
    _Rule(("layers.diag.relu_masked_by_values",), ("backward",), r"maximum|relu|where", upstream=True),
    # Both say "the derivative of log(x) is 1/x" (not -1/x^2, not 1/x^2).
    _Rule(("layers.diag.log_derivative_neg_sq", "layers.diag.log_derivative_sq"), ("backward",), r"\*\*|\bpow|square",
          upstream=True),
    _Rule(("layers.diag.log_times_x",), ("backward",), r"\*", upstream=True),
    _Rule(("layers.diag.passthrough",), ("backward",), r".", upstream=True),
    _Rule(("compare.diag.sign_flipped",), ("backward",), r"-", upstream=True),
    _Rule(("compare.diag.sign_flipped",), ("backward",), r"\.backward\(", upstream=True),
    _Rule(("compare.diag.scaled",), ("backward",), r"/|\bmean\b|shape\[0\]|\blen\(", upstream=True),
    _Rule(("compare.diag.transposed",), ("backward",), r"\.T\b|transpose", upstream=True),
    _Rule(("compare.diag.wrong_shape",), ("backward",), r"^\s*return\b"),
    _Rule(("layers.diag.returned_list",), ("backward",), r"tolist|\blist\("),
    _Rule(("layers.diag.stale_input",), ("forward",), r"\bif\b.*\bmem\b|\bmem\b.*\bif\b"),
    _Rule(("layers.diag.modified_input",), ("forward",),
          r"^\s*(?!self\b)\w+\s*(\[[^\]]*\])+\s*[-+*/]?=(?!=)|^\s*(?!self\b)\w+\s*[-+*/]=|\bout\s*=\s*\w"),
    _Rule(("layers.diag.backward_twice",), ("backward",),
          r"self\.mem\s*\[[^\]]*\]\s*[-+*/]?=(?!=)|self\.\w+\s*[-+*/]="),
    _Rule(("framework.forward.probabilities",), _FORWARD, r"(?<!log_)softmax"),
    _Rule(("framework.arch.no_b1",), (), r"bias\s*=\s*False"),
    _Rule(("stability.diag.subtract_max",), _FORWARD, r"\bexp\b"),
)
RULE_IDS: frozenset[str] = frozenset(i for rule in _RULES for i in rule.ids)
"""Every message id a marking rule keys on (tests check that the catalogs have them)."""


@dataclass(frozen=True)
class SourceLine:
    """One line of the student's code as shown: its line number in their file, its text, and whether it is marked."""

    number: int
    text: str
    marked: bool = False
    comments: tuple[str, ...] = ()
    """Staff's student-visible comments on this line (`grade review`, `grade comment`)."""


@dataclass(frozen=True)
class SourceView:
    """The definition a check is about, ready for the template."""

    name: str
    part: str
    file: str
    first_line: int
    lines: tuple[SourceLine, ...]
    mark_reason: Literal["diagnosis", "error"] = "diagnosis"

    @property
    def any_marked(self) -> bool:
        """Whether a line is marked (the template then explains the mark)."""
        return any(line.marked for line in self.lines)


def source_view(check: CheckResult, report: GradeReport, *, mark: bool = True) -> SourceView | None:
    """The student's source of the definition `check` is about, or None when the report lacks it.

    Args:
        check: The check.
        report: Its report, whose `sources` hold the code.
        mark: Whether to mark the line the diagnosis (or the error) points at.
    """
    key = source_key(check.id)
    graded = report.source(key) if key is not None else None
    if graded is None:
        return None
    lines = graded.source.rstrip("\n").split("\n")
    marked: frozenset[int] = frozenset()
    # Where the student's code raised (an error, or a failed check that quotes the error: a model that
    # takes neither input layout) says more than any diagnosis rule.
    raised = check.evidence.location if isinstance(check.evidence, ErrorEvidence) else None
    if mark and raised is not None and check.status in ("error", "failed"):
        marked = error_lines(raised, graded, len(lines))
    elif mark and check.status == "failed":
        marked = suspicious_lines(graded.source, graded.outline, message_ids(check), str(check.message))
    part, _, name = graded.name.rpartition(":")  # "framework:myModel" -> "framework", "myModel"
    return SourceView(name=name, part=part, file=graded.file_label, first_line=graded.line,
                      lines=tuple(SourceLine(graded.line + i, text, i + 1 in marked) for i, text in enumerate(lines)),
                      mark_reason="error" if raised is not None and marked else "diagnosis")


def message_ids(check: CheckResult) -> frozenset[str]:
    """The ids of the check's message and diagnosis and of every clause nested in them."""
    found: list[Message] = check.message.walk() + (check.diagnosis.walk() if check.diagnosis else [])
    return frozenset(m.id for m in found)


def file_label(location: Location) -> str:
    """The file label of a place in the submission, as GradedSource has it: 'hw.py' or 'hw.ipynb [cell 3]'."""
    return location.file if location.cell is None else f"{location.file} [cell {location.cell}]"


def error_lines(location: Location | None, source: GradedSource, count: int) -> frozenset[int]:
    """The 1-based line of `source` (`count` lines long) where the student's code raised, if it is in there."""
    if location is None or location.line is None or file_label(location) != source.file_label:
        return frozenset()
    line = location.line - source.line + 1
    return frozenset({line}) if 1 <= line <= count else frozenset()


def source_key(check_id: str) -> str | None:
    """The `GradeReport.sources` name a check is about, e.g. 'numpy.relu.backward' -> 'Relu'."""
    part, _, rest = check_id.partition(".")
    subject = rest.partition(".")[0]
    if part == "numpy":
        return _NUMPY_CLASSES.get(subject)
    if part == "framework" and subject == "model":
        return "framework:myModel"
    return None


def suspicious_lines(source: str, outline: ClassOutline | None, ids: frozenset[str], message: str = "") -> frozenset[int]:
    """1-based lines of `source` (one class) that the diagnosis points at; empty when unsure.

    Args:
        source: The text of one class definition.
        outline: Its statement lines and methods, as the intake worker parsed them
            (the grader's process never parses student code); None: nothing is marked.
        ids: The message ids of the check's message and diagnosis (`message_ids`).
        message: The check's message in English: the gradient it names (grad_W) narrows the lines.
    """
    if outline is None:
        return frozenset()
    lines = source.split("\n")
    for rule in _RULES:
        if ids.intersection(rule.ids):
            found = _narrow_to_gradient(_get_matching_lines(outline, lines, rule), lines, message)
            if 0 < len(found) <= _MAX_MARKED:
                return frozenset(found)
    return frozenset()


def _narrow_to_gradient(found: set[int], lines: list[str], message: str) -> set[int]:
    """The lines that assign the gradient the message names (e.g. grad_W), when some do; else all."""
    names = set(re.findall(r"\b(grad_\w+|W\d_grad)\b", message))
    assigning = {n for n in found if any(re.match(rf"\s*([\w.]+\s*,\s*)*(self\.)?{name}\b[^=]*=(?!=)", lines[n - 1]) for name in names)}
    return assigning or found


def _get_matching_lines(outline: ClassOutline, lines: list[str], rule: _Rule) -> set[int]:
    found: set[int] = set()
    for statements, upstream in _get_scopes(outline, rule):
        for number in statements:
            if number > len(lines):
                continue
            code = lines[number - 1].split("#", 1)[0]
            if re.search(rule.pattern, code) and (upstream is None or re.search(rf"\b{re.escape(upstream)}\b", code)):
                found.add(number)
    return found


def _get_scopes(outline: ClassOutline, rule: _Rule) -> list[tuple[tuple[int, ...], str | None]]:
    """(statement lines of a method or the class, name of the upstream parameter or None) to search for `rule`."""
    if not rule.methods:
        return [(outline.statements, None)]
    scopes: list[tuple[tuple[int, ...], str | None]] = []
    for method in outline.methods:
        if method.name in rule.methods:
            if rule.upstream and len(method.params) < 2:
                continue
            scopes.append((method.statements, method.params[1] if rule.upstream else None))
    return scopes
