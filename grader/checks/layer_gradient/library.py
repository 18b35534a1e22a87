"""The numpy_only rule of the layer checks: a layer whose code computes with an autodiff library fails before it runs."""

from __future__ import annotations

from ...evidence import GradientEvidence
from ...records import CheckOutcome, ClassOutline, LibraryUse
from ...rubric import GradientCheck
from ...text import Message, msg, verbatim
from ...vocabulary import Location
from ..registry import CheckContext
from .layers import LayerSpec


_METHOD_ORDER = ("backward", "forward")
"""Which method a library message names first: the one that should compute the gradient by hand."""
_LIBRARIES = frozenset({"torch", "tensorflow", "keras", "jax", "autograd"})
_AUTODIFF = frozenset({"autograd", "grad", "backward", "GradientTape", "gradient", "vjp", "jvp", "jacobian", "jacrev", "jacfwd",
                       "hessian", "value_and_grad", "requires_grad", "requires_grad_", "retain_grad", "grad_fn"})


def library_outcome(spec: LayerSpec, ctx: CheckContext[GradientCheck]) -> CheckOutcome | None:
    """The layer fails before it runs when its code computes with torch, tensorflow, keras, jax or autograd
    (the intake worker recorded it per method, `MethodOutline.libraries`) and the rubric says `numpy_only`."""
    unit = ctx.part.unit(spec.name)
    uses = _library_uses(unit.outline) if ctx.spec.numpy_only and unit is not None else []
    if unit is None or not uses:
        return None
    (method, first), rest = uses[0], uses[1:]
    where = Location(file=unit.file, cell=unit.cell, line=unit.line + first.line - 1)
    evidence = GradientEvidence(notes=tuple(_library_msg(spec.name, m, use, also=True) for m, use in rest),
                                details={"library": first.library, "method": method or "", "expression": first.expression,
                                         "location": where.label})
    return CheckOutcome(id=spec.check_id, status="failed", message=_library_msg(spec.name, method, first, also=False),
                        diagnosis=_library_diagnosis(first), evidence=evidence)


def _library_uses(outline: ClassOutline | None) -> list[tuple[str | None, LibraryUse]]:
    """(method, use) for each library use; backward, then forward, then the other methods, then the class body (None)."""
    if outline is None:
        return []
    ranked = sorted(outline.methods, key=lambda m: _METHOD_ORDER.index(m.name) if m.name in _METHOD_ORDER else len(_METHOD_ORDER))
    found: list[tuple[str | None, LibraryUse]] = [(m.name, use) for m in ranked for use in m.libraries]
    return found + [(None, use) for use in outline.libraries]


def _library_msg(name: str, method: str | None, use: LibraryUse, *, also: bool) -> Message:
    """"Relu.backward computes with torch (torch.autograd.grad); this part computes gradients by hand with numpy: ..."."""
    library = use.library if use.library in _LIBRARIES else verbatim(use.library)
    expression = verbatim(use.expression)
    if method is None:
        return (msg("layers.library.also_class", name=name, library=library, expression=expression) if also
                else msg("layers.library.class", name=name, library=library, expression=expression))
    if also:
        return msg("layers.library.also_method", name=name, method=method, library=library, expression=expression)
    return msg("layers.library.method", name=name, method=method, library=library, expression=expression)


def _library_diagnosis(use: LibraryUse) -> Message:
    if _AUTODIFF.intersection(use.expression.split(".")):
        return msg("layers.library.diag_autodiff", expression=verbatim(use.expression))
    return msg("layers.library.diag", library=use.library if use.library in _LIBRARIES else verbatim(use.library))
