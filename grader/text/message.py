"""A message by id: what checks, intake and the sandbox say, before it is put into a language.

    Message(id="layer.grad_wrong", args={"name": "Relu", "summary": Message(...)})

The words live in the catalogs (grader/text/locale/<lang>/LC_MESSAGES/*.po), keyed
by the id; `render` fills the `{placeholders}` at report time.  An argument is a
number, a short grader-made string (a shape, a class name, a file), another
Message (a clause), or `Verbatim`: text that came from student code (an exception
message, a type name), shown as it is, in a code element, never translated.
"""

from __future__ import annotations

from typing import Union

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Verbatim(BaseModel):
    """Text from student code or from Python itself, quoted as evidence: never translated, shown in <code>."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verbatim: str

    def __str__(self) -> str:
        return self.verbatim


_NON_FINITE = frozenset({"nan", "inf", "infinity"})
Arg = Union[bool, int, float, str, "Message", Verbatim, None]


class Message(BaseModel):
    """One sentence or clause by catalog id, with its arguments; `str()` is the English text."""

    # A NaN or infinite argument (a student's loss) survives JSON as a string instead of becoming null.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    id: str = Field(description="Catalog id, e.g. 'layer.passed'; every id is in each language's catalog.")
    args: dict[str, Arg] = Field(default_factory=dict, description="Values of the id's {placeholders}.")

    @field_validator("args", mode="before")
    @classmethod
    def _non_finite_back_to_float(cls, args: object) -> object:
        # JSON has no NaN: a non-finite number comes back as "NaN" / "nan" / "Infinity" ... (student text is Verbatim,
        # never a plain str), so it is a float again and its {value:.3f} still fits.
        if isinstance(args, dict):
            return {k: float(v) if isinstance(v, str) and v.lower().lstrip("+-") in _NON_FINITE else v for k, v in args.items()}
        return args

    def __hash__(self) -> int:
        # Frozen, but its args dict is not hashable: hash the canonical JSON (the summary groups diagnoses by message).
        return hash(self.model_dump_json())

    def __str__(self) -> str:
        from .catalog import render  # the catalog imports this module

        return render(self, "en")

    def walk(self) -> "list[Message]":
        """This message and every message nested in its arguments, depth first."""
        found = [self]
        for value in self.args.values():
            if isinstance(value, Message):
                found.extend(value.walk())
        return found


Message.model_rebuild()


def msg(message_id: str, /, **args: Arg) -> Message:
    """Message(id, args) in one call; the id must be a string literal (tests/test_catalogs.py reads them)."""
    return Message(id=message_id, args=args)


def verbatim(text: object, limit: int = 2000) -> Verbatim:
    """`text` as quoted evidence, cut to `limit` characters so one huge exception cannot bloat a report."""
    s = text if isinstance(text, str) else str(text)
    return Verbatim(verbatim=s if len(s) <= limit else s[:limit] + " ...")
