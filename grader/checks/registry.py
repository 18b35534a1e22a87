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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from ..records import CheckOutcome, CodePart, Phase, RunResult
from ..rubric import CheckSpec
from ..sandbox.limits import Limits
from ..sandbox.tasks import WorkerTask
from ..sandbox.wire import TaskResult, decode_result
from .outcome import error_outcome, evaluate, invalid_reply

if TYPE_CHECKING:
    from ..mnist import Mnist

SpecT = TypeVar("SpecT", bound=CheckSpec)
StateT = TypeVar("StateT")
ResultT = TypeVar("ResultT", bound=TaskResult)
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
    task: WorkerTask[Any, Any] | None = None
    """The worker task its plan's params are for (its result model is `result`); None only for a check that never runs one."""
    module: str = field(default="", compare=False)
    """The module that registered it, for error messages."""

    def judge_result(self, ctx: CheckContext[SpecT], state: StateT, result: RunResult) -> CheckOutcome:
        """A worker's result judged: its error, a reply its `result` model rejects ("tampered"), or the judge's verdict."""
        if result.error:
            return error_outcome(self.id, result)
        try:
            values = decode_result(self.result, result.report, result.arrays)
        except ValidationError as exc:
            return invalid_reply(self.id, exc, result)
        reply = Reply(values=values, arrays=result.arrays, result=result)
        return evaluate(self.id, result, lambda: self.judge(ctx, state, reply))


class Registry:
    """The checks a run grades, in registration order (a dependency order: `after` and `share_run` point back).

    The grader's own are `builtin.BUILTIN`; a course or a test extends a copy (`Registry(BUILTIN)`) with its
    own checks and loads its rubric with it (`load_rubric(path, registry)`), so no module state changes.
    """

    def __init__(self, checks: Iterable[CheckDef[Any, Any, Any]] = ()) -> None:
        self._checks: dict[str, CheckDef[Any, Any, Any]] = {}
        for check in checks:
            self.register(check)

    def register(self, check: CheckDef[SpecT, StateT, ResultT]) -> CheckDef[SpecT, StateT, ResultT]:
        """Add `check` (or replace the entry with its id) and return it; what it depends on must be registered first."""
        for dep in (*check.after, *((check.share_run,) if check.share_run else ())):
            if dep not in self._checks:
                raise ValueError(f"check {check.id!r} depends on {dep!r}, which is not registered yet: register {dep!r} first")
        self._checks[check.id] = check
        return check

    def ordered(self) -> tuple[CheckDef[Any, Any, Any], ...]:
        """Every registered check, in dependency order."""
        return tuple(self._checks.values())

    def get(self, check_id: str) -> CheckDef[Any, Any, Any]:
        """The registered check `check_id` (KeyError for an id nobody registered)."""
        return self._checks[check_id]

    def ids(self) -> tuple[str, ...]:
        """The ids of every registered check, in order."""
        return tuple(self._checks)

    def __iter__(self) -> Iterator[CheckDef[Any, Any, Any]]:
        return iter(self._checks.values())

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._checks

    def specs(self) -> tuple[tuple[str, type[CheckSpec], CheckSpec | None], ...]:
        """(id, rubric model, default) of each check: what the rubric's [checks] table is built from."""
        return tuple((c.id, c.spec, c.default) for c in self._checks.values())
