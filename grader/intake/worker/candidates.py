"""What one file offers for each part of the homework, read from its parsed definitions.

Runs only inside the intake worker (intake/worker/task.py), on definitions.py's view of the file.
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
from typing import Literal

from ...records import CodePart, Framework, SourceUnit
from ...safe_ast import parse
from . import roles
from ..records import Candidate, FileAnalysis, OtherExercise
from .definitions import (FRAMEWORK_OF_MODULE, MODEL, NUMPY_NAMES, Definition, FileDefs, file_defs, import_roots, is_numpy_rewrite,
                          mentions_mnist_shapes)
from .extract import FileCode
from .libraries import import_bindings
from .shapes import MNIST_CLASSES, MNIST_INPUTS, input_features, numbers_in

PartKind = Literal["numpy", "framework"]

TEMPLATE_IMPORTS: dict[str, str] = {
    "np": "import numpy as np",
    "tf": "import tensorflow as tf",
    "optimizers": "from tensorflow.keras import optimizers",
    "torch": "import torch",
    "nn": "from torch import nn",
    "F": "import torch.nn.functional as F",
}
"""The course templates' import for each name students use without importing it."""

# Template names a part's own (dropped) training code shows the student relied on.
_TEMPLATE_FAMILY: dict[Framework | None, frozenset[str]] = {
    None: frozenset({"np"}),
    "tensorflow": frozenset({"tf", "optimizers"}),
    "pytorch": frozenset({"torch", "nn", "F"}),
}

_FEW_INPUTS = 16
"""At most this many input features make a framework myModel another exercise's (see _other_inputs)."""

def analyse_file(code: FileCode) -> FileAnalysis:
    """The file's findings and its numpy and framework candidates.

    Args:
        code: the file as extract.py read it.
    """
    view = file_defs(code)
    framework, other = _framework_candidate(view)
    return FileAnalysis(file=code.file, findings=code.findings, numpy=_numpy_candidate(view), framework=framework,
                        other_exercise=other, numpy_rewrite=is_numpy_rewrite(view.numpy_model))


# --------------------------------------------------------------------------- candidates


def _numpy_candidate(view: FileDefs) -> Candidate | None:
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
    return Candidate(part=part, defines=defines, mnist_shapes=mentions_mnist_shapes(view.numpy_model, view.numbers))


def _framework_candidate(view: FileDefs) -> tuple[Candidate | None, OtherExercise | None]:
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


def _model_candidate(view: FileDefs, model: Definition, *, alias: bool) -> Candidate:
    steps = _training_steps(view, model)
    helpers = [view.defs[name] for name in _helper_names([model, *steps.values()], view.defs) | steps.keys()
               if name != model.unit.name]
    extra = (_alias_unit(model.unit),) if alias else ()
    part = _code_part("framework", view, [*helpers, model], framework=model.framework, extra=extra)
    return Candidate(part=part, defines=() if alias else (MODEL,), mnist_shapes=mentions_mnist_shapes(model, view.numbers),
                     model=model.unit.name or MODEL)


def _training_steps(view: FileDefs, model: Definition) -> dict[str, Definition]:
    """Top-level functions named like a training step (`train_one_step`) in the model's framework, or none: kept in the
    framework part for framework.model.own_step, which runs them; the checks that need only myModel narrow them away."""
    return {name: d for name, d in view.defs.items() if d.unit.kind == "function" and "step" in name.lower()
            and d.framework in (None, model.framework)}


def _alias_unit(unit: SourceUnit) -> SourceUnit:
    """`myModel = Net`, after the class: the workers construct `myModel()` whatever the student named it."""
    name = unit.name or MODEL
    return SourceUnit(kind="constant", name=MODEL, source=f"{MODEL} = {name}", file=unit.file, line=unit.line, cell=unit.cell,
                      uses=(name,))


def _other_inputs(model: Definition, view: FileDefs) -> int | None:
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


def _named_model(view: FileDefs) -> Definition | None:
    """The framework model class with the MNIST shapes that no other such class builds on; the last one defined."""
    fits = [d for name, d in view.defs.items() if name not in NUMPY_NAMES and d.cls is not None and d.framework is not None
            and _is_model_class(d, view) and _fits_mnist(d, view)]
    inner = {name for d in fits for name in _helper_names([d], view.defs) if name != d.unit.name}
    outer = [d for d in fits if d.unit.name not in inner]
    return max(outer, key=lambda d: d.position) if outer else None


def _is_model_class(d: Definition, view: FileDefs) -> bool:
    cls = d.cls
    if cls is None:
        return False
    if d.unit.name in view.model_classes:
        return True
    # A plain class of the TensorFlow template's kind; a framework base other than a model's (keras.layers.Layer) is a layer.
    plain = bool(roles.methods(cls) & roles.CALL_METHODS) and not roles.framework_bases(cls, view.base_framework)
    return plain and roles.is_framework_model(cls, framework=d.framework, model_base=False, uses=d.free)


def _fits_mnist(d: Definition, view: FileDefs) -> bool:
    """784 (or 785) inputs and 10 classes, in the class or the classes it builds on; a Keras model, which
    infers its inputs, needs only the 10."""
    if _other_inputs(d, view) is not None:
        return False
    found = {n for part in (d, *(view.defs[name] for name in _helper_names([d], view.defs))) for n in numbers_in(part.tree, view.numbers)}
    if found & MNIST_INPUTS and MNIST_CLASSES in found:
        return True
    keras = d.framework == "tensorflow" and d.unit.name in view.model_classes
    return keras and MNIST_CLASSES in found


def _helper_names(users: Iterable[Definition], defs: dict[str, Definition]) -> set[str]:
    """The file's definitions `users` use, directly or through each other."""
    names: set[str] = set()
    todo = [name for d in users for name in d.free]
    while todo:
        name = todo.pop()
        if name in defs and name not in names:
            names.add(name)
            todo.extend(defs[name].free)
    return names


def _code_part(kind: PartKind, view: FileDefs, chosen: list[Definition], *, framework: Framework | None,
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
            root = FRAMEWORK_OF_MODULE.get((getattr(node, "module", None) or "").split(".")[0])
            return root is None or root == framework
        if used & set(import_bindings(node)):
            return True
    return False


def _supplied_imports(view: FileDefs, chosen: list[Definition], framework: Framework | None) -> tuple[str, ...]:
    """Template imports for names the part uses that nothing kept binds.

    Besides the part's own free names, its framework's template names used by
    the file's dropped top-level code count too (`optimizer = optimizers.Adam()`):
    the student's notebook relied on that template import, and a report that
    pastes code without imports lost it.
    """
    bound = set(import_roots(view.imports)) | {d.unit.name for d in chosen if d.unit.name}
    used = {n for d in chosen for n in _loaded(d)} | (view.code.dropped_names & _TEMPLATE_FAMILY[framework])
    return tuple(line for name, line in TEMPLATE_IMPORTS.items() if name in used and name not in bound)


def _loaded(d: Definition) -> set[str]:
    """The names `d` needs from the module: its free names, and each method's (an `import torch` inside
    `__init__` binds torch there only, so `forward` still needs the file's)."""
    methods = d.unit.outline.methods if d.unit.outline is not None else ()
    return {*d.free, *(n for m in methods for n in m.uses)}
