"""A class that arrives as one .zip, the way staff download it from their course site.

The archive holds one folder per student (`2151131/report.md`) or one file per
student (`2151131_report.md`, the student being the name up to the first `_`),
possibly all inside one top-level folder.  It is unpacked into one folder per
student, safely: no path may leave the target (absolute paths, `..`, links), and
the number of files and the bytes actually written are capped, whatever sizes
the archive claims, so a zip bomb stops at the cap.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import UsageError

_IGNORED = ("__MACOSX",)


@dataclass(frozen=True)
class ArchiveCaps:
    """Limits of one unpacked class archive."""

    max_files: int = 5_000
    max_total_bytes: int = 1 << 30
    max_file_bytes: int = 64 << 20


def unpack_class(archive: Path, target: Path, caps: ArchiveCaps = ArchiveCaps()) -> Path:
    """Unpack `archive` into `target` (replaced), one folder per student; returns `target`.

    Raises:
        UsageError: the file is not a zip, or an entry is unsafe or over a cap.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"{archive}: not a readable .zip ({exc}); pass the class archive as downloaded, or a folder") from None
    with zf:
        entries = [(info, _safe_parts(archive, info)) for info in zf.infolist() if not info.is_dir()]
        entries = [(info, parts) for info, parts in entries if parts]
        if len(entries) > caps.max_files:
            raise UsageError(f"{archive}: {len(entries)} files, more than the cap of {caps.max_files}; unpack it yourself and grade the folder")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        prefix = _common_folder([parts for _, parts in entries])
        written = 0
        for info, parts in entries:
            dest = target.joinpath(*_student_path(parts[prefix:]))
            written += _extract(zf, info, dest, caps, caps.max_total_bytes - written, archive)
    return target


def _safe_parts(archive: Path, info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The entry's path parts, () for entries to skip; refuses paths that could leave the target."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
        raise UsageError(f"{archive}: entry {info.filename!r} points outside the archive's folder; refusing to unpack it")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UsageError(f"{archive}: entry {info.filename!r} is a symbolic link; refusing to unpack it")
    parts = tuple(p for p in path.parts if p not in ("", "."))
    if not parts or parts[0] in _IGNORED or any(p.startswith(".") for p in parts):
        return ()
    return parts


def _common_folder(paths: list[tuple[str, ...]]) -> int:
    """1 when every entry sits in one top-level folder that holds several students, else 0.

    Several students means at least two sub-folders, or at least two different
    `<student>_` prefixes among its files; one student's folder has neither.
    """
    if len({parts[0] for parts in paths}) != 1:
        return 0
    folders = {parts[1] for parts in paths if len(parts) > 2}
    prefixes = {parts[1].split("_", 1)[0] for parts in paths if len(parts) == 2 and "_" in parts[1]}
    return 1 if len(folders) > 1 or len(prefixes) > 1 else 0


def _student_path(parts: tuple[str, ...]) -> tuple[str, ...]:
    """A file directly at the top (`2151131_report.md`) goes into its student's folder (`2151131/`)."""
    if len(parts) > 1:
        return parts
    name = parts[0]
    student = name.split("_", 1)[0] if "_" in name else PurePosixPath(name).stem
    return (student, name)


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, caps: ArchiveCaps, budget: int, archive: Path) -> int:
    """Copy one entry, counting the bytes really produced; returns how many were written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    limit = min(caps.max_file_bytes, budget)
    written = 0
    with zf.open(info) as src, open(dest, "wb") as out:
        while block := src.read(1 << 16):
            written += len(block)
            if written > limit:
                out.close()
                dest.unlink()
                which = "per-file" if limit == caps.max_file_bytes else "total"
                raise UsageError(f"{archive}: entry {info.filename!r} unpacks to more than the {which} cap "
                                 f"({limit >> 20} MiB); is it a zip bomb? Unpack it yourself and grade the folder")
            out.write(block)
    return written
