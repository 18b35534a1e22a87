"""One file's final definitions as `ast` sees them: what each loads, which framework it uses, which are models.

Runs only inside the intake worker (intake/worker/task.py), after extract.py; candidates.py picks each
part's code from these.  Last definition wins, except myModel: a file may hold one numpy and one framework
myModel.  The framework is read from the code (names loaded, imports, base classes), never from file names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ...records import Framework, SourceUnit
from ...safe_ast import parse
from . import roles
from .extract import FileCode
from .libraries import Resolve, import_bindings, resolver
from .outline import class_outline, free_names
from .shapes import mentions_mnist, number

MODEL = "myModel"
NUMPY_NAMES = ("Matmul", "Relu", "Softmax", "Log", MODEL)
_FRAMEWORK_OF_NAME: dict[str, Framework] = {
    "tf": "tensorflow",
    "tensorflow": "tensorflow",
    "keras": "tensorflow",
    "optimizers": "tensorflow",
    "torch": "pytorch",
    "nn": "pytorch",
    "F": "pytorch",
}
FRAMEWORK_OF_MODULE: dict[str, Framework] = {"torch": "pytorch", "tensorflow": "tensorflow", "keras": "tensorflow"}


@dataclass(frozen=True)
class Definition:
    """A kept class, function or constant with what `ast` tells about it."""

    unit: SourceUnit
    tree: ast.Module
    position: int
    """Index in the file's units: orders definitions as the student last wrote them."""
    free: tuple[str, ...]
    """Names it loads but does not bind itself, in order of appearance."""
    framework: Framework | None = None
    """Framework it uses, directly or through the file's other definitions."""

    @property
    def cls(self) -> ast.ClassDef | None:
        return roles.class_node(self.tree)


@dataclass(frozen=True)
class FileDefs:
    """One file's final definitions: last one wins, except myModel (one numpy, one framework)."""

    code: FileCode
    imports: tuple[SourceUnit, ...]
    defs: dict[str, Definition]
    """Constants, classes and functions other than myModel, by name."""
    numpy_model: Definition | None
    framework_model: Definition | None
    numbers: dict[str, float]
    """Values of the file's numeric constants, for shapes written as `D + 1`."""
    model_classes: frozenset[str]
    """The file's classes that subclass a framework model (nn.Module, keras.Model), directly or through each other."""
    roots: dict[str, str]
    """Name bound by the file's imports -> its root module."""

    def base_framework(self, name: str) -> Framework | None:
        """The framework a base class name comes from; None for the student's own classes."""
        return None if name in self.defs or name == MODEL else _name_framework(name, self.roots)


def file_defs(code: FileCode) -> FileDefs:
    """The file's imports and final definitions, each with its free names and framework, and which myModel is which."""
    imports = tuple(_with_binds(u) for u in {u.source: u for u in code.units if u.kind == "import"}.values())
    roots = import_roots(imports)
    resolve = resolver(roots, (u.name for u in code.units if u.name))
    parsed = [d for d in (_parse_def(u, i, resolve) for i, u in enumerate(code.units) if u.kind != "import") if d is not None]
    defs: dict[str, Definition] = {}
    for d in parsed:
        if d.unit.name != MODEL and d.unit.name is not None:
            defs.pop(d.unit.name, None)  # re-insert so the order is that of final definitions
            defs[d.unit.name] = d
    defs = {name: replace(d, framework=_framework_of(d, defs, roots)) for name, d in defs.items()}
    models = [replace(d, framework=_framework_of(d, defs, roots)) for d in parsed if d.unit.name == MODEL]
    view = FileDefs(code, imports, defs, None, None, _constant_numbers(defs.values()), frozenset(), roots)
    view = replace(view, model_classes=_model_classes(view))
    numpy_model = next((m for m in reversed(models) if not _is_framework_model(m, view)), None)
    framework_model = next((m for m in reversed(models) if _is_framework_model(m, view)), None)
    return replace(view, numpy_model=numpy_model, framework_model=framework_model)


def _parse_def(unit: SourceUnit, position: int, resolve: Resolve) -> Definition | None:
    try:
        tree = parse(unit.source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # extract parsed it once; be safe anyway
        return None
    free = free_names(tree)
    enriched = unit.model_copy(update={"uses": free, "outline": class_outline(tree, resolve)})
    return Definition(enriched, tree, position, free)


def _model_classes(view: FileDefs) -> frozenset[str]:
    """Classes that subclass a framework model, directly or through the file's other classes."""
    found: set[str] = set()
    while True:
        more = {name for name, d in view.defs.items() if d.cls is not None and name not in found
                and roles.has_model_base(d.cls, view.base_framework, found)}
        if not more:
            return frozenset(found)
        found |= more


def _is_framework_model(d: Definition, view: FileDefs) -> bool:
    """A myModel is the framework part only when it is a framework model (roles.py); a function that uses a framework is."""
    cls = d.cls
    if cls is None:
        return d.framework is not None
    model_base = roles.has_model_base(cls, view.base_framework, view.model_classes)
    return roles.is_framework_model(cls, framework=d.framework, model_base=model_base, uses=d.free)


def is_numpy_rewrite(model: Definition | None) -> bool:
    """A numpy myModel built on none of the template's layers: a framework part rewritten with numpy."""
    return model is not None and model.cls is not None and not roles.HOMEWORK_LAYERS.intersection(model.free)


def _with_binds(unit: SourceUnit) -> SourceUnit:
    """The import with the names it binds; None when it binds what cannot be known (`from x import *`)."""
    try:
        nodes = [n for n in parse(unit.source).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return unit
    if any(a.name == "*" for n in nodes for a in n.names):
        return unit
    return unit.model_copy(update={"binds": tuple(name for n in nodes for name in import_bindings(n))})


def import_roots(imports: Iterable[SourceUnit]) -> dict[str, str]:
    """Each name the imports bind -> the root module it comes from (`tnn` -> `torch`)."""
    roots: dict[str, str] = {}
    for unit in imports:
        try:
            tree = parse(unit.source)
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                roots.update(import_bindings(node))
    return roots


def _framework_of(
    d: Definition, defs: dict[str, Definition], roots: dict[str, str], seen: frozenset[str] = frozenset()
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


def _own_framework(d: Definition, defs: dict[str, Definition], roots: dict[str, str]) -> Framework | None:
    # A name the student defines is judged through that definition (see _framework_of).
    named = (_name_framework(n, roots) for n in d.free if n not in defs)
    imports = (n for n in ast.walk(d.tree) if isinstance(n, (ast.Import, ast.ImportFrom)))
    imported = (FRAMEWORK_OF_MODULE.get(root) for n in imports for root in import_bindings(n).values())
    return next((f for f in (*named, *imported) if f is not None), None)


def _name_framework(name: str, roots: dict[str, str]) -> Framework | None:
    """An imported name by its module (`import torch.nn as tnn`), any other by the templates' usage."""
    if name in roots:
        return FRAMEWORK_OF_MODULE.get(roots[name])
    return _FRAMEWORK_OF_NAME.get(name)


def _constant_numbers(defs: Iterable[Definition]) -> dict[str, float]:
    numbers: dict[str, float] = {}
    for d in sorted(defs, key=lambda d: d.position):
        node = d.tree.body[0] if d.unit.kind == "constant" and d.tree.body else None
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        found = number(value, numbers) if value is not None else None
        if found is not None and d.unit.name:
            numbers[d.unit.name] = found
    return numbers


def mentions_mnist_shapes(d: Definition | None, env: dict[str, float]) -> bool:
    """Whether the code holds 784 or 785 (also as 28*28, 28*28+1, `D + 1`) and 10."""
    return d is not None and mentions_mnist(d.tree, env)
