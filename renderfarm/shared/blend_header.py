"""Which Blender saved a .blend, read from the file's first bytes without Blender.

Two header layouts exist (Blender's ``BLO_core_blend_header.hh``):

- format 0, 12 bytes, Blender 4.x and older: ``BLENDER`` + pointer size (``-`` 8 bytes, ``_`` 4
  bytes) + endianness (``v`` little, ``V`` big) + 3 digits (``BLENDER-v405`` is 4.5);
- format 1, 17 bytes, Blender 5.x: ``BLENDER`` + header size ``17`` + ``-`` + format ``01`` +
  ``v`` + 4 digits (``BLENDER17-01v0503`` is 5.3).

A compressed file is a zstd stream (magic ``28 b5 2f fd``) whose content starts with the same
header. This module must run on Python 3.11 too: the workers of the Blender 4.5 pool import it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import zstandard

from renderfarm.shared.errors import DomainError

#: How many leading bytes of a file ``saved_by`` needs. A plain header is 17 bytes; a compressed
#: file has to be decompressed up to its header, and zstd decodes whole blocks only. A block holds
#: at most 128 KiB (compressed or not) after a frame header of at most 18 bytes, so the frame
#: header and the whole first block always fit in 256 KiB, with room to spare.
HEAD_BYTES = 256 * 1024

_MAGIC = b"BLENDER"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_LEGACY_SIZE = 12  # BLENDER-v405
_HEADER_SIZE = 17  # BLENDER17-01v0503
_LEGACY = re.compile(rb"BLENDER[-_][vV]([0-9]{3})")
_CURRENT = re.compile(rb"BLENDER17-01v([0-9]{4})")
_VERSION_TEXT = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


@dataclass(frozen=True, order=True)
class BlenderVersion:
    """A Blender release line, ``major.minor``: the unit the farm runs pools for."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> BlenderVersion:
        """``'5.3'`` -> ``BlenderVersion(5, 3)``; anything but ``major.minor`` is a ValueError."""
        match = _VERSION_TEXT.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not a Blender version such as '4.5'")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


class HeaderProblem(StrEnum):
    """Why ``saved_by`` could not answer."""

    NOT_A_BLEND_FILE = "not_a_blend_file"
    TRUNCATED = "truncated"
    CORRUPT_COMPRESSION = "corrupt_compression"
    UNREADABLE_VERSION = "unreadable_version"


class BlendHeaderError(DomainError, ValueError):
    """The first bytes do not say which Blender saved the file; the message says why."""

    status, slug, title = 422, "scene-not-a-blend", "Scene is not a .blend file"
    field = ("scene_sha256", "body")

    def problem_detail(self) -> str:
        return f"the scene is not a .blend Blender can read: {self}"

    def problem_extra(self) -> Mapping[str, Any]:
        return {"reason": self.problem.value}

    def __init__(self, problem: HeaderProblem, reason: str) -> None:
        super().__init__(reason)
        self.problem = problem


def saved_by(head: bytes) -> BlenderVersion:
    """The Blender that saved a .blend, from its first bytes (``HEAD_BYTES`` of them suffice)."""
    if head.startswith(_ZSTD_MAGIC):
        return _version_in(_decompressed_header(head), compressed=True)
    if len(head) < len(_ZSTD_MAGIC) and _ZSTD_MAGIC.startswith(head):
        raise _truncated(head, compressed=False)
    return _version_in(head, compressed=False)


def _version_in(head: bytes, *, compressed: bool) -> BlenderVersion:
    if not head.startswith(_MAGIC):
        if _MAGIC.startswith(head):  # empty, or a cut 'BLENDER'
            raise _truncated(head, compressed=compressed)
        kind = "a zstd stream that holds no .blend" if compressed else "not a .blend file"
        raise BlendHeaderError(
            HeaderProblem.NOT_A_BLEND_FILE, f"{kind}: it does not start with 'BLENDER'"
        )
    layout = head[len(_MAGIC) : len(_MAGIC) + 1]
    if not layout:
        raise _truncated(head, compressed=compressed)
    legacy = layout in (b"-", b"_")
    if not legacy and not layout.isdigit():
        raise _unreadable(head[: len(_MAGIC) + 1])
    size = _LEGACY_SIZE if legacy else _HEADER_SIZE
    if len(head) < size:
        raise _truncated(head, compressed=compressed)
    match = (_LEGACY if legacy else _CURRENT).match(head)
    if match is None:
        raise _unreadable(head[:size])
    number = int(match[1])  # 405 or 0405 -> 4.5, 280 -> 2.80: minor is the last two digits
    return BlenderVersion(number // 100, number % 100)


def _truncated(head: bytes, *, compressed: bool) -> BlendHeaderError:
    where = "the compressed file's data" if compressed else "the file"
    return BlendHeaderError(
        HeaderProblem.TRUNCATED,
        f"{where} ends after {len(head)} bytes, before its header is complete",
    )


def _unreadable(header: bytes) -> BlendHeaderError:
    shown = header.decode("ascii", "backslashreplace")
    return BlendHeaderError(
        HeaderProblem.UNREADABLE_VERSION,
        f"the header {shown!r} does not carry a version this farm can read"
        " (a newer Blender, or a damaged file)",
    )


def _decompressed_header(head: bytes) -> bytes:
    """The first decompressed bytes of a zstd stream: just enough for a header, never more."""
    out = b""
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(head)) as reader:
            while len(out) < _HEADER_SIZE:
                # read() caps the output, so a small head of a huge stream stays cheap.
                chunk = reader.read(_HEADER_SIZE - len(out))
                if not chunk:
                    break
                out += chunk
    except zstandard.ZstdError as error:
        raise BlendHeaderError(
            HeaderProblem.CORRUPT_COMPRESSION, f"the zstd stream is corrupt: {error}"
        ) from error
    return out  # too short for a header if the head was cut: _version_in says so
