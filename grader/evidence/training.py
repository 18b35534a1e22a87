"""Evidence of a training check: the grader's protocol, the losses, the curve and the accuracy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import EvidenceBase

Number = int | float | str
"""A number, or "nan" / "inf" / "-inf" for a value that is not finite (an int stays an int: curve steps)."""


class Curve(BaseModel):
    """Loss and training-batch accuracy at regular steps of the training run."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    step: tuple[Number, ...]
    loss: tuple[Number, ...]
    accuracy: tuple[Number, ...]


class TrainingEvidence(EvidenceBase):
    """A model trained by the grader's own seeded loop, then measured on the test images."""

    kind: Literal["training"] = "training"
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    seed: int | None = None
    train_images: int | None = None
    test_images: int | None = None
    losses: tuple[Number, ...] = ()
    curve: Curve | None = None
    accuracy: float | None = None
    threshold: float | None = None
    train_seconds: float | None = None
    input_layout: str | None = Field(None, description="The input shape the framework model was trained and tested on, "
                                                        "e.g. '(N, 28, 28)' (the template's) or '(N, 784)'.")
    train_call: str | None = Field(None, description="How the grader called the model while training, as code: 'model(x, training=True)'.")
    test_call: str | None = Field(None, description="How it called the model on the test images: 'model.eval(); model(x)'.")
