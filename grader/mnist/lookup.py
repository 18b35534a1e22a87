"""Where the grader finds MNIST: the lookup order, the grader's cache, and `load_mnist`.

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

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.errors import DataError
from grader.mnist.download import DEFAULT_MIRRORS, ENV_URL, checksums_from_env, download_from_mirrors
from grader.mnist.idx import FILES_HINT, IDX_FILES, Mnist, idx_paths, load_idx_files, load_npz

ENV_DIR = "GRADER_MNIST_DIR"


@dataclass(frozen=True)
class _Place:
    """A spot where an existing copy of MNIST may live."""

    path: Path
    kind: Literal["npz", "idx"]


@dataclass(frozen=True)
class Located:
    """Where a complete copy of MNIST is, before it is read."""

    path: Path
    """The IDX folder, or the Keras ``mnist.npz`` file."""
    kind: Literal["npz", "idx"]
    source: str
    """Where it came from, for reports, e.g. "/data/mnist (IDX)"."""


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
    found = locate_mnist(explicit_dir, environ=environ, home=home, download=download, progress=progress)
    if found.kind == "npz":
        return load_npz(found.path)
    return load_idx_files(idx_paths(found.path), source=found.source)


def mnist_folder(
    *, environ: Mapping[str, str] | None = None, home: Path | None = None, download: bool = True, progress: bool = True
) -> Path:
    """The IDX folder `load_mnist` would read, for callers that pass ``--mnist DIR`` on (the tests).

    The same order as `load_mnist` with one difference: a Keras ``mnist.npz`` is a file,
    not a folder, so it is passed over.

    Raises:
        DataError: as `locate_mnist`.
    """
    return locate_mnist(None, environ=environ, home=home, download=download, progress=progress, kinds=("idx",)).path


def locate_mnist(
    explicit_dir: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    download: bool = True,
    progress: bool = True,
    kinds: Sequence[Literal["npz", "idx"]] = ("npz", "idx"),
) -> Located:
    """The first complete copy in lookup order (the module docstring), downloading one if allowed.

    A complete copy is four IDX files present (or an ``mnist.npz`` file); its contents are
    checked when it is read.  `kinds` limits the existing copies considered.  Other
    arguments as `load_mnist`.

    Raises:
        DataError: a named folder is unusable, or no copy was found and the download
            was disabled or failed.
    """
    env = os.environ if environ is None else environ
    home_dir = Path.home() if home is None else home
    if explicit_dir is not None:
        return _named_dir(Path(explicit_dir), named_by="--mnist")
    if env.get(ENV_DIR):
        return _named_dir(Path(env[ENV_DIR]), named_by=ENV_DIR)
    places = tuple(place for place in _places(env, home_dir) if place.kind in kinds)
    for place in places:
        if _is_complete(place):
            return Located(place.path, place.kind, _source(place))
    if not download:
        raise DataError(_not_found_msg(places, "download disabled", "or allow the download"))
    return _download(env, places, progress=progress)


def grader_cache(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """The grader's own download cache, ``$XDG_CACHE_HOME/nn-grader/mnist`` (default ``~/.cache/...``)."""
    env = os.environ if environ is None else environ
    return _grader_cache(env, Path.home() if home is None else home)


def _named_dir(folder: Path, *, named_by: str) -> Located:
    """A folder the user named, explaining exactly why it cannot be used."""
    if not folder.is_dir():
        raise DataError(f"{named_by} {folder}: not a directory; point it at a folder holding {FILES_HINT}")
    paths = idx_paths(folder)
    missing = [name for name in IDX_FILES if name not in paths]
    if missing:
        raise DataError(
            f"{named_by} {folder}: missing {', '.join(missing)} (plain or .gz); "
            f"put the four MNIST IDX files there or point it at a folder that has them"
        )
    return Located(folder, "idx", f"{folder} (IDX)")


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


def _is_complete(place: _Place) -> bool:
    """Whether `place` holds a whole copy (the npz file, or all four IDX files)."""
    if place.kind == "npz":
        return place.path.is_file()
    return len(idx_paths(place.path)) == len(IDX_FILES)


def _source(place: _Place) -> str:
    """How a report names an existing copy."""
    return f"{place.path} (Keras npz)" if place.kind == "npz" else f"{place.path} (IDX)"


def _download(env: Mapping[str, str], places: Sequence[_Place], *, progress: bool) -> Located:
    """Download into the grader cache (the last place)."""
    cache = places[-1].path
    checksums = checksums_from_env(env)
    mirrors = (env[ENV_URL],) if env.get(ENV_URL) else DEFAULT_MIRRORS
    try:
        used = download_from_mirrors(cache, mirrors, checksums, progress=progress)
    except DataError as exc:
        fix = f"or set {ENV_URL} to a reachable mirror"
        raise DataError(_not_found_msg(places, f"download failed: {exc}", fix)) from exc
    return Located(cache, "idx", f"{cache} (IDX, downloaded from {used})")


def _not_found_msg(places: Sequence[_Place], download_note: str, download_fix: str) -> str:
    """One line: every place looked at, what happened to the download, and the fix."""
    looked = ", ".join(_describe_place(place) for place in places)
    return (
        f"MNIST not found; looked in {looked}; {download_note}. "
        f"Fix: pass --mnist DIR or set {ENV_DIR} to a folder holding {FILES_HINT}, {download_fix}."
    )


def _describe_place(place: _Place) -> str:
    """A place for the not-found message, noting what a half-filled folder lacks."""
    if place.kind == "idx" and place.path.is_dir():
        missing = [name for name in IDX_FILES if name not in idx_paths(place.path)]
        return f"{place.path} (lacks {', '.join(missing)})"
    return str(place.path)


