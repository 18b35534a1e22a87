"""Outlines of parsed classes: their statement lines, the names each method uses, the libraries it computes with.

Runs only inside the intake worker (intake/worker/task.py).  The outline travels with each class's unit
(`SourceUnit.outline`): the source view marks lines with it, the layer checks read each method's libraries.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from ...records import ClassOutline, MethodOutline
from .libraries import Resolve, import_bindings, library_uses, template_resolver

_COMPOUND = (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef, ast.AsyncFor, ast.AsyncWith)


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
                      uses=free_names(node), libraries=library_uses([node], resolve))
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


def free_names(tree: ast.AST) -> tuple[str, ...]:
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
