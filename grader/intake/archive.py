"""A class that arrives as one .zip, the way staff download it from their course site.

The archive holds one folder per student (`2151131/report.md`) or one file per
student (`2151131_report.md`, the student being the name up to the first `_`; Canvas
and Moodle downloads and `2151131-朱沙桐-作业.md` are told apart by course_site.py),
possibly all inside one top-level folder.  Names written without the UTF-8 flag are
decoded as their writer meant them (zip_names.py: GBK from a Chinese Windows).  It is
unpacked into one folder per student, safely: no path may leave the target (absolute
paths, `..`, links), and the number of files and the bytes actually written are
capped, whatever sizes the archive claims, so a zip bomb stops at the cap.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import UsageError
from ..roster import ClassRoll, Roster
from .course_site import plan_class
from .zip_names import decoded_names

_IGNORED = ("__MACOSX",)


@dataclass(frozen=True)
class ArchiveCaps:
    """Limits of one unpacked class archive."""

    max_files: int = 5_000
    max_total_bytes: int = 1 << 30
    max_file_bytes: int = 64 << 20


@dataclass(frozen=True)
class UnpackedClass:
    """A class archive unpacked: the folder of student folders, and who each belongs to."""

    folder: Path
    roll: ClassRoll


def unpack_class(archive: Path, target: Path, caps: ArchiveCaps = ArchiveCaps()) -> Path:
    """Unpack `archive` into `target` (replaced), one folder per student; returns `target`.

    Raises:
        UsageError: the file is not a zip, or an entry is unsafe or over a cap.
    """
    return unpack_download(archive, target, caps).folder


def unpack_download(archive: Path, target: Path, caps: ArchiveCaps = ArchiveCaps(), *,
                    roster: Roster | None = None) -> UnpackedClass:
    """Unpack a course site's download into `target` (replaced), one folder per student.

    Args:
        archive: The .zip as downloaded.
        target: The folder to create; anything there is removed first.
        caps: Limits on files and bytes.
        roster: When given, student folders are named by the roster's ids (course_site.py).

    Raises:
        UsageError: the file is not a zip, or an entry is unsafe or over a cap.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"{archive}: not a readable .zip ({exc}); pass the class archive as downloaded, or a folder") from None
    with zf:
        infos = [info for info in zf.infolist() if not info.is_dir()]
        entries = [(info, _safe_parts(archive, info, name)) for info, name in zip(infos, decoded_names(infos))]
        entries = [(info, parts) for info, parts in entries if parts]
        if len(entries) > caps.max_files:
            raise UsageError(f"{archive}: {len(entries)} files, more than the cap of {caps.max_files}; unpack it yourself and grade the folder")
        plan = plan_class([parts for _, parts in entries], roster)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        written = 0
        for planned in plan.files:
            info = entries[planned.source][0]
            dest = _inside(target, planned.dest, archive, info)
            written += _extract(zf, info, dest, caps, caps.max_total_bytes - written, archive)
    return UnpackedClass(target, plan.roll)


def _safe_parts(archive: Path, info: zipfile.ZipInfo, decoded: str) -> tuple[str, ...]:
    """The entry's path parts (from its decoded name), () for entries to skip; refuses paths that could leave the target."""
    name = decoded.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or ":" in path.parts[0] or "\0" in name:
        raise UsageError(f"{archive}: entry {decoded!r} points outside the archive's folder; refusing to unpack it")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UsageError(f"{archive}: entry {decoded!r} is a symbolic link; refusing to unpack it")
    parts = tuple(p for p in path.parts if p not in ("", "."))
    if not parts or parts[0] in _IGNORED or any(p.startswith(".") for p in parts):
        return ()
    return parts


def _inside(target: Path, parts: tuple[str, ...], archive: Path, info: zipfile.ZipInfo) -> Path:
    """target/parts, refused unless it really lies inside target (the grouping renames files; check again)."""
    dest = target.joinpath(*parts)
    if any(p in ("", ".", "..") or "/" in p for p in parts) or not dest.resolve().is_relative_to(target.resolve()):
        raise UsageError(f"{archive}: entry {info.filename!r} would be written outside {target}; refusing to unpack it")
    return dest


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
