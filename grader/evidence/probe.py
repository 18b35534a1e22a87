"""Evidence of a probe of the framework model: what it returned for the grader's batch, and how it was read."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..vocabulary import Location
from .base import EvidenceBase


class ProbeParameter(BaseModel):
    """One trainable parameter of the student's model, as the worker found it."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    name: str = Field(description="Its attribute path, e.g. 'fc1.weight' or 'W1' ('param3' when unknown).")
    shape: tuple[int, ...]


class ProbeEvidence(EvidenceBase):
    """The framework model called on the grader's batch as (N, 28, 28) and as (N, 784), a fresh instance each.

    framework.model.forward fills the fields up to `output_kind`; framework.model.architecture
    the ones from `rtol` on.  Further numbers (row sums, the difference between the two layouts
    and between two calls of one instance) are in `details`.
    """

    kind: Literal["probe"] = "probe"
    batch: int | None = Field(None, description="N, the images in the probe batch.")
    seed: int | None = Field(None, description="Seed of the batch and of the model's random parameters.")
    output_shapes: dict[str, tuple[int, ...] | None] = Field(
        default_factory=dict, description="Shape of the output per input shape, '(6, 28, 28)' -> (6, 10); None where the call failed.")
    rejected: tuple[str, ...] = Field(default=(), description="Input shapes the model raised on, e.g. ('(6, 28, 28)',).")
    location: Location | None = Field(None, description="Where in the student's files the first rejected call raised.")
    detail: str = Field("", description="The traceback of the first rejected call (quoted, never translated).")
    accepted_layouts: tuple[Literal["(N, 28, 28)", "(N, 784)"], ...] = Field(
        default=(), description="The layouts whose call returned an (N, 10) output; training uses the first.")
    inference_mode: tuple[Literal["model.eval()", "training=False"], ...] = Field(
        default=(), description="How the probe put the model into inference mode before calling it (nothing: a plain call).")
    output_kind: Literal["logits", "log-probabilities"] | None = None
    rtol: float | None = Field(None, description="Tolerance, relative to the largest |output|, for matching a formula.")
    parameters: tuple[ProbeParameter, ...] = ()
    output_of: Literal["(N, 784)", "(N, 28, 28)"] | None = Field(None, description="The input shape whose output was read.")
    hidden: int | None = Field(None, description="H, the hidden units of the reading judged.")
    layer_sizes: tuple[int, ...] = Field(default=(), description="A deeper model's chain of weights by shape, e.g. (784, 256, 128, 10).")
    activation: str | None = Field(None, description="The hidden activation the output matched: 'relu', 'tanh', 'leaky_relu(0.01)', ...")
    formula: str | None = Field(None, description="The formula the output matched, e.g. 'tanh(x W1 + b1) W2 + b2'.")
    training_steps: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="The student's own training steps and the model attributes each lists ('*': all).")
    layout: Literal["torch", "tf"] | None = Field(
        None, description="torch: W1 stored H x 784 (nn.Linear); tf: stored 784 x H, used as x @ W1.")
    roles: dict[str, str | None] = Field(default_factory=dict, description="W1, b1, W2, b2 -> the parameter read as it, or None.")
    extra_parameters: tuple[str, ...] = Field(default=(), description="Parameters that the reading does not use.")
    max_relative_difference: dict[str, float | str] = Field(
        default_factory=dict,
        description="Per formula, max |output - formula| relative to the largest |output|; 'inf' or 'nan' when not finite.")
