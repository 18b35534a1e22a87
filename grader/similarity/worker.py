"""Worker task `similarity_fingerprint`: fingerprint blocks of student code, inside the sandbox.

The host sends the blocks' UTF-8 text as one uint8 array (`text`) cut at
`bounds` (int64, one more than there are blocks) and reads back `FingerprintResult`:
per block, the line of every symbol and the fingerprints (hash and first symbol), as
numeric arrays cut at `*_bounds` the same way.  Nothing is executed: the text is only
tokenised (similarity/tokens.py), under the worker's limits.  A block that cannot be
tokenised is listed in `failed` (index and reason) and gets no symbols.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..sandbox.tasks import WorkerTask
from ..sandbox.wire import Array, TaskParams, TaskResult
from ..sandbox.workspace import Workspace


class FingerprintParams(TaskParams):
    """How to fingerprint each text of the inputs (the rubric's [similarity] table)."""

    method: Literal["tokens", "copydetect"]
    k: int
    window: int


class FailedBlock(TaskResult):
    """A block the tokenizer could not read, and why."""

    index: int
    reason: str


class FingerprintResult(TaskResult):
    """Every block's symbols' lines, hashes and k-gram starts, end to end, each cut at its `*_bounds`."""

    lines: Array
    lines_bounds: Array
    hashes: Array
    hashes_bounds: Array
    starts: Array
    starts_bounds: Array
    failed: tuple[FailedBlock, ...]


def similarity_fingerprint(ws: Workspace, params: FingerprintParams) -> FingerprintResult:
    """Fingerprint every block of the job."""
    from .tokens import UnreadableUnit, fingerprint  # Pygments loads only when a class is compared

    text, bounds = ws.inputs["text"].tobytes(), ws.inputs["bounds"]
    lines: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    failed: list[FailedBlock] = []
    for index in range(len(bounds) - 1):
        source = text[int(bounds[index]):int(bounds[index + 1])].decode("utf-8", "replace")
        try:
            prints = fingerprint(source, method=params.method, k=params.k, window=params.window)
        except (UnreadableUnit, RecursionError, MemoryError) as exc:
            failed.append(FailedBlock(index=index, reason=str(exc) or type(exc).__name__))
            prints = None
        lines.append(prints.lines if prints else np.zeros(0, dtype=np.int32))
        hashes.append(prints.hashes if prints else np.zeros(0, dtype=np.int64))
        starts.append(prints.starts if prints else np.zeros(0, dtype=np.int32))
    return FingerprintResult(**_joined("lines", lines, np.int32), **_joined("hashes", hashes, np.int64),
                             **_joined("starts", starts, np.int32), failed=tuple(failed))


def _joined(name: str, parts: list[np.ndarray], dtype: type[np.generic]) -> dict[str, np.ndarray]:
    """`parts` end to end as `name`, and where each starts as `name`_bounds."""
    joined = np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)
    return {name: joined, f"{name}_bounds": np.cumsum([0, *(len(p) for p in parts)]).astype(np.int64)}


TASK = WorkerTask("TASK", FingerprintParams, FingerprintResult, similarity_fingerprint, phase="intake", module=__name__)
