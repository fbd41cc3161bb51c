"""The SceneTimingsStore port over the ``jobs`` container: what earlier renders of a scene
measured, per tenant, scene and render settings (renderfarm.chunks.plan)."""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from renderfarm.chunks.plan import SceneTimings
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.guard import guarded

_JSON = ContentSettings(content_type="application/json")


class BlobSceneTimings:
    def __init__(self, *, container: ContainerClient, breaker: CircuitBreaker):
        self._container = container
        self._breaker = breaker

    def read_scene_timings(self, tenant: str, sha256: str, settings: str) -> SceneTimings | None:
        blob = self._container.get_blob_client(layout.scene_timings_blob(tenant, sha256, settings))
        try:
            body = guarded(self._breaker, lambda: blob.download_blob().readall())
            return SceneTimings.from_json(body)
        except ResourceNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: plan as if nothing was measured, the next job rewrites it

    def record_scene_timings(
        self, tenant: str, sha256: str, settings: str, measured: SceneTimings
    ) -> None:
        """Last writer wins: two jobs of one scene ending together lose one's average, which
        the next job's measurement makes up for."""
        earlier = self.read_scene_timings(tenant, sha256, settings)
        merged = earlier.merged(measured) if earlier else measured
        blob = self._container.get_blob_client(layout.scene_timings_blob(tenant, sha256, settings))
        guarded(
            self._breaker,
            lambda: blob.upload_blob(merged.to_json(), overwrite=True, content_settings=_JSON),
        )
