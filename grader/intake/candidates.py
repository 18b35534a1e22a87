"""What one file offers for each part of the homework, read from its parsed definitions.

Runs only inside the intake worker (sandbox/tasks_intake.py), after extract.py.
Each file offers at most one numpy candidate (Matmul, Relu, Softmax, Log, a
numpy `myModel`, and helpers) and one framework candidate (a `myModel` that uses
PyTorch or TensorFlow, with the helpers it uses).  The framework is read from
the code, never from file names or headings.  Choosing between files happens in
the grader's process (select.py), on these plain records.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from ..models import ClassOutline, CodePart, Framework, MethodOutline, SourceUnit
from ..safe_ast import parse
from .extract import FileCode
from .records import Candidate, FileAnalysis

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
# Template names a part's own (dropped) training code shows the student relied on.
_TEMPLATE_FAMILY: dict[Framework | None, frozenset[str]] = {
    None: frozenset({"np"}),
    "tensorflow": frozenset({"tf", "optimizers"}),
    "pytorch": frozenset({"torch", "nn", "F"}),
}

# MNIST shapes: 784 pixels (785 with the bias column) in, 10 classes out.
_MNIST_INPUTS = frozenset({784, 785})
_MNIST_CLASSES = 10
_NUMBER_LIMIT = 1e12  # student arithmetic is evaluated here: keep it small and fast
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
_COMPOUND = (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef, ast.AsyncFor, ast.AsyncWith)


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


def analyse_file(code: FileCode) -> FileAnalysis:
    """The file's findings and its numpy and framework candidates.

    Args:
        code: the file as extract.py read it.
    """
    view = _file_defs(code)
    return FileAnalysis(file=code.file, findings=code.findings, numpy=_numpy_candidate(view),
                        framework=_framework_candidate(view))


def class_outline(tree: ast.Module) -> ClassOutline | None:
    """Statement lines of the first class in `tree` and of each of its methods (1-based, in the parsed text)."""
    cls = next((node for node in tree.body if isinstance(node, ast.ClassDef)), None)
    if cls is None:
        return None
    methods = tuple(
        MethodOutline(name=node.name, params=tuple(a.arg for a in node.args.args), statements=_statement_lines(node))
        for node in cls.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    )
    return ClassOutline(statements=_statement_lines(cls), methods=methods)


def _statement_lines(scope: ast.AST) -> tuple[int, ...]:
    """Lines holding statements of `scope`: simple statements whole, compound ones by their header; no docstrings."""
    numbers: set[int] = set()
    for node in ast.walk(scope):
        if node is scope or not isinstance(node, ast.stmt) or _is_docstring(node):
            continue
        end = node.lineno if isinstance(node, _COMPOUND) else (node.end_lineno or node.lineno)
        numbers.update(range(node.lineno, end + 1))
    return tuple(sorted(numbers))


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


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
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # extract parsed it once; be safe anyway
        return None
    free = _free_names(tree)
    enriched = unit.model_copy(update={"uses": free, "outline": class_outline(tree)})
    return _Def(enriched, tree, position, free)


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


def _numpy_candidate(view: _FileDefs) -> Candidate | None:
    chosen = [d for d in view.defs.values() if d.framework is None]
    if view.numpy_model is not None:
        chosen.append(view.numpy_model)
    names = {d.unit.name for d in chosen if d.unit.kind != "constant"}
    defines = tuple(n for n in NUMPY_NAMES if n in names)
    if not defines:
        return None
    part = _code_part("numpy", view, chosen, framework=None)
    return Candidate(part=part, defines=defines, mnist_shapes=_mentions_mnist_shapes(view.numpy_model, view.numbers))


def _framework_candidate(view: _FileDefs) -> Candidate | None:
    model = view.framework_model
    if model is None:
        return None
    helpers = [view.defs[name] for name in _helper_names(model, view.defs)]
    part = _code_part("framework", view, [*helpers, model], framework=model.framework)
    return Candidate(part=part, defines=(MODEL,), mnist_shapes=_mentions_mnist_shapes(model, view.numbers))


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


