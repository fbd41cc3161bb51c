"""Render chunks on one replica: open each chunk's scene (once for consecutive chunks of a job),
then hand the frames to the chunk's attempt (chunk_attempt.py), and map what went wrong to an
outcome that tells the worker how to settle the message.

What lives here outlives a chunk: the clients, the scene Blender has open and its settings, the
files that scene lacks. What lives for one chunk is in its ChunkAttempt.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from azure.core.exceptions import AzureError

from containerapp_worker.attempt_log import AttemptLog
from containerapp_worker.billing import WorkerBilling
from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.chunk_attempt import ChunkAttempt, Lifecycle, ReplicaParts, now
from containerapp_worker.chunk_outcome import Health, Outcome, Verdict
from containerapp_worker.errors import (
    PoisonError,
    StateInDoubt,
    Superseded,
    TransientError,
    UnexpectedError,
    WorkerError,
)
from containerapp_worker.frame_thumbnails import FrameThumbnails
from containerapp_worker.missing_files import MissingFilesPolicy
from containerapp_worker.project_cache import Project, ProjectCache
from containerapp_worker.storage import WorkerStorage
from containerapp_worker.telemetry import chunk_worker_seconds, tracer
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm.shared.render_settings import RenderSettings

log = logging.getLogger(__name__)


class Renderer(Protocol):
    """What the chunk needs of Blender (BlenderRunner in production)."""

    def open_scene(self, path: Path) -> None: ...
    #: The files the open scene uses that are not on disk, named relative to ``root``.
    def missing_files(self, root: Path) -> tuple[str, ...]: ...
    def apply(self, settings: RenderSettings) -> str | None: ...  # the device it renders on
    def render_frame(self, frame: int, out_path: Path) -> Path: ...
    def log_tail(self) -> tuple[str, ...]: ...
    def forget_log(self) -> None: ...  # a chunk's report carries its own lines, no other job's
    def new_output(self) -> bytes: ...  # what Blender wrote since the last call (any thread)


@dataclass(kw_only=True)
class ChunkRenderer:
    """Everything one replica needs to render chunks, kept across messages."""

    storage: WorkerStorage
    cache: BlendCache
    renderer: Renderer
    worker_id: str
    blender_version: str  # the full version, recorded on each chunk it renders
    thumbnails: FrameThumbnails | None = None
    stop_requested: threading.Event
    #: Records the job's start and end (None: only chunk records are written, as in tests).
    lifecycle: Lifecycle | None = None
    #: Where file-set jobs' projects are laid out (None: this replica renders one-file scenes
    #: only, as in tests that need no more).
    projects: ProjectCache | None = None
    #: Budgets and usage (None: nothing is held and no usage is kept, as in tests).
    billing: WorkerBilling | None = None
    #: The scene file and settings Blender has open and applied, after a chunk that completed.
    _prepared: tuple[Path, RenderSettings] | None = field(default=None, init=False)
    #: What the applied settings render on, and the files the open scene lacks (found once per
    #: opening, for projects).
    _device: str | None = field(default=None, init=False)
    _missing: tuple[str, ...] = field(default=(), init=False)
    _missing_files: MissingFilesPolicy = field(default_factory=MissingFilesPolicy, init=False)

    def render(self, message: ChunkMessage, *, lock_lost: threading.Event) -> Outcome:
        # Blender's lines from earlier chunks name other jobs' (maybe other tenants') files.
        self.renderer.forget_log()
        attempt = ChunkAttempt(message=message, lock_lost=lock_lost, replica=self._parts())
        attempt.log = AttemptLog(
            store=self.storage.jobs.logs, output=self.renderer.new_output, redact=attempt.redacted
        )
        try:
            with tracer.start_as_current_span(
                "render-chunk",
                attributes={"job.id": message.job_id, "chunk.index": message.chunk_index},
            ):
                outcome = self._outcome(attempt)
        finally:
            attempt.log.end(now())  # before the next chunk's output can start
        if self.billing is not None:  # whatever the outcome: the attempt spent worker time
            self.billing.attempt_ended(attempt)
        chunk_worker_seconds.record(
            attempt.timer.so_far().worker_s,
            {"blender": self.blender_version, "verdict": outcome.verdict.value},
        )
        return outcome

    def _parts(self) -> ReplicaParts:
        return ReplicaParts(
            storage=self.storage,
            worker_id=self.worker_id,
            blender_version=self.blender_version,
            stop_requested=self.stop_requested,
            lifecycle=self.lifecycle,
            thumbnails=self.thumbnails,
            calling_blender=calling_blender,
            folders=self._folders(),
        )

    def _folders(self) -> tuple[str, ...]:
        """This replica's folders, which no client may read of: cut from logs and errors."""
        folders = [str(self.cache.directory), tempfile.gettempdir()]
        if self.projects is not None:
            folders.append(str(self.projects.directory))
        return tuple(folders)

    def _outcome(self, attempt: ChunkAttempt) -> Outcome:
        try:
            return self._render_keeping_scene(attempt)
        except Superseded as stale:
            return attempt.superseded(stale)
        except PoisonError as error:
            return self._failed(attempt, error, Verdict.DEAD_LETTER)
        except (TransientError, OSError, AzureError, DependencyUnavailable) as error:
            wrapped = error if isinstance(error, WorkerError) else TransientError(str(error))
            return self._failed(attempt, wrapped, Verdict.ABANDON)
        except Exception as error:  # bpy's, the SDK's, a bug: never leave the message locked
            return self._unexpected(attempt, error)

    def _render_keeping_scene(self, attempt: ChunkAttempt) -> Outcome:
        """Render; after anything but a completed chunk the next one opens its scene afresh."""
        try:
            outcome = self._render(attempt)
        except BaseException:
            self._prepared = None  # whatever Blender holds now is not to be trusted again
            raise
        if outcome.verdict not in {Verdict.COMPLETE, Verdict.HOLD}:  # a hold touched no scene
            self._prepared = None
        return outcome

    def _render(self, attempt: ChunkAttempt) -> Outcome:
        message = attempt.message
        held = self.billing.hold(attempt) if self.billing is not None else None
        if held is not None:
            return held  # before the attempt counts: a held chunk costs it no attempt
        # The chunk's frames already in Blob are listed while the attempt starts (this chunk's
        # frames only: requests bounded by the chunk's size, not the job's): neither waits for
        # the other's answer. The answer is taken once the attempt counted, so the start's
        # write records no frame found, as before.
        frames = self.storage.jobs.frames
        in_trace = contextvars.copy_context()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="frames-listing") as side:
            listing = side.submit(in_trace.run, frames.frames_in, message.job_id, message.frames)
            cancelled = self._start(attempt)
            if cancelled is not None:
                return cancelled
            present = attempt.found = listing.result()
        todo = [frame for frame in message.frames if frame not in present]
        log.info(
            "rendering chunk",
            extra={
                "job_id": message.job_id,
                "chunk_index": message.chunk_index,
                "tenant": message.tenant,
            },
        )
        rendered = attempt.render_frames(todo, self.renderer)
        if isinstance(rendered, Outcome):
            return rendered
        return attempt.done(rendered)

    def _start(self, attempt: ChunkAttempt) -> Outcome | None:
        """Count the attempt, read the manifest, and open the scene; the outcome of a job
        cancelled meanwhile, else None."""
        message = attempt.message
        # The attempt counts before the work runs, and before the manifest is read: a cancel
        # either lists this record and writes its marker, or was written before this read.
        attempt.started()
        manifest = attempt.read_manifest()
        if manifest is None:
            raise PoisonError(f"job {message.job_id} has no manifest")
        if manifest.round != message.round:  # a message of a round the job was retried past
            raise Superseded(f"job {message.job_id} is in round {manifest.round}")
        if not manifest.accepts_work():
            return attempt.cancelled(manifest)
        with attempt.timer.downloading():
            scene = self._scene(attempt, manifest)
        self._prepare(attempt, scene, message.render)
        if attempt.project is not None:
            self._missing_files.check(
                manifest, self._missing, manifests=self.storage.jobs.manifests
            )
        return None

    def _prepare(self, attempt: ChunkAttempt, scene: Path, settings: RenderSettings) -> None:
        """Open the scene and apply the settings, unless the last chunk left them so: a
        replica rendering a job's chunks one after another opens its scene once. A project's
        scene is checked for the files it uses and the project lacks."""
        if self._prepared != (scene, settings):
            self._prepared = self._device = None
            self._missing = ()
            with attempt.timer.opening(), calling_blender():
                self.renderer.open_scene(scene)
                if attempt.project is not None:
                    self._missing = self.renderer.missing_files(attempt.project.folder)
                self._device = self.renderer.apply(settings)
            self._prepared = (scene, settings)
        attempt.device = self._device

    def _scene(self, attempt: ChunkAttempt, manifest: JobManifest) -> Path:
        """The job's own scene in its own tenant, on local disk: the one-file scene the API
        verified when it accepted the job, or the main file of its project, laid out."""
        tenant, file_set = manifest.tenant, manifest.spec.file_set
        if file_set is not None:
            if self.projects is None:
                raise TransientError("this replica renders no projects (file sets)")
            project: Project = self.projects.lay_out(file_set, tenant=tenant)
            attempt.project = project
            return project.main
        sha256 = manifest.spec.scene_sha256
        return self.cache.get(
            sha256,
            lambda path: self.storage.download_scene(sha256, path, tenant=tenant),
            tenant=tenant,
        )

    def _failed(
        self,
        attempt: ChunkAttempt,
        error: WorkerError,
        verdict: Verdict,
        *,
        traceback: BaseException | None = None,
    ) -> Outcome:
        return attempt.failed(error, verdict, self.renderer.log_tail(), traceback=traceback)

    def _unexpected(self, attempt: ChunkAttempt, error: Exception) -> Outcome:
        """An exception none of ours: the message goes back at once, as for a transient error,
        with the error on the chunk and its traceback in the log."""
        wrapped = error if isinstance(error, UnexpectedError) else UnexpectedError.wrapping(error)
        outcome = self._failed(attempt, wrapped, Verdict.ABANDON, traceback=error)
        doubt = isinstance(wrapped, StateInDoubt)
        return replace(outcome, health=Health.IN_DOUBT if doubt else Health.UNEXPECTED)


@contextlib.contextmanager
def calling_blender() -> Iterator[None]:
    """Around each call into Blender. BlenderRunner raises our errors, and OSError for local
    files; anything else (a RuntimeError or SystemError out of bpy) means Blender's own state,
    kept from chunk to chunk, may be broken."""
    try:
        yield
    except (WorkerError, OSError):
        raise
    except Exception as error:
        raise UnexpectedError.wrapping(error, in_blender=True) from error
