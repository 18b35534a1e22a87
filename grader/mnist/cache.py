"""Filling the grader's MNIST cache, so that later runs (and the tests) find it without a network.

./setup.sh runs ``python -m grader.mnist [--from DIR]``: with ``--from`` the named copy is
checked and its four files copied in; without it the cache is kept if complete, else filled by
the verified download.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from grader.errors import DataError
from grader.mnist.download import DEFAULT_MIRRORS, ENV_URL, checksums_from_env, download_from_mirrors
from grader.mnist.idx import IDX_FILES, idx_paths, load_idx_files, one_line
from grader.mnist.lookup import grader_cache


def fill_cache(
    source: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    progress: bool = True,
) -> Path:
    """Leave a complete, readable copy of MNIST in the grader's cache and return the cache folder.

    Args:
        source: a folder holding the four IDX files to copy in (checked by reading them
            first, so a broken copy is never cached); None to download unless the cache
            already holds a readable copy.
        environ: environment for ``XDG_CACHE_HOME`` and ``GRADER_MNIST_URL``/``_CHECKSUMS``;
            defaults to ``os.environ``.
        home: home folder under which the default cache lives; defaults to ``Path.home()``.
        progress: show a download progress bar on stderr (only if it is a terminal).

    Raises:
        DataError: `source` is unusable, the cache cannot be written, or the download failed.
    """
    env = os.environ if environ is None else environ
    cache = grader_cache(env, home)
    if source is not None:
        _copy_in(Path(source), cache)
    elif len(idx_paths(cache)) < len(IDX_FILES):
        mirrors = (env[ENV_URL],) if env.get(ENV_URL) else DEFAULT_MIRRORS
        download_from_mirrors(cache, mirrors, checksums_from_env(env), progress=progress)
    # Read it back: what the cache holds is what every later run will read.
    load_idx_files(idx_paths(cache), source=f"{cache} (IDX)")
    return cache


def _copy_in(source: Path, cache: Path) -> None:
    """Copy the four IDX files of `source` into `cache`, each by an atomic rename."""
    found = idx_paths(source)
    missing = [name for name in IDX_FILES if name not in found]
    if not source.is_dir() or missing:
        raise DataError(
            f"fill_cache: {source} is not a folder holding all four MNIST IDX files "
            f"(missing {', '.join(missing) or 'the folder'}); pass --from a folder that has them"
        )
    load_idx_files(found, source=f"{source} (IDX)")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for name, path in found.items():
            # Drop the other variant (plain vs .gz) so the lookup cannot read a stale file.
            for stale in (cache / name, cache / f"{name}.gz"):
                if stale.name != path.name:
                    stale.unlink(missing_ok=True)
            fd, part = tempfile.mkstemp(dir=cache, prefix=f".{path.name}.", suffix=".part")
            os.close(fd)
            try:
                shutil.copyfile(path, part)
                os.replace(part, cache / path.name)
            finally:
                Path(part).unlink(missing_ok=True)
    except OSError as exc:
        raise DataError(
            f"fill_cache: cannot write {cache} ({one_line(exc)}); set XDG_CACHE_HOME to a writable folder"
        ) from exc
