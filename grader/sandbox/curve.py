"""Inside the worker: the training curve, loss and batch accuracy averaged over every few steps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


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
            self.points["loss"].append(loss if math.isfinite(loss) else str(loss))  # strict JSON has no NaN
            self.points["accuracy"].append(self._correct / self._seen)
            self._loss = self._correct = 0.0
            self._seen = 0
