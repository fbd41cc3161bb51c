"""Renaming and retagging a job (``PATCH /api/jobs/{id}``): its manifest first, then its entry
in the tenant index, which the list filters by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.manifest_updates import change_existing
from renderfarm.jobs.ports import ManifestStore, TenantIndex
from renderfarm.jobs.status import JobStatus
from renderfarm.jobs.status_reader import JobStatusReader

#: Tries at writing the new label when others write the manifest meanwhile.
UPDATE_ATTEMPTS = 5


class JobRelabel:
    def __init__(self, *, manifests: ManifestStore, index: TenantIndex, statuses: JobStatusReader):
        self._manifests = manifests
        self._index = index
        self._statuses = statuses

    def relabel(
        self,
        job_id: str,
        *,
        tenant: str,
        name: str | None,
        tags: Sequence[str] | None,
    ) -> tuple[JobManifest, JobStatus]:
        """Give the job ``name`` and ``tags`` (None keeps what it has); JobNotFound for no such
        job and for another tenant's. The same label again writes nothing."""
        _, status = self._statuses.status(job_id, tenant=tenant)  # 404 for another tenant's

        def relabelled(current: JobManifest) -> JobManifest:
            label = current.label.relabelled(name=name, tags=tags)
            return current if label == current.label else replace(current, naming=label)

        changed = change_existing(self._manifests, job_id, relabelled, attempts=UPDATE_ATTEMPTS)
        # Even when the manifest had it already: a try that stopped between the two left the
        # index behind (the index writes nothing when it agrees).
        self._index.relabel(changed)
        return changed, status
