"""A change to a job's manifest, written over the version read
(renderfarm.shared.conditional_update)."""

from __future__ import annotations

from collections.abc import Callable

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.ports import ManifestStore, StoredManifest
from renderfarm.shared.conditional_update import Updated, update_conditionally
from renderfarm.shared.errors import JobNotFound


def update_manifest(
    manifests: ManifestStore,
    job_id: str,
    change: Callable[[JobManifest], JobManifest],
    *,
    attempts: int,
    known: StoredManifest | None = None,
) -> Updated[JobManifest | None]:
    """Apply ``change`` to the job's manifest as stored; its value is None when there is no
    such job. A change that returns the manifest itself writes nothing. ``known``: the
    version the caller holds, tried first without a read. KeptChanging after ``attempts``."""

    def read() -> tuple[JobManifest | None, str | None]:
        stored = manifests.read_manifest(job_id)
        return (None, None) if stored is None else (stored.manifest, stored.etag)

    def changed(manifest: JobManifest | None) -> JobManifest | None:
        return None if manifest is None else change(manifest)

    def write(manifest: JobManifest | None, etag: str | None) -> str:
        # Only a manifest read (with its etag) is ever changed: None stays None, unwritten.
        assert manifest is not None and etag is not None
        return manifests.replace_manifest(manifest, etag)

    return update_conditionally(
        read=read,
        change=changed,
        write=write,
        attempts=attempts,
        what=f"the manifest of job {job_id}",
        known=None if known is None else (known.manifest, known.etag),
    )


def change_existing(
    manifests: ManifestStore,
    job_id: str,
    change: Callable[[JobManifest], JobManifest],
    *,
    attempts: int,
    known: StoredManifest | None = None,
) -> JobManifest:
    """The job's manifest after ``change``, which writes nothing when it gives an equal one;
    JobNotFound when there is no such job."""

    def unless_equal(manifest: JobManifest) -> JobManifest:
        changed = change(manifest)
        return manifest if changed == manifest else changed

    updated = update_manifest(manifests, job_id, unless_equal, attempts=attempts, known=known)
    if updated.value is None:
        raise JobNotFound(job_id)
    return updated.value
