"""Finding a submission's code files on disk, without reading them (reading happens in the intake worker)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CHECKPOINT_DIR", "CODE_SUFFIXES", "find_code_files", "is_checkpoint"]

CODE_SUFFIXES = (".ipynb", ".py", ".md")
CHECKPOINT_DIR = ".ipynb_checkpoints"
# Folders that never hold a hand-in: caches, zip debris, installed packages.
_SKIPPED_DIRS = frozenset({"__pycache__", "__MACOSX", "site-packages", "node_modules"})


def find_code_files(path: Path) -> list[Path]:
    """The .py, .ipynb and .md files at `path`, searched recursively, in a stable order.

    Args:
        path: a submission folder or a single file.
    """
    if path.is_file():
        return [path] if _is_code_name(path.name) else []
    found: list[Path] = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if _is_searched_dir(d)]
        found.extend(Path(folder) / name for name in names if _is_code_name(name))
    return sorted(found, key=lambda p: p.relative_to(path).as_posix())


def is_checkpoint(file: str) -> bool:
    """Whether `file` is Jupyter's autosave copy inside `.ipynb_checkpoints/`."""
    return CHECKPOINT_DIR in file.split("/")


def _is_searched_dir(name: str) -> bool:
    return name == CHECKPOINT_DIR or not (name.startswith(".") or name in _SKIPPED_DIRS)


def _is_code_name(name: str) -> bool:
    # "._hw.ipynb" files are macOS resource forks, binary despite their name.
    return name.lower().endswith(CODE_SUFFIXES) and not name.startswith("._")
