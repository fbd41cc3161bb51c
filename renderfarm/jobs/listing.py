"""A page of a tenant's jobs with their statuses, newest first (renderfarm.jobs.status_reader),
optionally only those in a state, or with a name prefix and tags (renderfarm.jobs.naming).

A name or tag filter is answered from the tenant index's entries, which carry each job's name and
tags: a job that does not match costs no read of its own. Entries from before names carry none,
so those jobs are read and matched by their manifests.
"""

from __future__ import annotations

from dataclasses import dataclass

from renderfarm.jobs.list_cursor import ListCursor
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.naming import JobFilter
from renderfarm.jobs.ports import IndexEntry, TenantIndex
from renderfarm.jobs.status import JobState, JobStatus
from renderfarm.jobs.status_reader import JobStatusReader

#: Job statuses read per list request when filtering (by state, or entries without a name).
MAX_SCANNED_PER_LIST = 200
#: Index entries looked at per list request: matched by name and tags alone, they cost a listing.
MAX_LISTED_PER_LIST = 5_000
#: Index entries per listing when a filter may skip most of them (a listing returns up to 5000).
FILTERED_PAGE_SIZE = 500

_NO_FILTER = JobFilter()


@dataclass(frozen=True, kw_only=True)
class JobPage:
    statuses: tuple[tuple[JobManifest, JobStatus], ...]
    cursor: str | None


class JobListing:
    def __init__(self, *, index: TenantIndex, statuses: JobStatusReader):
        self._index = index
        self._statuses = statuses

    def list_jobs(
        self,
        *,
        tenant: str,
        size: int,
        cursor: str | None,
        state: JobState | None,
        matching: JobFilter = _NO_FILTER,
    ) -> JobPage:
        """A page of the tenant's jobs, newest first, optionally only those in ``state`` and
        ``matching``. A page may hold fewer than ``size`` jobs and still have a cursor: the
        request looked at as many jobs as it may, and the rest come with the cursor."""
        filtered = state is not None or not matching.is_empty
        at = ListCursor.decode(cursor, page_size=FILTERED_PAGE_SIZE if filtered else size)
        found: list[tuple[JobManifest, JobStatus]] = []
        scanned = listed = 0
        while True:
            page = self._index.index_page(tenant, size=at.page_size, cursor=at.index_cursor)
            for offset in range(at.skip, len(page.entries)):
                if len(found) == size or scanned == MAX_SCANNED_PER_LIST:
                    return JobPage(statuses=tuple(found), cursor=at.at(offset).encode())
                entry = page.entries[offset]
                listed += 1
                if not _may_match(entry, matching):
                    continue
                scanned += 1
                item = self._statuses.status_if_any(entry.job_id, tenant=tenant, list_frames=False)
                if item is None or (state is not None and item[1].state is not state):
                    continue
                label = item[0].label
                if matching.matches(label.name, label.tags):  # the manifest is the truth
                    found.append(item)
            if page.cursor is None:
                return JobPage(statuses=tuple(found), cursor=None)
            at = at.next_page(page.cursor)
            if len(found) == size or listed >= MAX_LISTED_PER_LIST:
                return JobPage(statuses=tuple(found), cursor=at.encode())


def _may_match(entry: IndexEntry, matching: JobFilter) -> bool:
    """Whether the job may match, by what its index entry says; one without a name is read."""
    if matching.is_empty or entry.name is None:
        return True
    return matching.matches(entry.name, entry.tags or ())
