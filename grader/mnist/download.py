"""Downloading MNIST: the public mirrors, the published checksums, and the verified download.

No file is ever saved unverified: each is streamed to a temporary file beside its target, its
digest checked, and only then renamed into place.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from grader.atomic import atomic_write
from grader.errors import DataError
from grader.mnist.idx import IDX_FILES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, one_line

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

_CHUNK = 1 << 16
_DIGEST_HEX_LENGTHS = {"md5": 32, "sha256": 64}


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


def download_from_mirrors(
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


def checksums_from_env(env: Mapping[str, str]) -> dict[str, str]:
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
            f"download_mnist: cannot create {dest} ({one_line(exc)}); "
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
        raise DataError(f"download_mnist: fetching {url} failed ({one_line(exc)})") from exc
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
