"""What travels to a worker besides the rubric: one student's files as zip bytes, and MNIST.

The client packs only what intake would read locally (`find_code_files`), with
each file's bytes, never following a link out of the student's folder.  A file
that local intake refuses before reading (a link out of the submission, a pipe,
a file over intake's size cap) travels as an `OmittedFile` note instead of its
bytes, and the worker puts back a harmless stand-in (a dangling link, a FIFO, an
empty sparse file of that size) so that its intake refuses it with the very
finding a local run writes.  A name that is not UTF-8 cannot travel in a zip:
that file is left out without a finding.  The worker unpacks the zip with the class archive's
protections (intake/archive.py's: no traversal, no links, size caps on the bytes
really written).

MNIST travels as an `.npz` of its four uint8 arrays, read back with
`allow_pickle=False`, and is identified by `mnist_digest`: a worker grades with
its own copy only when that copy's digest is the client's.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import DataError, UsageError
# The class archive's own protections: `_inside` refuses a path that would leave the
# target, `_extract` counts the bytes really written against the caps (a zip bomb stops there).
from ..intake.archive import ArchiveCaps, _extract, _inside
from ..intake.files import find_code_files
from ..intake.reader import MAX_FILE_BYTES
from ..intake.records import suffix_of
from ..mnist import Mnist
from .records import OmittedFile

__all__ = ["SUBMISSION_CAPS", "mnist_digest", "mnist_from_npz", "mnist_to_npz", "pack_submission", "unpack_student"]

SUBMISSION_CAPS = ArchiveCaps(max_files=5_000, max_total_bytes=1 << 30, max_file_bytes=max(MAX_FILE_BYTES.values()))
"""One submission on the wire: intake's own largest file (a 256 MiB notebook) and the class archive's totals."""
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""A fixed timestamp: the same files always pack to the same bytes."""
_OUTSIDE = "/nonexistent/nn-grader-link-outside-the-submission"
"""Where a stand-in for a link out of the submission points: nowhere, on any machine."""
_MNIST_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


class PackedSubmission:
    """One student's files as zip bytes, plus the files sent as notes only."""

    def __init__(self, data: bytes, omitted: tuple[OmittedFile, ...]) -> None:
        self.data = data
        """The zip: each code file at its path relative to the student's folder."""
        self.omitted = omitted


def pack_submission(folder: Path, caps: ArchiveCaps = SUBMISSION_CAPS) -> PackedSubmission:
    """Zip the code files of the submission `folder` (the client side of `unpack_student`).

    Raises:
        UsageError: the submission holds more files or bytes than `caps` let a worker unpack.
    """
    files = find_code_files(folder)
    if len(files) > caps.max_files:
        raise UsageError(f"{folder}: {len(files)} code files, more than the {caps.max_files} one submission may send")
    buffer, omitted, total = io.BytesIO(), [], 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in files:
            name = file.relative_to(folder).as_posix()
            note = _omission(file, name, folder)
            if note is not None:
                omitted.append(note)
                continue
            total += os.stat(file).st_size
            if total > caps.max_total_bytes:
                raise UsageError(f"{folder}: its code files hold more than {caps.max_total_bytes >> 20} MiB, "
                                 "more than one submission may send")
            try:
                data = file.read_bytes()
            except OSError:
                omitted.append(OmittedFile(name=name, kind="unreadable"))
                continue
            zf.writestr(zipfile.ZipInfo(name, _ZIP_DATE), data)
    return PackedSubmission(buffer.getvalue(), tuple(omitted))


def _omission(file: Path, name: str, folder: Path) -> OmittedFile | None:
    """The note that replaces a file local intake would refuse unread (same rules as intake/reader.py), else None."""
    if _printable(name) != name:
        return OmittedFile(name=_printable(name), kind="undecodable")  # zip names are UTF-8: the name cannot travel
    try:
        if file.is_symlink() and not _resolves_inside(file, folder):
            return OmittedFile(name=name, kind="link_outside")  # never send a file from outside the student's folder
        info = os.stat(file)
    except OSError:
        return OmittedFile(name=name, kind="unreadable")
    if not stat.S_ISREG(info.st_mode):
        return OmittedFile(name=name, kind="not_regular")
    if info.st_size > MAX_FILE_BYTES.get(suffix_of(name), MAX_FILE_BYTES[".py"]):
        return OmittedFile(name=name, kind="oversize", size=info.st_size)
    return None


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _resolves_inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def unpack_student(data: bytes, workdir: Path, student: str, omitted: tuple[OmittedFile, ...],
                   caps: ArchiveCaps = SUBMISSION_CAPS) -> Path:
    """Unpack a packed submission into `workdir/<student>/` (a fresh folder) and put back the stand-ins.

    The folder is named after the student, as on the client: intake names the
    submission after its folder in its findings.

    Raises:
        UsageError: `student` is not one plain folder name, or the zip is unsafe or over a cap.
    """
    if student in ("", ".", "..") or "/" in student or "\0" in student:
        raise UsageError(f"student name {student!r} is not a plain folder name; the cluster client sends class folder names")
    archive = workdir / ".submission.zip"  # a dot name: no student folder is called so
    archive.write_bytes(data)
    target = _unpack(archive, workdir / student, caps)
    archive.unlink()
    for note in omitted:
        _stand_in(target, note)
    return target


def _unpack(archive: Path, target: Path, caps: ArchiveCaps) -> Path:
    """Unpack one submission's zip into the new folder `target`, with the class archive's protections.

    Unlike a class archive, entries keep their paths as they are, hidden folders
    such as `.ipynb_checkpoints/` included: intake decides what counts, as locally.

    Raises:
        UsageError: the bytes are not a zip, or an entry is absolute, has `..`, is a link or is over a cap.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"{archive}: not a readable .zip ({exc}); the cluster client sends each submission as one zip") from None
    with zf:
        infos = [info for info in zf.infolist() if not info.is_dir()]
        if len(infos) > caps.max_files:
            raise UsageError(f"{archive}: {len(infos)} files, more than the cap of {caps.max_files} for one submission")
        target.mkdir()
        written = 0
        for info in infos:
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UsageError(f"{archive}: entry {info.filename!r} is a symbolic link; refusing to unpack it")
            dest = _inside(target, PurePosixPath(info.filename).parts, archive, info)
            written += _extract(zf, info, dest, caps, caps.max_total_bytes - written, archive)
    return target


def _stand_in(target: Path, note: OmittedFile) -> None:
    """Recreate what made local intake refuse the file, without its bytes; undecodable names cannot be."""
    if note.kind == "undecodable":
        return
    path = target.joinpath(*_safe_relative(note.name))
    path.parent.mkdir(parents=True, exist_ok=True)
    if note.kind == "link_outside":
        path.symlink_to(_OUTSIDE)
    elif note.kind == "not_regular":
        os.mkfifo(path)
    elif note.kind == "oversize":
        with open(path, "wb") as fh:
            fh.truncate(note.size)  # sparse: the size intake reports, no bytes written
    else:  # unreadable: a dangling link inside the folder fails intake's stat as the original did
        path.symlink_to(f"{path.name}.missing")


def _safe_relative(name: str) -> tuple[str, ...]:
    """A note's path parts, refused when they could leave the submission folder (the notes come from the client)."""
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if not parts or ".." in parts or name.startswith("/"):
        raise UsageError(f"omitted file {name!r} points outside the submission; the cluster client sends relative paths")
    return parts


def mnist_digest(mnist: Mnist) -> str:
    """SHA-256 over the four arrays' shapes and bytes: equal digests, equal training data."""
    digest = hashlib.sha256()
    for key in _MNIST_KEYS:
        array = np.ascontiguousarray(getattr(mnist, key))
        digest.update(f"{key}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def mnist_to_npz(mnist: Mnist) -> bytes:
    """The four arrays as one compressed `.npz` (plain arrays: loads without pickle)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{key: getattr(mnist, key) for key in _MNIST_KEYS})
    return buffer.getvalue()


def mnist_from_npz(data: bytes, *, source: str, digest: str) -> Mnist:
    """The client's MNIST from `mnist_to_npz` bytes, checked against its digest.

    Raises:
        DataError: the bytes are not that MNIST.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: np.asarray(npz[key], dtype=np.uint8) for key in _MNIST_KEYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"the MNIST copy sent by the grading client is unreadable ({exc}); run `grade` again") from exc
    mnist = Mnist(**arrays, source=source)
    if mnist_digest(mnist) != digest:
        raise DataError("the MNIST copy sent by the grading client does not match its digest; run `grade` again")
    return mnist
