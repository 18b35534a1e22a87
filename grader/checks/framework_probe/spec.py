"""The rubric's table for framework.model.forward and framework.model.architecture ([checks."framework.model.forward"])."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...rubric import CheckSpec


class FrameworkCheck(CheckSpec):
    """The student's framework model probed directly: its forward and its architecture."""

    rtol: float = Field(1e-4, gt=0, description="Relative tolerance (float32) when matching outputs to relu(x W1 + b1) W2 + b2.")
    batch: int = Field(6, ge=2, le=256, description="Images in the probe batch.")
    accepted_activations: tuple[Literal["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu"], ...] = Field(
        ("relu", "tanh"), min_length=1,
        description="framework.model.architecture: hidden activations that pass (the course's published answer key uses tanh).")
    require_template_layout: bool = Field(
        False, description="framework.model.forward: fail a model that rejects the template's (N, 28, 28) input (else either layout passes).")
