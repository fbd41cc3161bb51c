"""The ChunkLogStore port over the ``jobs`` container: one block blob per attempt at a chunk
(``<id>/logs/<n>/<attempt>.log``), its facts in its metadata (renderfarm.chunks.logs).

Each write is one Put Blob of the whole log (at most 1 MiB), so its bytes and its metadata change
together: a reader never sees one write's text with another's facts. An append blob would send
fewer bytes, but cannot drop its head to keep the last MiB, and its metadata is a second call.
"""

from __future__ import annotations

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceModifiedError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
)
from azure.storage.blob import ContainerClient, ContentSettings

from renderfarm.chunks.logs import ChunkLog, LogFacts, LogUnchanged
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.guard import guarded

CONTENT_TYPE = "text/plain; charset=utf-8"
_NOT_MODIFIED = 304


class BlobChunkLogs:
    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker

    def log_attempts(self, job_id: str, chunk_index: int) -> list[int]:
        prefix = layout.chunk_logs_prefix(job_id, chunk_index)

        def listing() -> list[int]:
            names = self._container.list_blob_names(name_starts_with=prefix)
            found = (layout.log_attempt_of(name, job_id, chunk_index) for name in names)
            return sorted(attempt for attempt in found if attempt is not None)

        return guarded(self._breaker, listing)

    def read_log(
        self, job_id: str, chunk_index: int, attempt: int, *, unless_etag: str | None = None
    ) -> ChunkLog | LogUnchanged | None:
        blob = self._container.get_blob_client(layout.chunk_log_blob(job_id, chunk_index, attempt))

        def download() -> ChunkLog | LogUnchanged | None:
            try:
                if unless_etag:  # If-None-Match: an unchanged log costs a 304, no bytes
                    stream = blob.download_blob(
                        etag=unless_etag, match_condition=MatchConditions.IfModified
                    )
                else:
                    stream = blob.download_blob()
            except ResourceNotFoundError:
                return None
            # A 304 that says ConditionNotMet is read as "modified" by the SDK's error mapping.
            except (ResourceModifiedError, ResourceNotModifiedError) as error:
                if error.status_code == _NOT_MODIFIED and unless_etag:
                    return LogUnchanged(etag=unless_etag)
                raise
            content = stream.readall()
            properties = stream.properties
            facts = LogFacts.from_metadata(
                dict(properties.metadata or {}),
                job_id=job_id,
                chunk_index=chunk_index,
                attempt=attempt,
            )
            if facts is None:
                return None
            return ChunkLog(facts=facts, content=bytes(content), etag=str(properties.etag))

        return guarded(self._breaker, download)

    def write_log(self, facts: LogFacts, content: bytes) -> None:
        name = layout.chunk_log_blob(facts.job_id, facts.chunk_index, facts.attempt)
        guarded(
            self._breaker,
            lambda: self._container.upload_blob(
                name,
                content,
                overwrite=True,
                metadata=facts.to_metadata(),
                content_settings=ContentSettings(content_type=CONTENT_TYPE),
            ),
        )
