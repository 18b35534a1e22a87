"""Turning one block of source into fingerprints: normalised symbols, hashed k-grams, winnowing.

Runs only inside the sandboxed worker (similarity/worker.py): both
tokenizers read student text, so they run under the worker's limits, never in
the grader's own process.  Two methods, chosen by the rubric's
`[similarity] method`:

- "tokens": Python's own `tokenize`, normalised for this homework (comments,
  docstrings and bare string statements dropped, strings as S, numbers as N,
  every name a student can rename as V, but keywords, the library API
  (`np.matmul`, `tf.Variable`, `nn.Linear`) and called builtins kept as
  written).  Numbers are N because the usual lines differ mostly in them
  (`nn.Linear(784, 128)` against `nn.Linear(784, 100)`): as N they are one
  common line the class shares, not several rare ones two students happen to share.
- "copydetect": copydetect's Pygments-based filter (`copydetect.utils.filter_code`:
  names V, functions F, classes O, strings S, comments and whitespace dropped),
  whose symbols are characters of the filtered text, as copydetect hashes them.

Either way the symbols get stable 64-bit ids, k-grams a polynomial hash of
those ids (the same in every process, unlike Python's `hash()` that copydetect
uses, so a class can be fingerprinted in several workers), and copydetect's
winnowing picks the fingerprints.  Each symbol keeps the line it came from, so
a match is shown on the student's own lines.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.util
import io
import keyword
import sys
import threading
import tokenize
import types
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Method = Literal["tokens", "copydetect"]
MAX_UNIT_CHARS = 200_000
"""Longer blocks are not fingerprinted: no definition in this homework comes near it."""

LIBRARY_ROOTS = frozenset({"np", "numpy", "tf", "tensorflow", "torch", "nn", "F", "keras", "layers", "optimizers", "math"})
"""Names whose attribute chains are the library API, kept as written (renaming a variable cannot change them)."""
_CALLED_BUILTINS = frozenset({
    "abs", "all", "any", "dict", "enumerate", "float", "int", "isinstance", "len", "list", "map", "max", "min",
    "print", "range", "reversed", "round", "sorted", "sum", "super", "tuple", "zip",
}) & frozenset(dir(builtins))
_KEPT_NAMES = frozenset({"self", "cls"})
_IMPORT_LOCK = threading.Lock()
_CLOSERS = frozenset({")", "]", "}"})
_SKIPPED = frozenset({tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER})
# Multipliers of the k-gram hash and of splitmix64 (Steele et al.): odd 64-bit constants.
_BASE = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


PAD_LINE = -1
"""The line of a boundary symbol (see `_padded`): on no line of the block."""
_BOUNDARY = np.uint64(0x5A17_B0DE_0F_B10C)


class UnreadableUnit(Exception):
    """A block that cannot be tokenised (or is over MAX_UNIT_CHARS); it is left out of the comparison."""


@dataclass(frozen=True)
class Symbols:
    """A block as a sequence of normalised symbols."""

    ids: np.ndarray
    """uint64: a stable id per symbol."""
    lines: np.ndarray
    """int32: the 0-based line of the block each symbol starts on."""


@dataclass(frozen=True)
class Prints:
    """A block's fingerprints."""

    lines: np.ndarray
    """int32 per symbol: its 0-based line in the block, PAD_LINE for the boundary symbols around it."""
    hashes: np.ndarray
    """int64 per fingerprint: the hash of the k symbols starting at `starts`."""
    starts: np.ndarray
    """int32 per fingerprint: index of its first symbol."""


def fingerprint(source: str, *, method: Method, k: int, window: int) -> Prints:
    """The fingerprints of one block of Python source.

    Args:
        source: one top-level definition, as intake kept it.
        method: "tokens" or "copydetect" (see the module docstring).
        k: symbols per k-gram.
        window: winnowing window; 1 keeps every k-gram (copydetect's default).

    Raises:
        UnreadableUnit: the block is too long or cannot be tokenised.
    """
    if len(source) > MAX_UNIT_CHARS:
        raise UnreadableUnit(f"{len(source)} characters, over the {MAX_UNIT_CHARS} compared")
    symbols = _padded(python_symbols(source) if method == "tokens" else copydetect_symbols(source), k)
    hashes = kgram_hashes(symbols.ids, k)
    starts = np.arange(len(hashes), dtype=np.int64)
    if window > 1 and len(hashes):
        hashes, starts = _copydetect_utils().winnow(hashes, window, remove_duplicates=False)
    # tokenize puts the closing DEDENTs on the line after the last one: keep every symbol on a line of the block.
    lines = np.minimum(symbols.lines, source.count("\n")).astype(np.int32)
    return Prints(lines=lines, hashes=np.asarray(hashes, dtype=np.int64), starts=np.asarray(starts, dtype=np.int32))


def _padded(symbols: Symbols, k: int) -> Symbols:
    """The block between k - 1 boundary symbols on each side (their line is PAD_LINE).

    Without them the symbols near a block's ends lie only in k-grams that also
    hold the filled-in line before them: the template's `return grad_x, grad_W`
    after a student's fill would count as the student's own code.  With them every
    real symbol lies in k-grams of its own surroundings only.
    """
    if not len(symbols.ids):
        return symbols
    pad_ids, pad_lines = np.full(k - 1, _BOUNDARY, dtype=np.uint64), np.full(k - 1, PAD_LINE, dtype=np.int32)
    return Symbols(ids=np.concatenate([pad_ids, symbols.ids, pad_ids]), lines=np.concatenate([pad_lines, symbols.lines, pad_lines]))


def kgram_hashes(ids: np.ndarray, k: int) -> np.ndarray:
    """int64 hash of every run of `k` consecutive ids: sum of ids[i + j] * BASE**(k - 1 - j), modulo 2**64."""
    count = len(ids) - k + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(over="ignore"):  # wrapping modulo 2**64 is the point
        hashes = np.zeros(count, dtype=np.uint64)
        for j in range(k):
            hashes = hashes * _BASE + ids[j:j + count]
    return hashes.view(np.int64)


# --------------------------------------------------------------------------- the "tokens" method


def python_symbols(source: str) -> Symbols:
    """`source` tokenised by Python's tokenize and normalised (see the module docstring)."""
    words: list[str] = []
    lines: list[int] = []
    try:
        for line in _logical_lines(source):
            for word, row in _normalised(line):
                words.append(word)
                lines.append(row)
    except (tokenize.TokenError, SyntaxError, ValueError) as exc:  # IndentationError is a SyntaxError
        raise UnreadableUnit(f"not tokenisable Python ({type(exc).__name__})") from None
    return Symbols(ids=_word_ids(words), lines=np.asarray(lines, dtype=np.int32))


def _logical_lines(source: str) -> list[list[tokenize.TokenInfo]]:
    """The tokens of each logical line (INDENT and DEDENT on lines of their own), without comments or blank lines."""
    result: list[list[tokenize.TokenInfo]] = []
    current: list[tokenize.TokenInfo] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in _SKIPPED:
            continue
        if tok.type in (tokenize.INDENT, tokenize.DEDENT):
            result.append([tok])
            continue
        current.append(tok)
        if tok.type == tokenize.NEWLINE:
            result.append(current)
            current = []
    if current:
        result.append(current)
    return result


def _normalised(line: list[tokenize.TokenInfo]) -> list[tuple[str, int]]:
    """One logical line's symbols with their 0-based lines; a docstring or bare string statement gives none.

    The template marks every blank to fill with a bare string statement ('''计算...'''),
    so those are comments here.
    """
    if all(t.type in (tokenize.STRING, tokenize.NEWLINE) for t in line):
        return []
    out: list[tuple[str, int]] = []
    library = False  # the name before the last '.' was library API: its attribute is too
    for i, tok in enumerate(line):
        after_dot = i > 0 and line[i - 1].string == "."
        word = _word(tok, line[i + 1] if i + 1 < len(line) else None, after_dot, library)
        if tok.type == tokenize.NAME:
            library = word != "V" and (after_dot and library or word in LIBRARY_ROOTS)
        elif tok.string != ".":
            library = False
        if word:
            out.append((word, tok.start[0] - 1))
    return out


def _word(tok: tokenize.TokenInfo, following: tokenize.TokenInfo | None, after_dot: bool, library: bool) -> str:
    """The symbol of one token ('' to drop it)."""
    text = tok.string
    if tok.type == tokenize.NAME:
        if keyword.iskeyword(text) or text in _KEPT_NAMES or (after_dot and library):
            return text
        if not after_dot and text in LIBRARY_ROOTS:
            return text
        called = following is not None and following.string == "("
        return text if called and not after_dot and text in _CALLED_BUILTINS else "V"
    if tok.type == tokenize.NUMBER:
        return "N"
    if tok.type == tokenize.STRING:
        return "S"
    if tok.type == tokenize.NEWLINE or text == ";":
        return ";"
    if tok.type == tokenize.INDENT:
        return "{"
    if tok.type == tokenize.DEDENT:
        return "}"
    if text == "," and following is not None and following.string in _CLOSERS:
        return ""  # a trailing comma is formatting (black adds it when it splits a call)
    return text.strip()


def _word_ids(words: list[str]) -> np.ndarray:
    """A stable 64-bit id per symbol (blake2b of its text), the same in every process."""
    cache: dict[str, int] = {}
    ids = np.empty(len(words), dtype=np.uint64)
    for i, word in enumerate(words):
        if word not in cache:
            cache[word] = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        ids[i] = cache[word]
    return ids


# --------------------------------------------------------------------------- the "copydetect" method


def copydetect_symbols(source: str) -> Symbols:
    """`source` filtered by copydetect (Pygments' Python lexer): one symbol per character of the filtered text."""
    filtered, offsets = _copydetect_utils().filter_code(source, "unit.py", language="python")
    codes = np.frombuffer(filtered.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return Symbols(ids=_mixed(codes), lines=_copydetect_lines(source, len(filtered), np.asarray(offsets)))


def _copydetect_lines(source: str, length: int, offsets: np.ndarray) -> np.ndarray:
    """The 0-based source line of each filtered character, through copydetect's offset table.

    copydetect maps filtered index i to source index i + offsets[j, 1], j the first
    row with offsets[j, 0] >= i (detector.compare_files); ends are clipped.
    """
    index = np.arange(length, dtype=np.int64)
    if len(offsets):
        rows = np.clip(np.searchsorted(offsets[:, 0], index), 0, len(offsets) - 1)
        index = index + offsets[rows, 1]
    index = np.clip(index, 0, max(len(source) - 1, 0))
    newlines = np.flatnonzero(np.frombuffer(source.encode("utf-32-le"), dtype=np.uint32) == ord("\n"))
    return np.searchsorted(newlines, index, side="left").astype(np.int32)


def _mixed(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads small ids (code points) over all 64 bits."""
    with np.errstate(over="ignore"):
        z = values + _BASE
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def _copydetect_utils() -> Any:
    """copydetect.utils, without running copydetect/__init__.py.

    The package's __init__ imports its report generator, and with it
    matplotlib.pyplot (1.7 s, and a font cache the sandbox would build again for
    every job); the fingerprinting functions in copydetect.utils need only
    Pygments and numpy.  So the package is entered as an empty parent module.
    """
    with _IMPORT_LOCK:  # a thread that finds copydetect.utils in sys.modules half-imported fails
        return _import_copydetect_utils()


def _import_copydetect_utils() -> Any:
    loaded = sys.modules.get("copydetect.utils")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("copydetect")
    if spec is None or not spec.submodule_search_locations:
        raise UnreadableUnit("copydetect is not installed (pip install copydetect)")
    if "copydetect" not in sys.modules:
        package = types.ModuleType("copydetect")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["copydetect"] = package
    return importlib.import_module("copydetect.utils")
