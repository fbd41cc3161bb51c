"""Whether a .blend is whole: every block there, up to the ``ENDB`` block that ends the file.

Blender renders a truncated file without complaint when the cut falls after the data it needs,
and a file cut earlier fails only on a worker, after the job was accepted. The API walks the
file as it hashes it: the header, then each block header and the bytes it announces, until
``ENDB``. A compressed file is one or more zstd frames; a frame that ends early is as truncated
as a missing block.

Block headers (Blender's ``BLO_core_bhead.hh``), after the file header of 12 or 17 bytes:

- format 0, 4-byte pointers: code, len, old (4), SDNAnr, nr: 20 bytes;
- format 0, 8-byte pointers: code, len, old (8), SDNAnr, nr: 24 bytes;
- format 1 (Blender 5.x): code, SDNAnr, old (8), len (8), nr (8): 32 bytes.

It reads the bytes as they stream by, once, in memory bounded by the largest block header: a
multi-GiB file is checked while it is hashed, with no second download. Runs on Python 3.11 too.
"""

from __future__ import annotations

import struct

import zstandard

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ENDB = b"ENDB"
#: Enough bytes to tell a compressed file, and to read either header layout.
_SNIFF = 17


class NotWhole(ValueError):
    """The file is not a whole .blend: truncated, or not a .blend at all."""


class BlendWalker:
    """Feed a .blend's bytes in order with ``feed``; ``finish`` raises NotWhole unless the
    file ended right after its ``ENDB`` block."""

    def __init__(self) -> None:
        self._head = b""  # bytes kept until the first 17 tell what the file is
        self._decompressor: zstandard.ZstdDecompressionObj | None = None
        self._compressed: bool | None = None
        self._blocks = _BlockWalker()
        self._frame_open = False  # a zstd frame has begun and not ended

    def feed(self, data: bytes) -> None:
        if self._compressed is None:
            self._head += data
            if len(self._head) < _SNIFF:
                return
            data, self._head = self._head, b""
            self._compressed = data.startswith(_ZSTD_MAGIC)
            if self._compressed:
                self._decompressor = _new_frame()
        if self._decompressor is None:
            self._blocks.feed(data)
        else:
            self._feed_compressed(data)

    def _feed_compressed(self, data: bytes) -> None:
        assert self._decompressor is not None
        while data:
            if self._decompressor.eof:  # another frame follows (Blender writes several)
                self._decompressor = _new_frame()
            try:
                self._blocks.feed(self._decompressor.decompress(data))
            except zstandard.ZstdError as error:
                raise NotWhole(f"its zstd stream is damaged ({error})") from None
            self._frame_open = not self._decompressor.eof
            data = self._decompressor.unused_data if self._decompressor.eof else b""

    def finish(self) -> None:
        if self._compressed is None:
            self._compressed = False
            self._blocks.feed(self._head)
        if self._frame_open:
            raise NotWhole("its compressed data ends before its zstd frame does")
        self._blocks.finish()


def _new_frame() -> zstandard.ZstdDecompressionObj:
    return zstandard.ZstdDecompressor().decompressobj()


class _BlockWalker:
    """Walks the uncompressed bytes: the file header, then block after block."""

    def __init__(self) -> None:
        self._pending = bytearray()  # bytes of a header not yet complete
        self._skip = 0  # bytes of the current block's data still to pass over
        self._header: struct.Struct | None = None
        self._len_field = 0
        self._ended = False

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._ended:  # Blender ignores bytes after ENDB, and so does this check
                return
            if self._skip:
                taken = min(self._skip, len(view))
                self._skip -= taken
                view = view[taken:]
                continue
            view = self._take_header(view)

    def _take_header(self, view: memoryview) -> memoryview:
        wanted = 17 if self._header is None else self._header.size
        taken = min(wanted - len(self._pending), len(view))
        self._pending += view[:taken]
        view = view[taken:]
        if len(self._pending) < wanted:
            return view
        if self._header is None:
            self._header, self._len_field, used = _file_header(bytes(self._pending))
            rest = bytes(self._pending[used:])  # a 12-byte header leaves 5 block bytes read
            self._pending.clear()
            self._feed_back(rest)
            return view
        fields = self._header.unpack(bytes(self._pending))
        self._pending.clear()
        if fields[0] == _ENDB:
            self._ended = True
            return view
        length = fields[self._len_field]
        if length < 0:
            raise NotWhole("a block announces a negative length")
        self._skip = length
        return view

    def _feed_back(self, rest: bytes) -> None:
        if rest:
            self._take_header(memoryview(rest))

    def finish(self) -> None:
        if self._header is None:
            raise NotWhole("it is shorter than a .blend header")
        if not self._ended:
            raise NotWhole("it ends before its last block (no ENDB): the file is truncated")


def _file_header(head: bytes) -> tuple[struct.Struct, int, int]:
    """The block header layout, the index of its length field, and the file header's size."""
    if not head.startswith(b"BLENDER"):
        raise NotWhole("it does not start with a .blend header")
    kind = head[7:8]
    if kind in (b"_", b"-"):  # format 0: BLENDER-v405
        endian = {b"v": "<", b"V": ">"}.get(head[8:9])
        if endian is None:
            raise NotWhole("its header names no byte order")
        pointer = "I" if kind == b"_" else "Q"
        return struct.Struct(f"{endian}4si{pointer}ii"), 1, 12
    if head[7:13] == b"17-01v":  # format 1: BLENDER17-01v0503
        return struct.Struct("<4siQqq"), 3, 17
    raise NotWhole("its header is of a layout this farm does not know")
