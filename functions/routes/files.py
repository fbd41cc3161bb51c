"""POST /api/files/missing: which of a project's files the farm lacks, with URLs to upload them.

Files are stored once per tenant under their sha256, so a re-submit of a shot uploads only the
files that changed since."""

from __future__ import annotations

from fastapi import APIRouter

from functions.deps import TenantDep
from functions.openapi import answers
from functions.schemas import FilesMissingIn, FilesMissingPublic, FileUploadPublic
from web_deps.services import ProjectStoreDep

router = APIRouter(tags=["files"])


@router.post(
    "/files/missing",
    response_model=FilesMissingPublic,
    responses=answers(200, errors={400: None, 422: None}),
)
def files_missing(
    body: FilesMissingIn, tenant: TenantDep, projects: ProjectStoreDep
) -> FilesMissingPublic:
    """Say which files (by sha256 and size) this tenant has not stored, each with a short-lived
    URL to PUT it to (header ``x-ms-blob-type: BlockBlob``); at most 500 files a call.

    A stored file of another size counts as missing. Hashes are checked later: every .blend when
    a job names it, every other file by the worker that downloads it.
    """
    wanted: dict[str, int] = {}
    for file in body.files:
        wanted[file.sha256] = file.size
    ticket = projects.upload_tickets(wanted, tenant=tenant)
    return FilesMissingPublic(
        missing=[FileUploadPublic(sha256=sha, upload_url=url) for sha, url in ticket.missing],
        present=ticket.present,
        expires_at=ticket.expires_at,
    )
