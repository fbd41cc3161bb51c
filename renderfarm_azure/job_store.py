"""The ``jobs`` container's stores, one per thing it holds, built together over one client for
the API, the worker and the dead-letter handler alike (the worker's own uploads are in
containerapp_worker/storage.py)."""

from __future__ import annotations

from dataclasses import dataclass

from azure.storage.blob import ContainerClient

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.awaiting_list import BlobAwaitingApprovals
from renderfarm_azure.chunk_log_store import BlobChunkLogs
from renderfarm_azure.chunk_record_store import BlobChunkRecords
from renderfarm_azure.frame_index import BlobFrameIndex
from renderfarm_azure.manifest_store import BlobManifests
from renderfarm_azure.scene_timings_store import BlobSceneTimings
from renderfarm_azure.tenant_index import BlobTenantIndex


@dataclass(frozen=True, kw_only=True)
class BlobJobStores:
    manifests: BlobManifests
    chunks: BlobChunkRecords
    frames: BlobFrameIndex
    index: BlobTenantIndex
    timings: BlobSceneTimings
    logs: BlobChunkLogs
    awaiting: BlobAwaitingApprovals

    @classmethod
    def in_container(cls, *, container: ContainerClient, breaker: CircuitBreaker) -> BlobJobStores:
        return cls(
            manifests=BlobManifests(container=container, breaker=breaker),
            chunks=BlobChunkRecords(container=container, breaker=breaker),
            frames=BlobFrameIndex(container=container, breaker=breaker),
            index=BlobTenantIndex(container=container, breaker=breaker),
            timings=BlobSceneTimings(container=container, breaker=breaker),
            logs=BlobChunkLogs(container=container, breaker=breaker),
            awaiting=BlobAwaitingApprovals(container=container, breaker=breaker),
        )
