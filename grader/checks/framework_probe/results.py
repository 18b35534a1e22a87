"""What the probe sends (worker -> host): its params and its one result, read by both checks.

One run, two models: framework.model.forward reads `FrameworkForwardResult` (extra fields
ignored), framework.model.architecture the whole `FrameworkProbeResult`, so a reply with bad
parameter names is "tampered" for the architecture check alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from ...sandbox.protocol import ChildError
from ...sandbox.wire import Array, TaskParams, TaskResult
from ..framework_layouts import LAYOUTS, Layout, LayoutCall


class FrameworkProbeParams(TaskParams):
    """A fresh, seeded framework myModel called on the grader's batch (input `x`, (N, 28, 28) images)."""

    framework: Literal["pytorch", "tensorflow"]
    seed: int
    threads: int = 1


class InferenceMode(BaseModel):
    """How the probe put myModel into inference mode before calling it (the same for both layouts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eval: StrictBool = Field(False, description="PyTorch: model.eval() was called (an nn.Module: dropout off).")
    training_false: StrictBool = Field(False, description="The model's call takes `training`: it was called with training=False.")


class ProbeCall(BaseModel):
    """One layout's instance: how its call went, and its two outputs (float64) when both calls returned."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    call: LayoutCall
    out: Array | None = None
    again: Array | None = Field(None, description="A second call of the same instance on the same batch (inference mode makes them equal).")


class TrainingStep(BaseModel):
    """A training step of the student's own (a function or method that names the variables it updates), as the
    worker read it with `ast`: the attribute paths of the model it lists, relative to the model object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr = Field(description="'train_one_step', or 'myModel.train_step' for a method.")
    paths: tuple[StrictStr, ...] = Field(description="Listed attribute paths, e.g. ('W1', 'W2', 'b1', 'b2') or ('fc1',) for fc1's variables.")
    everything: StrictBool = Field(False, description="It lists all of the model's variables (model.trainable_variables, model.parameters()).")
    unknown: StrictBool = Field(False, description="Part of its list could not be read (a name from elsewhere, a comprehension).")
    file: StrictStr = ""
    line: StrictInt | None = None


class ProbeParameter(BaseModel):
    """One trainable parameter: its attribute path ('fc1.weight', 'W1'; 'param{i}' when unknowable) and float64 value."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: StrictStr
    value: Array


class FrameworkForwardResult(TaskResult):
    """The probe as framework.model.forward reads it: each layout's call (3d first, then 2d).  What only the
    architecture check reads is ignored here (it validates it)."""

    model_config = ConfigDict(extra="ignore", frozen=True, ser_json_inf_nan="constants", arbitrary_types_allowed=True)

    batch: StrictInt = Field(ge=1, description="N, the number of images in the probe batch.")
    calls: tuple[ProbeCall, ...] = Field(min_length=2, max_length=2, description="The (N, 28, 28) call, then the (N, 784) call.")
    inference: InferenceMode = Field(InferenceMode(), description="How the calls were put into inference mode.")

    @model_validator(mode="after")
    def _in_order(self) -> FrameworkForwardResult:
        if tuple(c.call.layout for c in self.calls) != LAYOUTS:
            raise ValueError("the calls are the (N, 28, 28) one, then the (N, 784) one")
        return self

    def of(self, layout: Layout) -> ProbeCall:
        """The call of `layout`."""
        return next(c for c in self.calls if c.call.layout == layout)


class FrameworkProbeResult(FrameworkForwardResult):
    """The probe in full, as framework.model.architecture reads it: also the trainable parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants", arbitrary_types_allowed=True)

    params: tuple[ProbeParameter, ...] = Field(description="The parameters of the instance of layout `params_of`.")
    params_error: ChildError | None = Field(None, description="Why no trainable parameters were found, if none were.")
    params_of: Layout | None = Field(None, description="The layout whose instance the parameters are from (the first that gave (N, 10)).")
    training_steps: tuple[TrainingStep, ...] = Field((), description="The student's own training steps found in the part's code.")
