"""A completed job's previews into ``out/<job>/``: the farm's when it builds them, else made here.

The farm builds them after the job completes (its events consumer), so they may lag the last
frame by a few seconds: wait for them at most PREVIEW_WAIT_S after the job finished. A farm whose
status has no ``previews`` field builds none; then, as after the wait, the frames on disk make
them here (renderfarm_client.cli.preview).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from renderfarm_client.cli.preview import Preview, write_previews
from renderfarm_client.farm_api import FarmClient, FarmError, JobProgress, PreviewUrls
from renderfarm_media.previews import CONTACT_SHEET_NAME, VIDEO_NAME

log = logging.getLogger(__name__)

#: How long after a job finished its farm-built previews are waited for.
PREVIEW_WAIT_S = 30.0
PREVIEW_POLL_S = 1.0


@dataclass(frozen=True, kw_only=True)
class Previews:
    preview: Preview | None
    #: "the farm", or "this machine" when the farm had none.
    made_by: str
    #: The job's status when the previews were settled (its cost may have grown since the
    #: last frame: the last chunk records its worker seconds as it settles).
    progress: JobProgress


def fetch_previews(  # noqa: PLR0913 - keyword-only: the wait and clocks tests inject
    client: FarmClient,
    progress: JobProgress,
    frames: Sequence[Path],
    out_dir: Path,
    *,
    wait_s: float = PREVIEW_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Previews:
    """The farm's previews downloaded into ``out_dir``, or, failing those, ones made here."""
    if progress.farm_builds_previews:
        deadline = monotonic() + _wait_left(progress, wait_s, now())
        while progress.previews is None and monotonic() < deadline:
            sleep(PREVIEW_POLL_S)
            progress = client.status(progress.job_id, with_frames=False)
        if progress.previews is not None:
            fetched = _download(client, progress.previews, out_dir)
            if fetched is not None:
                return Previews(preview=fetched, made_by="the farm", progress=progress)
    local = write_previews(frames, out_dir) if frames else None
    return Previews(preview=local, made_by="this machine", progress=progress)


def _wait_left(progress: JobProgress, wait_s: float, now: datetime) -> float:
    """What is left of ``wait_s`` after the job finished (all of it when the farm says not when;
    never more, whatever the clocks)."""
    if progress.finished_at is None:
        return wait_s
    waited = (now - progress.finished_at).total_seconds()
    return min(wait_s, max(0.0, wait_s - waited))


def _download(client: FarmClient, urls: PreviewUrls, out_dir: Path) -> Preview | None:
    preview = Preview(contact_sheet=out_dir / CONTACT_SHEET_NAME, animation=out_dir / VIDEO_NAME)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        client.download(urls.contact_sheet_url, preview.contact_sheet)
        client.download(urls.video_url, preview.animation)
    except FarmError as error:
        log.warning("the farm's previews did not download (%s): making them here", error)
        return None
    return preview
