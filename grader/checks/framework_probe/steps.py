"""The student's own training steps, read (never run) with `ast` in the worker: what variables they update.

A training step names the variables it updates in one of these calls: tape.gradient(loss, [...]),
optimizer.apply_gradients(zip(grads, [...])), optimizer.minimize(loss, var_list), torch.autograd.grad,
torch.optim.SGD([...]).  framework.model.architecture says what such a step trains of a deeper model.
Parsing happens here, in the worker, never in the grader's process.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

from ...safe_ast import parse
from ...sandbox.workspace import Workspace
from .results import TrainingStep


_OPTIMIZERS = frozenset({"SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "ASGD", "Rprop", "LBFGS"})
"""torch.optim classes: their first argument is the parameter list."""
_ALL_VARIABLES = frozenset({"trainable_variables", "trainable_weights", "variables", "weights"})
_ALL_PARAMETERS = frozenset({"parameters"})
_MAX_STEPS = 20
_MAX_PATHS = 64


@dataclass
class _Listed:
    """What one variable-list expression names."""

    paths: list[str] = field(default_factory=list)
    everything: bool = False
    unknown: bool = False

    def add(self, other: _Listed) -> None:
        self.paths += [p for p in other.paths if p not in self.paths]
        self.everything |= other.everything
        self.unknown |= other.unknown


def training_steps(ws: Workspace) -> tuple[TrainingStep, ...]:
    """The training steps in the part's functions and classes."""
    steps: list[TrainingStep] = []
    for unit in ws.job.units:
        if unit.kind not in ("function", "class"):
            continue
        try:
            tree = parse(unit.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for name, fn in _functions(tree):
            listed = step_variables(fn)
            if listed is not None and len(steps) < _MAX_STEPS:
                steps.append(TrainingStep(name=name, paths=tuple(listed.paths[:_MAX_PATHS]), everything=listed.everything,
                                          unknown=listed.unknown, file=unit.file_label, line=unit.line + fn.lineno - 1))
    return tuple(steps)


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Top-level functions and the methods of top-level classes, named 'f' and 'Class.f'."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


def step_variables(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> _Listed | None:
    """What the variable lists of `fn`'s gradient and optimiser calls name; None when it has no such call."""
    assigned: dict[str, ast.expr] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned[node.targets[0].id] = node.value
    found: _Listed | None = None
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        for expr in _variable_lists(node):
            listed = _resolve(expr, assigned, 0)
            if listed.paths or listed.everything:
                found = found or _Listed()
                found.add(listed)
    return found


def _variable_lists(call: ast.Call) -> list[ast.expr]:
    """The argument of `call` that is a list of variables, if it is a gradient or optimiser call."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""

    def arg(index: int, *keywords: str) -> list[ast.expr]:
        kw = [k.value for k in call.keywords if k.arg in keywords]
        return kw or ([call.args[index]] if len(call.args) > index else [])

    if name == "gradient":  # tape.gradient(loss, variables)
        return arg(1, "sources")
    if name == "grad":  # torch.autograd.grad(loss, inputs)
        return arg(1, "inputs")
    if name == "minimize":  # optimizer.minimize(loss, var_list)
        return arg(1, "var_list")
    if name == "apply_gradients":  # optimizer.apply_gradients(zip(grads, variables))
        pairs = arg(0, "grads_and_vars")
        return [p.args[1] for p in pairs if isinstance(p, ast.Call) and isinstance(p.func, ast.Name) and p.func.id == "zip"
                and len(p.args) == 2]
    if name in _OPTIMIZERS:  # torch.optim.SGD(params, lr)
        return arg(0, "params")
    return []


def _resolve(expr: ast.expr, assigned: dict[str, ast.expr], depth: int, seen: frozenset[str] = frozenset()) -> _Listed:
    """The model attribute paths `expr` names: [model.W1, model.b1] -> W1, b1; model.fc1.parameters() -> fc1."""
    out = _Listed()
    if depth > 8:
        out.unknown = True
    elif isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        for element in expr.elts:
            out.add(_resolve(element, assigned, depth + 1, seen))
    elif isinstance(expr, ast.Starred):
        out.add(_resolve(expr.value, assigned, depth + 1, seen))
    elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        out.add(_resolve(expr.left, assigned, depth + 1, seen))
        out.add(_resolve(expr.right, assigned, depth + 1, seen))
    elif isinstance(expr, ast.Name):
        if expr.id in assigned and expr.id not in seen:  # `v = v + [...]` cannot loop
            out.add(_resolve(assigned[expr.id], assigned, depth + 1, seen | {expr.id}))
        else:
            out.unknown = True
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in ("list", "tuple") and len(expr.args) == 1:
        out.add(_resolve(expr.args[0], assigned, depth + 1, seen))
    elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _ALL_PARAMETERS:
        _add_path(out, _path(expr.func.value), everything_at_root=True)
    elif isinstance(expr, ast.Attribute) and expr.attr in _ALL_VARIABLES:
        _add_path(out, _path(expr.value), everything_at_root=True)
    elif isinstance(expr, (ast.Attribute, ast.Subscript)):
        _add_path(out, _path(expr), everything_at_root=False)
    else:
        out.unknown = True
    return out


def _add_path(out: _Listed, path: str | None, *, everything_at_root: bool) -> None:
    if path is None:
        out.unknown = True
    elif path == "":
        if everything_at_root:
            out.everything = True
        else:
            out.unknown = True
    else:
        out.paths.append(path)


def _path(expr: ast.expr) -> str | None:
    """The attribute path below the root name: model.fc1.weight -> 'fc1.weight', self.layers[0] -> 'layers.0';
    '' for the bare root name; None for anything else."""
    parts: list[str] = []
    while True:
        if isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        elif isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant) and isinstance(expr.slice.value, (int, str)):
            parts.append(str(expr.slice.value))
            expr = expr.value
        elif isinstance(expr, ast.Name):
            return ".".join(reversed(parts))
        else:
            return None

