"""Submitting, reading, listing and cancelling jobs: the API's logic, over the ports."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from renderfarm import blob_layout as layout
from renderfarm.blend_header import BlenderVersion, BlendHeaderError, saved_by
from renderfarm.blender_pools import NoGpuWorkers, pick_pool
from renderfarm.chunk_plan import ChunkPlan, FarmCapacity, plan_chunks_for, settings_key
from renderfarm.chunk_record import ChunkState, ChunkSummary
from renderfarm.chunk_states import is_settled
from renderfarm.chunking import Chunk
from renderfarm.errors import (
    ConcurrentUpdate,
    DependencyUnavailable,
    EnqueueFailed,
    IdempotencyKeyReused,
    InvalidSchedule,
    JobNotFound,
    QueuedFramesCapExceeded,
)
from renderfarm.events import EventType, JobEvent
from renderfarm.file_set import missing_warnings
from renderfarm.idempotency import job_id_for
from renderfarm.job_end import JobOutcome
from renderfarm.job_spec import JobRequest, JobSpec
from renderfarm.manifest import EnqueueState, JobManifest
from renderfarm.ports import (
    ChunkQueue,
    EventPublisher,
    IndexEntry,
    JobStore,
    SceneStore,
    SceneTimingsStore,
    Versioned,
)
from renderfarm.project_checks import ProjectChecks
from renderfarm.status import JobState, JobStatus, job_status

log = logging.getLogger(__name__)

#: Chunk records downloaded per status read for their last error (the rest say only their state).
MAX_ERRORS_READ = 20
#: Past this many name prefixes, one listing of all the job's frames costs less.
MAX_FRAME_LISTINGS = 24
#: Index entries looked at per list request when filtering by state.
MAX_SCANNED_PER_LIST = 200
_UPDATE_TRIES = 5
#: Unfinished jobs whose chunk records are listed at once when counting queued frames.
CAP_CHECK_THREADS = 8
#: How far ahead a job may be scheduled (scheduled messages wait in the queue until then).
MAX_SCHEDULE_AHEAD = timedelta(days=30)
#: How old the per-tenant count of waiting frames may be before it is counted again.
CAP_ESTIMATE_SECONDS = 5.0
#: Without settings that say otherwise: infra/scaling.json's maxReplicas, and a Container Apps
#: replica's cold start with a Blender image (pull cached; docs/facts.md "Container Apps start-up").
DEFAULT_CAPACITY = FarmCapacity(replicas=10, replica_start_s=20.0)


@dataclass(frozen=True, kw_only=True)
class Submitted:
    manifest: JobManifest
    replayed: bool


@dataclass(frozen=True, kw_only=True)
class JobPage:
    statuses: tuple[tuple[JobManifest, JobStatus], ...]
    cursor: str | None


class JobService:
    def __init__(
        self,
        *,
        store: JobStore,
        scenes: SceneStore,
        queue: ChunkQueue,
        clock: Callable[[], datetime],
        max_queued_frames: int,
        blenders: Sequence[BlenderVersion],
        events: EventPublisher,
        monotonic: Callable[[], float] = time.monotonic,
        gpu_workers: bool = False,
        timings: SceneTimingsStore | None = None,
        capacity: FarmCapacity = DEFAULT_CAPACITY,
        projects: ProjectChecks | None = None,
    ):
        self._store = store
        self._scenes = scenes
        self._queue = queue
        self._blenders = tuple(blenders)
        self._events = events
        self._clock = clock
        self._max_queued_frames = max_queued_frames
        self._monotonic = monotonic
        self._gpu_workers = gpu_workers
        self._timings = timings
        self._capacity = capacity
        self._projects = projects or ProjectChecks(store=None)
        # tenant -> (when counted, frames waiting then + frames accepted here since)
        self._waiting: dict[str, tuple[float, int]] = {}
        self._waiting_lock = threading.Lock()

    def submit(
        self,
        request: JobRequest,
        *,
        tenant: str,
        idempotency_key: str | None,
        trace_context: Mapping[str, str],
    ) -> Submitted:
        """Validate, write the manifest, send every chunk, then say the job is enqueued."""
        job_id = job_id_for(tenant, idempotency_key)
        if idempotency_key is not None:
            existing = self._store.read_manifest(job_id)
            if existing is not None:
                return self._replay(existing, request, trace_context)
        spec = request.to_spec()
        if spec.gpu and not self._gpu_workers:
            raise NoGpuWorkers()
        self._check_schedule(spec.not_before)
        file_set = request.file_set()
        if file_set is None:
            scene_version = newest = self._check_scene(spec.scene_sha256, tenant=tenant)
        else:
            scene_version, newest = self._projects.check(file_set, tenant=tenant)
        pinned = BlenderVersion.parse(request.blender) if request.blender else None
        # A library saved by a newer Blender than the main file needs that Blender too.
        pool = pick_pool(saved_by=newest, pinned=pinned, supported=self._blenders)
        self._check_queued_frames_cap(tenant, asked=len(spec.frames))
        manifest = JobManifest.new(
            job_id=job_id,
            tenant=tenant,
            spec=spec,
            created_at=self._clock(),
            fingerprint=request.fingerprint(),
            blender=str(pool),
            scene_saved_by=str(scene_version),
            blender_pinned=pinned is not None,
            plan=None if spec.chunk_size else self._plan(spec, tenant),
            warnings=missing_warnings(file_set.missing) if file_set is not None else (),
        )
        if file_set is not None:  # before the manifest: a worker reads it to lay out the project
            self._projects.save(file_set, tenant=tenant)
        etag = self._store.create_manifest(manifest)
        if etag is None:
            existing = self._store.read_manifest(job_id)  # a concurrent retry won the race
            if existing is None:
                raise ConcurrentUpdate(f"job {job_id} vanished while being created")
            return self._replay(existing, request, trace_context)
        self._store.index_job(manifest)
        self._add_waiting(tenant, len(spec.frames))
        written = Versioned(manifest=manifest, etag=etag)  # no need to download it again
        return Submitted(manifest=self._enqueue(written, trace_context), replayed=False)

    def _check_scene(self, sha256: str, *, tenant: str) -> BlenderVersion:
        """The Blender that saved a one-file scene, once its bytes hash to its name and it is
        whole. Bytes that hash wrong are refused (and removed) as such; else a bad header is
        what says most precisely what is wrong with a file that is no .blend."""
        try:
            version = saved_by(self._scenes.head(sha256, tenant=tenant))
        except BlendHeaderError:
            self._scenes.verify(sha256, tenant=tenant, whole_blend=False)
            raise
        self._scenes.verify(sha256, tenant=tenant)
        return version

    def _replay(
        self, existing: Versioned, request: JobRequest, trace_context: Mapping[str, str]
    ) -> Submitted:
        manifest = existing.manifest
        if manifest.request_fingerprint != request.fingerprint():
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different job")
        if manifest.enqueue_state is EnqueueState.ENQUEUING:
            # The first try stopped midway (its process died, say): list the job and send again;
            # both are idempotent, and duplicate detection drops repeated messages.
            self._store.index_job(manifest)
            manifest = self._enqueue(existing, trace_context)
        return Submitted(manifest=manifest, replayed=True)

    def _enqueue(self, versioned: Versioned, trace_context: Mapping[str, str]) -> JobManifest:
        """Send the job's messages, then mark it enqueued over ``versioned`` (the manifest as
        stored: its etag saves a read unless someone wrote since)."""
        manifest = versioned.manifest
        try:
            not_before = manifest.spec.not_before
            if not_before is None:
                self._queue.send(manifest.queue, manifest.messages(), trace_context)
            else:  # scheduled messages: the queue holds them until then
                scheduled = self._queue.schedule(
                    manifest.queue, manifest.messages(), trace_context, at=not_before
                )
                self._store.save_schedule(manifest.job_id, scheduled)
            # Before "enqueued": a retry of a job that stopped here sends both again.
            self._announce(EventType.JOB_ACCEPTED, manifest)
        except DependencyUnavailable as error:
            log.warning(
                "enqueue failed", extra={"job_id": manifest.job_id, "tenant": manifest.tenant}
            )
            reason, now = str(error), self._clock()
            failed = self._update(
                manifest.job_id,
                lambda m: m.enqueue_failed(reason).ended(JobOutcome.FAILED, now),
                known=versioned,
            )
            self._store.mark_terminal(failed)
            with contextlib.suppress(DependencyUnavailable):  # Service Bus is likely down too
                self._announce(EventType.JOB_FAILED, failed)
            raise EnqueueFailed(manifest.job_id, error) from error
        return self._update(manifest.job_id, JobManifest.enqueued, known=versioned)

    def _plan(self, spec: JobSpec, tenant: str) -> ChunkPlan:
        """The chunk size from what earlier renders of this scene measured (renderfarm.chunk_plan).
        A failed read only costs the measurement: the job is planned without it."""
        timings = None
        if self._timings is not None:
            try:
                timings = self._timings.read_scene_timings(
                    tenant, spec.scene_sha256, settings_key(spec.render)
                )
            except DependencyUnavailable:
                log.warning("scene timings unavailable: planning chunks without them")
        return plan_chunks_for(len(spec.frames), timings, self._capacity)

    def _check_schedule(self, not_before: datetime | None) -> None:
        if not_before is None:
            return
        now = self._clock()
        if not_before <= now:
            raise InvalidSchedule(f"not_before {not_before.isoformat()} is in the past")
        if not_before > now + MAX_SCHEDULE_AHEAD:
            raise InvalidSchedule(
                f"not_before {not_before.isoformat()} is more than "
                f"{MAX_SCHEDULE_AHEAD.days} days ahead"
            )

    def _update(
        self,
        job_id: str,
        change: Callable[[JobManifest], JobManifest],
        *,
        known: Versioned | None = None,
    ) -> JobManifest:
        """Apply ``change`` to the stored manifest, re-reading when someone else wrote first.
        ``known``: the version the caller holds, tried first without a read."""
        for attempt in range(_UPDATE_TRIES):
            current = known if attempt == 0 and known else self._store.read_manifest(job_id)
            if current is None:
                raise JobNotFound(job_id)
            changed = change(current.manifest)
            if changed == current.manifest:
                return changed
            try:
                self._store.replace_manifest(changed, current.etag)
            except ConcurrentUpdate:
                continue
            return changed
        raise ConcurrentUpdate(f"job {job_id} kept changing")

    def _check_queued_frames_cap(self, tenant: str, *, asked: int) -> None:
        waiting = self._estimated_waiting(tenant)
        if waiting + asked > self._max_queued_frames:
            raise QueuedFramesCapExceeded(waiting=waiting, asked=asked, cap=self._max_queued_frames)

    def _estimated_waiting(self, tenant: str) -> int:
        """The tenant's waiting frames, counted at most CAP_ESTIMATE_SECONDS ago, plus what this
        process accepted since: counting costs a listing per unfinished job, so not per submit."""
        now = self._monotonic()
        with self._waiting_lock:
            cached = self._waiting.get(tenant)
        if cached is not None and now - cached[0] < CAP_ESTIMATE_SECONDS:
            return cached[1]
        waiting = self.queued_frames(tenant)
        with self._waiting_lock:
            self._waiting[tenant] = (now, waiting)
        return waiting

    def _add_waiting(self, tenant: str, frames: int) -> None:
        with self._waiting_lock:
            if tenant in self._waiting:
                counted_at, waiting = self._waiting[tenant]
                self._waiting[tenant] = (counted_at, waiting + frames)

    def _forget_waiting(self, tenant: str) -> None:
        with self._waiting_lock:
            self._waiting.pop(tenant, None)

    def queued_frames(self, tenant: str) -> int:
        """Frames of the tenant's unfinished jobs whose chunks have not finished.

        An estimate from chunk records (one cheap listing per unfinished job), good enough for
        backpressure; frames of a chunk still rendering count as waiting.
        """
        waiting, cursor = 0, None
        with ThreadPoolExecutor(max_workers=CAP_CHECK_THREADS) as pool:
            while True:
                page = self._store.index_page(tenant, size=1000, cursor=cursor)
                unfinished = [entry for entry in page.entries if not entry.terminal]
                waiting += sum(pool.map(self._waiting_frames, unfinished))
                cursor = page.cursor
                if cursor is None:
                    return waiting

    def _waiting_frames(self, entry: IndexEntry) -> int:
        finished = {ChunkState.DONE, ChunkState.FAILED, ChunkState.CANCELLED}
        summaries = self._store.chunk_summaries(entry.job_id)
        done = sum(
            min(entry.chunk_size, entry.frames_total - index * entry.chunk_size)
            for index, summary in summaries.items()
            if summary.state in finished
        )
        return max(0, entry.frames_total - done)

    def status(self, job_id: str, *, tenant: str) -> tuple[JobManifest, JobStatus]:
        found = self._status_of(job_id, tenant)
        if found is None:
            raise JobNotFound(job_id)
        return found

    def _status_of(
        self, job_id: str, tenant: str, *, list_frames: bool = True
    ) -> tuple[JobManifest, JobStatus] | None:
        """The job's status; ``list_frames=False`` lists no frames at all (for job lists: the
        count then leaves out the frames of chunks that stopped without saying which)."""
        if not layout.is_job_id(job_id):
            return None  # no listing under a name that is not a job's
        with ThreadPoolExecutor(max_workers=1) as pool:  # two round trips at once, not in turn
            listing = pool.submit(self._store.chunk_summaries, job_id)
            versioned = self._store.read_manifest(job_id)
            if versioned is None or versioned.manifest.tenant != tenant:
                return None  # the listing's answer is dropped unread
            chunks = listing.result()
        manifest = versioned.manifest
        # A job once complete stays complete (frames are never removed): no need to list them.
        if manifest.outcome == JobOutcome.COMPLETED:
            frames = frozenset(manifest.spec.frames)
        else:
            frames = self._frames_present(manifest, chunks, list_unsure=list_frames)
        troubled = [
            index
            for index, summary in sorted(chunks.items())
            # failed, or retried after a failure (the worker sets it back to pending or rendering)
            if summary.state is ChunkState.FAILED
            or (summary.state is not ChunkState.DONE and summary.attempts > 1)
        ][:MAX_ERRORS_READ]
        errors = self._store.chunk_errors(job_id, troubled) if troubled else {}
        # A read never writes: the job's end is recorded where its last chunk settles.
        status = job_status(
            manifest, chunks=chunks, errors=errors, frames_present=frames, now=self._clock()
        )
        return manifest, status

    def _frames_present(
        self, manifest: JobManifest, chunks: Mapping[int, ChunkSummary], *, list_unsure: bool
    ) -> frozenset[int]:
        """Frames in Blob, from the chunk records where they can say, listed where they cannot.

        A chunk recorded done has all its frames: its worker writes done only after its last
        upload. An unsettled chunk's record names the frames its worker uploaded, written every
        few seconds (and a worker that takes a chunk up again records the frames it finds), so
        it is trusted, a few seconds behind. A chunk without a record has none: a worker
        records the start before its first upload. Only a chunk that failed or was cancelled
        part-way, or whose record does not name its frames, has its frames listed, by name
        prefix: they may hold frames an attempt uploaded and then died before recording.
        """
        found: set[int] = set()
        unsure: list[tuple[int, int]] = []
        previous_unsure = False
        for chunk in manifest.chunks:  # contiguous slices of the job's sorted frames
            trusted = _recorded_frames(chunk, chunks.get(chunk.index))
            if trusted is not None:
                found.update(trusted)
            elif previous_unsure:  # the unsure chunk before it ends right where this one starts
                unsure[-1] = (unsure[-1][0], max(chunk.frames))
            else:
                unsure.append((min(chunk.frames), max(chunk.frames)))
            previous_unsure = trusted is None
        if not unsure or not list_unsure:
            return frozenset(found)
        prefixes = _listing_prefixes(unsure)
        if prefixes is None or len(prefixes) > MAX_FRAME_LISTINGS:
            return frozenset(found) | self._store.frames_present(manifest.job_id)
        job_frames = frozenset(manifest.spec.frames)  # a block may name other chunks' frames too
        listed = self._store.frames_present(manifest.job_id, prefixes)
        return frozenset(found) | (listed & job_frames)

    def list_jobs(
        self, *, tenant: str, size: int, cursor: str | None, state: JobState | None
    ) -> JobPage:
        """A page of the tenant's jobs, newest first, optionally only those in ``state``."""
        found: list[tuple[JobManifest, JobStatus]] = []
        scanned = 0
        while len(found) < size and scanned < MAX_SCANNED_PER_LIST:
            page = self._store.index_page(tenant, size=size - len(found), cursor=cursor)
            scanned += len(page.entries)
            for entry in page.entries:
                item = self._status_of(entry.job_id, tenant, list_frames=False)
                if item is not None and (state is None or item[1].state is state):
                    found.append(item)
            cursor = page.cursor
            if cursor is None:
                break
        return JobPage(statuses=tuple(found), cursor=cursor)

    def cancel(self, job_id: str, *, tenant: str) -> tuple[JobManifest, JobStatus]:
        """Cancel the job (again is fine): its end is recorded now, once, and workers stop at
        their next frame. A job that has ended already stays as it ended."""
        manifest, _ = self.status(job_id, tenant=tenant)  # 404 for another tenant's job
        if manifest.outcome is None:
            now = self._clock()
            manifest = self._update(
                job_id, lambda m: m.cancelled(now).ended(JobOutcome.CANCELLED, now)
            )
            self._store.mark_terminal(manifest)
            self._forget_waiting(tenant)
            self._unschedule(manifest)
            if manifest.outcome == JobOutcome.CANCELLED:
                self._announce(EventType.JOB_CANCELLED, manifest)
        if manifest.outcome == JobOutcome.CANCELLED:
            self._signal_cancel(job_id)  # again on a repeated cancel: a crash may have cut it
        return self.status(job_id, tenant=tenant)

    def _signal_cancel(self, job_id: str) -> None:
        """Write the cancel marker of every chunk whose record is unsettled, after the manifest
        says cancelled. A worker records its chunk's start before it reads the manifest, so a
        chunk this listing misses started after the cancel was written and sees it there."""
        chunks = self._store.chunk_summaries(job_id)
        unsettled = [index for index, chunk in chunks.items() if not is_settled(chunk.state)]
        if unsettled:
            self._store.signal_cancel(job_id, sorted(unsettled))

    def _unschedule(self, manifest: JobManifest) -> None:
        """A cancelled job's scheduled messages are taken off the queue; any already due are
        cancelled by their workers, as for any job."""
        if manifest.spec.not_before is None or manifest.spec.not_before <= self._clock():
            return
        scheduled = self._store.read_schedule(manifest.job_id)
        if scheduled:
            self._queue.cancel_scheduled(manifest.queue, scheduled)

    def _announce(self, event_type: EventType, manifest: JobManifest) -> None:
        self._events.publish(
            [
                JobEvent(
                    type=event_type,
                    job_id=manifest.job_id,
                    tenant=manifest.tenant,
                    at=self._clock(),
                )
            ]
        )


def _recorded_frames(chunk: Chunk, summary: ChunkSummary | None) -> Set[int] | None:
    """The chunk's frames in Blob as its record tells them; None when the record cannot tell
    and the frames must be listed."""
    if summary is None:
        return frozenset()  # never started: a worker records the start before any upload
    if summary.state is ChunkState.DONE:
        return frozenset(chunk.frames)
    if summary.frames_done is None or is_settled(summary.state):
        return None
    return summary.frames_done.intersection(chunk.frames)


def _listing_prefixes(ranges: Sequence[tuple[int, int]]) -> list[str] | None:
    """At most two name prefixes per range (blob_layout.range_prefixes), without repeats or a
    prefix another one covers; None when a range goes past the padding."""
    found: set[str] = set()
    for first, last in ranges:
        prefixes = layout.range_prefixes(first, last)
        if prefixes is None:
            return None
        found.update(prefixes)
    ordered = sorted(found)
    return [p for i, p in enumerate(ordered) if not any(p.startswith(q) for q in ordered[:i])]
