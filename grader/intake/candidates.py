"""What one file offers for each part of the homework, read from its parsed definitions.

Runs only inside the intake worker (sandbox/tasks_intake.py), after extract.py.
Each file offers at most one numpy candidate (Matmul, Relu, Softmax, Log, a
numpy `myModel`, and helpers) and one framework candidate (a `myModel` that is a
PyTorch or TensorFlow model, with the helpers it uses).  Parts go by role, not by
imports (roles.py): layers computed with torch tensors are still the numpy part
(libraries.py records what each method computes with, for the layer checks).
With no framework `myModel`, a framework model class with the MNIST shapes
(`TinyModel`, `Net`) is offered under an alias unit `myModel = Net`; a framework
`myModel` whose first layer takes a handful of inputs, not 784 (the function-fitting
exercise takes 1), is not offered, and the file says why (shapes.py).  The framework is
read from the code, never from file names or headings.  Choosing between files
happens in the grader's process (select.py), on these plain records.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from ..records import ClassOutline, CodePart, Framework, MethodOutline, SourceUnit
from ..safe_ast import parse
from . import roles
from .extract import FileCode
from .libraries import Resolve, import_bindings, library_uses, resolver, template_resolver
from .records import Candidate, FileAnalysis, OtherExercise
from .shapes import MNIST_CLASSES, MNIST_INPUTS, input_features, mentions_mnist, number, numbers_in

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

_FEW_INPUTS = 16
"""At most this many input features make a framework myModel another exercise's (see _other_inputs)."""
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

    @property
    def cls(self) -> ast.ClassDef | None:
        return roles.class_node(self.tree)


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
    model_classes: frozenset[str]
    """The file's classes that subclass a framework model (nn.Module, keras.Model), directly or through each other."""
    roots: dict[str, str]
    """Name bound by the file's imports -> its root module."""

    def base_framework(self, name: str) -> Framework | None:
        """The framework a base class name comes from; None for the student's own classes."""
        return None if name in self.defs or name == MODEL else _name_framework(name, self.roots)


def analyse_file(code: FileCode) -> FileAnalysis:
    """The file's findings and its numpy and framework candidates.

    Args:
        code: the file as extract.py read it.
    """
    view = _file_defs(code)
    framework, other = _framework_candidate(view)
    return FileAnalysis(file=code.file, findings=code.findings, numpy=_numpy_candidate(view), framework=framework,
                        other_exercise=other, numpy_rewrite=_is_numpy_rewrite(view.numpy_model))


def class_outline(tree: ast.Module, resolve: Resolve | None = None) -> ClassOutline | None:
    """Statement lines of the first class in `tree` and of each of its methods (1-based, in the parsed text),
    with the names each method uses and the tensor libraries it and the class body compute with.

    Args:
        tree: the parsed unit.
        resolve: how names the class does not bind resolve to a library (`libraries.resolver` of the
            file's imports); by default the course templates' names (`torch`, `tf`, ...).
    """
    cls = next((node for node in tree.body if isinstance(node, ast.ClassDef)), None)
    if cls is None:
        return None
    resolve = resolve or template_resolver()
    methods = tuple(
        MethodOutline(name=node.name, params=tuple(a.arg for a in node.args.args), statements=_statement_lines(node),
                      uses=_free_names(node), libraries=library_uses([node], resolve))
        for node in cls.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    )
    outside = [*cls.bases, *cls.keywords, *cls.decorator_list,
               *(n for n in cls.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]
    return ClassOutline(statements=_statement_lines(cls), methods=methods, libraries=library_uses(outside, resolve))


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
    imports = tuple(_with_binds(u) for u in {u.source: u for u in code.units if u.kind == "import"}.values())
    roots = _import_roots(imports)
    resolve = resolver(roots, (u.name for u in code.units if u.name))
    parsed = [d for d in (_parse_def(u, i, resolve) for i, u in enumerate(code.units) if u.kind != "import") if d is not None]
    defs: dict[str, _Def] = {}
    for d in parsed:
        if d.unit.name != MODEL and d.unit.name is not None:
            defs.pop(d.unit.name, None)  # re-insert so the order is that of final definitions
            defs[d.unit.name] = d
    defs = {name: replace(d, framework=_framework_of(d, defs, roots)) for name, d in defs.items()}
    models = [replace(d, framework=_framework_of(d, defs, roots)) for d in parsed if d.unit.name == MODEL]
    view = _FileDefs(code, imports, defs, None, None, _constant_numbers(defs.values()), frozenset(), roots)
    view = replace(view, model_classes=_model_classes(view))
    numpy_model = next((m for m in reversed(models) if not _is_framework_model(m, view)), None)
    framework_model = next((m for m in reversed(models) if _is_framework_model(m, view)), None)
    return replace(view, numpy_model=numpy_model, framework_model=framework_model)


def _parse_def(unit: SourceUnit, position: int, resolve: Resolve) -> _Def | None:
    try:
        tree = parse(unit.source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # extract parsed it once; be safe anyway
        return None
    free = _free_names(tree)
    enriched = unit.model_copy(update={"uses": free, "outline": class_outline(tree, resolve)})
    return _Def(enriched, tree, position, free)


def _model_classes(view: _FileDefs) -> frozenset[str]:
    """Classes that subclass a framework model, directly or through the file's other classes."""
    found: set[str] = set()
    while True:
        more = {name for name, d in view.defs.items() if d.cls is not None and name not in found
                and roles.has_model_base(d.cls, view.base_framework, found)}
        if not more:
            return frozenset(found)
        found |= more


def _is_framework_model(d: _Def, view: _FileDefs) -> bool:
    """A myModel is the framework part only when it is a framework model (roles.py); a function that uses a framework is."""
    cls = d.cls
    if cls is None:
        return d.framework is not None
    model_base = roles.has_model_base(cls, view.base_framework, view.model_classes)
    return roles.is_framework_model(cls, framework=d.framework, model_base=model_base, uses=d.free)


def _is_numpy_rewrite(model: _Def | None) -> bool:
    """A numpy myModel built on none of the template's layers: a framework part rewritten with numpy."""
    return model is not None and model.cls is not None and not roles.HOMEWORK_LAYERS.intersection(model.free)


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
        return import_bindings(node)
    if isinstance(node, ast.ExceptHandler) and node.name:
        return (node.name,)
    return ()


def _with_binds(unit: SourceUnit) -> SourceUnit:
    """The import with the names it binds; None when it binds what cannot be known (`from x import *`)."""
    try:
        nodes = [n for n in parse(unit.source).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return unit
    if any(a.name == "*" for n in nodes for a in n.names):
        return unit
    return unit.model_copy(update={"binds": tuple(name for n in nodes for name in import_bindings(n))})


def _import_roots(imports: Iterable[SourceUnit]) -> dict[str, str]:
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
    imported = (_FRAMEWORK_OF_MODULE.get(root) for n in imports for root in import_bindings(n).values())
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
        found = number(value, numbers) if value is not None else None
        if found is not None and d.unit.name:
            numbers[d.unit.name] = found
    return numbers


def _mentions_mnist_shapes(d: _Def | None, env: dict[str, float]) -> bool:
    """Whether the code holds 784 or 785 (also as 28*28, 28*28+1, `D + 1`) and 10."""
    return d is not None and mentions_mnist(d.tree, env)


# --------------------------------------------------------------------------- candidates


def _numpy_candidate(view: _FileDefs) -> Candidate | None:
    """The numpy code, the template's layers and myModel included whatever they compute with, and their helpers."""
    chosen = {name: d for name, d in view.defs.items() if d.framework is None}
    chosen.update((name, d) for name, d in view.defs.items()
                  if name in roles.HOMEWORK_LAYERS and d.cls is not None and roles.is_numpy_layer(d.cls, view.base_framework))
    if view.numpy_model is not None:
        chosen[MODEL] = view.numpy_model
    helpers = _helper_names(chosen.values(), view.defs) - set(chosen)
    parts = [*chosen.values(), *(view.defs[name] for name in helpers)]
    names = {d.unit.name for d in parts if d.unit.kind != "constant"}
    defines = tuple(n for n in NUMPY_NAMES if n in names)
    if not defines:
        return None
    part = _code_part("numpy", view, parts, framework=None)
    return Candidate(part=part, defines=defines, mnist_shapes=_mentions_mnist_shapes(view.numpy_model, view.numbers))


def _framework_candidate(view: _FileDefs) -> tuple[Candidate | None, OtherExercise | None]:
    """The framework myModel, or else a framework model class under another name; and a myModel of another exercise."""
    model, other = view.framework_model, None
    if model is not None and model.framework is not None:
        inputs = _other_inputs(model, view)
        if inputs is not None:
            other = OtherExercise(model=MODEL, framework=model.framework, inputs=inputs)
            model = None
    if model is not None:
        return _model_candidate(view, model, alias=False), other
    named = _named_model(view)
    return (_model_candidate(view, named, alias=True) if named is not None else None), other


def _model_candidate(view: _FileDefs, model: _Def, *, alias: bool) -> Candidate:
    steps = _training_steps(view, model)
    helpers = [view.defs[name] for name in _helper_names([model, *steps.values()], view.defs) | steps.keys()
               if name != model.unit.name]
    extra = (_alias_unit(model.unit),) if alias else ()
    part = _code_part("framework", view, [*helpers, model], framework=model.framework, extra=extra)
    return Candidate(part=part, defines=() if alias else (MODEL,), mnist_shapes=_mentions_mnist_shapes(model, view.numbers),
                     model=model.unit.name or MODEL)


def _training_steps(view: _FileDefs, model: _Def) -> dict[str, _Def]:
    """Top-level functions named like a training step (`train_one_step`) in the model's framework, or none: kept in the
    framework part for framework.model.own_step, which runs them; the checks that need only myModel narrow them away."""
    return {name: d for name, d in view.defs.items() if d.unit.kind == "function" and "step" in name.lower()
            and d.framework in (None, model.framework)}


def _alias_unit(unit: SourceUnit) -> SourceUnit:
    """`myModel = Net`, after the class: the workers construct `myModel()` whatever the student named it."""
    name = unit.name or MODEL
    return SourceUnit(kind="constant", name=MODEL, source=f"{MODEL} = {name}", file=unit.file, line=unit.line, cell=unit.cell,
                      uses=(name,))


def _other_inputs(model: _Def, view: _FileDefs) -> int | None:
    """The first layer's inputs when they say this is not the MNIST model (nn.Linear(1, 64)); else None.

    Only a model that builds no layer of its own class (whose first call may not be its first layer)
    and states no 784 anywhere; and only a handful of inputs (the function-fitting exercise has 1, toy
    classifiers 2 or 3), so that a layer read wrongly as the first can never refuse an MNIST model.
    """
    helpers = _helper_names([model], view.defs)
    if any(view.defs[name].cls is not None for name in helpers if name != model.unit.name):
        return None
    if set(numbers_in(model.tree, view.numbers)) & MNIST_INPUTS:
        return None
    inputs = input_features(model.tree, view.numbers)
    return inputs if inputs is not None and inputs <= _FEW_INPUTS else None


def _named_model(view: _FileDefs) -> _Def | None:
    """The framework model class with the MNIST shapes that no other such class builds on; the last one defined."""
    fits = [d for name, d in view.defs.items() if name not in NUMPY_NAMES and d.cls is not None and d.framework is not None
            and _is_model_class(d, view) and _fits_mnist(d, view)]
    inner = {name for d in fits for name in _helper_names([d], view.defs) if name != d.unit.name}
    outer = [d for d in fits if d.unit.name not in inner]
    return max(outer, key=lambda d: d.position) if outer else None


def _is_model_class(d: _Def, view: _FileDefs) -> bool:
    cls = d.cls
    if cls is None:
        return False
    if d.unit.name in view.model_classes:
        return True
    # A plain class of the TensorFlow template's kind; a framework base other than a model's (keras.layers.Layer) is a layer.
    plain = bool(roles.methods(cls) & roles.CALL_METHODS) and not roles.framework_bases(cls, view.base_framework)
    return plain and roles.is_framework_model(cls, framework=d.framework, model_base=False, uses=d.free)


def _fits_mnist(d: _Def, view: _FileDefs) -> bool:
    """784 (or 785) inputs and 10 classes, in the class or the classes it builds on; a Keras model, which
    infers its inputs, needs only the 10."""
    if _other_inputs(d, view) is not None:
        return False
    found = {n for part in (d, *(view.defs[name] for name in _helper_names([d], view.defs))) for n in numbers_in(part.tree, view.numbers)}
    if found & MNIST_INPUTS and MNIST_CLASSES in found:
        return True
    keras = d.framework == "tensorflow" and d.unit.name in view.model_classes
    return keras and MNIST_CLASSES in found


def _helper_names(users: Iterable[_Def], defs: dict[str, _Def]) -> set[str]:
    """The file's definitions `users` use, directly or through each other."""
    names: set[str] = set()
    todo = [name for d in users for name in d.free]
    while todo:
        name = todo.pop()
        if name in defs and name not in names:
            names.add(name)
            todo.extend(defs[name].free)
    return names


def _code_part(kind: PartKind, view: _FileDefs, chosen: list[_Def], *, framework: Framework | None,
               extra: tuple[SourceUnit, ...] = ()) -> CodePart:
    """Imports first, then constants, then classes and functions in order of final definition, then `extra`."""
    ordered = sorted(chosen, key=lambda d: (d.unit.kind != "constant", d.position))
    used = {n for d in ordered for n in _loaded(d)}
    units = (*(u for u in view.imports if _import_needed(u, used, framework)), *(d.unit for d in ordered), *extra)
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
        if used & set(import_bindings(node)):
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
    used = {n for d in chosen for n in _loaded(d)} | (view.code.dropped_names & _TEMPLATE_FAMILY[framework])
    return tuple(line for name, line in TEMPLATE_IMPORTS.items() if name in used and name not in bound)


def _loaded(d: _Def) -> set[str]:
    """The names `d` needs from the module: its free names, and each method's (an `import torch` inside
    `__init__` binds torch there only, so `forward` still needs the file's)."""
    methods = d.unit.outline.methods if d.unit.outline is not None else ()
    return {*d.free, *(n for m in methods for n in m.uses)}
