"""Blob names with their metadata, listed without the SDK building a model per blob.

``ContainerClient.list_blobs(include=["metadata"])`` turns each listed blob into a
``BlobProperties`` of about 40 fields through the generated deserializer: measured at 0.4 to
0.8 ms per blob here, most of a 10,000-frame job's status read (its 100 chunk records). The SDK's
own ``list_blob_names`` avoids that cost by reading the XML page as it arrives; this does the
same and keeps each blob's ``<Metadata>``. It goes through the container client's own pipeline
(its credential, retries and pooled connections), and raises the SDK's errors.

It uses three helpers private to azure-storage-blob, exactly as ``list_blob_names`` does in the
version pinned in requirements.txt; tests/api/test_blob_listing.py checks the answers equal
``list_blobs``' on Azurite, so an SDK upgrade that changes them fails there first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient
from azure.storage.blob._deserialize import load_many_xml_nodes, load_xml_string
from azure.storage.blob._list_blobs_helper import IgnoreListBlobsDeserializer
from azure.storage.blob._shared.response_handlers import (
    process_storage_error,
    return_raw_deserialized,
)

#: Blobs per page: the service's maximum, so a listing is as few round trips as it can be.
PAGE_SIZE = 5000


def names_with_metadata(
    container: ContainerClient, prefix: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """(name, metadata) of every blob whose name starts with ``prefix``, in name order."""
    # As list_blob_names does (private to the SDK, hence typed loosely).
    client = container._build_generated_client()  # type: ignore[attr-defined]
    client.container._deserialize = IgnoreListBlobsDeserializer()
    marker: str | None = None
    while True:
        try:
            _, page = client.container.list_blob_flat_segment(
                prefix=prefix,
                marker=marker,
                maxresults=PAGE_SIZE,
                include=["metadata"],
                cls=return_raw_deserialized,
            )
        except HttpResponseError as error:
            process_storage_error(error)
        for blob in load_many_xml_nodes(page, "Blob", wrapper="Blobs"):
            if blob is not None:
                yield _name(blob), _metadata(blob)
        marker = load_xml_string(page, "NextMarker")
        if not marker:
            return


def _name(blob: Any) -> str:
    element = blob.find("Name")
    text = element.text or ""
    # Names with characters XML cannot carry come percent-encoded, flagged Encoded="true".
    return unquote(text) if element.get("Encoded") == "true" else text


def _metadata(blob: Any) -> dict[str, str]:
    element = blob.find("Metadata")
    return {} if element is None else {child.tag: child.text or "" for child in element}
