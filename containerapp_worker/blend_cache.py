"""Scenes kept on local disk by tenant and content hash, so a replica downloads each .blend once.

Files sit at ``<tenant>/<sha256>.blend``, the scene's name in Blob Storage. The bytes alone would
be safe to share between tenants: a worker only fetches a scene for a job the API accepted after
hashing that tenant's own copy, so whoever gets here holds exactly these bytes. The timing is not:
a hit is faster than a download, and download time goes into the chunk's worker seconds and the
job's cost, which the tenant reads. A cache shared by content would tell a tenant that a replica
had lately rendered the same file for someone else, what the per-tenant scene layout exists to
hide. The price, identical bytes fetched once per tenant, is small.

The least recently used files go first when the cache outgrows its cap; the file in use is never
evicted. A download lands under a temporary name and is renamed only after its hash checks out,
so a crash mid-download never leaves a bad file under a good name.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Set
from pathlib import Path

from containerapp_worker.errors import SceneError
from renderfarm.shared import blob_layout

SUFFIX = ".blend"
#: The folder of the blend cache's directory where projects are kept (project_cache.py): no
#: tenant's name (lower-case letters, digits, hyphens) can take it.
PROJECTS = "_projects"
_CHUNK = 1024 * 1024


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def evict_least_recent(files: Iterable[Path], *, keep: Set[Path], max_bytes: int) -> None:
    """Delete the least recently used of ``files`` until they and ``keep`` (never deleted, and
    counted even when they alone exceed the cap) fit in ``max_bytes``."""
    candidates = sorted(
        (entry for entry in files if entry not in keep), key=lambda entry: entry.stat().st_mtime
    )
    total = sum(entry.stat().st_size for entry in candidates)
    total += sum(entry.stat().st_size for entry in keep if entry.is_file())
    for entry in candidates:
        if total <= max_bytes:
            break
        total -= entry.stat().st_size
        entry.unlink(missing_ok=True)


class BlendCache:
    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def directory(self) -> Path:
        """The cache's folder, absolute: a folder of this replica, never shown to a client."""
        return self._directory.absolute()

    def path(self, sha256: str, *, tenant: str) -> Path:
        try:
            return self._directory / blob_layout.scene_blob(tenant, sha256)
        except ValueError as error:
            raise SceneError(f"cannot name a scene file: {error}") from None

    def get(self, sha256: str, download: Callable[[Path], None], *, tenant: str) -> Path:
        """The local path of the tenant's scene, downloading it on a miss."""
        path = self.path(sha256, tenant=tenant)
        if path.is_file():
            os.utime(path)  # mark as recently used
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.parent / f".{sha256}.{uuid.uuid4().hex}.part"
        try:
            download(partial)
            actual = file_sha256(partial)
            if actual != sha256:
                raise SceneError(f"the stored scene's sha256 is {actual}, not {sha256}")
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        self.evict(keep=path)
        return path

    def evict(self, *, keep: Path) -> None:
        # Files of the older flat layout (``<sha256>.blend``) age out too. No deeper: a
        # project's laid-out .blends (project_cache.py, under PROJECTS) are not this cache's.
        evict_least_recent(self._scenes(), keep={keep}, max_bytes=self._max_bytes)

    def _scenes(self) -> list[Path]:
        return [
            entry
            for pattern in (f"*{SUFFIX}", f"*/*{SUFFIX}")
            for entry in self._directory.glob(pattern)
            if entry.is_file()
        ]
