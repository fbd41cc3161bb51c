"""The finalizer's previews, over the wire against Azurite: built once, whole, and recorded."""

from __future__ import annotations

from pathlib import Path

import av
from azure.storage.blob import ContainerClient
from PIL import Image

from renderfarm.shared import blob_layout as layout
from renderfarm.shared.render_settings import OutputFormat
from renderfarm_azure.previews import build_previews
from renderfarm_media.previews import sheet_layout
from tests.previews.conftest import FRAME_SIZE, job_manifest, put_job, store


def download(jobs: ContainerClient, name: str, target: Path) -> Path:
    target.write_bytes(jobs.download_blob(name).readall())
    return target


def video_frames(path: Path) -> tuple[int, str, str, tuple[int, int], float]:
    """(decoded frames, codec, pixel format, size, frames per second) of an MP4."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec, pixels = stream.codec_context.name, str(stream.codec_context.pix_fmt)
        size = (stream.codec_context.width, stream.codec_context.height)
        rate = float(stream.average_rate or 0)
        count = sum(1 for _ in container.decode(video=0))
    return count, codec, pixels, size, rate


def test_previews_hold_every_frame_and_the_manifest_says_they_exist(
    jobs: ContainerClient, tmp_path: Path
) -> None:
    manifest = job_manifest("1-12")
    put_job(jobs, manifest)
    names = build_previews(jobs, manifest)
    assert names is not None
    assert set(names.written) == {names.contact_sheet, names.video}
    assert names.contact_sheet == f"{manifest.job_id}/previews/contact-sheet.png"
    assert names.video == f"{manifest.job_id}/previews/preview.mp4"

    video = download(jobs, names.video, tmp_path / "preview.mp4")
    count, codec, pixels, size, rate = video_frames(video)
    assert (count, codec, pixels, size, rate) == (12, "h264", "yuv420p", FRAME_SIZE, 24.0)
    assert jobs.get_blob_client(
        names.video
    ).get_blob_properties().content_settings.content_type == ("video/mp4")

    sheet = download(jobs, names.contact_sheet, tmp_path / "contact-sheet.png")
    with Image.open(sheet) as image:
        assert image.format == "PNG"
        assert image.size == sheet_layout(12, FRAME_SIZE).size
        # the first tile is frame 1, the bluest of the fake frames
        red, _, blue = image.getpixel((10, 10))  # type: ignore[misc]
        assert blue > red

    recorded = store(jobs).read_manifest(manifest.job_id)
    assert recorded is not None and recorded.manifest.previews_at is not None


def test_a_second_build_writes_nothing(jobs: ContainerClient) -> None:
    manifest = job_manifest("1-5")
    put_job(jobs, manifest)
    assert build_previews(jobs, manifest) is not None
    before = _versions(jobs, manifest.job_id)

    again = build_previews(jobs, manifest)  # a redelivered job.completed
    assert again is not None
    assert again.written == ()
    assert _versions(jobs, manifest.job_id) == before


def test_only_a_missing_preview_is_built_again(jobs: ContainerClient, tmp_path: Path) -> None:
    """A builder killed between its two uploads left the sheet: the next one adds the video."""
    manifest = job_manifest("1-4")
    put_job(jobs, manifest)
    first = build_previews(jobs, manifest)
    assert first is not None
    sheet_etag = jobs.get_blob_client(first.contact_sheet).get_blob_properties().etag
    jobs.delete_blob(first.video)

    again = build_previews(jobs, manifest)
    assert again is not None
    assert again.written == (first.video,)
    assert jobs.get_blob_client(first.contact_sheet).get_blob_properties().etag == sheet_etag
    assert video_frames(download(jobs, first.video, tmp_path / "v.mp4"))[0] == 4


def test_exr_frames_are_previewed_from_their_thumbnails(
    jobs: ContainerClient, tmp_path: Path
) -> None:
    manifest = job_manifest("1-3", output=OutputFormat.OPEN_EXR)
    put_job(jobs, manifest, thumbs=True)
    names = build_previews(jobs, manifest)
    assert names is not None
    count, *_ = video_frames(download(jobs, names.video, tmp_path / "preview.mp4"))
    assert count == 3


def test_exr_frames_without_thumbnails_get_no_previews(jobs: ContainerClient) -> None:
    manifest = job_manifest("1-2", output=OutputFormat.OPEN_EXR)
    put_job(jobs, manifest)
    assert build_previews(jobs, manifest) is None
    assert not list(jobs.list_blob_names(name_starts_with=f"{manifest.job_id}/previews/"))
    recorded = store(jobs).read_manifest(manifest.job_id)
    assert recorded is not None and recorded.manifest.previews_at is None


def test_a_frame_that_does_not_decode_falls_back_to_its_thumbnail(
    jobs: ContainerClient, tmp_path: Path
) -> None:
    manifest = job_manifest("1-3")
    put_job(jobs, manifest, thumbs=True)
    broken = layout.frame_blob(manifest.job_id, 2, "png")
    jobs.upload_blob(broken, b"not a png", overwrite=True)
    names = build_previews(jobs, manifest)
    assert names is not None
    count, *_ = video_frames(download(jobs, names.video, tmp_path / "preview.mp4"))
    assert count == 3  # still one video frame per rendered frame


def _versions(jobs: ContainerClient, job_id: str) -> dict[str, str]:
    """Every blob of the job by name, with its etag and last-modified time."""
    return {
        blob.name: f"{blob.etag} {blob.last_modified.isoformat()}"
        for blob in jobs.list_blobs(name_starts_with=f"{job_id}/")
    }
