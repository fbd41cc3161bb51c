"""Submitting a job: validate it, write its manifest, send every chunk, then say it is
enqueued; a repeat with the same Idempotency-Key replays the first (and finishes it)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from renderfarm.chunks.plan import ChunkPlan, FarmCapacity, plan_chunks_for, settings_key
from renderfarm.jobs.backpressure import Backpressure
from renderfarm.jobs.end import JobOutcome
from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.jobs.idempotency import job_id_for
from renderfarm.jobs.manifest import EnqueueState, JobManifest
from renderfarm.jobs.manifest_updates import change_existing
from renderfarm.jobs.ports import (
    ChunkQueue,
    EventPublisher,
    ManifestStore,
    SceneStore,
    SceneTimingsStore,
    StoredManifest,
    TenantIndex,
)
from renderfarm.jobs.scouting import first_messages
from renderfarm.jobs.spec import JobRequest, JobSpec
from renderfarm.projects.checks import ProjectChecks
from renderfarm.projects.file_set import missing_warnings
from renderfarm.shared.blend_header import BlenderVersion, BlendHeaderError, saved_by
from renderfarm.shared.blender_pools import NoGpuWorkers, pick_pool
from renderfarm.shared.errors import (
    ConcurrentUpdate,
    DependencyUnavailable,
    EnqueueFailed,
    IdempotencyKeyReused,
    ScheduleTooFarAhead,
)

log = logging.getLogger(__name__)

#: Tries at marking the job enqueued (or failed) when others write the manifest meanwhile.
UPDATE_ATTEMPTS = 5
#: How far ahead a job may be scheduled (scheduled messages wait in the queue until then).
MAX_SCHEDULE_AHEAD = timedelta(days=30)
#: Without settings that say otherwise: infra/scaling.json's maxReplicas, and a Container Apps
#: replica's cold start with a Blender image (pull cached;
#: docs/facts.md "Container Apps start-up").
DEFAULT_CAPACITY = FarmCapacity(replicas=10, replica_start_s=20.0)


class BudgetCheck(Protocol):
    """The tenant's budgets (renderfarm.billing.guard.BudgetGuard)."""

    def check_submit(self, tenant: str, tags: Sequence[str]) -> None:
        """Raise BudgetExhausted (402) while a budget that holds a job of ``tenant`` with
        ``tags`` is spent."""


@dataclass(frozen=True, kw_only=True)
class Submitted:
    manifest: JobManifest
    replayed: bool


class JobSubmission:
    def __init__(  # noqa: PLR0913 - keyword-only: each a port or setting the use case needs
        self,
        *,
        manifests: ManifestStore,
        index: TenantIndex,
        scenes: SceneStore,
        queue: ChunkQueue,
        events: EventPublisher,
        backpressure: Backpressure,
        clock: Callable[[], datetime],
        blenders: Sequence[BlenderVersion],
        gpu_workers: bool = False,
        timings: SceneTimingsStore | None = None,
        capacity: FarmCapacity = DEFAULT_CAPACITY,
        projects: ProjectChecks | None = None,
        budgets: BudgetCheck | None = None,
    ):
        self._manifests = manifests
        self._index = index
        self._scenes = scenes
        self._queue = queue
        self._events = events
        self._backpressure = backpressure
        self._clock = clock
        self._blenders = tuple(blenders)
        self._gpu_workers = gpu_workers
        self._timings = timings
        self._capacity = capacity
        self._projects = projects or ProjectChecks(store=None)
        self._budgets = budgets

    def submit(
        self,
        request: JobRequest,
        *,
        tenant: str,
        idempotency_key: str | None,
        trace_context: Mapping[str, str],
        submitted_by: str | None = None,
    ) -> Submitted:
        """Validate, write the manifest, send every chunk, then say the job is enqueued.
        ``submitted_by``: the id of the API key that asked (renderfarm.jobs.naming)."""
        job_id = job_id_for(tenant, idempotency_key)
        if idempotency_key is not None:
            existing = self._manifests.read_manifest(job_id)
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
        label = request.label(spec, submitted_by=submitted_by)
        self._check_budgets(tenant, label.tags)  # a replay, above, is not refused: its job exists
        self._backpressure.check(tenant, asked=len(spec.frames))
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
            label=label,
        )
        if file_set is not None:  # before the manifest: a worker reads it to lay out the project
            self._projects.save(file_set, tenant=tenant)
        etag = self._manifests.create_manifest(manifest)
        if etag is None:
            existing = self._manifests.read_manifest(job_id)  # a concurrent retry won the race
            if existing is None:
                raise ConcurrentUpdate(f"job {job_id} vanished while being created")
            return self._replay(existing, request, trace_context)
        self._index.index_job(manifest)
        self._backpressure.accepted(tenant, len(spec.frames))
        written = StoredManifest(manifest=manifest, etag=etag)  # no need to download it again
        return Submitted(manifest=self._enqueue(written, trace_context), replayed=False)

    def _check_budgets(self, tenant: str, tags: Sequence[str]) -> None:
        """Refuse the job while a budget that would hold it is spent. Budgets that cannot be read
        refuse nothing: the workers look again before each chunk starts."""
        if self._budgets is None:
            return
        try:
            self._budgets.check_submit(tenant, tags)
        except DependencyUnavailable:
            log.warning("could not read the budgets of a submit", extra={"tenant": tenant})

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
        self, existing: StoredManifest, request: JobRequest, trace_context: Mapping[str, str]
    ) -> Submitted:
        manifest = existing.manifest
        if manifest.request_fingerprint != request.fingerprint():
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different job")
        if manifest.enqueue_state is EnqueueState.ENQUEUING:
            # The first try stopped midway (its process died, say): list the job and send again;
            # both are idempotent, and duplicate detection drops repeated messages.
            self._index.index_job(manifest)
            manifest = self._enqueue(existing, trace_context)
        return Submitted(manifest=manifest, replayed=True)

    def _enqueue(self, stored: StoredManifest, trace_context: Mapping[str, str]) -> JobManifest:
        """Send the job's messages, then mark it enqueued over ``stored`` (the manifest as
        stored: its etag saves a read unless someone wrote since)."""
        manifest = stored.manifest
        try:
            not_before = manifest.spec.not_before
            if not_before is None or not_before <= self._clock():
                self._queue.send(manifest.queue, first_messages(manifest), trace_context)
            else:  # scheduled messages: the queue holds them until then
                scheduled = self._queue.schedule(
                    manifest.queue, first_messages(manifest), trace_context, at=not_before
                )
                self._manifests.save_schedule(manifest.job_id, scheduled)
            # Before "enqueued": a retry of a job that stopped here sends both again.
            self._announce(EventType.JOB_ACCEPTED, manifest)
        except DependencyUnavailable as error:
            log.warning(
                "enqueue failed", extra={"job_id": manifest.job_id, "tenant": manifest.tenant}
            )
            reason, now = str(error), self._clock()
            failed = change_existing(
                self._manifests,
                manifest.job_id,
                lambda m: m.enqueue_failed(reason).ended(JobOutcome.FAILED, now),
                attempts=UPDATE_ATTEMPTS,
                known=stored,
            )
            self._index.mark_terminal(failed)
            with contextlib.suppress(DependencyUnavailable):  # Service Bus is likely down too
                self._announce(EventType.JOB_FAILED, failed)
            raise EnqueueFailed(manifest.job_id, error) from error
        return change_existing(
            self._manifests,
            manifest.job_id,
            JobManifest.enqueued,
            attempts=UPDATE_ATTEMPTS,
            known=stored,
        )

    def _plan(self, spec: JobSpec, tenant: str) -> ChunkPlan:
        """The chunk size from what earlier renders of this scene measured (renderfarm.chunks.plan).
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
        # A time already past is met: the job renders now, as if it had none.
        if not_before > self._clock() + MAX_SCHEDULE_AHEAD:
            raise ScheduleTooFarAhead(
                f"not_before {not_before.isoformat()} is more than "
                f"{MAX_SCHEDULE_AHEAD.days} days ahead"
            )

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
