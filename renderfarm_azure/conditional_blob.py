"""Blob Storage's side of renderfarm.shared.conditional_update: reads that keep the etag, and writes
only over it, whose lost race (a 412, or a 409 for a blob created meanwhile) is the domain's
ConcurrentUpdate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobClient, ContentSettings

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.errors import ConcurrentUpdate
from renderfarm_azure.guard import guarded

T = TypeVar("T")


def _call(breaker: CircuitBreaker | None, call: Callable[[], T]) -> T:
    """Through ``breaker`` where the caller has one (renderfarm_azure.guard)."""
    return call() if breaker is None else guarded(breaker, call)


def read_with_etag(blob: BlobClient) -> tuple[bytes | None, str | None]:
    """The blob's bytes and etag; (None, None) when there is no such blob."""
    try:
        download = blob.download_blob()
    except ResourceNotFoundError:
        return None, None
    return download.readall(), str(download.properties.etag)


def upload_over(  # noqa: PLR0913 - keyword-only: the blob service's write options
    blob: BlobClient,
    body: bytes | str,
    etag: str | None,
    *,
    content_settings: ContentSettings | None = None,
    metadata: dict[str, str] | None = None,
    breaker: CircuitBreaker | None = None,
) -> str:
    """Write ``body`` over the version with ``etag`` (None: only if there is no blob yet); the
    new etag. ConcurrentUpdate when another writer came first."""
    condition: dict[str, Any] = (
        {"overwrite": False}
        if etag is None
        else {"overwrite": True, "etag": etag, "match_condition": MatchConditions.IfNotModified}
    )
    try:
        written = _call(
            breaker,
            lambda: blob.upload_blob(
                body, content_settings=content_settings, metadata=metadata, **condition
            ),
        )
    except (ResourceExistsError, ResourceModifiedError) as error:
        raise ConcurrentUpdate(f"blob {blob.blob_name} was written meanwhile") from error
    return str(written["etag"])


def set_metadata_over(blob: BlobClient, metadata: dict[str, str], etag: str) -> str:
    """Replace the blob's metadata over the version with ``etag``; the new etag.
    ConcurrentUpdate when another writer came first."""
    try:
        written = blob.set_blob_metadata(
            metadata, etag=etag, match_condition=MatchConditions.IfNotModified
        )
    except ResourceModifiedError as error:
        raise ConcurrentUpdate(f"blob {blob.blob_name} was written meanwhile") from error
    return str(written["etag"])
