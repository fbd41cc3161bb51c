"""A completed job's previews: ``<id>/previews/contact-sheet.png`` and ``preview.mp4``.

Built once, on ``job.completed``, by the events consumer (functions/events.py). Idempotent: a
preview already stored is not built again, and a redelivered event that finds both there and the
manifest saying so writes nothing. A kill mid-work leaves no half-written preview: each is made in
a local temp folder and stored whole, only if absent (a concurrent builder's copy wins).

The sources are the frames themselves when the preview maker reads their format (PNG, JPEG), so
the video has the frames' resolution; the worker's thumbnails stand in for frames it cannot read
(EXR) or that fail to decode.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.manifest_updates import update_manifest
from renderfarm.jobs.ports import ManifestStore
from renderfarm.shared import blob_layout as layout

log = logging.getLogger(__name__)

#: Conditional writes of the manifest's ``previews_at`` before giving up (the event comes back).
MANIFEST_ATTEMPTS = 5


@dataclass(frozen=True, kw_only=True)
class PreviewNames:
    """Where a job's previews are, and which of them this call wrote."""

    contact_sheet: str
    video: str
    written: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PreviewSource:
    """One frame of the job, as stored: the frame (when readable) and its thumbnail, if any."""

    frame: int
    blob: str | None
    thumb: str | None


class PreviewBlobs(Protocol):
    """The job's stored frames and previews (renderfarm_azure.previews.BlobPreviewBlobs)."""

    def exists(self, name: str) -> bool: ...
    def names(self, prefix: str) -> list[str]: ...
    def store_once(self, name: str, path: Path) -> bool:
        """Store the file unless ``name`` exists; True if this call stored it."""


class PreviewMaker(Protocol):
    """Reads the sources and writes the previews asked for (renderfarm_azure.previews)."""

    @property
    def readable_extensions(self) -> Collection[str]: ...

    def make(
        self, sources: Sequence[PreviewSource], *, contact_sheet: Path | None, video: Path | None
    ) -> None: ...


def finalize_previews(
    manifest: JobManifest,
    *,
    blobs: PreviewBlobs,
    maker: PreviewMaker,
    manifests: ManifestStore,
    clock: Callable[[], datetime],
) -> PreviewNames | None:
    """Make whichever preview is missing, then record ``previews_at`` in the manifest (an
    etag-conditional write, skipped when already there). None when no frame can be read (EXR
    without thumbnails): then nothing is written and the status shows no previews."""
    job_id = manifest.job_id
    names = PreviewNames(
        contact_sheet=layout.contact_sheet_blob(job_id), video=layout.preview_video_blob(job_id)
    )
    missing = [name for name in (names.contact_sheet, names.video) if not blobs.exists(name)]
    written: tuple[str, ...] = ()
    if missing:
        sources = preview_sources(manifest, blobs, maker.readable_extensions)
        if not sources:
            log.warning("no readable frames for previews", extra={"job_id": job_id})
            return None
        started = time.perf_counter()
        written = _make_and_store(blobs, maker, names=names, missing=missing, sources=sources)
        log.info(
            "previews built from %d frames in %.1f s",
            len(sources),
            time.perf_counter() - started,
            extra={"job_id": job_id},
        )
    at = clock()
    update_manifest(
        manifests,
        job_id,
        lambda m: m if m.previews_at is not None else m.with_previews(at),
        attempts=MANIFEST_ATTEMPTS,
    )
    return PreviewNames(contact_sheet=names.contact_sheet, video=names.video, written=written)


def preview_sources(
    manifest: JobManifest, blobs: PreviewBlobs, readable: Collection[str]
) -> list[PreviewSource]:
    """Every frame of the job with a frame or a thumbnail stored, in frame order."""
    job_id = manifest.job_id
    frame_blobs = {
        frame: name
        for name in blobs.names(layout.frames_prefix(job_id))
        if (frame := layout.frame_of(name, job_id)) is not None
        and name.rsplit(".", 1)[-1] in readable
    }
    thumbs = set(blobs.names(layout.thumbs_prefix(job_id)))
    sources = []
    for frame in sorted(set(manifest.spec.frames)):
        thumb = layout.thumb_blob(job_id, frame)
        source = PreviewSource(
            frame=frame, blob=frame_blobs.get(frame), thumb=thumb if thumb in thumbs else None
        )
        if source.blob or source.thumb:
            sources.append(source)
    return sources


def _make_and_store(
    blobs: PreviewBlobs,
    maker: PreviewMaker,
    *,
    names: PreviewNames,
    missing: list[str],
    sources: list[PreviewSource],
) -> tuple[str, ...]:
    with tempfile.TemporaryDirectory(prefix="renderfarm-previews-") as scratch:
        sheet = Path(scratch) / "contact-sheet.png" if names.contact_sheet in missing else None
        video = Path(scratch) / "preview.mp4" if names.video in missing else None
        maker.make(sources, contact_sheet=sheet, video=video)
        return tuple(
            name
            for name, path in ((names.contact_sheet, sheet), (names.video, video))
            if path is not None and blobs.store_once(name, path)
        )
