"""Following a job to its end: poll its status and download each frame as soon as it lands."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from .farm_api import FarmClient, JobProgress

POLL_INTERVAL_S = 1.0
FRAMES_DIR = "frames"


def frame_file_name(frame: int, url: str) -> str:
    """``000012.png``: the frame number as the farm names it, with the blob's extension."""
    suffix = Path(urlsplit(url).path).suffix or ".png"
    return f"{frame:06d}{suffix}"


class FrameDownloader:
    """Downloads frames into ``<out>/frames/``, each once; frames already on disk are kept."""

    def __init__(self, client: FarmClient, out_dir: Path):
        self._client = client
        self.frames_dir = out_dir / FRAMES_DIR
        self.files: dict[int, Path] = {}

    def fetch_new(self, progress: JobProgress) -> list[Path]:
        fetched: list[Path] = []
        for frame, url in sorted(progress.frame_urls.items()):
            if frame in self.files:
                continue
            target = self.frames_dir / frame_file_name(frame, url)
            if not target.exists():
                self.frames_dir.mkdir(parents=True, exist_ok=True)
                self._client.download(url, target)
                fetched.append(target)
            self.files[frame] = target
        return fetched


def follow_job(  # noqa: PLR0913 - keyword-only: the callbacks and the clock tests inject
    client: FarmClient,
    job_id: str,
    *,
    downloader: FrameDownloader | None,
    on_update: Callable[[JobProgress], None],
    poll_interval_s: float = POLL_INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> JobProgress:
    """Poll until the job is over, downloading as frames appear; returns the last status. A
    read comes ``poll_interval_s`` after the last, or later where the farm asks (Retry-After:
    its status changes no faster)."""
    while True:
        progress = client.status(job_id, with_frames=downloader is not None)
        if downloader is not None:
            downloader.fetch_new(progress)
        on_update(progress)
        if progress.is_over:
            return progress
        sleep(max(poll_interval_s, progress.poll_after_s))


def describe_failure(progress: JobProgress) -> str:
    """One line: why a job did not complete, naming the first failing chunk and its reason."""
    if progress.state == "cancelled":
        return f"job {progress.job_id} was cancelled ({progress.frames_done} frames rendered)"
    failed = progress.failed_chunks
    if failed:
        chunk = failed[0]
        reason = (chunk.last_error or "no reason recorded").strip().splitlines()
        last = reason[-1] if reason else "no reason recorded"
        more = f" (and {len(failed) - 1} more chunks)" if len(failed) > 1 else ""
        return (
            f"job {progress.job_id} failed: chunk {chunk.index} after "
            f"{chunk.attempts} attempts: {last}{more}"
        )
    return f"job {progress.job_id} failed: {progress.error or 'no reason recorded'}"
