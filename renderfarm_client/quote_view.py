"""A scouted job's quote as the client reads it (``quote`` in the job's status), and the lines
a person reads it in: the CLI prints them, the add-on's panel shows them.

Standard library only: the add-on vendors it with the rest of the client core.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class QuoteView:
    decision: str  # pending, approved, auto-approved, rejected, expired
    scout_seconds: tuple[tuple[int, float], ...]  # (frame, Blender's seconds)
    seconds_per_frame: float
    estimated_worker_seconds: float
    estimated_usd: float
    estimated_finish_at: datetime
    max_replicas: int
    prices_version: str
    prices_as_of: str
    quoted_at: datetime
    expires_at: datetime
    actual_usd: float | None = None
    actual_to_estimate: float | None = None

    @property
    def pending(self) -> bool:
        return self.decision == "pending"

    def lines(self, *, now: datetime | None = None) -> list[str]:
        """The quote in a few lines: what it measured, what it says, what became of it."""
        scouts = ", ".join(f"{frame}: {seconds:.2f} s" for frame, seconds in self.scout_seconds)
        wait = self.estimated_finish_at - (now or self.quoted_at)
        lines = [
            f"scout frames   {scouts} ({self.seconds_per_frame:.2f} s a frame)",
            f"estimate       {_usd(self.estimated_usd)}, "
            f"{self.estimated_worker_seconds:,.0f} worker seconds",
            f"finish         about {_duration(wait.total_seconds())} after approval, on up to "
            f"{self.max_replicas} replicas",
            f"prices         {self.prices_version} ({self.prices_as_of})",
        ]
        if self.actual_usd is not None:
            ratio = (
                f" ({self.actual_to_estimate:.2f} of the estimate)"
                if self.actual_to_estimate is not None
                else ""
            )
            lines.append(f"actual         {_usd(self.actual_usd)}{ratio}")
        lines.append(f"quote          {self.decision}")
        return lines


def quote_view(data: dict[str, Any] | None) -> QuoteView | None:
    """``quote`` in ``GET /api/jobs/{id}``'s answer; None when the job has none (yet)."""
    if not data:
        return None
    actual, ratio = data.get("actual_usd"), data.get("actual_to_estimate")
    return QuoteView(
        decision=str(data["decision"]),
        scout_seconds=tuple(
            (int(item["frame"]), float(item["seconds"])) for item in data["scout_frames"]
        ),
        seconds_per_frame=float(data["seconds_per_frame"]),
        estimated_worker_seconds=float(data["estimated_worker_seconds"]),
        estimated_usd=float(data["estimated_usd"]),
        estimated_finish_at=datetime.fromisoformat(data["estimated_finish_at"]),
        max_replicas=int(data["max_replicas"]),
        prices_version=str(data["prices_version"]),
        prices_as_of=str(data["prices_as_of"]),
        quoted_at=datetime.fromisoformat(data["quoted_at"]),
        expires_at=datetime.fromisoformat(data["expires_at"]),
        actual_usd=float(actual) if actual is not None else None,
        actual_to_estimate=float(ratio) if ratio is not None else None,
    )


def _usd(amount: float) -> str:
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
