"""Replacing a file at once: written beside it under a temporary name, renamed into place.

A reader never sees a half-written file (a report, a gradebook, MNIST), and a crash or an
exception leaves the old file intact and no temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: Path, *, mode: int = 0o644, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` to write; on a clean exit it replaces `path` with permissions `mode`.

    The temporary name is unique, so several graders may write the same file at once (the last rename wins).

    Args:
        path: the file to create or replace; its directory must exist.
        mode: its permissions (mkstemp makes the file 0600; reports are meant to be shared).
        suffix: the temporary file's suffix (`.part` for downloads).
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        os.chmod(temp, mode)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
