"""Worker task `similarity_fingerprint`: fingerprint blocks of student code, inside the sandbox.

The host sends the blocks' UTF-8 text as one uint8 array (`text`) cut at
`bounds` (int64, one more than there are blocks) and reads back, per block, the
line of every symbol and the fingerprints (hash and first symbol), as numeric
arrays cut at `*_bounds` the same way.  Nothing is executed: the text is only
tokenised (similarity/tokens.py), under the worker's limits.  A block that
cannot be tokenised is listed in values["failed"] (index and reason) and gets
no symbols.
"""

from __future__ import annotations

import numpy as np

from .protocol import SimilarityParams
from .workspace import Workspace


def similarity_fingerprint(ws: Workspace) -> None:
    """Fingerprint every block of the job; arrays `lines`, `hashes`, `starts` with their bounds."""
    from ..similarity.tokens import UnreadableUnit, fingerprint  # Pygments loads only when a class is compared

    params = ws.job.params_as(SimilarityParams)
    text, bounds = ws.inputs["text"].tobytes(), ws.inputs["bounds"]
    lines: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    failed: list[list[object]] = []
    for index in range(len(bounds) - 1):
        source = text[int(bounds[index]):int(bounds[index + 1])].decode("utf-8", "replace")
        try:
            prints = fingerprint(source, method=params.method, k=params.k, window=params.window)
        except (UnreadableUnit, RecursionError, MemoryError) as exc:
            failed.append([index, str(exc) or type(exc).__name__])
            prints = None
        lines.append(prints.lines if prints else np.zeros(0, dtype=np.int32))
        hashes.append(prints.hashes if prints else np.zeros(0, dtype=np.int64))
        starts.append(prints.starts if prints else np.zeros(0, dtype=np.int32))
    for name, parts, dtype in (("lines", lines, np.int32), ("hashes", hashes, np.int64), ("starts", starts, np.int32)):
        ws.arrays[name] = np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)
        ws.arrays[f"{name}_bounds"] = np.cumsum([0, *(len(p) for p in parts)]).astype(np.int64)
    ws.values["failed"] = failed
