"""What `grade --similarity` was asked for, checked before any student is graded."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..intake.files import CODE_SUFFIXES, find_code_files
from ..rubric import SimilaritySettings


@dataclass(frozen=True)
class SimilarityOptions:
    """What `grade --similarity` was given besides the class."""

    template: Path | None = None
    """--template: the course's blank notebooks or files; code they hold is never evidence."""
    known: Path | None = None
    """--known-solutions: published or earlier solutions, each file compared on its own."""


def similarity_options(enabled: bool, *, template: Path | None, known: Path | None, is_class: bool, self_check: bool,
                       scheduler: bool, settings: SimilaritySettings) -> SimilarityOptions | None:
    """The options of a similarity run, or None without --similarity; refuses what cannot work, with the fix.

    Raises:
        UsageError: --template/--known-solutions without --similarity, --similarity outside a class run,
            a folder that is missing or holds no code, or the copydetect method without copydetect.
    """
    if not enabled:
        if template is not None or known is not None:
            raise UsageError("--template and --known-solutions go with --similarity; add --similarity to compare the class's code")
        return None
    if self_check or not is_class:
        raise UsageError("--similarity compares the students of a class with each other; pass a class folder or .zip "
                         "(not one submission, --self-check or --format gradescope)")
    if scheduler:
        raise UsageError("--similarity runs on this machine, not with --scheduler; grade with --scheduler first, then run the "
                         "same command again without --scheduler and with --similarity (graded students are not regraded)")
    for option, folder in (("--template", template), ("--known-solutions", known)):
        if folder is not None:
            _check_folder(option, folder)
    if (settings.method == "copydetect" or settings.window > 1) and importlib.util.find_spec("copydetect") is None:
        raise UsageError("the rubric's [similarity] uses copydetect (method = \"copydetect\" or window > 1), which is not "
                         "installed here; pip install 'nn-grader[copydetect]', or use method = \"tokens\" with window = 1")
    return SimilarityOptions(template=template, known=known)


def _check_folder(option: str, folder: Path) -> None:
    if not folder.is_dir():
        raise UsageError(f"{option} {folder}: no such folder; pass the folder that holds the files")
    if not find_code_files(folder):
        raise UsageError(f"{option} {folder}: no {', '.join(CODE_SUFFIXES)} file in this folder or below; pass the folder that holds them")
