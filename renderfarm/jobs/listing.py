"""A page of a tenant's jobs with their statuses, newest first (renderfarm.jobs.status_reader)."""

from __future__ import annotations

from dataclasses import dataclass

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.ports import TenantIndex
from renderfarm.jobs.status import JobState, JobStatus
from renderfarm.jobs.status_reader import JobStatusReader

#: Index entries looked at per list request when filtering by state.
MAX_SCANNED_PER_LIST = 200


@dataclass(frozen=True, kw_only=True)
class JobPage:
    statuses: tuple[tuple[JobManifest, JobStatus], ...]
    cursor: str | None


class JobListing:
    def __init__(self, *, index: TenantIndex, statuses: JobStatusReader):
        self._index = index
        self._statuses = statuses

    def list_jobs(
        self, *, tenant: str, size: int, cursor: str | None, state: JobState | None
    ) -> JobPage:
        """A page of the tenant's jobs, newest first, optionally only those in ``state``."""
        found: list[tuple[JobManifest, JobStatus]] = []
        scanned = 0
        while len(found) < size and scanned < MAX_SCANNED_PER_LIST:
            page = self._index.index_page(tenant, size=size - len(found), cursor=cursor)
            scanned += len(page.entries)
            for entry in page.entries:
                item = self._statuses.status_if_any(entry.job_id, tenant=tenant, list_frames=False)
                if item is not None and (state is None or item[1].state is state):
                    found.append(item)
            cursor = page.cursor
            if cursor is None:
                break
        return JobPage(statuses=tuple(found), cursor=cursor)
