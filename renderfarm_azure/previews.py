"""A finished job's previews in Blob: ``<id>/previews/contact-sheet.png`` and ``preview.mp4``.

Built once, on ``job.completed``, by the events consumer. Idempotent: a preview already in Blob is
not built again, and a redelivered event that finds both there and the manifest saying so writes
nothing. A kill mid-work leaves no half-written preview: each is made in a local temp folder and
uploaded whole, with ``overwrite=False`` (a blob appears only when its upload commits).

The sources are the frames themselves when Pillow opens their format (PNG, JPEG), so the video
has the frames' resolution (scaled into 1280x720); the worker's thumbnails (256 px JPEGs under
``<id>/thumbs/``) stand in for frames it cannot open (EXR) or that fail to decode.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContainerClient, ContentSettings
from PIL import Image, UnidentifiedImageError

from renderfarm import blob_layout as layout
from renderfarm.circuit_breaker import CircuitBreaker
from renderfarm.manifest import JobManifest
from renderfarm.manifest_updates import update_manifest
from renderfarm_azure.manifest_store import BlobManifests
from renderfarm_media.previews import (
    MAX_VIDEO_SIZE,
    READABLE_EXTENSIONS,
    Labelled,
    write_previews,
)

log = logging.getLogger(__name__)

#: Frames downloaded ahead of the one being encoded.
DOWNLOAD_AHEAD = 8
_MANIFEST_TRIES = 5
_PLACEHOLDER_SIZE = (160, 90)
_CONTENT_TYPES = {"png": "image/png", "mp4": "video/mp4"}


@dataclass(frozen=True, kw_only=True)
class PreviewNames:
    """Where a job's previews are, and which of them this call wrote."""

    contact_sheet: str
    video: str
    written: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class _Source:
    frame: int
    blob: str | None  # the frame, when Pillow reads its format
    thumb: str | None


def build_previews(
    jobs: ContainerClient,
    manifest: JobManifest,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PreviewNames | None:
    """Make whichever preview is missing, then record ``previews_at`` in the manifest (an
    etag-conditional write, skipped when already there). None when no frame can be read (EXR
    without thumbnails): then nothing is written and the status shows no previews."""
    job_id = manifest.job_id
    names = PreviewNames(
        contact_sheet=layout.contact_sheet_blob(job_id), video=layout.preview_video_blob(job_id)
    )
    missing = [name for name in (names.contact_sheet, names.video) if not _exists(jobs, name)]
    written: tuple[str, ...] = ()
    if missing:
        sources = _sources(jobs, manifest)
        if not sources:
            log.warning("no readable frames for previews", extra={"job_id": job_id})
            return None
        written = _build_and_upload(jobs, names, missing, sources, job_id)
    _record_previews(jobs, job_id, clock())
    return PreviewNames(contact_sheet=names.contact_sheet, video=names.video, written=written)


def _exists(jobs: ContainerClient, name: str) -> bool:
    return bool(jobs.get_blob_client(name).exists())


def _sources(jobs: ContainerClient, manifest: JobManifest) -> list[_Source]:
    """Every frame of the job with a frame or a thumbnail in Blob, in frame order."""
    job_id = manifest.job_id
    frame_blobs = {
        frame: name
        for name in jobs.list_blob_names(name_starts_with=layout.frames_prefix(job_id))
        if (frame := layout.frame_of(name, job_id)) is not None
        and name.rsplit(".", 1)[-1] in READABLE_EXTENSIONS
    }
    thumbs = set(jobs.list_blob_names(name_starts_with=layout.thumbs_prefix(job_id)))
    sources = []
    for frame in sorted(set(manifest.spec.frames)):
        thumb = layout.thumb_blob(job_id, frame)
        source = _Source(
            frame=frame, blob=frame_blobs.get(frame), thumb=thumb if thumb in thumbs else None
        )
        if source.blob or source.thumb:
            sources.append(source)
    return sources


def _build_and_upload(
    jobs: ContainerClient,
    names: PreviewNames,
    missing: list[str],
    sources: list[_Source],
    job_id: str,
) -> tuple[str, ...]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="renderfarm-previews-") as scratch:
        sheet = Path(scratch) / "contact-sheet.png" if names.contact_sheet in missing else None
        video = Path(scratch) / "preview.mp4" if names.video in missing else None
        frames = _prefetched(sources, lambda source: _labelled(jobs, source))
        write_previews(frames, len(sources), contact_sheet=sheet, video=video)
        written = tuple(
            name
            for name, path in ((names.contact_sheet, sheet), (names.video, video))
            if path is not None and _upload_once(jobs, name, path)
        )
    log.info(
        "previews built from %d frames in %.1f s",
        len(sources),
        time.perf_counter() - started,
        extra={"job_id": job_id},
    )
    return written


def _prefetched(
    sources: Iterable[_Source], fetch: Callable[[_Source], Labelled]
) -> Iterator[Labelled]:
    """``fetch`` of each source, in order, with DOWNLOAD_AHEAD downloads in flight."""
    with ThreadPoolExecutor(max_workers=DOWNLOAD_AHEAD, thread_name_prefix="preview") as pool:
        window: deque[Future[Labelled]] = deque()
        for source in sources:
            window.append(pool.submit(fetch, source))
            if len(window) >= DOWNLOAD_AHEAD:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _labelled(jobs: ContainerClient, source: _Source) -> Labelled:
    """The frame's image, else its thumbnail's, else a grey tile: one video frame per frame."""
    for name in (source.blob, source.thumb):
        if name is None:
            continue
        try:
            image = _decoded(jobs.download_blob(name).readall())
        except (UnidentifiedImageError, OSError, ValueError):
            log.warning("preview source %s does not decode", name)
            continue
        return Labelled(label=str(source.frame), image=image)
    return Labelled(label=f"{source.frame}?", image=Image.new("RGB", _PLACEHOLDER_SIZE, "grey"))


def _decoded(data: bytes) -> Image.Image:
    """Decoded and scaled into the video's size at once, so few full frames sit in memory."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", MAX_VIDEO_SIZE)  # JPEG decodes smaller directly
        rgb = image.convert("RGB")
    rgb.thumbnail(MAX_VIDEO_SIZE, Image.Resampling.LANCZOS)
    return rgb


def _upload_once(jobs: ContainerClient, name: str, path: Path) -> bool:
    """Upload the whole file unless the blob exists (a concurrent builder won): True if we did."""
    settings = ContentSettings(content_type=_CONTENT_TYPES[path.suffix.lstrip(".")])
    with path.open("rb") as data, contextlib.suppress(ResourceExistsError):
        jobs.upload_blob(name, data, overwrite=False, content_settings=settings, max_concurrency=4)
        return True
    return False


def _record_previews(jobs: ContainerClient, job_id: str, at: datetime) -> None:
    """Say in the manifest that the previews exist, so a status read knows without a listing."""
    manifests = BlobManifests(
        container=jobs,
        breaker=CircuitBreaker(
            name="blob storage", threshold=_MANIFEST_TRIES, open_seconds=1.0, clock=time.monotonic
        ),
    )
    update_manifest(
        manifests,
        job_id,
        lambda m: m if m.previews_at is not None else m.with_previews(at),
        attempts=_MANIFEST_TRIES,
    )
