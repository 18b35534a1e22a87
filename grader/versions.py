"""Versions of Python and the libraries a grading run used, for reports that can be reproduced."""

from __future__ import annotations

import functools
import platform
from importlib import metadata

from . import __version__

_DISTRIBUTIONS = {"numpy": ("numpy",), "torch": ("torch",), "tensorflow": ("tensorflow-cpu", "tensorflow")}


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """grader, Python, numpy, torch and (when installed) TensorFlow versions, read from package metadata.

    Metadata, not imports: asking for TensorFlow's version must not cost its 4 s import.
    """
    versions = {"grader": __version__, "python": platform.python_version()}
    for name, distributions in _DISTRIBUTIONS.items():
        for dist in distributions:
            try:
                versions[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions
