"""Fingerprinting a class's code in sandboxed workers, and assembling each owner's part as a `Doc`.

Each distinct block of text is fingerprinted once (template-faithful students
share most of their blocks word for word), in `jobs` workers at once.  A job that
fails (a block that hangs or crashes the tokenizer) is split in halves and run
again, so one bad block is left out with a note and the rest is compared.  What
comes back is checked before use: bounds that add up, positions inside their
block.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from pydantic import ValidationError

from ..records import RunError
from ..rubric import SimilaritySettings
from ..sandbox.limits import Limits
from ..sandbox.runner import Runner
from ..sandbox.wire import decode_result
from ..text import msg
from .records import BlockPrints, Doc, PartCode
from .tokens import PAD_LINE
from .worker import TASK, FingerprintParams, FingerprintResult

FINGERPRINT_LIMITS = Limits(timeout_s=60.0, cpu_s=60, memory_mb=2048, file_size_mb=256)
"""Bounds of one fingerprinting worker: a class of 200 takes about a second in each of two."""
CHARS_PER_JOB = 300_000
"""Distinct text one worker takes (about half a second of tokenising) before a second one is worth starting:
a second job may wait behind a template that is still importing a framework for the class's grading."""


@dataclass(frozen=True)
class Fingerprints:
    """Every block's prints by its text, and why any block has none."""

    prints: dict[str, BlockPrints]
    failures: dict[str, str]
    """Block text -> why it could not be fingerprinted."""


def fingerprint_sources(sources: Sequence[str], settings: SimilaritySettings, runner: Runner, *, jobs: int) -> Fingerprints:
    """Fingerprint each distinct text of `sources` in sandboxed workers, `jobs` at a time.

    Args:
        sources: block texts, repeats allowed.
        settings: the rubric's [similarity] table (method, k, window).
        runner: the sandbox runner.
        jobs: workers run at once.
    """
    unique = list(dict.fromkeys(sources))
    chunks = _chunks(unique, max(1, min(jobs, sum(len(t) for t in unique) // CHARS_PER_JOB)))
    with ThreadPoolExecutor(max_workers=max(1, len(chunks))) as pool:
        done = list(pool.map(lambda chunk: _run_split(chunk, settings, runner), chunks))
    prints = {text: p for results in done for text, p in results.items() if isinstance(p, BlockPrints)}
    failures = {text: p for results in done for text, p in results.items() if isinstance(p, str)}
    return Fingerprints(prints, failures)


def build_doc(code: PartCode, prints: dict[str, BlockPrints]) -> Doc:
    """One owner's part as one symbol sequence: its blocks end to end, each block's lines numbered on."""
    line_refs: list[tuple[int, int]] = []
    symbol_lines: list[np.ndarray] = []
    real: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    offset = 0
    for index, block in enumerate(code.blocks):
        got = prints.get(block.source)
        base = len(line_refs)
        line_refs.extend((index, line) for line in range(block.line_count))
        if got is None:
            continue
        real.append(got.lines != PAD_LINE)
        symbol_lines.append(np.maximum(got.lines, 0).astype(np.int64) + base)
        hashes.append(got.hashes)
        starts.append(got.starts.astype(np.int64) + offset)
        offset += len(got.lines)
    return Doc(code=code, symbol_lines=_joined(symbol_lines, np.int64), real=_joined(real, np.bool_), hashes=_joined(hashes, np.int64),
               starts=_joined(starts, np.int64), line_refs=tuple(line_refs))


def _joined(parts: list[np.ndarray], dtype: type[np.generic] | type[bool]) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def _chunks(texts: list[str], jobs: int) -> list[list[str]]:
    """`texts` cut into at most `jobs` runs of about equal size (in characters)."""
    if not texts:
        return []
    total = sum(len(t) for t in texts)
    chunks: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if size >= total / jobs * len(chunks) and len(chunks) < jobs:
            chunks.append([])
        chunks[-1].append(text)
        size += len(text)
    return [c for c in chunks if c]


def _run_split(texts: list[str], settings: SimilaritySettings, runner: Runner) -> dict[str, BlockPrints | str]:
    """Fingerprint `texts` in one worker; when that fails, each half again, down to single blocks."""
    reply = _run(texts, settings, runner)
    if isinstance(reply, dict):
        return reply
    if len(texts) == 1:
        return {texts[0]: f"the tokenizer's worker failed on it ({reply.kind}: {str(reply.message)[:120]})"}
    middle = len(texts) // 2
    return _run_split(texts[:middle], settings, runner) | _run_split(texts[middle:], settings, runner)


def _run(texts: list[str], settings: SimilaritySettings, runner: Runner) -> dict[str, BlockPrints | str] | RunError:
    """One worker job: the prints (or why not) of every text, or why the job failed."""
    data = [t.encode("utf-8", "surrogatepass") for t in texts]
    arrays: dict[str, np.ndarray] = {"text": np.frombuffer(b"".join(data), dtype=np.uint8),
              "bounds": np.cumsum([0, *(len(d) for d in data)]).astype(np.int64)}
    params = FingerprintParams(method=settings.method, k=settings.kgram, window=settings.window)
    result = runner.run(TASK.job((), params), arrays, FINGERPRINT_LIMITS, phase="intake")
    if result.error is not None:
        return result.error
    try:
        reply = decode_result(FingerprintResult, result.report, result.arrays)
    except ValidationError:
        return RunError("tampered", "intake", msg("similarity.tampered_malformed"))
    return _read_reply(texts, reply, settings.kgram)


def _read_reply(texts: list[str], reply: FingerprintResult, k: int) -> dict[str, BlockPrints | str] | RunError:
    """Each text's prints from the worker's arrays, checked; a malformed answer is an error of the whole job."""
    try:
        cut = {name: _cut(getattr(reply, name), getattr(reply, f"{name}_bounds"), len(texts)) for name in ("lines", "hashes", "starts")}
    except ValueError:
        return RunError("tampered", "intake", msg("similarity.tampered_malformed"))
    reasons = {block.index: block.reason for block in reply.failed}
    out: dict[str, BlockPrints | str] = {}
    for i, text in enumerate(texts):
        prints = BlockPrints(lines=cut["lines"][i], hashes=cut["hashes"][i], starts=cut["starts"][i])
        if i in reasons:
            out[text] = f"it could not be tokenised ({reasons[i]})"
        elif not _plausible(prints, text, k):
            return RunError("tampered", "intake", msg("similarity.tampered_inconsistent"))
        else:
            out[text] = prints
    return out


def _cut(values: np.ndarray, bounds: np.ndarray, count: int) -> list[np.ndarray]:
    """`values` cut at `bounds` into `count` runs; ValueError unless the bounds fit exactly."""
    if bounds.shape != (count + 1,) or bounds[0] != 0 or bounds[-1] != len(values) or np.any(np.diff(bounds) < 0):
        raise ValueError("bounds do not fit")
    if values.dtype.kind not in "iu":
        raise ValueError("not integers")
    return [values[bounds[i]:bounds[i + 1]] for i in range(count)]


def _plausible(prints: BlockPrints, text: str, k: int) -> bool:
    """Positions inside the block: lines within its lines, k-grams within its symbols."""
    lines, starts = prints.lines, prints.starts
    if len(prints.hashes) != len(starts):
        return False
    in_lines = not len(lines) or (lines.min() >= PAD_LINE and lines.max() <= text.count("\n"))
    in_symbols = not len(starts) or (starts.min() >= 0 and starts.max() + k <= len(lines))
    return bool(in_lines and in_symbols)
