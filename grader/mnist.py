"""Find, download and read MNIST for the grader's training checks.

`load_mnist` looks in this order and stops at the first copy it finds:

1. ``explicit_dir`` (the ``--mnist DIR`` option), then ``$GRADER_MNIST_DIR``.  Both
   are strict: a folder that is named but unusable is an error that says what
   is missing, never a silent fall-through to some other copy.
2. Copies a student or TA already has: Keras ``~/.keras/datasets/mnist.npz`` and
   the torchvision raw folders ``~/.cache/torchvision/MNIST/raw``,
   ``~/data/MNIST/raw`` and ``./data/MNIST/raw``.
3. The grader's own cache, ``$XDG_CACHE_HOME/nn-grader/mnist``
   (default ``~/.cache/nn-grader/mnist``).
4. A download into that cache (unless ``download=False``), from
   ``$GRADER_MNIST_URL`` or else the public mirrors in turn.  Every file is
   checked against its digest before it is renamed into place.

A usable folder holds the four IDX files ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte``, each plain or gzipped (``.gz``).  Sizes always come
from the IDX headers: the CI copy has a 5,000-image training subset, not 60,000.

Environment variables:
    GRADER_MNIST_DIR        folder holding the four IDX files.
    GRADER_MNIST_URL        base URL to download from instead of the public mirrors.
    GRADER_MNIST_CHECKSUMS  ``file=algo:hex,...`` (e.g. ``t10k-labels-idx1-ubyte.gz=sha256:ab..``)
                            replacing the published MD5s file by file.  It exists for
                            private mirrors that serve other files (such as a subset)
                            and for tests that serve a generated set.
    XDG_CACHE_HOME          parent of the grader's cache (absolute paths only).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import struct
import sys
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from grader.atomic import atomic_write
from grader.errors import DataError

__all__ = [
    "DEFAULT_CHECKSUMS",
    "DEFAULT_MIRRORS",
    "IDX_FILES",
    "Mnist",
    "download_mnist",
    "load_mnist",
    "read_idx",
]

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
"""The four files a usable folder holds, each either plain or with ``.gz``."""

ENV_DIR = "GRADER_MNIST_DIR"
ENV_URL = "GRADER_MNIST_URL"
ENV_CHECKSUMS = "GRADER_MNIST_CHECKSUMS"

DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Public mirrors of the original gzip files, tried in this order."""

DEFAULT_CHECKSUMS: Mapping[str, str] = MappingProxyType(
    {
        f"{TRAIN_IMAGES}.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
        f"{TRAIN_LABELS}.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
        f"{TEST_IMAGES}.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
        f"{TEST_LABELS}.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
    }
)
"""Published MD5s of the full dataset's gzip files (the values torchvision checks)."""

TIMEOUT_S = 30.0
IMAGE_SHAPE = (28, 28)

_IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16
_DIGEST_HEX_LENGTHS = {"md5": 32, "sha256": 64}
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
_FILES_HINT = f"{', '.join(IDX_FILES)} (each plain or .gz)"

Uint8Array = npt.NDArray[np.uint8]


# eq=False: the generated __eq__ would compare arrays and fail with
# "truth value of an array is ambiguous"; identity is the only sane equality.
@dataclass(frozen=True, eq=False)
class Mnist:
    """MNIST as plain uint8 arrays, plus where it came from."""

    train_images: Uint8Array
    """Training images, shape (n_train, 28, 28), pixel values 0-255."""
    train_labels: Uint8Array
    """Training digits 0-9, shape (n_train,)."""
    test_images: Uint8Array
    """Test images, shape (n_test, 28, 28), pixel values 0-255."""
    test_labels: Uint8Array
    """Test digits 0-9, shape (n_test,)."""
    source: str
    """Where it was loaded from, for reports, e.g. "/data/mnist (IDX)"."""


@dataclass(frozen=True)
class _Place:
    """A spot where an existing copy of MNIST may live."""

    path: Path
    kind: Literal["npz", "idx"]


# --------------------------------------------------------------------------- lookup


def load_mnist(
    explicit_dir: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> Mnist:
    """Find MNIST (see the module docstring for the order), downloading it if allowed.

    Args:
        explicit_dir: folder from ``--mnist DIR``; if given it must be usable.
        environ: environment to read ``GRADER_MNIST_*`` and ``XDG_CACHE_HOME`` from;
            defaults to ``os.environ``.
        home: home folder for the Keras, torchvision and grader caches;
            defaults to ``Path.home()``.
        download: whether to download into the grader cache when no copy is found.
        progress: show a download progress bar on stderr (only if it is a terminal).

    Returns:
        The data and a human-readable `Mnist.source`.

    Raises:
        DataError: a named folder is unusable, a file is corrupt, or no copy was
            found and the download was disabled or failed.
    """
    env = os.environ if environ is None else environ
    home_dir = Path.home() if home is None else home
    if explicit_dir is not None:
        return _load_named_dir(Path(explicit_dir), named_by="--mnist")
    if env.get(ENV_DIR):
        return _load_named_dir(Path(env[ENV_DIR]), named_by=ENV_DIR)
    places = _places(env, home_dir)
    for place in places:
        found = _load_place(place)
        if found is not None:
            return found
    if not download:
        raise DataError(_not_found_msg(places, "download disabled", "or allow the download"))
    return _download_and_load(env, places, progress=progress)


def _load_named_dir(folder: Path, *, named_by: str) -> Mnist:
    """Load a folder the user named, explaining exactly why it cannot be used."""
    if not folder.is_dir():
        raise DataError(f"{named_by} {folder}: not a directory; point it at a folder holding {_FILES_HINT}")
    paths = _idx_paths(folder)
    missing = [name for name in IDX_FILES if name not in paths]
    if missing:
        raise DataError(
            f"{named_by} {folder}: missing {', '.join(missing)} (plain or .gz); "
            f"put the four MNIST IDX files there or point it at a folder that has them"
        )
    return _load_idx_files(paths, source=f"{folder} (IDX)")


def _places(env: Mapping[str, str], home: Path) -> tuple[_Place, ...]:
    """Existing-copy locations in lookup order, the grader's cache last."""
    places = (
        _Place(home / ".keras" / "datasets" / "mnist.npz", "npz"),
        _Place(home / ".cache" / "torchvision" / "MNIST" / "raw", "idx"),
        _Place(home / "data" / "MNIST" / "raw", "idx"),
        _Place(Path.cwd() / "data" / "MNIST" / "raw", "idx"),
        _Place(_grader_cache(env, home), "idx"),
    )
    # When cwd is the home folder ./data and ~/data are one place; list it once.
    return tuple(dict.fromkeys(places))


def _grader_cache(env: Mapping[str, str], home: Path) -> Path:
    """The grader's own download cache, following the XDG base-directory spec."""
    xdg = env.get("XDG_CACHE_HOME", "")
    # The spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".cache"
    return base / "nn-grader" / "mnist"


def _load_place(place: _Place) -> Mnist | None:
    """Load the copy at `place`, or None if there is no complete copy there."""
    if place.kind == "npz":
        return _load_npz(place.path) if place.path.is_file() else None
    paths = _idx_paths(place.path)
    if len(paths) < len(IDX_FILES):
        return None
    return _load_idx_files(paths, source=f"{place.path} (IDX)")


def _download_and_load(env: Mapping[str, str], places: Sequence[_Place], *, progress: bool) -> Mnist:
    """Download into the grader cache (the last place) and load from there."""
    cache = places[-1].path
    checksums = _checksums_from_env(env)
    mirrors = (env[ENV_URL],) if env.get(ENV_URL) else DEFAULT_MIRRORS
    try:
        used = _download_from_mirrors(cache, mirrors, checksums, progress=progress)
    except DataError as exc:
        fix = f"or set {ENV_URL} to a reachable mirror"
        raise DataError(_not_found_msg(places, f"download failed: {exc}", fix)) from exc
    return _load_idx_files(_idx_paths(cache), source=f"{cache} (IDX, downloaded from {used})")


def _not_found_msg(places: Sequence[_Place], download_note: str, download_fix: str) -> str:
    """One line: every place looked at, what happened to the download, and the fix."""
    looked = ", ".join(_describe_place(place) for place in places)
    return (
        f"MNIST not found; looked in {looked}; {download_note}. "
        f"Fix: pass --mnist DIR or set {ENV_DIR} to a folder holding {_FILES_HINT}, {download_fix}."
    )


def _describe_place(place: _Place) -> str:
    """A place for the not-found message, noting what a half-filled folder lacks."""
    if place.kind == "idx" and place.path.is_dir():
        missing = [name for name in IDX_FILES if name not in _idx_paths(place.path)]
        return f"{place.path} (lacks {', '.join(missing)})"
    return str(place.path)


# --------------------------------------------------------------------------- reading


def read_idx(path: Path) -> Uint8Array:
    """Read one IDX file of unsigned bytes, gzip-compressed or plain.

    The shape comes from the file's header, never from an assumed dataset size.

    Args:
        path: the file.  Compression is detected from its first bytes, so a
            ``.gz`` name that a server already decompressed still reads.

    Returns:
        A writable uint8 array with the dimensions the header gives.

    Raises:
        DataError: the file cannot be read or decompressed, is not IDX, does not
            hold unsigned bytes, or its size does not match its header.
    """
    data = _read_bytes(path)
    dims, offset = _parse_idx_header(path, data)
    _check_idx_size(path, dims, len(data) - offset)
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims).copy()


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if they are gzip."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw.startswith(_GZIP_MAGIC) else raw
    except (OSError, EOFError, zlib.error) as exc:
        # EOFError is gzip's "truncated stream"; zlib.error is a corrupt block.
        raise DataError(f"{path}: cannot read or decompress it ({_one_line(exc)}); replace the file") from exc


def _parse_idx_header(path: Path, data: bytes) -> tuple[tuple[int, ...], int]:
    """Dimensions and data offset from an IDX header.

    The header is two zero bytes, a type code (0x08 = unsigned byte), the number
    of dimensions n, then n big-endian uint32 sizes; e.g. 00 00 08 03,
    10000, 28, 28 for the test images.
    """
    if len(data) < 4 or data[:2] != b"\0\0":
        raise DataError(
            f"{path}: not an IDX file (starts with {data[:4].hex() or 'nothing'}, "
            f"expected 000008nn); replace it with the MNIST file of that name"
        )
    type_code, ndim = data[2], data[3]
    if type_code != _IDX_UBYTE:
        raise DataError(f"{path}: IDX type code 0x{type_code:02x}, only unsigned bytes (0x08) are supported")
    header_len = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_len:
        raise DataError(f"{path}: IDX header for {ndim} dimensions is truncated or empty; replace the file")
    return struct.unpack(f">{ndim}I", data[4:header_len]), header_len


def _check_idx_size(path: Path, dims: tuple[int, ...], actual: int) -> None:
    """Raise if the data after the header is not exactly what the header promises."""
    expected = math.prod(dims)
    if actual != expected:
        shape = "x".join(map(str, dims))
        raise DataError(
            f"{path}: header says {shape} = {expected} bytes of data but the file holds {actual}; "
            f"it is truncated or corrupt, replace it"
        )


def _find_idx_file(folder: Path, name: str) -> Path | None:
    """`name` or `name`.gz in `folder`; the plain file wins because it reads faster."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _idx_paths(folder: Path) -> dict[str, Path]:
    """The IDX files present in `folder`, keyed by base name; absent ones are left out."""
    found = {name: _find_idx_file(folder, name) for name in IDX_FILES}
    return {name: path for name, path in found.items() if path is not None}


def _load_idx_files(paths: Mapping[str, Path], *, source: str) -> Mnist:
    """Read and cross-check the four IDX files."""
    arrays = {name: read_idx(path) for name, path in paths.items()}
    where = {name: str(path) for name, path in paths.items()}
    train = _check_split(arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS], where[TRAIN_IMAGES], where[TRAIN_LABELS])
    test = _check_split(arrays[TEST_IMAGES], arrays[TEST_LABELS], where[TEST_IMAGES], where[TEST_LABELS])
    return Mnist(*train, *test, source=source)


def _load_npz(path: Path) -> Mnist:
    """Load a Keras ``mnist.npz`` cache (x_train, y_train, x_test, y_test)."""
    arrays = _read_npz(path)
    missing = [key for key in _NPZ_KEYS if key not in arrays]
    if missing:
        raise DataError(
            f"{path}: missing arrays {', '.join(missing)}; "
            f"delete it so Keras downloads it again, or pass --mnist DIR"
        )
    train = _check_split(arrays["x_train"], arrays["y_train"], f"{path}[x_train]", f"{path}[y_train]")
    test = _check_split(arrays["x_test"], arrays["y_test"], f"{path}[x_test]", f"{path}[y_test]")
    return Mnist(*train, *test, source=f"{path} (Keras npz)")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The MNIST arrays in an .npz archive; never unpickles anything."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: holds one .npy array, not an .npz archive; delete it or pass --mnist DIR")
        with loaded:
            return {key: loaded[key] for key in _NPZ_KEYS if key in loaded.files}
    except _NPZ_ERRORS as exc:
        raise DataError(
            f"{path}: not a readable .npz archive ({_one_line(exc)}); delete it or pass --mnist DIR"
        ) from exc


def _check_split(
    images: np.ndarray, labels: np.ndarray, images_from: str, labels_from: str
) -> tuple[Uint8Array, Uint8Array]:
    """Raise unless `images` are N uint8 28x28 pictures and `labels` N digits 0-9."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE or len(images) == 0:
        raise DataError(
            f"{images_from}: expected uint8 images of shape (N, 28, 28) with N > 0, "
            f"got {images.dtype} {images.shape}; replace the file"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_from}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}; replace the file"
        )
    if len(labels) != len(images):
        raise DataError(
            f"{images_from} holds {len(images)} images but {labels_from} holds {len(labels)} labels; "
            f"both files must come from the same split"
        )
    if labels.max() > 9:
        raise DataError(f"{labels_from}: labels must be digits 0-9, found {labels.max()}; replace the file")
    return images, labels


# --------------------------------------------------------------------------- download


def download_mnist(
    dest: Path,
    *,
    base_url: str,
    checksums: Mapping[str, str],
    progress: bool = True,
) -> Path:
    """Download the four gzipped IDX files from one server into `dest`.

    Each file is streamed to a temporary file in `dest`, its digest checked,
    and only then renamed into place, so `dest` never holds an unverified or
    partial file.  Files already there with the right digest are kept, which
    lets an interrupted download resume from another mirror.

    Args:
        dest: folder to download into; created if missing.
        base_url: URL of the folder serving ``<name>.gz`` for each IDX file.
        checksums: digest per gzip file name (e.g. ``"t10k-labels-idx1-ubyte.gz"``)
            as ``"md5:<hex>"``, ``"sha256:<hex>"`` or bare MD5 hex.
        progress: show a progress bar on stderr (only if it is a terminal).

    Returns:
        `dest`.

    Raises:
        DataError: a checksum is missing or malformed, `dest` cannot be created,
            the server cannot be reached, or a file's digest does not match.
    """
    wanted = {f"{name}.gz": _digest_for(checksums, f"{name}.gz") for name in IDX_FILES}
    _make_dir(dest)
    with _progress_bar(progress) as bar:
        for file_name, (algo, digest) in wanted.items():
            target = dest / file_name
            if target.is_file() and _file_digest(target, algo) == digest:
                continue
            _fetch_verified(f"{base_url.rstrip('/')}/{file_name}", target, algo, digest, bar)
    return dest


def _download_from_mirrors(
    dest: Path, mirrors: Sequence[str], checksums: Mapping[str, str], *, progress: bool
) -> str:
    """Try `download_mnist` from each mirror in turn; return the one that worked."""
    failures = []
    for url in mirrors:
        try:
            download_mnist(dest, base_url=url, checksums=checksums, progress=progress)
            return url
        except DataError as exc:
            # A bad digest is treated like a dead mirror: another mirror may be intact.
            failures.append(str(exc))
    raise DataError(f"tried {len(failures)} mirror(s): " + "; ".join(failures))


def _checksums_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The published MD5s, with any file named in GRADER_MNIST_CHECKSUMS replaced."""
    merged = dict(DEFAULT_CHECKSUMS)
    for item in filter(None, (part.strip() for part in env.get(ENV_CHECKSUMS, "").split(","))):
        name, sep, digest = (part.strip() for part in item.partition("="))
        if not sep or name not in DEFAULT_CHECKSUMS:
            raise DataError(
                f"{ENV_CHECKSUMS}: cannot use {item!r}; write file=algo:hex, comma-separated, "
                f"with file one of {', '.join(DEFAULT_CHECKSUMS)}"
            )
        _parse_digest(digest, where=ENV_CHECKSUMS)  # fail now, not once per mirror
        merged[name] = digest
    return merged


def _digest_for(checksums: Mapping[str, str], file_name: str) -> tuple[str, str]:
    """(algorithm, lowercase hex) expected for `file_name`; files are never saved unverified."""
    if file_name not in checksums:
        raise DataError(
            f"download_mnist: no checksum for {file_name}; pass checksums with an entry for each of "
            f"{', '.join(DEFAULT_CHECKSUMS)} (see DEFAULT_CHECKSUMS)"
        )
    return _parse_digest(checksums[file_name], where=f"download_mnist: checksum for {file_name}")


def _parse_digest(spec: str, *, where: str) -> tuple[str, str]:
    """Split "md5:<hex>", "sha256:<hex>" or bare MD5 hex into (algorithm, hex)."""
    algo, sep, hexdigest = spec.strip().lower().partition(":")
    if not sep:
        algo, hexdigest = "md5", algo
    length = _DIGEST_HEX_LENGTHS.get(algo)
    if length is None or len(hexdigest) != length or not all(c in "0123456789abcdef" for c in hexdigest):
        raise DataError(
            f"{where}: bad checksum {spec!r}; write md5:<32 hex digits>, sha256:<64 hex digits> or bare MD5 hex"
        )
    return algo, hexdigest


def _make_dir(dest: Path) -> None:
    """Create the download folder, or say how to pick a writable one."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"download_mnist: cannot create {dest} ({_one_line(exc)}); "
            f"set XDG_CACHE_HOME to a writable folder or pass --mnist DIR"
        ) from exc


def _file_digest(path: Path, algo: str) -> str:
    """Hex digest of a file already on disk."""
    hasher = hashlib.new(algo, usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _fetch_verified(url: str, target: Path, algo: str, expected: str, bar: Progress) -> None:
    """Download `url` to `target` via a temp file that is renamed only if the digest matches."""
    # A unique temporary name beside `target` lets several graders download at once; a mismatch never replaces it.
    with atomic_write(target, suffix=".part") as part:
        actual = _stream_to_file(url, part, algo, bar, label=target.name)
        if actual != expected:
            raise DataError(
                f"download_mnist: checksum mismatch for {target.name} from {url}: "
                f"expected {algo}:{expected}, got {algo}:{actual}; the file was discarded. "
                f"Use another mirror ({ENV_URL}), "
                f"or set {ENV_CHECKSUMS} if this private mirror serves other files"
            )


def _stream_to_file(url: str, part: Path, algo: str, bar: Progress, *, label: str) -> str:
    """Copy `url` into `part` chunk by chunk; return the hex digest of what arrived."""
    hasher = hashlib.new(algo, usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, part.open("wb") as out:
            expected = _content_length(response)
            task = bar.add_task(label, total=expected)
            received = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                hasher.update(chunk)
                received += len(chunk)
                bar.advance(task, len(chunk))
    except (OSError, http.client.HTTPException) as exc:
        # URLError, HTTPError, timeouts and resets are all OSError; a malformed
        # response is an HTTPException.
        raise DataError(f"download_mnist: fetching {url} failed ({_one_line(exc)})") from exc
    # http.client's read(n) returns b"" when the server hangs up early instead of
    # raising, so a dropped connection is caught here rather than as a bad digest.
    if expected is not None and received != expected:
        raise DataError(
            f"download_mnist: fetching {url} failed (connection closed after {received} of {expected} bytes)"
        )
    return hasher.hexdigest()


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """Size announced by the server, or None (the bar then shows bytes without a total)."""
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def _progress_bar(enabled: bool) -> Progress:
    """A rich progress bar on stderr; disabled (prints nothing) unless wanted and stderr is a terminal."""
    show = enabled and sys.stderr is not None and sys.stderr.isatty()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not show,
    )


def _one_line(exc: BaseException) -> str:
    """An exception as one short line, for messages that must stay on one line."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
