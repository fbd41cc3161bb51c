"""Fixtures for the preview builder: a jobs container of its own on Azurite, fake frames in it.

No Blender: frames are PNGs drawn with Pillow and uploaded where a worker would put them.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from PIL import Image

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.spec import JobRequest
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm.shared.render_settings import OutputFormat
from renderfarm_azure.manifest_store import BlobManifests
from testbed.emulators import Azurite

FRAME_SIZE = (96, 54)


@pytest.fixture
def jobs(azurite: Azurite) -> Iterator[ContainerClient]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(f"jobs-{uuid.uuid4().hex[:10]}")
    yield container
    service.close()


def job_manifest(frames: str, *, output: OutputFormat = OutputFormat.PNG) -> JobManifest:
    request = JobRequest.model_validate(
        {"scene_sha256": "d" * 64, "frames": frames, "render": {"output_format": output.value}}
    )
    return JobManifest.new(
        job_id=uuid.uuid4().hex,
        tenant="acme",
        spec=request.to_spec(),
        created_at=datetime.now(UTC),
        fingerprint="f",
        blender="5.3",
        scene_saved_by="5.3",
        blender_pinned=False,
    ).enqueued()


def store(jobs: ContainerClient) -> BlobManifests:
    breaker = CircuitBreaker(
        name="blob storage", threshold=5, open_seconds=1.0, clock=time.monotonic
    )
    return BlobManifests(container=jobs, breaker=breaker)


def png(shade: int, size: tuple[int, int] = FRAME_SIZE) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (shade, 40, 255 - shade)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(shade: int, size: tuple[int, int] = FRAME_SIZE) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (shade, 40, 255 - shade)).save(buffer, format="JPEG")
    return buffer.getvalue()


def put_job(jobs: ContainerClient, manifest: JobManifest, *, thumbs: bool = False) -> None:
    """The manifest and every frame (and thumbnail), as the API and the workers leave them."""
    assert store(jobs).create_manifest(manifest)
    extension = manifest.output_extension
    for position, frame in enumerate(manifest.spec.frames):
        shade = min(255, position * 25)
        body = png(shade) if extension == "png" else b"v/1\x01 not an image Pillow reads"
        jobs.upload_blob(layout.frame_blob(manifest.job_id, frame, extension), body)
        if thumbs:
            jobs.upload_blob(layout.thumb_blob(manifest.job_id, frame), jpeg(shade))
