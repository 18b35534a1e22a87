"""What every kind of evidence carries besides its own numbers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ..text import Message


class EvidenceBase(BaseModel):
    """Common to all evidence: notes for the student, the staff layers used, the import's warnings, other numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    notes: tuple[Message, ...] = Field(default=(), description="Findings that did not fail the check, e.g. a float32 gradient.")
    reference_layers: tuple[str, ...] = Field(default=(), description="Layers of the staff solution the check ran with.")
    import_warnings: tuple[str, ...] = Field(default=(), description="Warnings printed while the student's code was imported.")
    details: dict[str, JsonValue] = Field(default_factory=dict, description="Further plain numbers and shapes, shown as rows.")
