"""Reading one student file: the top-level statements worth grading, and what went wrong.

Runs only inside the intake worker (intake/worker/task.py), never in the
grader's own process: decoding, `json.loads` of a notebook and `ast.parse` of
hostile text are bounded by the worker's limits there.

A file becomes a `FileCode`: the kept `SourceUnit`s in file order plus `Finding`s
for what could not be read or parsed.  Nothing is executed; only `ast` looks at
the code.  A notebook cell or Markdown block is parsed on its own, so one broken
cell costs that cell only.

Kept (top level only): imports, classes, functions, and constant assignments
such as `EPOCHS = 50` or `D = 28*28`.  Everything else (training loops, prints,
`model = myModel()`) is dropped and never run.
"""

from __future__ import annotations

import ast
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from ...records import Finding, SourceUnit
from ...safe_ast import parse
from ...text import Message, msg, verbatim

# utf-8-sig also reads plain UTF-8 and drops the BOM Windows editors add (ast
# rejects U+FEFF); GBK is the default encoding of Chinese Windows machines.
_ENCODINGS = ("utf-8-sig", "gbk")
_MD_PYTHON = frozenset({"", "python", "py", "python3", "ipython", "ipython3"})
_MD_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
# IPython-only lines: %magic, %%cell magic, !shell, `x = !ls`, `?name` / `name??` help.
_IPYTHON_LINE = re.compile(r"^\s*(?:%|!|\w+\s*=\s*[%!]|\?{1,2}[\w.]+\s*$|[\w.]+\?{1,2}\s*$)")

UnitKind = Literal["import", "constant", "class", "function"]


@dataclass(frozen=True)
class FileCode:
    """What one file offers for grading."""

    file: str
    """Path relative to the submission, with forward slashes."""
    units: tuple[SourceUnit, ...] = ()
    """Every kept top-level statement in file order, redefinitions included."""
    findings: tuple[Finding, ...] = ()
    """Problems reading or parsing the file, its cells or blocks."""
    dropped_names: frozenset[str] = frozenset()
    """Names loaded by dropped top-level code: shows which imports the student relied on."""
    exhausted: bool = False
    """The parser ran out of stack or memory on this file: the worker should not parse more in this process."""


@dataclass(frozen=True)
class _Chunk:
    """A piece of a file parsed on its own: a whole .py, one code cell, or one fenced block."""

    text: str
    offset: int
    """Added to a line of `text` to give the line a student sees (in the file or cell)."""
    cell: int | None = None
    block: int | None = None
    """For a Markdown block: the line of its opening fence."""
    guessed: bool = False
    """A Markdown fence without a language: may be pasted output rather than code."""


    @property
    def label(self) -> Message | None:
        """Where in the file, for messages: "cell 3", "code block at line 12", or None for a whole file."""
        if self.cell is not None:
            return msg("intake.cell", cell=self.cell)
        if self.block is not None:
            return msg("intake.code_block", line=self.block)
        return None


class _Unreadable(Exception):
    """The file as a whole cannot be read; the message tells the student why."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.id)
        self.message = message


def extract_file(file: str, data: bytes) -> FileCode:
    """Decode one file's bytes and keep its gradable top-level statements.

    Args:
        file: the file's path relative to the submission (its suffix says how to read it).
        data: the file's content.
    """
    try:
        chunks = _chunks(file.lower().rpartition(".")[2], _decode(data))
    except _Unreadable as exc:
        return FileCode(file, findings=(Finding(severity="error", file=file, message=exc.message),))
    return _extract_chunks(file, chunks)


def _decode(data: bytes) -> str:
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _Unreadable(msg("intake.undecodable"))


def _chunks(suffix: str, text: str) -> list[_Chunk]:
    if suffix == "ipynb":
        return _notebook_chunks(text)
    if suffix == "md":
        return _markdown_chunks(text)
    return [_Chunk(text, offset=0)]


def _notebook_chunks(text: str) -> list[_Chunk]:
    """One chunk per code cell; `cell` counts code cells only, from 1."""
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Unreadable(msg("intake.notebook_json", line=exc.lineno, error=verbatim(exc.msg))) from exc
    except RecursionError as exc:  # `[[[[...]]]]`: no notebook nests that deep
        raise _Unreadable(msg("intake.notebook_too_deep")) from exc
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise _Unreadable(msg("intake.not_a_notebook"))
    code = [c for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
    return [_Chunk(_cell_text(c), offset=0, cell=n) for n, c in enumerate(code, 1)]


def _cell_text(cell: dict[str, object]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def _markdown_chunks(text: str) -> list[_Chunk]:
    """One chunk per fenced block labelled Python (or not labelled at all)."""
    lines = _split_lines(text)
    chunks: list[_Chunk] = []
    start = 0
    while start < len(lines):
        match = _MD_FENCE.match(lines[start].rstrip("\r\n"))
        if match is None or (match["fence"][0] == "`" and "`" in match["info"]):
            start += 1
            continue
        end = _fence_end(lines, start + 1, match["fence"])
        language = _fence_language(match["info"])
        if language in _MD_PYTHON:
            chunks.append(_fenced_chunk(lines[start + 1 : end], start + 1, len(match["indent"]), language))
        start = end + 1
    return chunks


def _fence_end(lines: list[str], start: int, fence: str) -> int:
    """Index of the closing fence line; an unclosed block runs to the end (CommonMark)."""
    closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    return next((i for i in range(start, len(lines)) if closing.match(lines[i])), len(lines))


def _fence_language(info: str) -> str:
    words = info.split()
    return words[0].strip("{}.").lower() if words else ""


def _fenced_chunk(body: list[str], fence_line: int, indent: int, language: str) -> _Chunk:
    # A fence indented inside a list item indents its content too (CommonMark).
    text = "".join(_strip_indent(line, indent) for line in body)
    return _Chunk(text, offset=fence_line, block=fence_line, guessed=not language)


def _strip_indent(line: str, indent: int) -> str:
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, indent) :]


def _split_lines(text: str) -> list[str]:
    """Lines with their endings, split exactly where Python's parser counts lines."""
    return io.StringIO(text, newline="").readlines()


# --------------------------------------------------------------------------- statements


def _extract_chunks(file: str, chunks: list[_Chunk]) -> FileCode:
    units: list[SourceUnit] = []
    findings: list[Finding] = []
    dropped: set[str] = set()
    constants: set[str] = set()  # constant names so far: `H = D // 8` needs `D` known
    exhausted = False
    for chunk in chunks:
        try:
            tree, text = _parse(chunk.text)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            findings.append(_syntax_finding(file, chunk, exc))
            exhausted = exhausted or isinstance(exc, (RecursionError, MemoryError))
            continue
        for node in tree.body:
            unit = _kept_unit(node, text, file, chunk, constants)
            if unit is None:
                dropped.update(_loaded_names(node))
            else:
                units.append(unit)
    return FileCode(file, tuple(units), tuple(findings), frozenset(dropped), exhausted)


def _parse(text: str) -> tuple[ast.Module, str]:
    """Parse `text`; failing that, parse it again with IPython-only lines blanked.

    Every IPython line is invalid Python, so valid code is never touched (a line
    starting with `%` can be the continuation of `a\\n % b` inside brackets).
    Returns the tree and the text it was parsed from, for source segments.
    """
    try:
        return parse(text), text
    except (SyntaxError, ValueError):
        cleaned = _blank_ipython_lines(text)
    return parse(cleaned), cleaned


def _blank_ipython_lines(text: str) -> str:
    """Blank (not delete) IPython lines so line numbers stay those the student sees."""
    return "".join(_blank(line) if _IPYTHON_LINE.match(line) else line for line in _split_lines(text))


def _blank(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def _syntax_finding(file: str, chunk: _Chunk, exc: Exception) -> Finding:
    line = exc.lineno if isinstance(exc, SyntaxError) else None
    problem = _parse_problem(exc)
    label = chunk.label
    if chunk.guessed and label is not None:
        # An unlabelled fence is as often pasted output as code: not the student's error.
        message = msg("intake.unlabelled_block_skipped", block=label, problem=problem)
        return Finding(severity="info", file=file, line=_file_line(chunk, line), message=message)
    if label is None:
        message = msg("intake.file_unusable", problem=problem)
    elif chunk.cell is not None:
        message = msg("intake.cell_skipped", problem=problem, where=label)
    else:
        message = msg("intake.block_skipped", problem=problem, where=label)
    return Finding(severity="error", file=file, line=_file_line(chunk, line), message=message)


def _parse_problem(exc: Exception) -> Message:
    if isinstance(exc, SyntaxError):
        return msg("intake.syntax_error", error=verbatim(exc.msg))
    if isinstance(exc, (RecursionError, MemoryError)):  # `not not ... 1` or `a + a + ...` thousands deep
        return msg("intake.parse_too_deep", kind=type(exc).__name__)
    return msg("intake.parse_failed", error=verbatim(exc))  # ValueError: null bytes in the source


def _file_line(chunk: _Chunk, line: int | None) -> int | None:
    return chunk.offset + line if line else None


def _kept_unit(node: ast.stmt, text: str, file: str, chunk: _Chunk, constants: set[str]) -> SourceUnit | None:
    """The statement as a `SourceUnit` when it is one we keep, else None."""
    kind, name = _classify(node, constants)
    if kind is None:
        return None
    if kind == "constant" and name is not None:
        constants.add(name)
    line = chunk.offset + _first_line(node)
    source = _source_of(node, text)
    return SourceUnit(kind=kind, name=name, source=source, file=file, line=line, cell=chunk.cell)


def _classify(node: ast.stmt, constants: set[str]) -> tuple[UnitKind | None, str | None]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "import", None
    if isinstance(node, ast.ClassDef):
        return "class", node.name
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return "function", node.name
    name = _constant_target(node, constants)
    return ("constant", name) if name is not None else (None, None)


def _constant_target(node: ast.stmt, constants: set[str]) -> str | None:
    """The name of `NAME = <constant expression>`, else None."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    else:
        return None
    try:
        is_constant = _is_constant_expr(value, constants)
    except RecursionError:  # `1+1+...+1` thousands deep: not worth keeping
        return None
    return target.id if isinstance(target, ast.Name) and is_constant else None


def _is_constant_expr(node: ast.expr, constants: set[str]) -> bool:
    """Literals, and arithmetic of literals and earlier constants (`28*28 + 1`, `D // 8`)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.UnaryOp):
        return _is_constant_expr(node.operand, constants)
    if isinstance(node, ast.BinOp):
        return _is_constant_expr(node.left, constants) and _is_constant_expr(node.right, constants)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_constant_expr(e, constants) for e in node.elts)
    if isinstance(node, ast.Dict):
        parts = [*node.values, *(k for k in node.keys if k is not None)]
        return None not in node.keys and all(_is_constant_expr(p, constants) for p in parts)
    return False


def _first_line(node: ast.stmt) -> int:
    """A decorated definition starts at its first decorator."""
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(int(d.lineno) for d in decorators)])


def _source_of(node: ast.stmt, text: str) -> str:
    segment = ast.get_source_segment(text, node) or ""
    first = _first_line(node)
    if first == node.lineno:
        return segment
    # get_source_segment starts at `class`/`def`; the decorator lines come before it.
    return "".join(_split_lines(text)[first - 1 : node.lineno - 1]) + segment


def _loaded_names(node: ast.AST) -> Iterator[str]:
    return (n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
