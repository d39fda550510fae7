"""The ``.nerv`` container: magic, format version, a JSON header, then length-prefixed sections with CRC-32s.

This layer knows nothing about models; it only frames bytes (layout in docs/format.md). Reading is strict and
bounded: every length is checked against the bytes that are really there before anything is allocated, and
every failure is a :class:`~nervplayer.errors.NervFormatError`.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

from ..errors import NervFormatError

MAGIC = b"\x89NERV\r\n\x1a"  # 8 bytes, PNG-style: the high byte, CR LF and ^Z catch 7-bit and text-mode mangling
VERSION = (2, 3)  # (major, minor) written: a reader refuses a newer major and ignores what a newer minor adds
SEGMENTED = (3, 0)  # the version of a file of several segments, each a complete 2.x file (codec/segtable.py)
FADED = (3, 1)  # ... where a segment also fades in over the one before it (its file holds more frames than its own)
READS = (1, 2, 3)  # majors this reader opens (1: NeRV only; 2: any model plugin, learned-step tensors; 3: segments)
MAX_HEADER_BYTES = 1 << 20
MAX_FILE_BYTES = 1 << 32
_PREAMBLE = struct.Struct(f"<{len(MAGIC)}sHHII")  # magic, major, minor, header length, header CRC-32
_SECTION = struct.Struct("<4sQI")  # tag, payload length, payload CRC-32
SECTION_PREFIX = _SECTION.size
_TAG = re.compile(rb"[A-Z0-9]{4}")

# Called once the header is read and checked, before any section is read: (version, header, the bytes after the
# header). A format layer checks there what must hold before anything is allocated (a segment table, say).
BeforeSections = Callable[[tuple[int, int], dict[str, Any], int], None]


@dataclass(frozen=True)
class Contents:
    """A container as read: its format version, header and sections."""

    version: tuple[int, int]
    header: dict[str, Any]
    sections: dict[str, bytes]


# What a file that is not a .nerv usually is, by its first bytes: named in the error message.
_SNIFF = (
    (4, b"ftyp", "an MP4/MOV video"),
    (0, b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (0, b"RIFF", "an AVI/WAV file"),
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"PK\x03\x04", "a ZIP archive (a torch checkpoint?)"),
    (0, b"\x80", "a Python pickle"),
    (0, b"GIF8", "a GIF image"),
)


def pack(header: dict[str, Any], sections: list[tuple[str, bytes]], version: tuple[int, int] = VERSION) -> bytes:
    """The bytes of a container; ``header["sections"]`` is set to the section tags in order."""
    for tag, _ in sections:
        if not _TAG.fullmatch(tag.encode("ascii")):
            raise ValueError(f"section tag must be 4 characters A-Z or 0-9, got {tag!r}")
    header = {**header, "sections": [tag for tag, _ in sections]}
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    if len(head) > MAX_HEADER_BYTES:
        raise ValueError(f"header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    parts = [_PREAMBLE.pack(MAGIC, *version, len(head), zlib.crc32(head)), head]
    for tag, payload in sections:
        parts += [_SECTION.pack(tag.encode("ascii"), len(payload), zlib.crc32(payload)), payload]
    return b"".join(parts)


def read(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Read and check a container: ``(header, {tag: payload})``."""
    contents = read_file(path)
    return contents.header, contents.sections


def read_file(path: str | os.PathLike, before_sections: BeforeSections | None = None) -> Contents:
    """Read and check a container, calling ``before_sections`` before any section is read."""
    path = Path(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below, after the checks that need it open)
    except IsADirectoryError:
        raise NervFormatError(f"{path}: is a folder, not a .nerv file") from None
    except FileNotFoundError:
        raise NervFormatError(f"{path}: no such file") from None
    except OSError as e:
        raise NervFormatError(f"{path}: cannot open ({e.strerror or e})") from None
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
            return _read_from(f, size, str(path), before_sections)
        except IsADirectoryError:
            raise NervFormatError(f"{path}: is a folder, not a .nerv file") from None
        except OSError as e:
            raise NervFormatError(f"{path}: read error ({e.strerror or e})") from None


def unpack(data: bytes, name: str = "<bytes>") -> tuple[dict[str, Any], dict[str, bytes]]:
    """Like :func:`read`, from bytes in memory."""
    contents = unpack_file(data, name)
    return contents.header, contents.sections


def unpack_file(data: bytes, name: str = "<bytes>") -> Contents:
    """Like :func:`read_file`, from bytes in memory."""
    import io

    return _read_from(io.BytesIO(data), len(data), name, None)


def _read_from(f: BinaryIO, size: int, name: str, before_sections: BeforeSections | None) -> Contents:
    if size == 0:
        raise NervFormatError(f"{name}: empty file, not a .nerv file")
    if size > MAX_FILE_BYTES:
        raise NervFormatError(f"{name}: {size} bytes is larger than any .nerv file this version reads")
    pre = f.read(_PREAMBLE.size)
    if pre[: len(MAGIC)] != MAGIC and not MAGIC.startswith(pre):
        raise NervFormatError(f"{name}: not a .nerv file{_sniff(pre)}")
    if len(pre) < _PREAMBLE.size:
        raise NervFormatError(f"{name}: truncated in the preamble ({size} bytes)")
    _, major, minor, head_len, head_crc = _PREAMBLE.unpack(pre)
    if major not in READS:
        newer = "a newer" if major > max(READS) else "an older, unsupported"
        raise NervFormatError(
            f"{name}: format version {major}.{minor} was written by {newer} nervplayer; "
            f"this one reads formats {', '.join(f'{m}.x' for m in READS)}"
        )
    if head_len > MAX_HEADER_BYTES:
        raise NervFormatError(f"{name}: header declares {head_len} bytes (limit {MAX_HEADER_BYTES})")
    pos = _PREAMBLE.size
    if pos + head_len > size:
        raise NervFormatError(f"{name}: truncated in the header ({size - pos} of {head_len} bytes present)")
    head = f.read(head_len)
    if len(head) != head_len:
        raise NervFormatError(f"{name}: truncated in the header")
    if zlib.crc32(head) != head_crc:
        raise NervFormatError(f"{name}: header checksum mismatch (the file is corrupt)")
    header = _parse_json(head, name)
    pos += head_len
    tags = header.get("sections")
    if (
        not isinstance(tags, list)
        or not all(isinstance(t, str) and _TAG.fullmatch(t.encode("utf-8")) for t in tags)
        or len(set(tags)) != len(tags)
    ):
        raise NervFormatError(f"{name}: header has no valid section list")
    if before_sections is not None:
        before_sections((major, minor), header, size - pos)
    sections: dict[str, bytes] = {}
    for tag in tags:
        prefix = f.read(_SECTION.size)
        if len(prefix) < _SECTION.size:
            raise NervFormatError(f"{name}: truncated before section {tag} (file ends at byte {size})")
        got, length, crc = _SECTION.unpack(prefix)
        pos += _SECTION.size
        if got != tag.encode("ascii"):
            raise NervFormatError(f"{name}: expected section {tag} at byte {pos - _SECTION.size}, found {got!r}")
        if length > size - pos:
            raise NervFormatError(f"{name}: truncated in section {tag} ({size - pos} of {length} bytes present)")
        payload = f.read(length)
        if len(payload) != length:
            raise NervFormatError(f"{name}: truncated in section {tag}")
        if zlib.crc32(payload) != crc:
            raise NervFormatError(f"{name}: section {tag} checksum mismatch (the file is corrupt)")
        sections[tag] = payload
        pos += length
    if pos != size:
        raise NervFormatError(f"{name}: {size - pos} unexpected bytes after the last section")
    return Contents((major, minor), header, sections)


def _parse_json(head: bytes, name: str) -> dict[str, Any]:
    def no_constants(token: str) -> Any:
        raise ValueError(f"{token} is not allowed")

    try:
        header = json.loads(head.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise NervFormatError(f"{name}: header is not valid JSON ({str(e)[:120]})") from None
    if not isinstance(header, dict):
        raise NervFormatError(f"{name}: header is not a JSON object")
    return header


def _sniff(start: bytes) -> str:
    for offset, magic, what in _SNIFF:
        if start[offset : offset + len(magic)] == magic:
            return f" (it looks like {what})"
    return ""
