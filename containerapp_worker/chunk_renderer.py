"""Render one chunk: frame by frame, each uploaded as soon as it is written.

Frames already in Blob are skipped, so a redelivered chunk continues from its first missing frame.
Uploads and the chunk record's progress run on one background thread while the next frame renders
(bpy releases the GIL). The verdict tells the worker how to settle the message.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Protocol

from azure.core.exceptions import AzureError

from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.chunk_timer import AttemptTimer
from containerapp_worker.errors import (
    PoisonError,
    StateInDoubt,
    TransientError,
    UnexpectedError,
    WorkerError,
)
from containerapp_worker.missing_files import MissingFilesPolicy
from containerapp_worker.project_cache import Project, ProjectCache
from containerapp_worker.storage import WorkerStorage
from containerapp_worker.telemetry import (
    chunk_worker_seconds,
    frame_render_seconds,
    frame_upload_seconds,
    tracer,
)
from renderfarm import chunk_states
from renderfarm.chunk_record import ChunkRecord, ChunkState
from renderfarm.errors import ConcurrentUpdate, DependencyUnavailable, JobNotFound
from renderfarm.manifest import JobManifest
from renderfarm.messages import ChunkMessage
from renderfarm.redact import without_paths
from renderfarm.render_settings import RenderSettings
from renderfarm_azure.job_lifecycle import LedgerContention

log = logging.getLogger(__name__)

#: How often, at most, a rendering chunk looks for its cancel marker (a HEAD of a blob only its
#: worker reads: 0.5 requests/s per blob however many replicas render the job; README "Cancel").
CANCEL_CHECK_S = 2.0
#: How often, at most, it re-reads the manifest instead, in case a cancel's markers were cut
#: short (1,000 replicas: about 17 reads/s of one manifest, far under its 500/s target).
MANIFEST_CHECK_S = 60.0
#: How often, at most, the chunk record is rewritten with frames uploaded since the last write;
#: each write costs CPU that Blender, using every core, would rather have.
PROGRESS_EVERY_S = 2.0


class Renderer(Protocol):
    """What the chunk needs of Blender (BlenderRunner in production)."""

    def open_scene(self, path: Path) -> None: ...
    #: The files the open scene uses that are not on disk, named relative to ``root``.
    def missing_files(self, root: Path) -> tuple[str, ...]: ...
    def apply(self, settings: RenderSettings) -> str | None: ...  # the device it renders on
    def render_frame(self, frame: int, out_path: Path) -> Path: ...
    def log_tail(self) -> tuple[str, ...]: ...
    def forget_log(self) -> None: ...  # a chunk's report carries its own lines, no other job's


class Lifecycle(Protocol):
    """What the chunk tells about its job (renderfarm_azure.job_lifecycle.JobLifecycle)."""

    def record_start(self, job_id: str) -> None: ...
    def chunk_settled(self, manifest: JobManifest, index: int, state: ChunkState) -> str | None: ...
    def chunk_failed(self, manifest: JobManifest, index: int, error: str) -> None: ...


class Verdict(Enum):
    COMPLETE = "complete"  # done, or cancelled: nothing left to do anywhere
    ABANDON = "abandon"  # this replica failed or is stopping: another delivery continues
    DEAD_LETTER = "dead-letter"  # the chunk fails wherever it runs


class Health(Enum):
    """What a chunk's end says about this replica (errors.py: when its state is in doubt)."""

    SOUND = "sound"  # it worked, or failed in a way the worker knows
    UNEXPECTED = "unexpected"  # an exception none of ours, outside Blender
    IN_DOUBT = "in-doubt"  # Blender raised something none of ours, or memory ran out


@dataclass(frozen=True, kw_only=True)
class Outcome:
    verdict: Verdict
    reason: str = ""
    description: str = ""
    frames_rendered: int = 0
    health: Health = Health.SOUND


@dataclass(frozen=True, kw_only=True)
class RenderedFrame:
    """A frame on local disk, waiting for its upload."""

    frame: int
    seconds: float  # Blender's time for it
    extension: str
    path: Path
    thumbnail: Path | None


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(kw_only=True)
class ChunkRenderer:
    """Everything one replica needs to render chunks, kept across messages."""

    storage: WorkerStorage
    cache: BlendCache
    renderer: Renderer
    worker_id: str
    blender_version: str  # the full version, recorded on each chunk it renders
    thumbnail: Callable[[Path, Path], Path] | None = None
    stop_requested: threading.Event
    _unrecorded: dict[int, float] = field(default_factory=dict, init=False)
    #: The chunk's frames already in Blob when it was taken up: the next write records them.
    _found: frozenset[int] = field(default=frozenset(), init=False)
    _last_progress: float = field(default=0.0, init=False)
    _timer: AttemptTimer = field(default_factory=AttemptTimer, init=False)
    #: Records the job's start and end (None: only chunk records are written, as in tests).
    lifecycle: Lifecycle | None = None
    _manifest: JobManifest | None = field(default=None, init=False)
    _manifest_read_at: float = field(default=0.0, init=False)
    _job_started: bool = field(default=True, init=False)
    #: The scene file and settings Blender has open and applied, after a chunk that completed.
    _prepared: tuple[Path, RenderSettings] | None = field(default=None, init=False)
    #: What the applied settings render on (CPU, OPTIX:NVIDIA H200), for the chunk record.
    _device: str | None = field(default=None, init=False)
    #: Where file-set jobs' projects are laid out (None: this replica renders one-file scenes
    #: only, as in tests that need no more).
    projects: ProjectCache | None = None
    #: The chunk's project on disk (None for a one-file scene), and the files its open scene
    #: lacks (found once per opening).
    _project: Project | None = field(default=None, init=False)
    _missing: tuple[str, ...] = field(default=(), init=False)
    _missing_files: MissingFilesPolicy = field(default_factory=MissingFilesPolicy, init=False)

    def render(self, message: ChunkMessage, *, lock_lost: threading.Event) -> Outcome:
        self._unrecorded.clear()  # a previous chunk that failed mid-write leaves nothing behind
        self._found = frozenset()
        # Blender's lines from earlier chunks name other jobs' (maybe other tenants') files.
        self.renderer.forget_log()
        self._timer.restart()  # picked up now: the chunk's worker seconds start
        with tracer.start_as_current_span(
            "render-chunk",
            attributes={"job.id": message.job_id, "chunk.index": message.chunk_index},
        ):
            self._manifest = self._project = None
            outcome = self._outcome(message, lock_lost)
        chunk_worker_seconds.record(
            self._timer.so_far().worker_s,
            {"blender": self.blender_version, "verdict": outcome.verdict.value},
        )
        return outcome

    def _render_keeping_scene(self, message: ChunkMessage, lock_lost: threading.Event) -> Outcome:
        """Render; after anything but a completed chunk the next one opens its scene afresh."""
        try:
            outcome = self._render(message, lock_lost)
        except BaseException:
            self._prepared = None  # whatever Blender holds now is not to be trusted again
            raise
        if outcome.verdict is not Verdict.COMPLETE:
            self._prepared = None
        return outcome

    def _prepare(
        self, scene: Path, settings: RenderSettings, *, project: Project | None = None
    ) -> None:
        """Open the scene and apply the settings, unless the last chunk left them so: a
        replica rendering a job's chunks one after another opens its scene once. A project's
        scene is checked for the files it uses and the project lacks."""
        if self._prepared == (scene, settings):
            return
        self._prepared = self._device = None
        self._missing = ()
        with self._timer.opening(), _calling_blender():
            self.renderer.open_scene(scene)
            if project is not None:
                self._missing = self.renderer.missing_files(project.folder)
            self._device = self.renderer.apply(settings)
        self._prepared = (scene, settings)

    def _outcome(self, message: ChunkMessage, lock_lost: threading.Event) -> Outcome:
        try:
            return self._render_keeping_scene(message, lock_lost)
        except PoisonError as error:
            return self._failed(message, error, Verdict.DEAD_LETTER, self._manifest)
        except (TransientError, OSError, AzureError, DependencyUnavailable) as error:
            wrapped = error if isinstance(error, WorkerError) else TransientError(str(error))
            return self._failed(message, wrapped, Verdict.ABANDON)
        except Exception as error:  # bpy's, the SDK's, a bug: never leave the message locked
            return self._unexpected(message, error)

    def _render(self, message: ChunkMessage, lock_lost: threading.Event) -> Outcome:
        # The attempt counts before the work runs, and before the manifest is read: a cancel
        # either lists this record and writes its marker, or was written before this read.
        self._record(message, self._started)
        versioned = self.storage.jobs.manifests.read_manifest(message.job_id)
        if versioned is None:
            raise PoisonError(f"job {message.job_id} has no manifest")
        manifest = self._manifest = versioned.manifest
        self._manifest_read_at = time.monotonic()
        if not manifest.accepts_work():
            return self._cancelled(message, manifest)
        self._job_started = manifest.started_at is not None
        with self._timer.downloading():
            scene = self._scene(manifest)
        self._prepare(scene, message.render, project=self._project)
        if self._project is not None:
            self._missing_files.check(
                manifest, self._missing, manifests=self.storage.jobs.manifests
            )
        # This chunk's frames only: requests bounded by the chunk's size, not the job's.
        present = self._found = self.storage.jobs.frames.frames_in(message.job_id, message.frames)
        todo = [frame for frame in message.frames if frame not in present]
        log.info(
            "rendering chunk",
            extra={
                "job_id": message.job_id,
                "chunk_index": message.chunk_index,
                "tenant": message.tenant,
            },
        )
        rendered = self._render_frames(message, todo, lock_lost)
        if isinstance(rendered, Outcome):
            return rendered
        self._done(message, manifest)
        return Outcome(verdict=Verdict.COMPLETE, frames_rendered=rendered)

    def _scene(self, manifest: JobManifest) -> Path:
        """The job's own scene in its own tenant, on local disk: the one-file scene the API
        verified when it accepted the job, or the main file of its project, laid out."""
        tenant, file_set = manifest.tenant, manifest.spec.file_set
        if file_set is not None:
            if self.projects is None:
                raise TransientError("this replica renders no projects (file sets)")
            self._project = self.projects.lay_out(file_set, tenant=tenant)
            return self._project.main
        sha256 = manifest.spec.scene_sha256
        return self.cache.get(
            sha256,
            lambda path: self.storage.download_scene(sha256, path, tenant=tenant),
            tenant=tenant,
        )

    def _render_frames(
        self, message: ChunkMessage, frames: list[int], lock_lost: threading.Event
    ) -> int | Outcome:
        extension = message.render.output_format.extension
        last_cancel_check = time.monotonic()
        pending: list[Future[None]] = []
        with (
            tempfile.TemporaryDirectory(prefix="renderfarm-") as scratch,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="uploader") as uploader,
        ):
            for count, frame in enumerate(frames):
                if self.stop_requested.is_set() or lock_lost.is_set():
                    _wait(pending)
                    return self._stopped(message)
                if time.monotonic() - last_cancel_check >= CANCEL_CHECK_S:
                    last_cancel_check = time.monotonic()
                    if self._cancel_seen(message):
                        _wait(pending)
                        return self._cancelled(message, self._require_manifest())
                rendered = self._render_one(frame, Path(scratch), extension)
                # In this chunk's trace context, so its uploads and log lines join the trace.
                in_trace = contextvars.copy_context()
                pending.append(uploader.submit(in_trace.run, self._publish, message, rendered))
                _raise_failures(pending)
                if count == 0:
                    last_cancel_check = time.monotonic() - CANCEL_CHECK_S  # check after frame 1
            _wait(pending)
        return len(frames)

    def _cancel_seen(self, message: ChunkMessage) -> bool:
        """The chunk's cancel marker, or, every MANIFEST_CHECK_S, the manifest itself."""
        if time.monotonic() - self._manifest_read_at < MANIFEST_CHECK_S:
            return self.storage.jobs.chunks.cancel_signalled(message.job_id, message.chunk_index)
        self._manifest_read_at = time.monotonic()
        versioned = self.storage.jobs.manifests.read_manifest(message.job_id)
        return versioned is None or not versioned.manifest.accepts_work()

    def _render_one(self, frame: int, scratch: Path, extension: str) -> RenderedFrame:
        started = time.perf_counter()
        with (
            tracer.start_as_current_span("render-frame", attributes={"frame": frame}),
            _calling_blender(),
        ):
            path = self.renderer.render_frame(frame, scratch / f"{frame:06d}.{extension}")
        seconds = time.perf_counter() - started
        frame_render_seconds.record(seconds)
        self._timer.rendered(seconds)
        thumb: Path | None = None
        if self.thumbnail is not None:
            with _calling_blender():  # bpy's image API
                thumb = self.thumbnail(path, scratch / f"{frame:06d}.thumb.jpg")
        return RenderedFrame(
            frame=frame, seconds=seconds, extension=extension, path=path, thumbnail=thumb
        )

    def _publish(self, message: ChunkMessage, rendered: RenderedFrame) -> None:
        started = time.perf_counter()
        frame = rendered.frame
        self.storage.upload_frame(message.job_id, frame, rendered.extension, rendered.path)
        if rendered.thumbnail is not None:
            self.storage.upload_thumbnail(message.job_id, frame, rendered.thumbnail)
        frame_upload_seconds.record(time.perf_counter() - started)
        self._timer.uploaded(time.perf_counter() - started, _size(rendered))
        self._unrecorded[frame] = rendered.seconds
        if not self._job_started:
            self._job_started = True
            self._first_frame_in(message.job_id)
        if time.monotonic() - self._last_progress >= PROGRESS_EVERY_S:
            self._record(message, lambda record: record)
        rendered.path.unlink(missing_ok=True)

    # --- the chunk record -------------------------------------------------------------------

    def _record(self, message: ChunkMessage, change: Callable[[ChunkRecord], ChunkRecord]) -> None:
        """Write the record with ``change`` applied and every frame uploaded since the last write.

        Called from one thread at a time: the uploader while frames render, the renderer's
        thread once the uploads are done.
        """
        frames = dict(self._unrecorded)
        written_over: list[ChunkRecord] = []  # what the write that succeeded replaced

        def mutate(current: ChunkRecord | None) -> ChunkRecord:
            base = current or ChunkRecord(
                job_id=message.job_id, chunk_index=message.chunk_index, state=ChunkState.PENDING
            )
            written_over[:] = [base]
            # Every write carries the chunk's worker seconds so far (the cost model's input).
            changed = chunk_states.found(change(base), self._found)
            if self._device is not None:
                changed = replace(changed, render_device=self._device)
            return self._timer.stamp(base, _with_frames(changed, frames))

        self.storage.update_chunk_record(message.job_id, message.chunk_index, mutate)
        self._timer.recorded(written_over[0])
        for frame in frames:
            self._unrecorded.pop(frame, None)
        self._last_progress = time.monotonic()

    # --- state changes, all through renderfarm.chunk_states --------------------------------

    def _require_manifest(self) -> JobManifest:
        assert self._manifest is not None, "read at the chunk's start"
        return self._manifest

    def _started(self, record: ChunkRecord) -> ChunkRecord:
        return chunk_states.start(
            record, worker_id=self.worker_id, blender_version=self.blender_version, at=now()
        )

    def _done(self, message: ChunkMessage, manifest: JobManifest) -> None:
        self._record(message, lambda record: chunk_states.finish(record, now()))
        self._settle(message, manifest, ChunkState.DONE)

    def _cancelled(self, message: ChunkMessage, manifest: JobManifest) -> Outcome:
        self._record(message, lambda record: chunk_states.cancel(record, now()))
        self._settle(message, manifest, ChunkState.CANCELLED)
        return Outcome(verdict=Verdict.COMPLETE, reason="JobCancelled")

    def _stopped(self, message: ChunkMessage) -> Outcome:
        """Handed back: the next delivery picks up at the first missing frame."""
        self._record(message, lambda record: chunk_states.hand_back(record, now()))
        return Outcome(verdict=Verdict.ABANDON, reason="WorkerStopping")

    def _failed(
        self,
        message: ChunkMessage,
        error: WorkerError,
        verdict: Verdict,
        manifest: JobManifest | None = None,
        *,
        traceback: BaseException | None = None,
    ) -> Outcome:
        # Shown to the client: Blender's words, without the folders of this replica's files;
        # a project's files keep their project paths.
        log_tail = self._redacted("\n".join(error.blender_log or self.renderer.log_tail()))
        description = self._redacted(error.description)
        text = f"{error.reason}: {description}"
        final = verdict is Verdict.DEAD_LETTER
        change = chunk_states.fail if final else chunk_states.retry_later
        log.log(
            logging.WARNING if traceback is None else logging.ERROR,
            "chunk failed: %s",
            text,
            exc_info=traceback,
            extra={"job_id": message.job_id, "chunk_index": message.chunk_index},
        )
        try:
            self._record(message, lambda record: change(record, error=text, log=log_tail, at=now()))
            if final and manifest is not None:
                self._settle(message, manifest, ChunkState.FAILED, error=text)
        except (TransientError, OSError, AzureError):
            # The dead-letter handler settles a dead-lettered chunk too; a retried one retries.
            log.warning("could not record the failure of chunk %s", message.message_id)
        return Outcome(verdict=verdict, reason=error.reason, description=description)

    def _redacted(self, text: str) -> str:
        if self._project is not None:
            text = text.replace(f"{self._project.folder}{os.sep}", "")
        return without_paths(text)

    def _unexpected(self, message: ChunkMessage, error: Exception) -> Outcome:
        """An exception none of ours: the message goes back at once, as for a transient error,
        with the error on the chunk and its traceback in the log."""
        wrapped = error if isinstance(error, UnexpectedError) else UnexpectedError.wrapping(error)
        outcome = self._failed(message, wrapped, Verdict.ABANDON, traceback=error)
        doubt = isinstance(wrapped, StateInDoubt)
        return replace(outcome, health=Health.IN_DOUBT if doubt else Health.UNEXPECTED)

    def _settle(
        self, message: ChunkMessage, manifest: JobManifest, state: ChunkState, error: str = ""
    ) -> None:
        """Note the settled chunk in the job's ledger; the last one records the job's end.
        A failure here hands the message back: its redelivery settles the chunk again."""
        if self.lifecycle is None:
            return
        try:
            if state is ChunkState.FAILED:
                self.lifecycle.chunk_failed(manifest, message.chunk_index, error)
            self.lifecycle.chunk_settled(manifest, message.chunk_index, state)
        except (DependencyUnavailable, LedgerContention, ConcurrentUpdate, JobNotFound) as failure:
            raise TransientError(f"could not settle the chunk: {failure}") from failure

    def _first_frame_in(self, job_id: str) -> None:
        """The job's first frame may be this one: say the job started (best effort: the next
        chunk's first frame tries again)."""
        if self.lifecycle is None:
            return
        try:
            self.lifecycle.record_start(job_id)
        except (DependencyUnavailable, ConcurrentUpdate, AzureError):
            log.warning("could not record the start of job %s", job_id, exc_info=True)


@contextlib.contextmanager
def _calling_blender() -> Iterator[None]:
    """Around each call into Blender. BlenderRunner raises our errors, and OSError for local
    files; anything else (a RuntimeError or SystemError out of bpy) means Blender's own state,
    kept from chunk to chunk, may be broken."""
    try:
        yield
    except (WorkerError, OSError):
        raise
    except Exception as error:
        raise UnexpectedError.wrapping(error, in_blender=True) from error


def _with_frames(record: ChunkRecord, seconds: dict[int, float]) -> ChunkRecord:
    return chunk_states.progress(record, seconds, now())


def _size(rendered: RenderedFrame) -> int:
    """Bytes a frame puts in Blob: the frame and its thumbnail."""
    thumbnail = rendered.thumbnail.stat().st_size if rendered.thumbnail is not None else 0
    return rendered.path.stat().st_size + thumbnail


def _raise_failures(pending: list[Future[None]]) -> None:
    """Surface an upload that already failed, so the chunk stops early."""
    for future in pending:
        if future.done() and future.exception() is not None:
            future.result()


def _wait(pending: list[Future[None]]) -> None:
    for future in pending:
        future.result()
