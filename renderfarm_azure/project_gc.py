"""The clean-up of stored project files (renderfarm.projects.gc) over the ``scenes`` container:
run daily by the ``project_files_gc`` timer Function in Azure and on demand by
``renderfarm local gc``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from renderfarm.projects.file_set import FileSet
from renderfarm.projects.gc import StoredBlob, Sweep, is_recent, sweep
from renderfarm.shared.blob_layout import file_blob, file_set_blob, is_sha256

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class GcReport:
    files_deleted: int
    bytes_deleted: int
    file_sets_deleted: int
    files_kept: int


def collect(container: ContainerClient, *, now: datetime, keep: timedelta) -> GcReport:
    """Delete every file and file set no job has named within ``keep``; say what went."""
    files: list[StoredBlob] = []
    file_sets: list[StoredBlob] = []
    sizes: dict[tuple[str, str], int] = {}
    if not container.exists():  # a farm that never stored a scene
        return GcReport(files_deleted=0, bytes_deleted=0, file_sets_deleted=0, files_kept=0)
    for item in container.list_blobs():
        parts = item.name.split("/")
        if len(parts) != 3:
            continue  # a one-file scene, <tenant>/<sha256>.blend: kept as before
        tenant, kind, name = parts
        if not is_sha256(name.removesuffix(".json")):
            continue  # nothing the farm wrote
        blob = StoredBlob(
            tenant=tenant, sha256=name.removesuffix(".json"), modified=item.last_modified
        )
        if kind == "files":
            files.append(blob)
            sizes[(tenant, blob.sha256)] = int(item.size)
        elif kind == "filesets" and name.endswith(".json"):
            file_sets.append(blob)
    named = _named_by(container, file_sets, now=now, keep=keep)
    doomed = sweep(files=files, file_sets=file_sets, named_recently=named, now=now, keep=keep)
    _delete(container, doomed)
    return GcReport(
        files_deleted=len(doomed.files),
        bytes_deleted=sum(sizes[(blob.tenant, blob.sha256)] for blob in doomed.files),
        file_sets_deleted=len(doomed.file_sets),
        files_kept=len(files) - len(doomed.files),
    )


def _named_by(
    container: ContainerClient, file_sets: list[StoredBlob], *, now: datetime, keep: timedelta
) -> set[tuple[str, str]]:
    named: set[tuple[str, str]] = set()
    for blob in file_sets:
        if not is_recent(blob, now=now, keep=keep):
            continue
        try:
            body = container.download_blob(file_set_blob(blob.tenant, blob.sha256)).readall()
        except ResourceNotFoundError:
            continue
        named.update((blob.tenant, entry.sha256) for entry in FileSet.from_json(body).files)
    return named


def _delete(container: ContainerClient, doomed: Sweep) -> None:
    names = [file_blob(b.tenant, b.sha256) for b in doomed.files] + [
        file_set_blob(b.tenant, b.sha256) for b in doomed.file_sets
    ]
    for name in names:
        try:
            container.delete_blob(name)
        except ResourceNotFoundError:
            continue
    log.info("project files collected", extra={"deleted": len(names)})
