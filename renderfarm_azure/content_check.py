"""Hash a stored blob once, and check a .blend is whole on the same read: the verdict lives in
the blob's metadata, which any re-upload (Put Blob) clears, so bytes are read at most once."""

from __future__ import annotations

import hashlib

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobClient

from renderfarm.shared.blend_whole import BlendWalker, NotWhole
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.guard import guarded

VERIFIED = "sha256_verified"
WHOLE = "blend_whole"


class Missing(LookupError):
    """No blob of that name."""


class Unusable(ValueError):
    """The bytes do not hash to their name, or are not a whole .blend (the blob is deleted)."""


class ChangedMeanwhile(RuntimeError):
    """The blob was replaced while it was read: try again."""


def verify(blob: BlobClient, sha256: str, *, blend: bool, breaker: CircuitBreaker) -> None:
    """Raise Missing, Unusable or ChangedMeanwhile unless the blob hashes to ``sha256`` and,
    with ``blend``, is a whole .blend. A blob that fails is deleted so it can be uploaded again."""
    try:
        properties = guarded(breaker, blob.get_blob_properties)
    except ResourceNotFoundError:
        raise Missing(sha256) from None
    if _marked(properties.metadata or {}, blend=blend):
        return
    try:
        _check_and_mark(blob, sha256, properties.etag, blend=blend, breaker=breaker)
    except ResourceModifiedError:
        # Another request checking the same bytes may have marked them first (a re-upload
        # would have cleared the mark): only a change of the bytes themselves is a failure.
        if not _still_marked(blob, blend=blend, breaker=breaker):
            raise ChangedMeanwhile(sha256) from None


def _marked(metadata: dict[str, str], *, blend: bool) -> bool:
    return metadata.get(VERIFIED) == "true" and (not blend or metadata.get(WHOLE) == "true")


def _check_and_mark(
    blob: BlobClient, sha256: str, etag: str, *, blend: bool, breaker: CircuitBreaker
) -> None:
    digest = hashlib.sha256()
    walker = BlendWalker() if blend else None
    unchanged = MatchConditions.IfNotModified
    download = guarded(breaker, lambda: blob.download_blob(etag=etag, match_condition=unchanged))
    problem: str | None = None
    try:
        for part in download.chunks():
            digest.update(part)
            if walker is not None:
                walker.feed(part)
        if walker is not None:
            walker.finish()
    except NotWhole as error:
        problem = f"it is not a whole .blend: {error}"
    if problem is None and digest.hexdigest() != sha256:
        problem = "its bytes do not hash to its sha256: upload it again"
    if problem is not None:
        guarded(breaker, lambda: blob.delete_blob(etag=etag, match_condition=unchanged))
        raise Unusable(problem)
    marks = {VERIFIED: "true", **({WHOLE: "true"} if blend else {})}
    guarded(breaker, lambda: blob.set_blob_metadata(marks, etag=etag, match_condition=unchanged))


def _still_marked(blob: BlobClient, *, blend: bool, breaker: CircuitBreaker) -> bool:
    try:
        properties = guarded(breaker, blob.get_blob_properties)
    except ResourceNotFoundError:
        return False
    return _marked(properties.metadata or {}, blend=blend)
