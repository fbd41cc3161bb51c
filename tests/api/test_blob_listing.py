"""The fast listing of names and metadata answers exactly what the SDK's list_blobs does."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from renderfarm_azure import blob_listing
from renderfarm_azure.blob_listing import names_with_metadata
from testbed.emulators import Azurite


@pytest.fixture
def container(azurite: Azurite) -> ContainerClient:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return service.create_container(f"listing-{uuid.uuid4().hex[:12]}")


def sdk_listing(container: ContainerClient, prefix: str) -> list[tuple[str, dict[str, str]]]:
    blobs = container.list_blobs(name_starts_with=prefix, include=["metadata"])
    return [(blob.name, dict(blob.metadata or {})) for blob in blobs]


def test_names_and_metadata_match_the_sdks_listing(container: ContainerClient) -> None:
    for index in range(12):
        metadata = (
            {"state": "done", "attempts": str(index), "render_s": "1.25"} if index % 3 else {}
        )
        container.upload_blob(f"job/chunks/{index}.json", b"{}", metadata=metadata)
    container.upload_blob("job/other/x", b"")
    assert list(names_with_metadata(container, "job/chunks/")) == sdk_listing(
        container, "job/chunks/"
    )


def test_a_listing_follows_every_page(
    container: ContainerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blob_listing, "PAGE_SIZE", 4)
    for index in range(10):
        container.upload_blob(f"p/{index:02d}", b"", metadata={"n": str(index)})
    listed = list(names_with_metadata(container, "p/"))
    assert [name for name, _ in listed] == [f"p/{index:02d}" for index in range(10)]
    assert [metadata["n"] for _, metadata in listed] == [str(index) for index in range(10)]


def test_names_with_spaces_and_markup_come_back_as_written(container: ContainerClient) -> None:
    name = "odd/name with spaces, ümlauts & <angle> brackets"
    container.upload_blob(name, b"")
    assert [listed for listed, _ in names_with_metadata(container, "odd/")] == [
        blob.name for blob in container.list_blobs(name_starts_with="odd/")
    ]


def test_a_missing_container_raises_the_sdks_error(azurite: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    with pytest.raises(ResourceNotFoundError):
        list(names_with_metadata(service.get_container_client("no-such-container"), ""))
