"""Zip member names as the archive's writer meant them, whatever encoding it used.

A zip entry's name is UTF-8 when bit 11 of its flags is set; without the flag the format
says CP437, and Python's zipfile decodes it so.  But Windows' own "Send to > Compressed
folder" (and WinRAR or 7-Zip with their defaults) on a Chinese system write the name in
the system code page, GBK (CP936), without the flag: `2151131-朱沙桐-课后作业2-1.md`
comes out of zipfile as `2151131-╓∞╔│═⌐-┐╬║≤╫≈╥╡2-1.md`.  Other tools write UTF-8 without
the flag.

`decoded_names` reads every unflagged name back to its raw bytes and decodes all of them
with the first of UTF-8, GBK that decodes every one of them strictly into printable text
that encodes back to the same bytes (one writer made the archive, so one encoding), else
with CP437 as the format says.  An Info-ZIP Unicode Path extra field (0x7075) whose
checksum matches the raw name wins over the guess: its writer said what the name is.
Only names are decoded here; what a file holds is read later, in the sandboxed intake.
"""

from __future__ import annotations

import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Sequence

__all__ = ["decoded_names"]

_UTF8_FLAG = 0x800
_UNICODE_PATH_FIELD = 0x7075
# Tried in order on the unflagged names; CP437 decodes any bytes, so it is the fallback.
_GUESSES = ("utf-8", "gbk")


def decoded_names(infos: Sequence[zipfile.ZipInfo]) -> list[str]:
    """The name of each entry of `infos`, in order, decoded as its writer meant it (see the module doc)."""
    raw = {id(info): _raw_name(info) for info in infos if not info.flag_bits & _UTF8_FLAG}
    encoding = _archive_encoding([name for name in raw.values() if not name.isascii()])
    names = []
    for info in infos:
        if id(info) not in raw:
            names.append(info.filename)
            continue
        unicode_path = _unicode_path(info, raw[id(info)])
        names.append(unicode_path if unicode_path is not None else raw[id(info)].decode(encoding))
    return names


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    # zipfile decoded the unflagged name as CP437, which maps all 256 byte values: encoding
    # it again gives back exactly the bytes of the archive's header.
    return info.orig_filename.encode("cp437")


def _archive_encoding(names: list[bytes]) -> str:
    """The first guess that reads every non-ASCII unflagged name as text, else CP437."""
    for encoding in _GUESSES:
        if names and all(_reads_as_text(name, encoding) for name in names):
            return encoding
    return "cp437"


def _reads_as_text(name: bytes, encoding: str) -> bool:
    try:
        text = name.decode(encoding)
    except UnicodeDecodeError:
        return False
    # Control, private-use or unassigned characters mean the bytes were not written in this encoding.
    printable = all(unicodedata.category(ch) not in ("Cc", "Co", "Cn", "Cs") for ch in text)
    return printable and text.encode(encoding) == name


def _unicode_path(info: zipfile.ZipInfo, raw: bytes) -> str | None:
    """The UTF-8 name of an Info-ZIP Unicode Path extra field that belongs to this raw name, if any."""
    extra, offset = info.extra, 0
    while offset + 4 <= len(extra):
        field, size = struct.unpack_from("<HH", extra, offset)
        data = extra[offset + 4: offset + 4 + size]
        offset += 4 + size
        # version 1, then the CRC-32 of the header's name: a stale field (name edited later) does not match.
        if field == _UNICODE_PATH_FIELD and len(data) > 5 and data[0] == 1:
            (crc,) = struct.unpack_from("<I", data, 1)
            if crc == zlib.crc32(raw):
                try:
                    return data[5:].decode("utf-8")
                except UnicodeDecodeError:
                    return None
    return None
