"""Evidence of a gradient check: each gradient compared with its references, entry by entry."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from .base import EvidenceBase


class ArrayComparison(BaseModel):
    """How a student's array differs from the expected one (checks/compare.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    max_rel_err: float
    mismatched: int
    total: int
    worst_index: tuple[int, ...]
    expected_at_worst: float
    got_at_worst: float


class GradientComparison(BaseModel):
    """One gradient at one input point: against autograd and finite differences, with excerpts and its error map."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    name: str = Field(description="e.g. 'grad_x (unit)' or 'W1_grad'.")
    vs_autograd: ArrayComparison
    vs_finite_difference: ArrayComparison | None = None
    kink_entries_skipped: int = 0
    expected_excerpt: JsonValue = None
    got_excerpt: JsonValue = None
    rel_err_map: list[list[float | str]] | None = Field(None, description="Relative error per entry (top-left corner), for the heat map.")
    rel_err_tol: float | None = None


class GradientEvidence(EvidenceBase):
    """A backward pass judged at one or more input points; or, with `details` only, a layer's forward judged
    on fixed inputs (numpy.softmax.stability: its input, the expected output and the student's)."""

    kind: Literal["gradient"] = "gradient"
    seed: int | None = None
    points: tuple[str, ...] = ()
    input_shapes: tuple[tuple[int, ...], ...] = ()
    gradients: tuple[GradientComparison, ...] = ()
