"""Class archives: unpacked one folder per student, never outside the target, within size and count caps."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.intake.archive import ArchiveCaps, unpack_class


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_one_file_per_student_goes_into_a_folder_named_by_the_prefix(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "c.zip", {"2151131_report.md": b"a", "2151132_hw.ipynb": b"b", "2151132_extra.py": b"c"})
    target = unpack_class(archive, tmp_path / "out")
    assert tree(target) == {"2151131/2151131_report.md", "2151132/2151132_hw.ipynb", "2151132/2151132_extra.py"}


def test_one_folder_per_student_inside_a_wrapping_folder_is_unwrapped(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "c.zip", {"class/2151131/report.md": b"a", "class/2151132/hw.py": b"b",
                                            "__MACOSX/class/._x": b"", "class/.DS_Store": b""})
    assert tree(unpack_class(archive, tmp_path / "out")) == {"2151131/report.md", "2151132/hw.py"}


def test_a_single_students_folder_is_not_unwrapped(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "c.zip", {"2151131/hw4.ipynb": b"a", "2151131/function_fitting.ipynb": b"b"})
    assert tree(unpack_class(archive, tmp_path / "out")) == {"2151131/hw4.ipynb", "2151131/function_fitting.ipynb"}


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py", "a/../../evil.py", "C:/evil.py", "..\\evil.py"])
def test_entries_escaping_the_target_are_refused(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "c.zip", {"2151131_ok.md": b"a", name: b"x"})
    with pytest.raises(UsageError, match="outside the archive's folder"):
        unpack_class(archive, tmp_path / "deep" / "out")
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "deep" / "evil.py").exists()


def test_symbolic_links_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "c.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("2151131/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UsageError, match="symbolic link"):
        unpack_class(archive, tmp_path / "out")


def test_a_zip_bomb_stops_at_the_cap_on_bytes_really_written(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "c.zip", {"2151131_bomb.py": b"\0" * (8 << 20)})  # 8 MiB of zeros packs to a few KiB
    assert archive.stat().st_size < 100_000
    with pytest.raises(UsageError, match="zip bomb"):
        unpack_class(archive, tmp_path / "out", ArchiveCaps(max_file_bytes=1 << 20))
    assert not (tmp_path / "out" / "2151131" / "2151131_bomb.py").exists()


def test_total_size_and_file_count_are_capped(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "c.zip", {f"{i}_a.py": b"x" * 1000 for i in range(20)})
    with pytest.raises(UsageError, match="total cap"):
        unpack_class(archive, tmp_path / "out", ArchiveCaps(max_total_bytes=5000))
    with pytest.raises(UsageError, match="more than the cap of 10"):
        unpack_class(archive, tmp_path / "out", ArchiveCaps(max_files=10))


def test_not_a_zip_is_a_usage_error_naming_the_file(tmp_path: Path) -> None:
    fake = tmp_path / "class.zip"
    fake.write_text("not a zip", encoding="utf-8")
    with pytest.raises(UsageError, match="class.zip: not a readable .zip"):
        unpack_class(fake, tmp_path / "out")
