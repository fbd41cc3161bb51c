"""A scouted job's quote, and what became of it: the record the manifest keeps
(``JobManifest.quote``), written once by whoever settles the job's last scout chunk.

A job submitted with ``scout`` renders its scout frames first (renderfarm.jobs.scouting), one
chunk each, at full settings. Their measured seconds price the whole job (renderfarm.jobs
.quote_estimate); the job then waits, ``awaiting_approval``, until a person approves it, the
quote is under the job's ``approve_below_usd``, it is cancelled, or the quote expires. When the
job has ended, its status compares the estimate with what it cost (``actual_usd``).

docs/cost-and-speed.md "Scout frames and quotes".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

#: The most scout frames one job may ask for.
MAX_SCOUT_FRAMES = 8


def default_scout_frames(frames: Sequence[int]) -> tuple[int, ...]:
    """The first, the middle and the last of a job's frames (fewer when it has fewer)."""
    if not frames:
        raise ValueError("a job has at least one frame")
    picks = (frames[0], frames[(len(frames) - 1) // 2], frames[-1])
    return tuple(sorted(set(picks)))


class Decision(StrEnum):
    """What became of a quote."""

    PENDING = "pending"  # waiting for a person, or for its expiry
    APPROVED = "approved"  # a person approved it
    AUTO_APPROVED = "auto-approved"  # it was under the job's approve_below_usd
    REJECTED = "rejected"  # the job was cancelled before anyone approved it
    EXPIRED = "expired"  # no one approved it in time: the farm cancelled the job


@dataclass(frozen=True, kw_only=True)
class ScoutFrame:
    frame: int
    #: Blender's seconds on it.
    seconds: float


@dataclass(frozen=True, kw_only=True)
class Quote:
    """What the scout frames say the whole job will take and cost."""

    scout_frames: tuple[ScoutFrame, ...]
    #: Blender's seconds per frame, averaged over the scout frames.
    seconds_per_frame: float
    #: Worker seconds of the whole job, its scout chunks included (the cost model's input).
    estimated_worker_seconds: float
    estimated_usd: float
    #: When the rest would be done if approved at ``quoted_at``, with ``max_replicas``.
    estimated_finish_at: datetime
    max_replicas: int
    prices_version: str
    prices_as_of: date
    quoted_at: datetime
    #: When the farm cancels the job if no one has approved it.
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "scout_frames": [[f.frame, round(f.seconds, 3)] for f in self.scout_frames],
            "seconds_per_frame": round(self.seconds_per_frame, 4),
            "estimated_worker_seconds": round(self.estimated_worker_seconds, 3),
            "estimated_usd": self.estimated_usd,
            "estimated_finish_at": self.estimated_finish_at.isoformat(),
            "max_replicas": self.max_replicas,
            "prices_version": self.prices_version,
            "prices_as_of": self.prices_as_of.isoformat(),
            "quoted_at": self.quoted_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Quote:
        return cls(
            scout_frames=tuple(
                ScoutFrame(frame=int(frame), seconds=float(seconds))
                for frame, seconds in data["scout_frames"]
            ),
            seconds_per_frame=float(data["seconds_per_frame"]),
            estimated_worker_seconds=float(data["estimated_worker_seconds"]),
            estimated_usd=float(data["estimated_usd"]),
            estimated_finish_at=datetime.fromisoformat(data["estimated_finish_at"]),
            max_replicas=int(data["max_replicas"]),
            prices_version=str(data["prices_version"]),
            prices_as_of=date.fromisoformat(data["prices_as_of"]),
            quoted_at=datetime.fromisoformat(data["quoted_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
        )


@dataclass(frozen=True, kw_only=True)
class QuoteRecord:
    """The quote in the manifest, and its approval: each step written once, etag-conditionally
    (renderfarm.jobs.manifest_updates)."""

    quote: Quote
    approved_at: datetime | None = None
    #: Approved by the farm, the quote being under the job's approve_below_usd.
    auto: bool = False
    #: The planned chunks' messages are on the queue (after the approval).
    rest_enqueued: bool = False
    #: The farm cancelled the job at its quote's expiry.
    expired_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "quote": self.quote.to_dict(),
            "approved_at": _iso(self.approved_at),
            "auto": self.auto,
            "rest_enqueued": self.rest_enqueued,
            "expired_at": _iso(self.expired_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuoteRecord:
        return cls(
            quote=Quote.from_dict(data["quote"]),
            approved_at=_time(data.get("approved_at")),
            auto=bool(data.get("auto", False)),
            rest_enqueued=bool(data.get("rest_enqueued", False)),
            expired_at=_time(data.get("expired_at")),
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
