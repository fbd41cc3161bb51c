"""POST /api/scenes: content-addressed .blend upload, deduplicated within the tenant."""

from __future__ import annotations

from fastapi import APIRouter

from functions.deps import TenantDep
from functions.openapi import answers, link
from functions.schemas import SceneTicketPublic
from renderfarm.jobs.scene import SceneUpload
from web_deps.services import SceneStoreDep

router = APIRouter(tags=["scenes"])


@router.post(
    "/scenes",
    response_model=SceneTicketPublic,
    responses=answers(
        200,
        links={
            "SubmitJob": link(
                "submit_job",
                "Render the scene, once it is uploaded",
                body={"scene_sha256": "$response.body#/sha256"},
            )
        },
        errors={400: None, 422: None},
    ),
)
def upload_scene(body: SceneUpload, tenant: TenantDep, scenes: SceneStoreDep) -> SceneTicketPublic:
    """Say this tenant has stored the scene already, or give a short-lived URL to PUT it to.

    Upload with ``PUT <upload_url>`` and header ``x-ms-blob-type: BlockBlob`` (any Azure Storage
    client can use the URL). The bytes are hashed before the first job uses the scene.
    """
    ticket = scenes.upload_ticket(body.sha256, body.size, tenant=tenant)
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
