"""The check registry: one `CheckDef` per check, in one place.

A check is defined once, by one `register(CheckDef(...))` call in the module that
judges it:

    id            stable id, the rubric's key ("numpy.relu.backward")
    part          "numpy" or "framework": which part of the submission it grades
    needs         the student definitions it calls (missing -> an error of this check only)
    spec          its rubric model (a CheckSpec subclass) and `default`, used when the rubric has no table
    plan          ctx -> Planned(params, arrays, state): the worker job, and what the judge needs from planning;
                  or a CheckOutcome when there is nothing to run (skipped: TensorFlow not installed)
    result        the typed model of the worker's values, validated in the grader (invalid -> "tampered")
    judge         (ctx, state, reply) -> CheckOutcome
    after         checks whose outcomes this one reads (ctx.earlier); the pipeline runs them first
    staff_layers  layers that failed their own check are replaced by the staff solution's for this one
    share_run     the id of a check whose worker run this one judges too (one probe, two verdicts)

The pipeline (grader/pipeline.py) is a loop over `ordered()`; the rubric's
[checks] table is derived from the registry (grader/rubric.py), so a new check
is one registry entry plus its catalog entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from ..records import CheckOutcome, CodePart, Phase, RunResult
from ..rubric import CheckSpec
from ..sandbox.limits import Limits
from .outcome import error_outcome, evaluate, invalid_reply

if TYPE_CHECKING:
    from ..mnist import Mnist

SpecT = TypeVar("SpecT", bound=CheckSpec)
StateT = TypeVar("StateT")
ResultT = TypeVar("ResultT", bound=BaseModel)
PartKind = Literal["numpy", "framework"]


@dataclass(frozen=True)
class CheckContext(Generic[SpecT]):
    """What a check's plan and judge see: its part (narrowed to what it needs), its seeded spec, its limits."""

    check_id: str
    part: CodePart
    spec: SpecT
    limits: Limits
    mnist: Callable[[], Mnist]
    """The MNIST subset, loaded on first call (only training checks need it)."""
    earlier: Mapping[str, CheckOutcome]
    """Outcomes of the checks that ran before this one, by id."""
    specs: Callable[[str], CheckSpec]
    """The seeded spec of another check, by id (a check sharing another's run plans with that check's seed)."""


@dataclass(frozen=True)
class Planned(Generic[StateT]):
    """A planned worker run: its parameters (a protocol.py params model), input arrays, phase, and the judge's state."""

    params: Any
    """One of the params models of grader/sandbox/protocol.py (typed there; a union here would import the sandbox)."""
    arrays: dict[str, np.ndarray]
    phase: Phase
    state: StateT


@dataclass(frozen=True)
class Reply(Generic[ResultT]):
    """A worker's answer after validation: typed values, raw arrays (checked with outcome.array), the full result."""

    values: ResultT
    arrays: Mapping[str, np.ndarray]
    result: RunResult


@dataclass(frozen=True)
class CheckDef(Generic[SpecT, StateT, ResultT]):
    """One check, wholly: see the module doc."""

    id: str
    part: PartKind
    needs: tuple[str, ...]
    spec: type[SpecT]
    default: SpecT | None
    plan: Callable[[CheckContext[SpecT]], Planned[StateT] | CheckOutcome]
    result: type[ResultT]
    judge: Callable[[CheckContext[SpecT], StateT, Reply[ResultT]], CheckOutcome]
    after: tuple[str, ...] = ()
    staff_layers: bool = False
    share_run: str | None = None
    narrow: bool = True
    """Run with only `needs` and the definitions they use (a broken neighbour cannot break this check)."""
    module: str = field(default="", compare=False)
    """The module that registered it, for error messages."""

    def judge_result(self, ctx: CheckContext[SpecT], state: StateT, result: RunResult) -> CheckOutcome:
        """A worker's result judged: its error, a reply its `result` model rejects ("tampered"), or the judge's verdict."""
        if result.error:
            return error_outcome(self.id, result)
        try:
            values = self.result.model_validate(result.values)
        except ValidationError as exc:
            return invalid_reply(self.id, exc, result)
        reply = Reply(values=values, arrays=result.arrays, result=result)
        return evaluate(self.id, result, lambda: self.judge(ctx, state, reply))


_REGISTRY: dict[str, CheckDef[Any, Any, Any]] = {}
_VERSION = [0]


def register(check: CheckDef[SpecT, StateT, ResultT]) -> CheckDef[SpecT, StateT, ResultT]:
    """Add `check` to the registry (or replace the entry with its id) and return it; after the built-in checks."""
    _load_builtin()
    for dep in (*check.after, *((check.share_run,) if check.share_run else ())):
        if dep not in _REGISTRY:
            raise ValueError(f"check {check.id!r} depends on {dep!r}, which is not registered yet: register {dep!r} first")
    _REGISTRY[check.id] = check
    _VERSION[0] += 1
    return check


def unregister(check_id: str) -> None:
    """Remove a check (tests that register one of their own clean up with this)."""
    if _REGISTRY.pop(check_id, None) is not None:
        _VERSION[0] += 1


def ordered() -> tuple[CheckDef[Any, Any, Any], ...]:
    """Every registered check; registration order respects `after`, so it is a dependency order."""
    _load_builtin()
    return tuple(_REGISTRY.values())


def get(check_id: str) -> CheckDef[Any, Any, Any]:
    """The registered check `check_id`."""
    _load_builtin()
    return _REGISTRY[check_id]


def version() -> int:
    """Changes whenever a check is registered or removed (the rubric's derived model is cached by it)."""
    _load_builtin()
    return _VERSION[0]


_LOADING: list[bool] = []


def _load_builtin() -> None:
    # The built-in checks register themselves on import; imported here, lazily, because they import this module.
    if _LOADING:
        return
    _LOADING.append(True)
    try:
        from . import builtin  # noqa: F401
    finally:
        _LOADING.clear()
