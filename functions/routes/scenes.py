"""POST /api/scenes: content-addressed .blend upload."""

from __future__ import annotations

from fastapi import APIRouter

from functions.deps import ServicesDep, TenantDep
from functions.schemas import SceneTicketPublic
from renderfarm.scene import SceneUpload

router = APIRouter(tags=["scenes"])


@router.post("/scenes", response_model=SceneTicketPublic)
def upload_scene(body: SceneUpload, tenant: TenantDep, services: ServicesDep) -> SceneTicketPublic:
    """Say the scene is stored already, or give a short-lived URL to PUT it to.

    Upload with ``PUT <upload_url>`` and header ``x-ms-blob-type: BlockBlob`` (any Azure Storage
    client can use the URL). The bytes are hashed before the first job uses the scene.
    """
    del tenant  # authenticated and rate-limited; scenes are shared by content
    ticket = services.scenes.upload_ticket(body.sha256, body.size)
    if ticket.exists:
        return SceneTicketPublic(sha256=body.sha256, exists=True)
    return SceneTicketPublic(
        sha256=body.sha256,
        exists=False,
        upload_url=ticket.upload_url,
        upload_method="PUT",
        upload_headers={"x-ms-blob-type": "BlockBlob"},
        expires_at=ticket.expires_at,
    )
