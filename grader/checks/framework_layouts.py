"""The framework model's two input layouts, and the one rule for how a call in a layout went.

The template calls myModel on (N, 28, 28) images; many students flatten the data and
write a model that takes only (N, 784) rows.  Both the probe (framework.model.forward)
and the training task (framework.model.train) try each layout on a fresh instance; their
workers report each call's raw outcome here as a `LayoutCall` (what the student's code
raised: exception type, text, place; or what it returned: type and shape), and this module
decides what that means, for both checks alike:

    accepted(call, n)     the call gave one (n, 10) output (the probe passes a layout on it)
    takes_input(call, n)  the call did not reject the input (training trains in the first such layout;
                          what it returned is then judged as its output, not as the layout's fault)
    same_error(a, b)      both calls raised the same exception with the same text at the same place:
                          a bug of the forward whatever the input
    reason(call, ...)     what a rejected call did, in the student's terms ('it raised RuntimeError (hw.py, line 12)')

Pure and light (pydantic and the text layer only): the training worker imports it to choose
its layout, so there is one definition of all of it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from ..records import Location
from ..sandbox.protocol import ChildError
from ..text import Message, msg, verbatim

Layout = Literal["3d", "2d"]
"""An input layout: the template's (N, 28, 28) images (3d), or flattened (N, 784) rows (2d)."""
LAYOUTS: tuple[Layout, ...] = ("3d", "2d")
"""The layouts, in the order tried: the template's first."""
LAYOUT_TEXT: dict[Layout, Literal["(N, 28, 28)", "(N, 784)"]] = {"3d": "(N, 28, 28)", "2d": "(N, 784)"}
"""Each layout as the evidence shows it."""
CLASSES = 10
_SEVERAL = ("tuple", "list")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallRaised(_Record):
    """A call of the student's model (or a step on what it returned) that failed, as raw data."""

    error: ChildError = Field(description="The worker's description of the failure (its sentence is used when the call did not simply raise).")
    exception: StrictStr | None = Field(None, description="The class name of the exception the student's code raised, if it raised one.")
    text: StrictStr = Field("", description="That exception's text.")
    in_call: StrictBool = Field(True, description="The model's call itself failed (else a step after it, e.g. converting its output).")

    @property
    def location(self) -> Location | None:
        """Where in the student's code it failed."""
        return self.error.location

    @property
    def plain(self) -> bool:
        """The model's call raised an ordinary exception: its type and place say it all (its text is evidence)."""
        return self.in_call and self.error.kind == "exception" and self.exception is not None


class CallReturned(_Record):
    """What a call returned: the object's class name, and its shape when it is a tensor (or converts to an array)."""

    type: StrictStr
    shape: tuple[StrictInt, ...] | None = Field(None, description="None: not a tensor of the framework.")


class LayoutCall(_Record):
    """How calling a fresh model on one layout's batch went: raised, or returned."""

    layout: Layout
    raised: CallRaised | None = None
    returned: CallReturned | None = None


def in_shape(layout: Layout, n: int) -> tuple[int, ...]:
    """The batch shape of `n` images in `layout`."""
    return (n, 28, 28) if layout == "3d" else (n, 784)


def accepted(call: LayoutCall, n: int) -> bool:
    """The call returned one (n, 10) output (not a tuple or list of them)."""
    r = call.returned
    return call.raised is None and r is not None and r.type not in _SEVERAL and r.shape == (n, CLASSES)


def takes_input(call: LayoutCall, n: int) -> bool:
    """The model took the batch: it did not raise, and what it returned is not a tensor of another batch's shape.

    A model that takes the input but returns the wrong thing (a tuple, (n, 5)) would return it in any
    layout: what it returned is its failure, not the layout's.
    """
    if call.raised is not None or call.returned is None:
        return False
    shape = call.returned.shape
    return shape is None or (len(shape) == 2 and shape[0] == n)


def same_error(first: CallRaised, second: CallRaised) -> bool:
    """The same exception with the same text at the same place (or, when no exception was raised, the same failure)."""
    if first.exception is None and second.exception is None:
        return first.error.kind == second.error.kind and first.error.message == second.error.message
    return (first.error.kind, first.exception, first.text, first.location) == (second.error.kind, second.exception, second.text,
                                                                             second.location)


def reason(raised: CallRaised, words: Literal["forward", "training"]) -> Message:
    """What a call that failed did, in the `words` of the forward check or of training: 'it raised RuntimeError
    (hw.py, line 12)' for an ordinary exception, whose text is evidence; otherwise the worker's own sentence."""
    from ..sandbox.workspace import place  # the worker's wording of a place (imported late: the sandbox's workspace)

    if not raised.plain:
        return raised.error.message
    kind, location = verbatim(raised.exception or ""), raised.location
    if words == "forward":
        return msg("framework.forward.raised", type=kind) if location is None else msg("framework.forward.raised_at", type=kind,
                                                                                       where=place(location))
    return msg("training.layout_raised", type=kind) if location is None else msg("training.layout_raised_at", type=kind,
                                                                                 where=place(location))


def detail(raised: CallRaised) -> str:
    """The failure's traceback, else 'Type: text' (the evidence quotes it)."""
    if raised.error.traceback:
        return raised.error.traceback
    return f"{raised.exception}: {raised.text}" if raised.exception is not None else ""
