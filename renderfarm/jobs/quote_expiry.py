"""Cancelling the jobs whose quotes no one approved in time (RENDERFARM_QUOTE_EXPIRY_HOURS).

Run by a timer (functions/quote_expiry_trigger.py in Azure, the local farm's timers process
there): it reads the awaiting list's entries that are due (renderfarm.jobs.awaiting), never
every job. Each job's manifest is changed only if it still awaits approval past its expiry,
over its etag, so an approval that lands at the same moment either wins (the job renders) or
finds the job expired (409). The job ends cancelled, its quote saying ``expired``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from renderfarm.jobs.awaiting import AwaitingApprovals
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.jobs.manifest_updates import update_manifest
from renderfarm.jobs.ports import EventPublisher, ManifestStore, TenantIndex
from renderfarm.jobs.scouting import expired
from renderfarm.shared.conditional_update import KeptChanging

log = logging.getLogger(__name__)

#: Entries one run handles at most; the next run takes the rest.
MAX_PER_RUN = 500
#: Tries at writing one job's expiry when others write its manifest meanwhile.
UPDATE_ATTEMPTS = 5


class QuoteExpiry:
    def __init__(
        self,
        *,
        manifests: ManifestStore,
        awaiting: AwaitingApprovals,
        index: TenantIndex,
        events: EventPublisher,
        clock: Callable[[], datetime],
    ):
        self._manifests = manifests
        self._awaiting = awaiting
        self._index = index
        self._events = events
        self._clock = clock

    def expire_due(self) -> list[str]:
        """Cancel every job whose quote expired unapproved; the ids of those it cancelled."""
        now = self._clock()
        cancelled: list[str] = []
        for entry in self._awaiting.due(now, limit=MAX_PER_RUN):
            try:
                updated = update_manifest(
                    self._manifests,
                    entry.job_id,
                    lambda m: expired(m, now),
                    attempts=UPDATE_ATTEMPTS,
                )
            except KeptChanging:  # busy: its entry stays, the next run tries again
                log.warning("job %s kept changing: its quote expires next run", entry.job_id)
                continue
            manifest = updated.value
            if manifest is not None and updated.wrote:
                self._index.mark_terminal(manifest)
                self._events.publish(
                    [
                        JobEvent(
                            type=EventType.JOB_CANCELLED,
                            job_id=manifest.job_id,
                            tenant=manifest.tenant,
                            at=now,
                            detail={"reason": "quote expired unapproved"},
                        )
                    ]
                )
                log.info("job %s: quote expired unapproved, cancelled", manifest.job_id)
                cancelled.append(manifest.job_id)
            self._awaiting.remove(entry)  # approved, cancelled, expired or gone: done with it
        return cancelled
