"""The previews finalizer's adapters (renderfarm.jobs.previews): the job's blobs in the
``jobs`` container, and a preview maker that downloads the sources a few ahead, decodes them with
Pillow (scaled into the video's size at once, so few full frames sit in memory) and writes the
contact sheet and the video with renderfarm_media.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContainerClient, ContentSettings
from PIL import Image, UnidentifiedImageError

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.previews import (
    MANIFEST_ATTEMPTS,
    PreviewNames,
    PreviewSource,
    finalize_previews,
)
from renderfarm.shared.circuit_breaker import CircuitBreaker
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
_PLACEHOLDER_SIZE = (160, 90)
_CONTENT_TYPES = {"png": "image/png", "mp4": "video/mp4"}


def build_previews(
    jobs: ContainerClient,
    manifest: JobManifest,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PreviewNames | None:
    """The finalizer over the ``jobs`` container (renderfarm.jobs.previews)."""
    manifests = BlobManifests(
        container=jobs,
        breaker=CircuitBreaker(
            name="blob storage", threshold=MANIFEST_ATTEMPTS, open_seconds=1.0, clock=time.monotonic
        ),
    )
    blobs = BlobPreviewBlobs(jobs)
    return finalize_previews(
        manifest, blobs=blobs, maker=PillowPreviewMaker(blobs), manifests=manifests, clock=clock
    )


class BlobPreviewBlobs:
    def __init__(self, jobs: ContainerClient):
        self._jobs = jobs

    def exists(self, name: str) -> bool:
        return bool(self._jobs.get_blob_client(name).exists())

    def names(self, prefix: str) -> list[str]:
        return list(self._jobs.list_blob_names(name_starts_with=prefix))

    def download(self, name: str) -> bytes:
        return bytes(self._jobs.download_blob(name).readall())

    def store_once(self, name: str, path: Path) -> bool:
        """Upload the whole file unless the blob exists (a concurrent builder won)."""
        settings = ContentSettings(content_type=_CONTENT_TYPES[path.suffix.lstrip(".")])
        with path.open("rb") as data, contextlib.suppress(ResourceExistsError):
            self._jobs.upload_blob(
                name, data, overwrite=False, content_settings=settings, max_concurrency=4
            )
            return True
        return False


class PillowPreviewMaker:
    def __init__(self, blobs: BlobPreviewBlobs):
        self._blobs = blobs

    @property
    def readable_extensions(self) -> frozenset[str]:
        return READABLE_EXTENSIONS

    def make(
        self, sources: Sequence[PreviewSource], *, contact_sheet: Path | None, video: Path | None
    ) -> None:
        frames = _prefetched(sources, self._labelled)
        write_previews(frames, len(sources), contact_sheet=contact_sheet, video=video)

    def _labelled(self, source: PreviewSource) -> Labelled:
        """The frame's image, else its thumbnail's, else a grey tile: one video frame per
        frame."""
        for name in (source.blob, source.thumb):
            if name is None:
                continue
            try:
                image = _decoded(self._blobs.download(name))
            except (UnidentifiedImageError, OSError, ValueError):
                log.warning("preview source %s does not decode", name)
                continue
            return Labelled(label=str(source.frame), image=image)
        placeholder = Image.new("RGB", _PLACEHOLDER_SIZE, "grey")
        return Labelled(label=f"{source.frame}?", image=placeholder)


def _prefetched(
    sources: Iterable[PreviewSource], fetch: Callable[[PreviewSource], Labelled]
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


def _decoded(data: bytes) -> Image.Image:
    """Decoded and scaled into the video's size at once, so few full frames sit in memory."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", MAX_VIDEO_SIZE)  # JPEG decodes smaller directly
        rgb = image.convert("RGB")
    rgb.thumbnail(MAX_VIDEO_SIZE, Image.Resampling.LANCZOS)
    return rgb
