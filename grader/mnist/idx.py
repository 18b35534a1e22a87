"""MNIST's files and how to read them: the four IDX names, the `Mnist` record, IDX and Keras npz readers.

Sizes always come from the IDX headers: the CI copy has a 5,000-image training subset, not 60,000.
Every reader checks what it read (uint8 images of shape (N, 28, 28), N labels 0-9) and raises
`DataError` naming the file and the fix.
"""

from __future__ import annotations

import gzip
import math
import struct
import urllib.error
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from grader.errors import DataError

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
"""The four files a usable folder holds, each either plain or with ``.gz``."""

IMAGE_SHAPE = (28, 28)

_IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
FILES_HINT = f"{', '.join(IDX_FILES)} (each plain or .gz)"
"""The four files, for messages that say what a folder must hold."""

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
        raise DataError(f"{path}: cannot read or decompress it ({one_line(exc)}); replace the file") from exc


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


def idx_paths(folder: Path) -> dict[str, Path]:
    """The IDX files present in `folder`, keyed by base name; absent ones are left out."""
    found = {name: _find_idx_file(folder, name) for name in IDX_FILES}
    return {name: path for name, path in found.items() if path is not None}


def load_idx_files(paths: Mapping[str, Path], *, source: str) -> Mnist:
    """Read and cross-check the four IDX files."""
    arrays = {name: read_idx(path) for name, path in paths.items()}
    where = {name: str(path) for name, path in paths.items()}
    train = _check_split(arrays[TRAIN_IMAGES], arrays[TRAIN_LABELS], where[TRAIN_IMAGES], where[TRAIN_LABELS])
    test = _check_split(arrays[TEST_IMAGES], arrays[TEST_LABELS], where[TEST_IMAGES], where[TEST_LABELS])
    return Mnist(*train, *test, source=source)


def load_npz(path: Path) -> Mnist:
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
            f"{path}: not a readable .npz archive ({one_line(exc)}); delete it or pass --mnist DIR"
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




def one_line(exc: BaseException) -> str:
    """An exception as one short line, for messages that must stay on one line."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
