"""The jobs awaiting approval, by when their quotes expire: what the expiry timer reads
(renderfarm.jobs.quote_expiry), so that it never reads every job to find the few that wait."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class AwaitingJob:
    job_id: str
    tenant: str
    expires_at: datetime


class AwaitingApprovals(Protocol):
    """One entry per quoted job: written when the quote is, removed once the job is approved,
    cancelled or expired (a stale entry is harmless: the timer reads the manifest first)."""

    def add(self, job: AwaitingJob) -> None:
        """Note the job (again is fine)."""

    def due(self, now: datetime, *, limit: int) -> Sequence[AwaitingJob]:
        """Entries whose quote expired by ``now``, the earliest first, at most ``limit``."""

    def remove(self, job: AwaitingJob) -> None:
        """Forget the entry (gone already is fine)."""
