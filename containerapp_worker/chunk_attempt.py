"""One attempt at one chunk: everything that lives from its message's pickup to its settlement.

A fresh ChunkAttempt is made for each message, so nothing of one chunk (frames not yet recorded,
the frames found in Blob, the worker seconds, the manifest, the project) can leak into the next.
What outlives a chunk (the open scene, the clients) is the replica's, in ChunkRenderer.

Frames already in Blob are skipped, so a redelivered chunk continues from its first missing frame.
Uploads, most previews and the record's progress run on one thread while the next frame renders.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from azure.core.exceptions import AzureError

from containerapp_worker.attempt_log import AttemptLog
from containerapp_worker.chunk_outcome import Outcome, Verdict
from containerapp_worker.chunk_timer import AttemptTimer
from containerapp_worker.errors import Superseded, TransientError, WorkerError
from containerapp_worker.frame_thumbnails import FrameThumbnails
from containerapp_worker.project_cache import Project
from containerapp_worker.storage import WorkerStorage
from containerapp_worker.telemetry import frame_render_seconds, frame_upload_seconds, tracer
from renderfarm.chunks import states as chunk_states
from renderfarm.chunks.record import PROGRESS_EVERY_S, ChunkRecord, ChunkState
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.jobs.chunk_settlement import JobLedger, settle_chunk
from renderfarm.jobs.lifecycle import LedgerContention
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared.errors import ConcurrentUpdate, DependencyUnavailable, JobNotFound
from renderfarm.shared.redact import without_folders

log = logging.getLogger(__name__)

#: How often, at most, a rendering chunk looks for its cancel marker (a HEAD of a blob only its
#: worker reads: 0.5 requests/s per blob however many replicas render the job;
#: docs/reliability.md "Cancel").
CANCEL_CHECK_S = 2.0
#: How often, at most, it re-reads the manifest instead, in case a cancel's markers were cut
#: short (1,000 replicas: about 17 reads/s of one manifest, far under its 500/s target).
MANIFEST_CHECK_S = 60.0
# The record is rewritten at most every PROGRESS_EVERY_S (renderfarm.chunks.record): each write
# costs CPU that Blender, on every core, would rather have.


class Lifecycle(JobLedger, Protocol):
    """What the chunk tells about its job (renderfarm.jobs.lifecycle.JobLifecycle): where it
    settles, and that its first frame is in."""

    def record_start(self, job_id: str) -> None: ...


class FrameRenderer(Protocol):
    """What an attempt needs of Blender once its scene is open (ChunkRenderer's Renderer)."""

    def render_frame(self, frame: int, out_path: Path) -> Path: ...
    def log_tail(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, kw_only=True)
class ReplicaParts:
    """What an attempt uses of its replica, which outlive it."""

    storage: WorkerStorage
    worker_id: str
    blender_version: str  # the full version, recorded on each chunk it renders
    stop_requested: threading.Event
    lifecycle: Lifecycle | None = None  # None: only chunk records are written, as in tests
    thumbnails: FrameThumbnails | None = None  # None: no previews, as in tests
    #: Wraps each call into Blender, to tell its failures apart (chunk_renderer.calling_blender).
    calling_blender: Callable[[], contextlib.AbstractContextManager[None]]
    #: This replica's own folders (its caches, its temporary folder): cut from what clients see.
    folders: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RenderedFrame:
    """A frame on local disk, waiting for its upload."""

    frame: int
    seconds: float  # Blender's time for it
    extension: str
    path: Path
    thumbnail: Path | None  # made on the render thread (with bpy), for formats Pillow lacks


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(kw_only=True)
class ChunkAttempt:
    message: ChunkMessage
    lock_lost: threading.Event
    replica: ReplicaParts
    timer: AttemptTimer = field(default_factory=AttemptTimer)  # started at the pickup
    #: Frames uploaded since the chunk record's last write, with Blender's seconds for each.
    unrecorded: dict[int, float] = field(default_factory=dict)
    #: The chunk's frames already in Blob when it was taken up: the next write records them.
    found: frozenset[int] = frozenset()
    last_progress: float = 0.0
    manifest: JobManifest | None = None
    manifest_read_at: float = 0.0
    job_started: bool = True
    #: The chunk's project on disk (None for a one-file scene).
    project: Project | None = None
    #: What the applied settings render on (CPU, OPTIX:NVIDIA H200), for the chunk record.
    device: str | None = None
    #: Blender's log of this attempt, kept in Blob from the attempt's start (None: not kept).
    log: AttemptLog | None = None

    @property
    def storage(self) -> WorkerStorage:
        return self.replica.storage

    # --- the job's manifest -----------------------------------------------------------------

    def read_manifest(self) -> JobManifest | None:
        versioned = self.storage.jobs.manifests.read_manifest(self.message.job_id)
        self.manifest_read_at = time.monotonic()
        self.manifest = versioned.manifest if versioned is not None else None
        if self.manifest is not None:
            self.job_started = self.manifest.started_at is not None
        return self.manifest

    def require_manifest(self) -> JobManifest:
        assert self.manifest is not None, "read at the chunk's start"
        return self.manifest

    # --- frames -----------------------------------------------------------------------------

    def render_frames(self, frames: list[int], renderer: FrameRenderer) -> int | Outcome:
        """Render ``frames``, each uploaded while the next renders; the frames rendered, or
        the outcome of a stop or a cancel seen between frames."""
        extension = self.message.render.output_format.extension
        last_cancel_check = time.monotonic()
        pending: list[Future[None]] = []
        with (
            tempfile.TemporaryDirectory(prefix="renderfarm-") as scratch,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="uploader") as uploader,
        ):
            for count, frame in enumerate(frames):
                if self.replica.stop_requested.is_set() or self.lock_lost.is_set():
                    _wait(pending)
                    return self.stopped()
                if time.monotonic() - last_cancel_check >= CANCEL_CHECK_S:
                    last_cancel_check = time.monotonic()
                    if self._cancel_seen():
                        _wait(pending)
                        return self.cancelled(self.require_manifest())
                rendered = self._render_one(renderer, frame, Path(scratch), extension)
                # In this chunk's trace context, so its uploads and log lines join the trace.
                in_trace, last = contextvars.copy_context(), count == len(frames) - 1
                pending.append(uploader.submit(in_trace.run, self._publish, rendered, last=last))
                _raise_failures(pending)
                if count == 0:
                    last_cancel_check = time.monotonic() - CANCEL_CHECK_S  # check after frame 1
            _wait(pending)
        return len(frames)

    def _cancel_seen(self) -> bool:
        """The chunk's cancel marker, or, every MANIFEST_CHECK_S, the manifest itself."""
        message = self.message
        if time.monotonic() - self.manifest_read_at < MANIFEST_CHECK_S:
            return self.storage.jobs.chunks.cancel_signalled(
                message.job_id, message.chunk_index, retry_round=message.round
            )
        self.manifest_read_at = time.monotonic()
        versioned = self.storage.jobs.manifests.read_manifest(message.job_id)
        if versioned is None or not versioned.manifest.accepts_work():
            return True
        # Retried since (after a cancel): the later round renders the chunk, not this message.
        return versioned.manifest.round != message.round

    def _render_one(
        self, renderer: FrameRenderer, frame: int, scratch: Path, extension: str
    ) -> RenderedFrame:
        started = time.perf_counter()
        with (
            tracer.start_as_current_span("render-frame", attributes={"frame": frame}),
            self.replica.calling_blender(),
        ):
            path = renderer.render_frame(frame, scratch / f"{frame:06d}.{extension}")
        seconds = time.perf_counter() - started
        frame_render_seconds.record(seconds)
        self.timer.rendered(seconds)
        self.note(f"frame {frame} rendered in {seconds:.2f} s")
        thumb: Path | None = None
        if self.replica.thumbnails is not None:
            with self.replica.calling_blender():  # bpy's image API, for formats Pillow lacks
                thumb = self.replica.thumbnails.in_render_thread(path)
        return RenderedFrame(
            frame=frame, seconds=seconds, extension=extension, path=path, thumbnail=thumb
        )

    def _publish(self, rendered: RenderedFrame, *, last: bool = False) -> None:
        started = time.perf_counter()
        frame, job_id = rendered.frame, self.message.job_id
        written = self.storage.upload_frame(job_id, frame, rendered.extension, rendered.path)
        self.note(f"frame {frame} {'uploaded' if written else 'was already uploaded'}")
        thumbnail = rendered.thumbnail
        if thumbnail is None and self.replica.thumbnails is not None:  # Pillow's, made here
            thumbnail = self.replica.thumbnails.off_render_thread(rendered.path)
        if thumbnail is not None:
            self.storage.upload_thumbnail(job_id, frame, thumbnail)
        seconds = time.perf_counter() - started  # the uploader's time on the frame
        frame_upload_seconds.record(seconds)
        self.timer.uploaded(seconds, _size(rendered.path, thumbnail), written=written)
        self.unrecorded[frame] = rendered.seconds
        if not self.job_started:
            self.job_started = True
            self._first_frame_in()
        # After the chunk's last frame the write that ends it comes next, and records this one.
        if not last and time.monotonic() - self.last_progress >= PROGRESS_EVERY_S:
            self.record(lambda record: record)
        rendered.path.unlink(missing_ok=True)

    # --- the chunk record -------------------------------------------------------------------

    def record(self, change: Callable[[ChunkRecord], ChunkRecord]) -> ChunkRecord:
        """Write the record with ``change`` applied and every frame uploaded since the last write.
        Called from one thread at a time: the uploader while frames render, then the renderer's.
        """
        message = self.message
        frames = dict(self.unrecorded)
        written_over: list[ChunkRecord] = []  # what the write that succeeded replaced

        def mutate(current: ChunkRecord | None) -> ChunkRecord:
            base = current or ChunkRecord(
                job_id=message.job_id, chunk_index=message.chunk_index, state=ChunkState.PENDING
            )
            if chunk_states.is_stale(base, message.round):
                raise Superseded(f"job {message.job_id} was retried since: round {base.round}")
            # A retry's message opens the chunk in its round, if the retry has not yet.
            base = chunk_states.requeue(
                base, retry_round=message.round, frames=frozenset(), at=now()
            )
            written_over[:] = [base]
            # Every write carries the chunk's worker seconds so far (the cost model's input).
            changed = chunk_states.found(change(base), self.found)
            if self.device is not None:
                changed = replace(changed, render_device=self.device)
            return self.timer.stamp(base, chunk_states.progress(changed, frames, now()))

        written = self.storage.update_chunk_record(message.job_id, message.chunk_index, mutate)
        self.timer.recorded(written_over[0])
        for frame in frames:
            self.unrecorded.pop(frame, None)
        self.last_progress = time.monotonic()
        return written

    # --- state changes, all through renderfarm.chunks.states --------------------------------

    def started(self) -> None:
        """Count the attempt; its log (and usage) is kept under the attempt's number (the record's
        count: etag-conditional, so two workers never share one). A start that did not count (a
        redelivered done chunk) keeps no log: it would overwrite the last attempt's."""
        written = self.record(
            lambda record: chunk_states.start(
                record,
                worker_id=self.replica.worker_id,
                blender_version=self.replica.blender_version,
                at=now(),
            )
        )
        self.timer.counted(written)
        if self.log is not None and written.state is ChunkState.RENDERING:
            replica = self.replica
            self.log.begin_chunk(
                self.message,
                attempt=written.attempts,
                worker_id=replica.worker_id,
                blender_version=replica.blender_version,
            )

    def done(self, frames_rendered: int) -> Outcome:
        manifest = self.require_manifest()
        self.record(lambda record: chunk_states.finish(record, now()))
        self._settle(manifest, ChunkState.DONE)
        self.note(f"chunk done: {frames_rendered} frames rendered")
        return Outcome(verdict=Verdict.COMPLETE, frames_rendered=frames_rendered)

    def cancelled(self, manifest: JobManifest) -> Outcome:
        self.record(lambda record: chunk_states.cancel(record, now()))
        self._settle(manifest, ChunkState.CANCELLED)
        self.note("the job was cancelled: the chunk stops")
        return Outcome(verdict=Verdict.COMPLETE, reason="JobCancelled")

    def stopped(self) -> Outcome:
        """Handed back: the next delivery picks up at the first missing frame."""
        self.record(lambda record: chunk_states.hand_back(record, now()))
        self.note("the worker stops: the chunk goes back to the queue")
        return Outcome(verdict=Verdict.ABANDON, reason="WorkerStopping")

    def failed(
        self,
        error: WorkerError,
        verdict: Verdict,
        log_tail: tuple[str, ...],
        *,
        traceback: BaseException | None = None,
    ) -> Outcome:
        """Record the failure; a final one (dead-lettered) also settles the chunk in its job."""
        message = self.message
        # Shown to the client: Blender's words, without the folders of this replica's files;
        # a project's files keep their project paths.
        tail = self.redacted("\n".join(error.blender_log or log_tail))
        description = self.redacted(error.description)
        text = f"{error.reason}: {description}"
        final = verdict is Verdict.DEAD_LETTER
        change = chunk_states.fail if final else chunk_states.retry_later
        self.note(f"failed{'' if final else ', to be tried again'}: {text}")
        log.log(
            logging.WARNING if traceback is None else logging.ERROR,
            "chunk failed: %s",
            text,
            exc_info=traceback,
            extra={"job_id": message.job_id, "chunk_index": message.chunk_index},
        )
        try:
            self.record(lambda record: change(record, error=text, log=tail, at=now()))
            if final and self.manifest is not None:
                self._settle(self.manifest, ChunkState.FAILED, error=text)
        except Superseded as superseded:
            return self.superseded(superseded)
        except (TransientError, OSError, AzureError):
            # The dead-letter handler settles a dead-lettered chunk too; a retried one retries.
            log.warning("could not record the failure of chunk %s", message.message_id)
        return Outcome(verdict=verdict, reason=error.reason, description=description)

    def note(self, text: str) -> None:
        """A line of the worker's own in the attempt's log."""
        if self.log is not None:
            self.log.note(text)

    def superseded(self, error: Superseded) -> Outcome:
        """A retry made this message stale: the later round's message renders the chunk, and
        its frames already uploaded stay."""
        log.info(
            "chunk superseded: %s",
            error.description,
            extra={"job_id": self.message.job_id, "chunk_index": self.message.chunk_index},
        )
        return Outcome(verdict=Verdict.COMPLETE, reason=error.reason)

    def redacted(self, text: str) -> str:
        if self.project is not None:
            text = text.replace(f"{self.project.folder}{os.sep}", "")
        return without_folders(text, self.replica.folders)

    def _settle(self, manifest: JobManifest, state: ChunkState, error: str = "") -> None:
        """Settle the chunk in its job (the last one records the job's end). A failure here hands
        the message back: its redelivery settles the chunk again."""
        lifecycle = self.replica.lifecycle
        if lifecycle is None:
            return
        try:
            settle_chunk(lifecycle, manifest, self.message.chunk_index, state, error=error)
        except (DependencyUnavailable, LedgerContention, ConcurrentUpdate, JobNotFound) as failure:
            raise TransientError(f"could not settle the chunk: {failure}") from failure

    def _first_frame_in(self) -> None:
        """The job's first frame may be this one: say the job started (best effort: the next
        chunk's first frame tries again)."""
        lifecycle, job_id = self.replica.lifecycle, self.message.job_id
        if lifecycle is None:
            return
        try:
            lifecycle.record_start(job_id)
        except (DependencyUnavailable, ConcurrentUpdate, AzureError):
            log.warning("could not record the start of job %s", job_id, exc_info=True)


def _size(frame: Path, thumbnail: Path | None) -> int:  # the bytes a frame puts in Blob
    return frame.stat().st_size + (thumbnail.stat().st_size if thumbnail is not None else 0)


def _raise_failures(pending: list[Future[None]]) -> None:
    """Surface an upload that already failed, so the chunk stops early."""
    for future in filter(Future.done, pending):
        future.result()  # raises the upload's exception


def _wait(pending: list[Future[None]]) -> None:
    for future in pending:
        future.result()
