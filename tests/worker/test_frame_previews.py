"""Each frame's preview (a small JPEG beside it in Blob), made where it costs the render least:
PNG and JPEG frames with Pillow on the uploader thread, while the next frame renders; OpenEXR
frames, which Pillow does not read, with Blender's image API on the render thread. A preview that
cannot be made costs the frame nothing. Real Azurite, a fake Blender that writes real images."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient
from PIL import Image

from containerapp_worker import frame_thumbnails
from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.chunk_outcome import Verdict
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.frame_thumbnails import FrameThumbnails, thumbnail_size
from containerapp_worker.storage import WorkerStorage
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.render_settings import RenderSettings
from testbed.emulators import Azurite
from tests.job_manifests import new_manifest

pytestmark = pytest.mark.timeout(120)

TENANT = "studio"
SCENE = b"BLENDER17-01v0503" + b"frame-previews"
SCENE_SHA = hashlib.sha256(SCENE).hexdigest()
FRAME_SIZE = (640, 360)


@dataclass(kw_only=True)
class ImageBlender:
    """Renders each frame as a real image in the job's format (an unreadable one if asked), and
    notes the thread each frame was rendered on."""

    unreadable: bool = False
    render_threads: set[str] = field(default_factory=set)

    def open_scene(self, path: Path) -> None:
        pass

    def missing_files(self, root: Path) -> tuple[str, ...]:
        return ()

    def apply(self, settings: RenderSettings) -> None:
        pass

    def render_frame(self, frame: int, out_path: Path) -> Path:
        self.render_threads.add(threading.current_thread().name)
        if self.unreadable or out_path.suffix == ".exr":
            out_path.write_bytes(b"not an image Pillow reads %d" % frame)
        else:
            image = Image.new("RGBA", FRAME_SIZE, (200, 40, 10, 128))
            if out_path.suffix == ".jpg":
                image.convert("RGB").save(out_path, "JPEG")
            else:
                image.save(out_path, "PNG")
        return out_path

    def log_tail(self) -> tuple[str, ...]:
        return ()

    def forget_log(self) -> None:
        pass

    def new_output(self) -> bytes:
        return b""


@dataclass
class BlenderPreviews:
    """blender_thumbnail.write_thumbnail's stand-in: a real JPEG, and the thread it ran on."""

    threads: list[str] = field(default_factory=list)

    def __call__(self, frame_path: Path, thumbnail_path: Path) -> Path:
        self.threads.append(threading.current_thread().name)
        Image.new("RGB", (32, 18), (0, 0, 255)).save(thumbnail_path, "JPEG")
        return thumbnail_path


@dataclass(kw_only=True)
class Rig:
    storage: WorkerStorage
    jobs: ContainerClient
    cache_dir: Path

    def render(
        self, blender: ImageBlender, previews: BlenderPreviews, *, output_format: str = "PNG"
    ) -> tuple[JobManifest, Verdict]:
        """A job of three frames in one chunk, rendered by one replica."""
        manifest = new_manifest(
            "1-3",
            chunk_size=3,
            job_id=uuid.uuid4().hex,
            tenant=TENANT,
            created_at=datetime.now(UTC),
            scene_sha256=SCENE_SHA,
            render={"output_format": output_format},
        )
        assert self.storage.jobs.manifests.create_manifest(manifest)
        replica = ChunkRenderer(
            storage=self.storage,
            cache=BlendCache(self.cache_dir, max_bytes=10**9),
            renderer=blender,
            worker_id="previews",
            blender_version="5.3.0",
            thumbnails=FrameThumbnails(in_blender=previews),
            stop_requested=threading.Event(),
        )
        (message,) = manifest.messages()
        return manifest, replica.render(message, lock_lost=threading.Event()).verdict

    def preview(self, job_id: str, frame: int) -> Image.Image | None:
        try:
            data = self.jobs.download_blob(layout.thumb_blob(job_id, frame)).readall()
        except ResourceNotFoundError:
            return None
        return Image.open(io.BytesIO(data))

    def has_frame(self, job_id: str, frame: int, extension: str) -> bool:
        return self.jobs.get_blob_client(layout.frame_blob(job_id, frame, extension)).exists()


@pytest.fixture
def rig(azurite: Azurite, tmp_path: Path) -> Iterator[Rig]:
    suffix = uuid.uuid4().hex[:10]
    scenes, jobs = f"scenes-{suffix}", f"jobs-{suffix}"
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(scenes).upload_blob(layout.scene_blob(TENANT, SCENE_SHA), SCENE)
    yield Rig(
        storage=WorkerStorage(service, scenes=scenes, jobs=jobs),
        jobs=service.create_container(jobs),
        cache_dir=tmp_path / "cache",
    )


@pytest.mark.parametrize("output_format", ["PNG", "JPEG"])
def test_png_and_jpeg_frames_are_previewed_off_the_render_thread(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, output_format: str
) -> None:
    pillow_threads: list[str] = []
    write_with_pillow = frame_thumbnails.write_with_pillow

    def noting_thread(frame_path: Path, thumbnail_path: Path) -> Path:
        pillow_threads.append(threading.current_thread().name)
        return write_with_pillow(frame_path, thumbnail_path)

    monkeypatch.setattr(frame_thumbnails, "write_with_pillow", noting_thread)
    blender, previews = ImageBlender(), BlenderPreviews()

    manifest, verdict = rig.render(blender, previews, output_format=output_format)

    assert verdict is Verdict.COMPLETE
    assert previews.threads == []  # Blender made none
    assert len(pillow_threads) == 3
    assert not set(pillow_threads) & blender.render_threads
    for frame in (1, 2, 3):
        preview = rig.preview(manifest.job_id, frame)
        assert preview is not None
        assert preview.format == "JPEG"
        assert preview.size == (256, 144)  # 640x360 scaled to 256 on its longer side
        red, green, blue = preview.getpixel((128, 72))  # type: ignore[misc]
        assert red > 150 and green < 90 and blue < 60  # the frame's colour, alpha dropped


def test_exr_frames_are_previewed_by_blender_on_the_render_thread(rig: Rig) -> None:
    blender, previews = ImageBlender(), BlenderPreviews()

    manifest, verdict = rig.render(blender, previews, output_format="OPEN_EXR")

    assert verdict is Verdict.COMPLETE
    assert len(previews.threads) == 3
    assert set(previews.threads) == blender.render_threads
    for frame in (1, 2, 3):
        preview = rig.preview(manifest.job_id, frame)
        assert preview is not None and preview.size == (32, 18)


def test_a_frame_pillow_cannot_read_is_uploaded_without_a_preview(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    blender, previews = ImageBlender(unreadable=True), BlenderPreviews()

    with caplog.at_level(logging.WARNING, logger=frame_thumbnails.__name__):
        manifest, verdict = rig.render(blender, previews)

    assert verdict is Verdict.COMPLETE
    for frame in (1, 2, 3):
        assert rig.has_frame(manifest.job_id, frame, "png")
        assert rig.preview(manifest.job_id, frame) is None
    assert sum("no preview of" in record.getMessage() for record in caplog.records) == 3


def test_a_sixteen_bit_gray_frame_keeps_its_levels_in_its_preview(tmp_path: Path) -> None:
    frame = tmp_path / "000001.png"
    Image.new("I;16", (300, 100), 0x8080).save(frame)

    preview = frame_thumbnails.write_with_pillow(frame, tmp_path / "000001.thumb.jpg")

    with Image.open(preview) as image:
        assert image.mode == "L"
        assert image.size == (256, 85)
        assert abs(int(image.getpixel((10, 10))) - 0x80) <= 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "preview"),
    [((1920, 1080), (256, 144)), ((100, 50), (100, 50)), ((1, 5000), (1, 256))],
)
def test_a_preview_is_at_most_256_on_its_longer_side_and_never_scaled_up(
    size: tuple[int, int], preview: tuple[int, int]
) -> None:
    assert thumbnail_size(*size, 256) == preview
