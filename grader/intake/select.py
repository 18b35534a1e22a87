"""Choosing what to grade: per part, the file whose definitions fit this homework.

Each file offers at most one numpy candidate (Matmul, Relu, Softmax, Log, a
numpy `myModel`, and helpers) and one framework candidate (a `myModel` that uses
PyTorch or TensorFlow, with the helpers it uses).  Students keep other exercises
in the same folder (a function-fitting notebook also defines Matmul, Relu and
myModel), so a candidate is scored by how well it fits the MNIST homework.
The framework is read from the code, never from file names or headings.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Literal

from ..models import CodePart, Finding, Framework, SourceUnit
from ..safe_ast import parse
from .extract import FileCode, is_checkpoint

PartKind = Literal["numpy", "framework"]

MODEL = "myModel"
NUMPY_NAMES = ("Matmul", "Relu", "Softmax", "Log", MODEL)
TEMPLATE_IMPORTS: dict[str, str] = {
    "np": "import numpy as np",
    "tf": "import tensorflow as tf",
    "optimizers": "from tensorflow.keras import optimizers",
    "torch": "import torch",
    "nn": "from torch import nn",
    "F": "import torch.nn.functional as F",
}
"""The course templates' import for each name students use without importing it."""

_FRAMEWORK_OF_NAME: dict[str, Framework] = {
    "tf": "tensorflow",
    "tensorflow": "tensorflow",
    "keras": "tensorflow",
    "optimizers": "tensorflow",
    "torch": "pytorch",
    "nn": "pytorch",
    "F": "pytorch",
}
_FRAMEWORK_OF_MODULE: dict[str, Framework] = {"torch": "pytorch", "tensorflow": "tensorflow", "keras": "tensorflow"}
_FRAMEWORK_TITLE: dict[Framework, str] = {"pytorch": "PyTorch", "tensorflow": "TensorFlow"}
# Template names a part's own (dropped) training code shows the student relied on.
_TEMPLATE_FAMILY: dict[Framework | None, frozenset[str]] = {
    None: frozenset({"np"}),
    "tensorflow": frozenset({"tf", "optimizers"}),
    "pytorch": frozenset({"torch", "nn", "F"}),
}
_SUFFIX_RANK = {".ipynb": 0, ".py": 1, ".md": 2}

# MNIST shapes: 784 pixels (785 with the bias column) in, 10 classes out.
_MNIST_INPUTS = frozenset({784, 785})
_MNIST_CLASSES = 10
# The shapes count as two defined names: a fitting notebook's Matmul, Relu, myModel (3)
# loses to an MNIST file's Relu, myModel and shapes (4).
_SHAPE_POINTS = 2
_NUMBER_LIMIT = 1e12  # student arithmetic is evaluated on the host: keep it small and fast
_MAX_EXPONENT = 64
_ARITHMETIC: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


@dataclass(frozen=True)
class Selection:
    """The parts chosen for grading and the reasons, as intake findings."""

    numpy_part: CodePart | None
    framework_part: CodePart | None
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class _Def:
    """A kept class, function or constant with what `ast` tells about it."""

    unit: SourceUnit
    tree: ast.Module
    position: int
    """Index in the file's units: orders definitions as the student last wrote them."""
    free: tuple[str, ...]
    """Names it loads but does not bind itself, in order of appearance."""
    framework: Framework | None = None
    """Framework it uses, directly or through the file's other definitions."""


@dataclass(frozen=True)
class _FileDefs:
    """One file's final definitions: last one wins, except myModel (one numpy, one framework)."""

    code: FileCode
    imports: tuple[SourceUnit, ...]
    defs: dict[str, _Def]
    """Constants, classes and functions other than myModel, by name."""
    numpy_model: _Def | None
    framework_model: _Def | None
    numbers: dict[str, float]
    """Values of the file's numeric constants, for shapes written as `D + 1`."""


@dataclass(frozen=True)
class _Candidate:
    part: CodePart
    defines: tuple[str, ...]
    mnist_shapes: bool

    @property
    def score(self) -> int:
        return len(self.defines) + (_SHAPE_POINTS if self.mnist_shapes else 0)

    @property
    def rank(self) -> tuple[int, bool, int, str]:
        """Sort key, best first: score, then not a checkpoint copy, then .ipynb > .py > .md, then path."""
        file = self.part.file
        return (-self.score, is_checkpoint(file), _SUFFIX_RANK.get(_suffix(file), 3), file)


def select_parts(files: Sequence[FileCode], *, where: str) -> Selection:
    """Choose, per part, the file to grade and say why the others were not chosen.

    Args:
        files: every file of the submission, as extracted.
        where: how findings about the whole submission name it (its folder or file name).
    """
    views = [_file_defs(code) for code in files]
    numpy = [c for c in map(_numpy_candidate, views) if c is not None]
    framework = [c for c in map(_framework_candidate, views) if c is not None]
    numpy_part, numpy_findings = _choose("numpy", numpy, where)
    framework_part, framework_findings = _choose("framework", framework, where)
    return Selection(numpy_part, framework_part, (*numpy_findings, *framework_findings))


# --------------------------------------------------------------------------- definitions


def _file_defs(code: FileCode) -> _FileDefs:
    imports = tuple({u.source: u for u in code.units if u.kind == "import"}.values())
    roots = _import_roots(imports)
    parsed = [d for d in (_parse_def(u, i) for i, u in enumerate(code.units) if u.kind != "import") if d is not None]
    defs: dict[str, _Def] = {}
    for d in parsed:
        if d.unit.name != MODEL and d.unit.name is not None:
            defs.pop(d.unit.name, None)  # re-insert so the order is that of final definitions
            defs[d.unit.name] = d
    defs = {name: replace(d, framework=_framework_of(d, defs, roots)) for name, d in defs.items()}
    models = [replace(d, framework=_framework_of(d, defs, roots)) for d in parsed if d.unit.name == MODEL]
    numpy_model = next((m for m in reversed(models) if m.framework is None), None)
    framework_model = next((m for m in reversed(models) if m.framework is not None), None)
    return _FileDefs(code, imports, defs, numpy_model, framework_model, _constant_numbers(defs.values()))


def _parse_def(unit: SourceUnit, position: int) -> _Def | None:
    try:
        tree = parse(unit.source)
    except (SyntaxError, ValueError, RecursionError):  # extract parsed it once; be safe anyway
        return None
    return _Def(unit, tree, position, _free_names(tree))


def _free_names(tree: ast.AST) -> tuple[str, ...]:
    """Names loaded anywhere in `tree` and bound nowhere in it, in order of first use.

    Coarser than Python's scoping (a name bound in one method counts as bound in
    all), which errs towards not supplying an import that would shadow a local.
    """
    loaded = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    bound = {name for node in ast.walk(tree) for name in _bound_by(node)}
    return tuple(dict.fromkeys(n for n in loaded if n not in bound))


def _bound_by(node: ast.AST) -> Iterable[str]:
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return (node.id,)
    if isinstance(node, ast.arg):
        return (node.arg,)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (node.name,)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return _import_bindings(node)
    if isinstance(node, ast.ExceptHandler) and node.name:
        return (node.name,)
    return ()


def _import_bindings(node: ast.Import | ast.ImportFrom) -> dict[str, str]:
    """Name bound -> root module it comes from, e.g. `from torch import nn` -> {"nn": "torch"}."""
    if isinstance(node, ast.Import):
        return {(a.asname or a.name.split(".")[0]): a.name.split(".")[0] for a in node.names}
    root = (node.module or "").split(".")[0] if node.level == 0 else ""
    return {(a.asname or a.name): root for a in node.names if a.name != "*"}


def _import_roots(imports: Iterable[SourceUnit]) -> dict[str, str]:
    roots: dict[str, str] = {}
    for unit in imports:
        try:
            tree = parse(unit.source)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                roots.update(_import_bindings(node))
    return roots


def _framework_of(
    d: _Def, defs: dict[str, _Def], roots: dict[str, str], seen: frozenset[str] = frozenset()
) -> Framework | None:
    """The framework `d` uses: by a name it loads, an import inside it, or a helper it uses."""
    own = _own_framework(d, defs, roots)
    if own is not None:
        return own
    for name in d.free:
        helper = defs.get(name)
        if helper is not None and name not in seen and name != d.unit.name:
            found = _framework_of(helper, defs, roots, seen | {name})
            if found is not None:
                return found
    return None


def _own_framework(d: _Def, defs: dict[str, _Def], roots: dict[str, str]) -> Framework | None:
    # A name the student defines is judged through that definition (see _framework_of).
    named = (_name_framework(n, roots) for n in d.free if n not in defs)
    imports = (n for n in ast.walk(d.tree) if isinstance(n, (ast.Import, ast.ImportFrom)))
    imported = (_FRAMEWORK_OF_MODULE.get(root) for n in imports for root in _import_bindings(n).values())
    return next((f for f in (*named, *imported) if f is not None), None)


def _name_framework(name: str, roots: dict[str, str]) -> Framework | None:
    """An imported name by its module (`import torch.nn as tnn`), any other by the templates' usage."""
    if name in roots:
        return _FRAMEWORK_OF_MODULE.get(roots[name])
    return _FRAMEWORK_OF_NAME.get(name)


def _constant_numbers(defs: Iterable[_Def]) -> dict[str, float]:
    numbers: dict[str, float] = {}
    for d in sorted(defs, key=lambda d: d.position):
        node = d.tree.body[0] if d.unit.kind == "constant" and d.tree.body else None
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        number = _number(value, numbers) if value is not None else None
        if number is not None and d.unit.name:
            numbers[d.unit.name] = number
    return numbers


def _number(node: ast.AST, env: dict[str, float]) -> float | None:
    """The value of a small numeric expression of literals and known constants, else None."""
    value: object = None
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
    elif isinstance(node, ast.Name):
        value = env.get(node.id)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _number(node.operand, env)
        value = None if operand is None else (-operand if isinstance(node.op, ast.USub) else operand)
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        value = _binary(node, env)
    if isinstance(value, (int, float)) and abs(value) <= _NUMBER_LIMIT:
        return value
    return None


def _binary(node: ast.BinOp, env: dict[str, float]) -> float | None:
    left, right = _number(node.left, env), _number(node.right, env)
    if left is None or right is None or (isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT):
        return None
    try:
        result = _ARITHMETIC[type(node.op)](left, right)
    except (ArithmeticError, ValueError):
        return None
    return result if isinstance(result, (int, float)) else None  # (-8) ** 0.5 is complex


def _mentions_mnist_shapes(d: _Def | None, env: dict[str, float]) -> bool:
    """Whether the code holds 784 or 785 (also as 28*28, 28*28+1, `D + 1`) and 10."""
    if d is None:
        return False
    try:
        numbers = {_number(node, env) for node in ast.walk(d.tree)}
    except RecursionError:
        return False
    return bool(numbers & _MNIST_INPUTS) and _MNIST_CLASSES in numbers


# --------------------------------------------------------------------------- candidates


def _numpy_candidate(view: _FileDefs) -> _Candidate | None:
    chosen = [d for d in view.defs.values() if d.framework is None]
    if view.numpy_model is not None:
        chosen.append(view.numpy_model)
    names = {d.unit.name for d in chosen if d.unit.kind != "constant"}
    defines = tuple(n for n in NUMPY_NAMES if n in names)
    if not defines:
        return None
    part = _code_part("numpy", view, chosen, framework=None)
    return _Candidate(part, defines, _mentions_mnist_shapes(view.numpy_model, view.numbers))


def _framework_candidate(view: _FileDefs) -> _Candidate | None:
    model = view.framework_model
    if model is None:
        return None
    helpers = [view.defs[name] for name in _helper_names(model, view.defs)]
    part = _code_part("framework", view, [*helpers, model], framework=model.framework)
    return _Candidate(part, (MODEL,), _mentions_mnist_shapes(model, view.numbers))


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
            todo.extend(n for n in _free_names(parse(defs[name].source)) if n in defs)
    units = tuple(u for u in part.units if u.kind in ("import", "constant") or u.name in keep)
    return part.model_copy(update={"units": units})


def _helper_names(model: _Def, defs: dict[str, _Def]) -> set[str]:
    """The file's definitions `model` uses, directly or through each other."""
    names: set[str] = set()
    todo = list(model.free)
    while todo:
        name = todo.pop()
        if name in defs and name not in names:
            names.add(name)
            todo.extend(defs[name].free)
    return names


def _code_part(kind: PartKind, view: _FileDefs, chosen: list[_Def], *, framework: Framework | None) -> CodePart:
    """Imports first, then constants, then classes and functions in order of final definition."""
    ordered = sorted(chosen, key=lambda d: (d.unit.kind != "constant", d.position))
    used = {n for d in ordered for n in d.free}
    units = (*(u for u in view.imports if _import_needed(u, used, framework)), *(d.unit for d in ordered))
    supplied = _supplied_imports(view, ordered, framework)
    return CodePart(kind=kind, file=view.code.file, framework=framework, units=units, supplied_imports=supplied)


def _import_needed(unit: SourceUnit, used: set[str], framework: Framework | None) -> bool:
    """Keep an import when the part uses a name it binds.

    A numpy part that carried the file's `import tensorflow` would pay seconds
    of start-up in every worker for nothing.  A star import is kept unless it
    pulls in a framework the part does not use.
    """
    for node in parse(unit.source).body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if any(a.name == "*" for a in node.names):
            root = _FRAMEWORK_OF_MODULE.get((getattr(node, "module", None) or "").split(".")[0])
            return root is None or root == framework
        if used & set(_import_bindings(node)):
            return True
    return False


def _supplied_imports(view: _FileDefs, chosen: list[_Def], framework: Framework | None) -> tuple[str, ...]:
    """Template imports for names the part uses that nothing kept binds.

    Besides the part's own free names, its framework's template names used by
    the file's dropped top-level code count too (`optimizer = optimizers.Adam()`):
    the student's notebook relied on that template import, and a report that
    pastes code without imports lost it.
    """
    bound = set(_import_roots(view.imports)) | {d.unit.name for d in chosen if d.unit.name}
    used = {n for d in chosen for n in d.free} | (view.code.dropped_names & _TEMPLATE_FAMILY[framework])
    return tuple(line for name, line in TEMPLATE_IMPORTS.items() if name in used and name not in bound)


# --------------------------------------------------------------------------- choosing


def _choose(kind: PartKind, candidates: list[_Candidate], where: str) -> tuple[CodePart | None, list[Finding]]:
    if not candidates:
        return None, [Finding(severity="warning", file=where, message=_missing_msg(kind))]
    best, *others = sorted(candidates, key=lambda c: c.rank)
    findings = [_info(best, f"chosen for the {kind} part: {_fit_msg(best)}")]
    findings += [_info(c, f"skipped for the {kind} part: {_skipped_msg(c, best)}") for c in others]
    return best.part, findings


def _info(candidate: _Candidate, text: str) -> Finding:
    file = candidate.part.file
    return Finding(severity="info", file=file, message=f"{file}: {text}")


def _missing_msg(kind: PartKind) -> str:
    if kind == "numpy":
        return "no numpy part found: no Matmul, Relu, Softmax, Log or numpy myModel in any file"
    return "no framework part found: no myModel using PyTorch or TensorFlow in any file"


def _fit_msg(c: _Candidate) -> str:
    """e.g. "defines Matmul, Relu, myModel but no Softmax/Log and no MNIST shapes"."""
    if c.part.kind == "framework" and c.part.framework is not None:
        head = f"myModel uses {_FRAMEWORK_TITLE[c.part.framework]}"
        return head + (" with the MNIST shapes" if c.mnist_shapes else " but no MNIST shapes (784 and 10)")
    missing = [n for n in NUMPY_NAMES if n not in c.defines]
    gaps = ([f"no {'/'.join(missing)}"] if missing else []) + ([] if c.mnist_shapes else ["no MNIST shapes"])
    head = f"defines {', '.join(c.defines)}"
    return head + (f" but {' and '.join(gaps)}" if gaps else " with the MNIST shapes")


def _skipped_msg(c: _Candidate, best: _Candidate) -> str:
    if c.score < best.score:
        return _fit_msg(c)
    return f"fits as well as {best.part.file}, which wins as {_tie_reason(c, best)}"


def _tie_reason(c: _Candidate, best: _Candidate) -> str:
    if is_checkpoint(c.part.file) and not is_checkpoint(best.part.file):
        return "the file outside .ipynb_checkpoints/"
    if _suffix(c.part.file) != _suffix(best.part.file):
        return f"the {_suffix(best.part.file)} file (.ipynb before .py before .md)"
    return "the first path in alphabetical order"


def _suffix(file: str) -> str:
    return PurePosixPath(file).suffix.lower()
