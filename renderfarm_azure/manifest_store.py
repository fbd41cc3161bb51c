"""The ManifestStore port over the ``jobs`` container: each job's manifest (parsed ones kept by
etag, so an unchanged one is answered by a 304) and its scheduled messages' sequence numbers."""

from __future__ import annotations

import json
from collections.abc import Sequence

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.ports import StoredManifest
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.errors import ConcurrentUpdate
from renderfarm.shared.recently_used import RecentlyUsed
from renderfarm_azure.conditional_blob import upload_over
from renderfarm_azure.guard import guarded

_JSON = ContentSettings(content_type="application/json")
_NOT_MODIFIED = 304
#: Parsed manifests kept per process (a 10,000-frame one holds about 0.5 MB).
MANIFESTS_KEPT = 64


class BlobManifests:
    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker
        # Parsed manifests by etag: a 10,000-frame job's manifest is 60 KB of JSON whose
        # parse took a tenth of its status read; reads of an unchanged one get a 304.
        self._manifests: RecentlyUsed[StoredManifest] = RecentlyUsed(MANIFESTS_KEPT)

    def create_manifest(self, manifest: JobManifest) -> str | None:
        try:
            return self._write(manifest, None)
        except ConcurrentUpdate:
            return None

    def read_manifest(self, job_id: str) -> StoredManifest | None:
        if not layout.is_job_id(job_id):
            return None
        blob = self._container.get_blob_client(layout.manifest_blob(job_id))
        known = self._manifests.get(job_id)
        try:
            if known is None:
                download = guarded(self._breaker, blob.download_blob)
            else:  # unchanged since we parsed it: a 304 with no body
                download = guarded(
                    self._breaker,
                    lambda: blob.download_blob(
                        etag=known.etag, match_condition=MatchConditions.IfModified
                    ),
                )
            body = guarded(self._breaker, download.readall)
        except ResourceNotFoundError:
            self._manifests.forget(job_id)
            return None
        except HttpResponseError as error:
            # 304: the SDK raises ResourceNotModifiedError, or ResourceModifiedError when the
            # answer says ConditionNotMet (Azurite does).
            if known is None or error.status_code != _NOT_MODIFIED:
                raise
            return known
        stored = StoredManifest(manifest=JobManifest.from_json(body), etag=download.properties.etag)
        self._manifests.put(job_id, stored)
        return stored

    def replace_manifest(self, manifest: JobManifest, etag: str) -> str:
        return self._write(manifest, etag)

    def _write(self, manifest: JobManifest, etag: str | None) -> str:
        """Over ``etag`` (None: only a new one); ConcurrentUpdate when someone wrote first."""
        blob = self._container.get_blob_client(layout.manifest_blob(manifest.job_id))
        written = upload_over(
            blob, manifest.to_json(), etag, content_settings=_JSON, breaker=self._breaker
        )
        self._manifests.put(manifest.job_id, StoredManifest(manifest=manifest, etag=written))
        return written

    def save_schedule(self, job_id: str, sequence_numbers: Sequence[int]) -> None:
        blob = self._container.get_blob_client(layout.schedule_blob(job_id))
        body = json.dumps({"sequence_numbers": list(sequence_numbers)})
        guarded(
            self._breaker,
            lambda: blob.upload_blob(body, overwrite=True, content_settings=_JSON),
        )

    def read_schedule(self, job_id: str) -> tuple[int, ...]:
        blob = self._container.get_blob_client(layout.schedule_blob(job_id))
        try:
            body = guarded(self._breaker, lambda: blob.download_blob().readall())
        except ResourceNotFoundError:
            return ()
        return tuple(int(n) for n in json.loads(body)["sequence_numbers"])
