"""What grading needs besides the submission: rubric, data, where student code runs, which checks.

Kept apart from pipeline.py, which imports PyTorch: the CLI and the batch loop can
hold settings (and skip a class that is already graded) without paying for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .mnist import Mnist
from .rubric import LoadedRubric
from .sandbox import Runner

__all__ = ["GradeSettings", "MnistCache"]


@dataclass
class MnistCache:
    """Loads MNIST on first use only, so a self-check without training never touches the data."""

    loader: Callable[[], Mnist]
    _data: Mnist | None = field(default=None, init=False)

    def get(self) -> Mnist:
        """The data set, loaded once."""
        if self._data is None:
            self._data = self.loader()
        return self._data

    @property
    def source(self) -> str:
        """Where the data came from, or '' when no check needed it."""
        return self._data.source if self._data else ""


@dataclass(frozen=True)
class GradeSettings:
    """Everything grading needs besides the submission itself."""

    rubric: LoadedRubric
    mnist: MnistCache
    runner: Runner
    seed: int = 0
    """Base seed of generated inputs; checks without a pinned seed derive theirs from it."""
    self_check: bool = False
    only: tuple[str, ...] = ()
    """Glob patterns of check ids to run (all when empty)."""
