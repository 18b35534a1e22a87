"""The student's own code beside a check: real line numbers, and the line a diagnosis points at.

A check that errored names where the student's code raised, "(hw.ipynb [cell 3],
line 14)", in the same file label and numbering as the source; that line is marked.

Marking is deliberately conservative.  A rule fires only when its phrase is in
the check's diagnosis or message; it then looks inside one method of the
student's class (usually `backward`) for statement lines that match a simple
pattern, e.g. "only the diagonal of the softmax Jacobian" -> the line of
`backward` with `1 - s` in it.  Nothing is marked when no line, or more than
two lines, match: a wrong mark would send the student to the wrong place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from grader.models import CheckResult, ClassOutline, GradeReport

_NUMPY_CLASSES = {"matmul": "Matmul", "relu": "Relu", "softmax": "Softmax", "log": "Log", "model": "myModel"}
"""Second part of a `numpy.*` check id -> the graded definition it is about."""
_MAX_MARKED = 2
_FORWARD = ("forward", "call", "__call__")
_LOCATION = re.compile(r"\(([^()]+), line (\d+)\)$")
"""Where student code raised, as the sandbox appends it to an error message."""


@dataclass(frozen=True)
class _Rule:
    phrase: str
    """Text of the diagnosis or message that selects this rule."""
    methods: tuple[str, ...]
    """Methods of the class to look in; () means the whole class."""
    pattern: str
    """A statement line (comments cut off) must match this regular expression."""
    upstream: bool = False
    """The line must also use the method's first parameter (the upstream gradient, or the label)."""


_RULES: tuple[_Rule, ...] = (
    _Rule("only the diagonal of the softmax Jacobian", ("backward",), r"1\s*-"),
    _Rule("the sum runs over the batch axis", ("backward",), r"axis\s*=\s*0"),
    _Rule("the ReLU mask is missing", ("backward",), r".", upstream=True),
    _Rule("the ReLU mask is inverted", ("backward",), r"<", upstream=True),
    _Rule("masked by the input values", ("backward",), r"maximum|relu|where", upstream=True),
    _Rule("the derivative of log(x) is 1/x", ("backward",), r"\*\*|\bpow|square", upstream=True),
    _Rule("multiplied by x instead of divided", ("backward",), r"\*", upstream=True),
    _Rule("the upstream gradient is passed through unchanged", ("backward",), r".", upstream=True),
    _Rule("the sign is flipped", ("backward",), r"-", upstream=True),
    _Rule("the sign is flipped", ("backward",), r"\.backward\(", upstream=True),
    _Rule("scaled by", ("backward",), r"/|\bmean\b|shape\[0\]|\blen\(", upstream=True),
    _Rule("your gradient is transposed", ("backward",), r"\.T\b|transpose", upstream=True),
    _Rule("wrong shape: expected", ("backward",), r"^\s*return\b"),
    _Rule("backward returned a list", ("backward",), r"tolist|\blist\("),
    _Rule("backward used the input of an earlier forward call", ("forward",), r"\bif\b.*\bmem\b|\bmem\b.*\bif\b"),
    _Rule("forward modified its input in place", ("forward",),
          r"^\s*(?!self\b)\w+\s*(\[[^\]]*\])+\s*[-+*/]?=(?!=)|^\s*(?!self\b)\w+\s*[-+*/]=|\bout\s*=\s*\w"),
    _Rule("calling backward twice gave different results", ("backward",),
          r"self\.mem\s*\[[^\]]*\]\s*[-+*/]?=(?!=)|self\.\w+\s*[-+*/]="),
    _Rule("returns softmax probabilities", _FORWARD, r"(?<!log_)softmax"),
    _Rule("the first layer has no bias b1", (), r"bias\s*=\s*False"),
    _Rule("subtract the row maximum before exp", _FORWARD, r"\bexp\b"),
)


@dataclass(frozen=True)
class SourceLine:
    """One line of the student's code as shown: its line number in their file, its text, and whether it is marked."""

    number: int
    text: str
    marked: bool = False


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
        report: Its report, whose `sources` and `source_origins` hold the code.
        mark: Whether to mark the line the diagnosis points at.
    """
    key = source_key(check.id)
    if key is None or key not in report.sources:
        return None
    source = report.sources[key]
    file, first = report.source_origins.get(key, ("", 1))
    lines = source.rstrip("\n").split("\n")
    marked: frozenset[int] = frozenset()
    if mark and check.status == "failed":
        marked = suspicious_lines(source, report.source_outlines.get(key), check.diagnosis or "", check.message)
    elif mark and check.status == "error":
        marked = error_lines(check.message, file, first, len(lines))
    part, _, name = key.rpartition(":")  # "framework:myModel" -> "framework", "myModel"
    return SourceView(name=name, part=part, file=file, first_line=first,
                      lines=tuple(SourceLine(first + i, text, i + 1 in marked) for i, text in enumerate(lines)),
                      mark_reason="error" if check.status == "error" else "diagnosis")


def error_lines(message: str, file: str, first: int, count: int) -> frozenset[int]:
    """The 1-based line of the source (starting at line `first` of `file`) where an error message says the code raised."""
    found = _LOCATION.search(message)
    if not found or found[1] != file:
        return frozenset()
    line = int(found[2]) - first + 1
    return frozenset({line}) if 1 <= line <= count else frozenset()


def source_key(check_id: str) -> str | None:
    """The `GradeReport.sources` key a check is about, e.g. 'numpy.relu.backward' -> 'Relu'."""
    part, _, rest = check_id.partition(".")
    subject = rest.partition(".")[0]
    if part == "numpy":
        return _NUMPY_CLASSES.get(subject)
    if part == "framework" and subject == "model":
        return "framework:myModel"
    return None


def suspicious_lines(source: str, outline: ClassOutline | None, diagnosis: str, message: str = "") -> frozenset[int]:
    """1-based lines of `source` (one class) that the diagnosis points at; empty when unsure.

    Args:
        source: The text of one class definition.
        outline: Its statement lines and methods, as the intake worker parsed them
            (the grader's process never parses student code); None: nothing is marked.
        diagnosis: The check's diagnosis.
        message: The check's message (framework checks name the mistake there).
    """
    if outline is None:
        return frozenset()
    lines = source.split("\n")
    for rule in _RULES:
        if rule.phrase in diagnosis or rule.phrase in message:
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
