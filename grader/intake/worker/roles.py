"""Which part of the homework a class is for, by what it does rather than what it imports.

Runs only inside the intake worker, on trees it parsed.  The numpy part is the
template's layers (Matmul, Relu, Softmax, Log, each with its own backward) and a
`myModel` built from them; students sometimes compute those with torch tensors
or autograd, and that is still the numpy part.  A framework model is a model of
PyTorch or TensorFlow: a subclass of `nn.Module`, `tf.Module` or a Keras `Model`,
or a plain class (the TensorFlow template's) that uses the framework, has no
backward of its own and builds on none of the template's layers.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

HOMEWORK_LAYERS = frozenset({"Matmul", "Relu", "Softmax", "Log"})
MODEL_BASES = frozenset({"Module", "Model", "Sequential"})
"""The last name of a framework base class that makes a model: nn.Module, tf.Module, keras.Model, tf.keras.Sequential."""
CALL_METHODS = frozenset({"__call__", "forward", "call"})

BaseFramework = Callable[[str], "str | None"]
"""A base class's name -> the framework it comes from (by the file's imports or the templates' usage), or None."""


def class_node(tree: ast.Module) -> ast.ClassDef | None:
    """The class a unit's tree defines, if it is one."""
    node = tree.body[0] if tree.body else None
    return node if isinstance(node, ast.ClassDef) else None


def methods(cls: ast.ClassDef) -> set[str]:
    """The names of the methods the class body defines."""
    return {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def framework_bases(cls: ast.ClassDef, framework_of: BaseFramework) -> list[str]:
    """The dotted names of its bases that come from a framework: ['nn.Module'], ['torch.autograd.Function']."""
    found = []
    for base in cls.bases:
        dotted = dotted_name(base)
        if dotted and framework_of(dotted.split(".")[0]) is not None:
            found.append(dotted)
    return found


def student_bases(cls: ast.ClassDef) -> list[str]:
    """Bases given by a plain name, which may be the student's own classes."""
    return [b.id for b in cls.bases if isinstance(b, ast.Name)]


def has_model_base(cls: ast.ClassDef, framework_of: BaseFramework, model_classes: Iterable[str] = ()) -> bool:
    """Whether it subclasses a framework model (nn.Module, keras.Model, ...) or one of `model_classes`."""
    if any(dotted.split(".")[-1] in MODEL_BASES for dotted in framework_bases(cls, framework_of)):
        return True
    return bool(set(student_bases(cls)) & set(model_classes))


def is_framework_model(cls: ast.ClassDef, *, framework: str | None, model_base: bool, uses: Iterable[str]) -> bool:
    """Whether a class that uses `framework` is a framework model rather than numpy-part code.

    Args:
        cls: the class.
        framework: the framework it uses, directly or through helpers (None: it is numpy code).
        model_base: whether it subclasses a framework model (`has_model_base`).
        uses: the names it loads: building on the template's layers makes it the numpy model.
    """
    if framework is None:
        return False
    if model_base:
        return True
    return "backward" not in methods(cls) and not HOMEWORK_LAYERS.intersection(uses)


def is_numpy_layer(cls: ast.ClassDef, framework_of: BaseFramework) -> bool:
    """A template layer name written as the numpy part's layer: not a framework module, or one with its own backward.

    `class Relu(nn.Module)` with only a forward is a piece of a framework model; `class Relu(torch.autograd.Function)`
    with forward and backward is the homework's layer written with torch.
    """
    return not framework_bases(cls, framework_of) or "backward" in methods(cls)


def dotted_name(node: ast.expr) -> str | None:
    """'nn.Module' for an attribute chain of names, 'Module' for a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))
