"""What one chunk cost a worker: seconds from pick-up to settle, where they went, bytes written.

The worker keeps it in the chunk record (JSON) and mirrors it in the record blob's metadata as
short numeric strings, so the API's one listing of a job's chunk records gives the job's cost
without a download per chunk. Totals over every attempt of the chunk that got to write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

#: Blob metadata keys, per field (the record's other metadata keys are words, these end in _s).
_METADATA_KEYS = {
    "worker_s": "worker_s",
    "download_s": "download_s",
    "open_s": "open_s",
    "render_s": "render_s",
    "upload_s": "upload_s",
    "uploaded_bytes": "bytes",
}


@dataclass(frozen=True, kw_only=True)
class ChunkUsage:
    """Seconds and bytes; the parts do not add up to ``worker_s``: uploads run on their own
    thread while the next frame renders, and waiting on Blob for the record is in none."""

    #: Wall time from the message's pick-up to the chunk's last record write before settling.
    worker_s: float = 0.0
    #: Fetching the .blend (zero when the replica's cache had it).
    download_s: float = 0.0
    #: Opening the scene in Blender and applying the job's render settings.
    open_s: float = 0.0
    #: Blender's time on the frames.
    render_s: float = 0.0
    #: Uploading frames and thumbnails (overlaps rendering).
    upload_s: float = 0.0
    #: Bytes of frames and thumbnails written to Blob.
    uploaded_bytes: int = 0

    def __add__(self, other: ChunkUsage) -> ChunkUsage:
        return ChunkUsage(
            worker_s=self.worker_s + other.worker_s,
            download_s=self.download_s + other.download_s,
            open_s=self.open_s + other.open_s,
            render_s=self.render_s + other.render_s,
            upload_s=self.upload_s + other.upload_s,
            uploaded_bytes=self.uploaded_bytes + other.uploaded_bytes,
        )

    def __sub__(self, other: ChunkUsage) -> ChunkUsage:
        return ChunkUsage(
            worker_s=self.worker_s - other.worker_s,
            download_s=self.download_s - other.download_s,
            open_s=self.open_s - other.open_s,
            render_s=self.render_s - other.render_s,
            upload_s=self.upload_s - other.upload_s,
            uploaded_bytes=self.uploaded_bytes - other.uploaded_bytes,
        )

    def as_stored(self) -> ChunkUsage:
        """What a chunk record keeps of it: seconds to the millisecond (``to_dict`` and
        ``to_metadata`` agree on them)."""
        return ChunkUsage.from_dict(self.to_dict())

    @property
    def is_empty(self) -> bool:
        return self == ChunkUsage()

    def to_dict(self) -> dict[str, float | int]:
        return {
            f.name: (value if isinstance(value := getattr(self, f.name), int) else round(value, 3))
            for f in fields(self)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ChunkUsage:
        """Lenient: a record written before usage was kept has none (all zero)."""
        if not data:
            return cls()
        return cls(
            worker_s=float(data.get("worker_s", 0.0)),
            download_s=float(data.get("download_s", 0.0)),
            open_s=float(data.get("open_s", 0.0)),
            render_s=float(data.get("render_s", 0.0)),
            upload_s=float(data.get("upload_s", 0.0)),
            uploaded_bytes=int(data.get("uploaded_bytes", 0)),
        )

    def to_metadata(self) -> dict[str, str]:
        """Short numeric strings, none at all while empty (metadata stays small)."""
        if self.is_empty:
            return {}
        return {key: _number(getattr(self, name)) for name, key in _METADATA_KEYS.items()}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> ChunkUsage:
        """Raises ValueError on a value that is not a number; absent keys are zero."""
        values = {name: metadata.get(key) for name, key in _METADATA_KEYS.items()}
        return cls(
            worker_s=float(values["worker_s"] or 0.0),
            download_s=float(values["download_s"] or 0.0),
            open_s=float(values["open_s"] or 0.0),
            render_s=float(values["render_s"] or 0.0),
            upload_s=float(values["upload_s"] or 0.0),
            uploaded_bytes=int(values["uploaded_bytes"] or 0),
        )


def _number(value: float | int) -> str:
    """``12.3``, ``0.012``, ``2048``: at most three decimals, no trailing zeros."""
    if isinstance(value, int):
        return str(value)
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"
