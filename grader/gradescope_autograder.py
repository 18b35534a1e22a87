"""Build Gradescope's autograder.zip: this grader's source, a rubric and the two scripts Gradescope runs.

    grade-autograder --out autograder.zip [--rubric rubrics/default.toml]

The zip holds, at its root:

    setup.sh         Gradescope runs it once per image: apt bubblewrap and python3-venv,
                     a venv in /autograder/venv, the CPU build of torch, this grader
                     from /autograder/source, and MNIST into /autograder/cache
    run_autograder   run per submission: `grade /autograder/submission --format gradescope`,
                     then grader/gradescope_files/ensure_results.py guarantees a
                     valid results.json even when grade crashed
    rubric.toml      the rubric the zip grades with (validated while building)
    grader/, reference/, rubrics/, pyproject.toml, README.md
                     the grader's source, without caches, tests, submissions or data

The scripts are the templates in grader/gradescope_files/ with their
placeholders (upper-case names between @ signs) filled in: the torch requirement pinned in pyproject.toml and the
rubric's total points (shown as 0 / total when grading crashed).  Entries carry
fixed timestamps and modes, so the same source and rubric give the same bytes.

Building needs the grader's source tree (an editable install or a checkout),
because pyproject.toml, README.md and rubrics/ are not part of an installed wheel.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from grader.atomic import atomic_write
from grader.checks.builtin import BUILTIN
from grader.errors import GraderError, UsageError
from grader.rubric import LoadedRubric, load_rubric

SOURCE_ROOT = Path(__file__).resolve().parent.parent
"""The checkout this module was loaded from; its source is what the zip bundles."""

_TEMPLATES = Path(__file__).resolve().parent / "gradescope_files"
_SOURCE_DIRS = ("grader", "reference", "rubrics")
_SOURCE_FILES = ("pyproject.toml", "README.md")
_SKIPPED_DIRS = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".egg-info")
_SCRIPTS = ("setup.sh", "run_autograder")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can store: reproducible archives
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")


def build_autograder_zip(dest: Path, *, rubric: Path | None, source_root: Path = SOURCE_ROOT) -> Path:
    """Write autograder.zip to `dest` (atomically) and return `dest`.

    Args:
        dest: The zip to create or replace; its folder is created if missing.
        rubric: The rubric TOML to grade with; None for rubrics/default.toml.
        source_root: The grader's source tree to bundle; the checkout this module
            comes from unless a test passes another.

    Raises:
        RubricError: the rubric is missing or invalid.
        UsageError: `source_root` is not a source tree of the grader, or a
            template is broken.
    """
    loaded = load_rubric(rubric, BUILTIN)
    _check_source_root(source_root)
    values = {"TORCH_REQUIREMENT": _get_torch_requirement(source_root), "MAX_SCORE": f"{_max_score(loaded):g}"}
    entries = dict(_get_source_entries(source_root))
    entries["rubric.toml"] = Path(loaded.path).read_bytes()
    for script in _SCRIPTS:
        entries[script] = _render(_TEMPLATES / script, values).encode("utf-8")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _write_zip(dest, entries)
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `grade-autograder` console script; returns the exit code (0, or 2 on an error)."""
    parser = argparse.ArgumentParser(prog="grade-autograder", description="Build autograder.zip for a Gradescope programming assignment.")
    parser.add_argument("--out", type=Path, default=Path("autograder.zip"), help="the zip to write (default: autograder.zip)")
    parser.add_argument("--rubric", type=Path, default=None, help="rubric TOML bundled into the zip (default: rubrics/default.toml)")
    args = parser.parse_args(argv)
    try:
        path = build_autograder_zip(args.out, rubric=args.rubric)
    except GraderError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {path}; upload it as the autograder of a Gradescope programming assignment (base image Ubuntu 24.04)")
    return 0


def _check_source_root(root: Path) -> None:
    missing = [name for name in (*_SOURCE_DIRS, *_SOURCE_FILES) if not (root / name).exists()]
    if missing:
        raise UsageError(
            f"build_autograder_zip: {root} lacks {', '.join(missing)}, so the grader's source cannot be bundled; "
            f"run grade-autograder from a checkout of the grader installed with `pip install -e .`"
        )


def _get_source_entries(root: Path) -> Iterator[tuple[str, bytes]]:
    for name in _SOURCE_FILES:
        yield name, (root / name).read_bytes()
    for folder in _SOURCE_DIRS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and not _is_skipped(path.relative_to(root)):
                yield path.relative_to(root).as_posix(), path.read_bytes()


def _is_skipped(relative: Path) -> bool:
    # Hidden entries (.mypy_cache, .DS_Store), bytecode and build metadata never belong in the zip.
    return any(
        part.startswith(".") or part in _SKIPPED_DIRS or part.endswith(_SKIPPED_SUFFIXES) for part in relative.parts
    )


def _get_torch_requirement(root: Path) -> str:
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [dep for dep in project.get("project", {}).get("dependencies", []) if re.match(r"torch\s*==", dep)]
    if len(pins) != 1:
        raise UsageError(
            f"build_autograder_zip: {root / 'pyproject.toml'} must pin torch exactly once in "
            f"[project] dependencies (e.g. \"torch==2.13.0\"), found {pins or 'none'}; setup.sh installs that CPU build"
        )
    return "".join(pins[0].split())


def _max_score(loaded: LoadedRubric) -> float:
    checks = loaded.rubric.checks
    return sum(checks.get(field.alias or name).points for name, field in type(checks).model_fields.items())


def _render(template: Path, values: dict[str, str]) -> str:
    text = template.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = sorted(set(_PLACEHOLDER.findall(text)))
    if left:
        raise UsageError(f"build_autograder_zip: {template} has unknown placeholders {', '.join(left)}; "
                         f"use only {', '.join(f'@{name}@' for name in values)}")
    return text


def _write_zip(dest: Path, entries: dict[str, bytes]) -> None:
    # Written beside `dest` and renamed into place, so a failed build leaves no half zip.
    with atomic_write(dest) as temp:
        with open(temp, "wb") as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                mode = 0o755 if name in _SCRIPTS else 0o644
                info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions, as unzip reads it
                archive.writestr(info, entries[name])
