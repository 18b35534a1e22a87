"""The training curve both training workers record: loss and batch accuracy averaged over every few steps."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, StrictInt


class TrainingCurve:
    """Averages of the training loss and batch accuracy over each window of `every` steps."""

    def __init__(self, every: int = 5) -> None:
        self._every = every
        self._step = 0
        self._loss = self._correct = 0.0
        self._seen = 0
        self.points: dict[str, list[Any]] = {"step": [], "loss": [], "accuracy": []}

    def add(self, loss_sum: float, predicted: np.ndarray, labels: np.ndarray) -> None:
        """One optimiser step: the batch's summed loss, predicted and true classes."""
        self._step += 1
        self._loss += loss_sum
        self._correct += float(np.sum(predicted == labels))
        self._seen += len(labels)
        if self._step % self._every == 0:
            loss = self._loss / self._seen
            self.points["step"].append(self._step)
            self.points["loss"].append(loss)
            self.points["accuracy"].append(self._correct / self._seen)
            self._loss = self._correct = 0.0
            self._seen = 0


class CurvePoints(BaseModel):
    """A recorded curve as it travels in a training result: equal-length columns (the judge checks the lengths)."""

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    step: tuple[StrictInt, ...]
    loss: tuple[float, ...]
    accuracy: tuple[float, ...]

    @classmethod
    def of(cls, curve: TrainingCurve) -> CurvePoints:
        """The points `curve` recorded."""
        return cls(step=tuple(curve.points["step"]), loss=tuple(float(v) for v in curve.points["loss"]),
                   accuracy=tuple(curve.points["accuracy"]))
