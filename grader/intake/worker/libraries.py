"""Which tensor or autodiff library a piece of code computes with: torch, tensorflow, keras, jax or autograd.

Runs only inside the intake worker (intake/worker/task.py), on trees it parsed.
The numpy part of the homework computes gradients by hand with numpy; a layer
whose method calls `torch.autograd.grad` or wraps its input in `tf.constant` is
still the numpy part (what it is for decides that, not what it imports), and the
layer checks say which library it used (checks/gradients.py).

A name counts as a library when the file (or the method itself) imports it from
one (`import torch`, `from torch import nn`, `import autograd.numpy as np`), or,
without an import, when it is one of the course template's names (`torch`, `tf`,
`nn`, `F`).  Type checks (`isinstance(x, torch.Tensor)`, `torch.is_tensor(x)`) and
annotations are not computing and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ...records import LibraryUse

Resolve = Callable[[str], "str | None"]
"""A name the code loads without binding it -> the library it comes from, or None."""

LIBRARY_OF_MODULE: dict[str, str] = {
    "torch": "torch", "torchvision": "torch", "tensorflow": "tensorflow", "keras": "keras", "tf_keras": "keras",
    "jax": "jax", "jaxlib": "jax", "flax": "jax", "autograd": "autograd",
}
"""Root module -> the library the messages name."""
_LIBRARY_OF_NAME: dict[str, str] = {
    "torch": "torch", "nn": "torch", "F": "torch", "tf": "tensorflow", "tensorflow": "tensorflow", "optimizers": "tensorflow",
    "keras": "keras", "jax": "jax", "jnp": "jax", "autograd": "autograd",
}
"""The course templates' (and tutorials') names for a library, used without an import."""
# Attributes only torch tensors have: `x.requires_grad_()` needs no torch name in the method.
_TORCH_ATTRIBUTES = frozenset({"requires_grad", "requires_grad_", "retain_grad", "grad_fn"})
# What shows a library computing gradients: named first in a message.
_AUTODIFF_PARTS = frozenset({"autograd", "grad", "backward", "GradientTape", "gradient", "vjp", "jvp", "jacobian", "jacrev",
                             "jacfwd", "hessian", "value_and_grad", "requires_grad", "requires_grad_", "retain_grad", "grad_fn"})
# Conversions to and from tensors: named last, when the code does nothing else with the library.
_CONVERSIONS = frozenset({"tensor", "as_tensor", "from_numpy", "Tensor", "constant", "convert_to_tensor", "numpy", "asarray",
                          "array", "float32", "float64", "double", "float", "cast", "detach"})
_TYPE_CHECKS = frozenset({"is_tensor", "is_tensor_like", "is_grad_enabled"})


def resolver(roots: dict[str, str], defined: Iterable[str] = ()) -> Resolve:
    """How names of one file resolve: imported ones by their module, the file's own definitions never,
    others by the templates' usage.

    Args:
        roots: name bound by the file's imports -> the root module it comes from.
        defined: the names the file's own classes, functions and constants bind.
    """
    own = frozenset(defined)

    def resolve(name: str) -> str | None:
        if name in own:
            return None
        if name in roots:
            return LIBRARY_OF_MODULE.get(roots[name])
        return _LIBRARY_OF_NAME.get(name)

    return resolve


def template_resolver() -> Resolve:
    """Names resolved by the templates' usage only (code read without its file's imports)."""
    return resolver({})


def library_uses(scope: Iterable[ast.AST], resolve: Resolve) -> tuple[LibraryUse, ...]:
    """The libraries the code in `scope` computes with: per library its most telling use, in line order.

    Args:
        scope: the nodes to search (a method, or a class's bases and body outside its methods).
        resolve: how a name the scope does not bind resolves to a library (`resolver`).
    """
    nodes = list(scope)
    local = _Scope.of(nodes, resolve)
    found: dict[str, list[_Use]] = {}
    for use in local.uses(nodes):
        found.setdefault(use.library, []).append(use)
    if "torch" in found:  # in torch code, `y.backward(g)` and `x.grad` are the autograd calls
        found["torch"].extend(local.tensor_autograd(nodes))
    chosen = (min(uses, key=_Use.rank) for uses in found.values())
    return tuple(LibraryUse(library=u.library, expression=u.expression, line=u.line) for u in sorted(chosen, key=lambda u: u.line))


def import_bindings(node: ast.Import | ast.ImportFrom) -> dict[str, str]:
    """Name bound -> root module it comes from, e.g. `from torch import nn` -> {"nn": "torch"}."""
    if isinstance(node, ast.Import):
        return {(a.asname or a.name.split(".")[0]): a.name.split(".")[0] for a in node.names}
    root = (node.module or "").split(".")[0] if node.level == 0 else ""
    return {(a.asname or a.name): root for a in node.names if a.name != "*"}


@dataclass(frozen=True)
class _Use:
    library: str
    expression: str
    line: int
    column: int

    def rank(self) -> tuple[int, int, int]:
        """Autodiff first, then other computing, then mere conversions; earlier lines first."""
        parts = self.expression.split(".")
        if _AUTODIFF_PARTS.intersection(parts):
            kind = 0
        elif len(parts) == 1 or parts[-1] in _CONVERSIONS:
            kind = 2
        else:
            kind = 1
        return kind, self.line, self.column


@dataclass(frozen=True)
class _Scope:
    """The names one scope binds: by an import inside it (-> module), or otherwise (shadowing a library)."""

    imported: dict[str, str]
    bound: frozenset[str]
    resolve: Resolve
    skipped: frozenset[int]
    """ids of nodes inside type checks and annotations."""

    @classmethod
    def of(cls, nodes: list[ast.AST], resolve: Resolve) -> _Scope:
        imported: dict[str, str] = {}
        bound: set[str] = set()
        for node in _walk(nodes):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported.update(import_bindings(node))
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                bound.add(node.id)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
        skipped = {id(n) for root in _type_only(nodes) for n in ast.walk(root)}
        return cls(imported, frozenset(bound - set(imported)), resolve, frozenset(skipped))

    def library(self, name: str) -> str | None:
        if name in self.imported:
            return LIBRARY_OF_MODULE.get(self.imported[name])
        return None if name in self.bound else self.resolve(name)

    def uses(self, nodes: list[ast.AST]) -> Iterator[_Use]:
        for chain, base in _chains(nodes):
            if id(chain) in self.skipped:
                continue
            expression = _dotted(chain)
            library = self.library(base.id) if isinstance(base, ast.Name) else None
            if library is not None and expression.rsplit(".", 1)[-1] not in _TYPE_CHECKS:
                yield _Use(library, expression, chain.lineno, chain.col_offset)
            elif library is None and isinstance(chain, ast.Attribute) and _TORCH_ATTRIBUTES & set(expression.split(".")):
                yield _Use("torch", expression, chain.lineno, chain.col_offset)

    def tensor_autograd(self, nodes: list[ast.AST]) -> Iterator[_Use]:
        """`y.backward(...)`, `torch.relu(x).backward(...)` and `x.grad` on the scope's own tensors (torch code only);
        not `self.relu.backward(...)`, a layer's."""
        for chain, base in _chains(nodes):
            if not isinstance(chain, ast.Attribute) or not {"backward", "grad"} & set(_attributes(chain)):
                continue
            if isinstance(base, ast.Name) and (base.id == "self" or self.library(base.id) is not None):
                continue
            yield _Use("torch", _dotted(chain), chain.lineno, chain.col_offset)


def _walk(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    for node in nodes:
        yield from ast.walk(node)


def _chains(nodes: list[ast.AST]) -> Iterator[tuple[ast.expr, ast.expr]]:
    """Each maximal `a.b.c` chain (or lone name) that is loaded, with its base expression."""
    inner = {id(n.value) for n in _walk(nodes) if isinstance(n, ast.Attribute)}
    for node in _walk(nodes):
        if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in inner and isinstance(node.ctx, ast.Load):
            base: ast.expr = node
            while isinstance(base, ast.Attribute):
                base = base.value
            yield node, base


def _attributes(chain: ast.expr) -> list[str]:
    """The attribute names of a chain, outermost first: `x.grad.numpy` -> ['numpy', 'grad']."""
    names = []
    while isinstance(chain, ast.Attribute):
        names.append(chain.attr)
        chain = chain.value
    return names


def _dotted(chain: ast.expr, depth: int = 0) -> str:
    """'torch.autograd.grad'; on a call or subscript, 'torch.relu(...).backward', 'self.mem[...].grad'."""
    parts = list(reversed(_attributes(chain)))
    while isinstance(chain, ast.Attribute):
        chain = chain.value
    if isinstance(chain, ast.Name):
        base = chain.id
    elif isinstance(chain, ast.Call) and depth < 3:
        base = _dotted(chain.func, depth + 1) + "(...)"
    elif isinstance(chain, ast.Subscript) and depth < 3:
        base = _dotted(chain.value, depth + 1) + "[...]"
    else:
        base = ""
    return ".".join([base, *parts])


def _type_only(nodes: list[ast.AST]) -> Iterator[ast.AST]:
    """Subtrees that only name types: isinstance's second argument, annotations."""
    for node in _walk(nodes):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "issubclass") \
                and len(node.args) == 2:
            yield node.args[1]
        elif isinstance(node, ast.arg) and node.annotation is not None:
            yield node.annotation
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            yield node.returns
        elif isinstance(node, ast.AnnAssign):
            yield node.annotation
