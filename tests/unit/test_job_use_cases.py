"""The job use cases' rules (submit, status, listing, cancel, backpressure), over in-memory stores
(fakes of our own ports, not of Azure)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from renderfarm.backpressure import Backpressure
from renderfarm.blend_header import BlenderVersion, BlendHeaderError
from renderfarm.blender_pools import NoBlenderPool
from renderfarm.chunk_record import ChunkState, ChunkSummary
from renderfarm.errors import (
    ConcurrentUpdate,
    DependencyUnavailable,
    EnqueueFailed,
    IdempotencyKeyReused,
    InvalidSchedule,
    JobNotFound,
    QueuedFramesCapExceeded,
    SceneNotUsable,
)
from renderfarm.events import JobEvent
from renderfarm.job_cancel import JobCancel
from renderfarm.job_listing import JobListing
from renderfarm.job_spec import JobRequest
from renderfarm.job_status_reader import JobStatusReader
from renderfarm.job_submission import JobSubmission
from renderfarm.manifest import EnqueueState, JobManifest
from renderfarm.messages import ChunkMessage
from renderfarm.ports import IndexEntry, IndexPage, StoredManifest
from renderfarm.status import JobState

SCENE = "e" * 64
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryStore:
    def __init__(self) -> None:
        self.manifests: dict[str, StoredManifest] = {}
        self.index: dict[str, list[str]] = {}
        self.frames: dict[str, set[int]] = {}
        self.chunks: dict[str, dict[int, ChunkSummary]] = {}
        self.terminal: set[str] = set()
        self.frame_listings = 0
        self.listed_prefixes: list[tuple[str, ...] | None] = []
        self.plans: dict[str, tuple[int, int]] = {}
        self.schedules: dict[str, tuple[int, ...]] = {}
        self.version = 0
        self.writes = 0
        self.manifest_reads = 0
        self.cancel_markers: dict[str, set[int]] = {}

    def _put(self, manifest: JobManifest) -> str:
        self.writes += 1
        self.version += 1
        self.manifests[manifest.job_id] = StoredManifest(manifest=manifest, etag=str(self.version))
        return str(self.version)

    def create_manifest(self, manifest: JobManifest) -> str | None:
        if manifest.job_id in self.manifests:
            return None
        return self._put(manifest)

    def read_manifest(self, job_id: str) -> StoredManifest | None:
        self.manifest_reads += 1
        return self.manifests.get(job_id)

    def replace_manifest(self, manifest: JobManifest, etag: str) -> str:
        if self.manifests[manifest.job_id].etag != etag:
            raise ConcurrentUpdate(manifest.job_id)
        return self._put(manifest)

    def chunk_summaries(self, job_id: str) -> dict[int, ChunkSummary]:
        return self.chunks.get(job_id, {})

    def frames_present(
        self, job_id: str, name_prefixes: Sequence[str] | None = None
    ) -> frozenset[int]:
        self.frame_listings += 1
        self.listed_prefixes.append(None if name_prefixes is None else tuple(name_prefixes))
        frames = self.frames.get(job_id, set())
        if name_prefixes is None:
            return frozenset(frames)
        return frozenset(
            frame for frame in frames if any(f"{frame:06d}".startswith(p) for p in name_prefixes)
        )

    def chunk_errors(self, job_id: str, indexes: Sequence[int]) -> dict[int, str]:
        return {}

    def signal_cancel(self, job_id: str, indexes: Sequence[int]) -> None:
        self.cancel_markers.setdefault(job_id, set()).update(indexes)

    def save_schedule(self, job_id: str, sequence_numbers: Sequence[int]) -> None:
        self.schedules[job_id] = tuple(sequence_numbers)

    def read_schedule(self, job_id: str) -> tuple[int, ...]:
        return self.schedules.get(job_id, ())

    def index_job(self, manifest: JobManifest) -> None:
        listed = self.index.setdefault(manifest.tenant, [])
        if manifest.job_id not in listed:  # one blob per job in Azure: a rewrite changes nothing
            listed.insert(0, manifest.job_id)
        self.plans[manifest.job_id] = (len(manifest.spec.frames), manifest.chunk_size)

    def index_page(self, tenant: str, *, size: int, cursor: str | None) -> IndexPage:
        ids = self.index.get(tenant, [])
        start = int(cursor or 0)
        page = ids[start : start + size]
        more = start + size < len(ids)
        entries = tuple(
            IndexEntry(
                job_id=i,
                terminal=i in self.terminal,
                frames_total=self.plans[i][0],
                chunk_size=self.plans[i][1],
            )
            for i in page
        )
        return IndexPage(entries=entries, cursor=str(start + size) if more else None)

    def mark_terminal(self, manifest: JobManifest) -> None:
        self.terminal.add(manifest.job_id)


#: The first bytes of files saved by Blender 5.3 and 4.5 (the 17- and 12-byte header forms).
SAVED_BY_5_3 = b"BLENDER17-01v0503REN" + bytes(64)
SAVED_BY_4_5 = b"BLENDER-v405RENDH" + bytes(64)


class Scenes:
    def __init__(self, *known: str, heads: Mapping[str, bytes] | None = None):
        self.known = set(known)
        self.heads = dict(heads or {})
        self.tenants_asked: list[str] = []

    def verify(self, sha256: str, *, tenant: str, whole_blend: bool = True) -> None:
        self.tenants_asked.append(tenant)
        if sha256 not in self.known:
            raise SceneNotUsable(sha256)

    def head(self, sha256: str, *, tenant: str) -> bytes:
        self.tenants_asked.append(tenant)
        return self.heads.get(sha256, SAVED_BY_5_3)


class Queue:
    def __init__(self) -> None:
        self.sent: list[ChunkMessage] = []
        self.pools: list[str] = []
        self.scheduled: dict[int, tuple[datetime, ChunkMessage]] = {}
        self.down = False

    def send(
        self, blender: str, messages: Sequence[ChunkMessage], trace_context: Mapping[str, str]
    ) -> None:
        if self.down:
            raise DependencyUnavailable("service bus", 5, "connection refused")
        self.sent.extend(messages)
        self.pools.append(blender)

    def schedule(
        self,
        blender: str,
        messages: Sequence[ChunkMessage],
        trace_context: Mapping[str, str],
        *,
        at: datetime,
    ) -> tuple[int, ...]:
        self.scheduled.update({100 + m.chunk_index: (at, m) for m in messages})
        return tuple(100 + m.chunk_index for m in messages)

    def cancel_scheduled(self, blender: str, sequence_numbers: Sequence[int]) -> None:
        for number in sequence_numbers:
            del self.scheduled[number]


class Events:
    def __init__(self) -> None:
        self.published: list[JobEvent] = []

    def publish(self, events: Sequence[JobEvent]) -> None:
        self.published.extend(events)

    def types(self) -> list[str]:
        return [event.type.value for event in self.published]


POOLS = (BlenderVersion(4, 5), BlenderVersion(5, 3))


@dataclass(frozen=True, kw_only=True)
class UseCases:
    submission: JobSubmission
    statuses: JobStatusReader
    listing: JobListing
    cancelling: JobCancel
    backpressure: Backpressure


def use_cases(  # noqa: PLR0917 (a test helper: positional for brevity)
    store: MemoryStore,
    queue: Queue,
    cap: int = 1000,
    scenes: Scenes | None = None,
    events: Events | None = None,
    clock: Callable[[], datetime] = lambda: T0,
    monotonic: Callable[[], float] | None = None,
) -> UseCases:
    """Every use case over one store; unless ``monotonic`` says otherwise, the estimate of
    waiting frames is always stale, so every submit counts."""
    events = events or Events()
    backpressure = Backpressure(
        index=store,
        chunks=store,
        max_queued_frames=cap,
        monotonic=monotonic or itertools.count(step=60).__next__,
    )
    statuses = JobStatusReader(manifests=store, chunks=store, frames=store, clock=clock)
    return UseCases(
        submission=JobSubmission(
            manifests=store,
            index=store,
            scenes=scenes or Scenes(SCENE),
            queue=queue,
            events=events,
            backpressure=backpressure,
            clock=clock,
            blenders=POOLS,
        ),
        statuses=statuses,
        listing=JobListing(index=store, statuses=statuses),
        cancelling=JobCancel(
            manifests=store,
            chunks=store,
            index=store,
            queue=queue,
            events=events,
            statuses=statuses,
            backpressure=backpressure,
            clock=clock,
        ),
        backpressure=backpressure,
    )


def job(frames: str = "1-10", **fields: object) -> JobRequest:
    return JobRequest.model_validate({"scene_sha256": SCENE, "frames": frames, **fields})


def test_a_submitted_job_is_enqueued_only_after_every_chunk_is_sent() -> None:
    store, queue = MemoryStore(), Queue()
    submitted = use_cases(store, queue).submission.submit(
        job(chunk_size=3), tenant="acme", idempotency_key=None, trace_context={}
    )
    assert len(queue.sent) == 4
    assert submitted.manifest.enqueue_state is EnqueueState.ENQUEUED
    stored = store.manifests[submitted.manifest.job_id].manifest
    assert stored.enqueue_state is EnqueueState.ENQUEUED


def test_a_submit_reads_no_manifest_it_wrote_itself() -> None:
    store, queue = MemoryStore(), Queue()
    use_cases(store, queue).submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    )
    assert (store.manifest_reads, store.writes) == (0, 2)  # created, then marked enqueued


def test_a_submit_that_finds_its_manifest_changed_reads_it_again() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue)
    original_send = queue.send

    def send_and_race(*args: object, **kwargs: object) -> None:
        original_send(*args, **kwargs)  # type: ignore[arg-type]
        (job_id,) = store.manifests
        store._put(store.manifests[job_id].manifest)  # another writer in between

    queue.send = send_and_race  # type: ignore[method-assign]
    submitted = svc.submission.submit(job(), tenant="acme", idempotency_key=None, trace_context={})
    assert submitted.manifest.enqueue_state is EnqueueState.ENQUEUED
    assert store.manifest_reads == 1


def test_a_failed_send_leaves_a_job_that_says_it_failed_to_enqueue() -> None:
    store, queue = MemoryStore(), Queue()
    queue.down = True
    with pytest.raises(EnqueueFailed) as caught:
        use_cases(store, queue).submission.submit(
            job(), tenant="acme", idempotency_key=None, trace_context={}
        )
    manifest = store.manifests[caught.value.job_id].manifest
    assert manifest.enqueue_state is EnqueueState.FAILED
    assert not manifest.accepts_work()
    _, status = use_cases(store, queue).statuses.status(caught.value.job_id, tenant="acme")
    assert status.state is JobState.FAILED


def test_a_retry_after_a_crash_midway_sends_the_chunks_again() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue)
    first = svc.submission.submit(
        job(chunk_size=10), tenant="acme", idempotency_key="k", trace_context={}
    )
    crashed = replace(first.manifest, enqueue_state=EnqueueState.ENQUEUING)
    store._put(crashed)  # as if the process died before marking it enqueued
    again = svc.submission.submit(
        job(chunk_size=10), tenant="acme", idempotency_key="k", trace_context={}
    )
    assert again.replayed
    assert again.manifest.enqueue_state is EnqueueState.ENQUEUED
    assert len(queue.sent) == 2  # sent twice; the queue's duplicate detection drops the second


def test_a_retry_after_a_crash_before_listing_lists_the_job() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue)
    first = svc.submission.submit(job(), tenant="acme", idempotency_key="k", trace_context={})
    store.index.clear()  # as if the process died between the manifest and the listing
    store._put(replace(first.manifest, enqueue_state=EnqueueState.ENQUEUING))
    svc.submission.submit(job(), tenant="acme", idempotency_key="k", trace_context={})
    assert [job_id for ids in store.index.values() for job_id in ids] == [first.manifest.job_id]


def test_an_idempotency_key_reused_for_another_job_is_refused() -> None:
    svc = use_cases(MemoryStore(), Queue())
    svc.submission.submit(job(), tenant="acme", idempotency_key="k", trace_context={})
    with pytest.raises(IdempotencyKeyReused):
        svc.submission.submit(job("1-11"), tenant="acme", idempotency_key="k", trace_context={})


def test_an_unknown_scene_is_refused_before_anything_is_written() -> None:
    store = MemoryStore()
    with pytest.raises(SceneNotUsable):
        use_cases(store, Queue()).submission.submit(
            job(scene_sha256="f" * 64), tenant="acme", idempotency_key=None, trace_context={}
        )
    assert store.manifests == {}


def test_the_scene_is_checked_and_read_in_the_submitting_tenant() -> None:
    scenes = Scenes(SCENE)
    use_cases(MemoryStore(), Queue(), scenes=scenes).submission.submit(
        job(), tenant="globex", idempotency_key=None, trace_context={}
    )
    assert scenes.tenants_asked == ["globex", "globex"]


def test_the_queued_frames_cap_counts_only_the_tenants_unfinished_frames() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue, cap=15)
    first = svc.submission.submit(
        job("1-10"), tenant="acme", idempotency_key=None, trace_context={}
    )
    with pytest.raises(QueuedFramesCapExceeded):
        svc.submission.submit(job("1-10"), tenant="acme", idempotency_key=None, trace_context={})
    svc.submission.submit(job("1-10"), tenant="globex", idempotency_key=None, trace_context={})
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    store.chunks[first.manifest.job_id] = {i: done for i in range(6)}  # chunks of one frame
    assert svc.backpressure.queued_frames("acme") == 4
    svc.submission.submit(job("1-10"), tenant="acme", idempotency_key=None, trace_context={})


def test_another_tenants_job_is_not_found() -> None:
    svc = use_cases(MemoryStore(), Queue())
    job_id = svc.submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    with pytest.raises(JobNotFound):
        svc.statuses.status(job_id, tenant="globex")
    with pytest.raises(JobNotFound):
        svc.cancelling.cancel(job_id, tenant="globex")


def test_a_job_recorded_complete_no_longer_lists_its_frames() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue)
    job_id = svc.submission.submit(
        job("1-3"), tenant="acme", idempotency_key=None, trace_context={}
    )
    job_id_text = job_id.manifest.job_id
    current = store.manifests[job_id_text]  # as the settler of its last chunk records it
    store.replace_manifest(current.manifest.ended("completed", T0), current.etag)
    listings = store.frame_listings
    assert svc.statuses.status(job_id_text, tenant="acme")[1].state is JobState.COMPLETED
    assert store.frame_listings == listings


def test_a_cancelled_job_no_longer_counts_against_the_cap() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue, cap=10)
    first = svc.submission.submit(
        job("1-10"), tenant="acme", idempotency_key=None, trace_context={}
    )
    svc.cancelling.cancel(first.manifest.job_id, tenant="acme")
    assert svc.backpressure.queued_frames("acme") == 0


def test_the_cap_counts_again_once_its_estimate_is_old() -> None:
    store, queue = MemoryStore(), Queue()
    now = [0.0]
    svc = use_cases(store, queue, cap=15, monotonic=lambda: now[0])
    first = svc.submission.submit(
        job("1-10"), tenant="acme", idempotency_key=None, trace_context={}
    )
    store.frames[first.manifest.job_id] = set(range(1, 11))
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    store.chunks[first.manifest.job_id] = {i: done for i in range(10)}
    with pytest.raises(QueuedFramesCapExceeded):  # the estimate still counts the first job
        svc.submission.submit(job("1-10"), tenant="acme", idempotency_key=None, trace_context={})
    now[0] += 5.0
    svc.submission.submit(job("1-10"), tenant="acme", idempotency_key=None, trace_context={})


def test_job_lists_read_chunk_records_instead_of_listing_every_frame() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue)
    ids = [
        svc.submission.submit(
            job("1-4", chunk_size=2), tenant="acme", idempotency_key=None, trace_context={}
        ).manifest.job_id
        for _ in range(2)
    ]
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    rendering = ChunkSummary(state=ChunkState.RENDERING, attempts=1)
    store.chunks[ids[0]] = {0: done, 1: done}
    store.chunks[ids[1]] = {0: done, 1: rendering}
    page = svc.listing.list_jobs(tenant="acme", size=10, cursor=None, state=None)
    assert store.frame_listings == 0
    states = {m.job_id: (s.state, s.frames_done) for m, s in page.statuses}
    assert states == {ids[0]: (JobState.COMPLETED, 4), ids[1]: (JobState.RENDERING, 2)}


def _three_chunk_job(store: MemoryStore) -> tuple[UseCases, str]:
    svc = use_cases(store, Queue())
    accepted = svc.submission.submit(
        job("1-300", chunk_size=100), tenant="acme", idempotency_key=None, trace_context={}
    )
    return svc, accepted.manifest.job_id


def test_status_trusts_a_rendering_chunks_record_for_its_frames_and_lists_none() -> None:
    store = MemoryStore()
    svc, job_id = _three_chunk_job(store)
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    rendering = ChunkSummary(
        state=ChunkState.RENDERING, attempts=1, frames_done=frozenset(range(101, 151))
    )
    store.chunks[job_id] = {0: done, 1: rendering}  # chunk 2 has not started
    store.frames[job_id] = set(range(1, 161))  # 151-160 uploaded, not yet recorded
    _, status = svc.statuses.status(job_id, tenant="acme")
    assert status.frames_done == 100 + 50
    assert status.frames_present[-1] == 150
    assert store.frame_listings == 0


def test_status_lists_the_frames_of_a_chunk_that_failed_part_way() -> None:
    store = MemoryStore()
    svc, job_id = _three_chunk_job(store)
    done = ChunkSummary(state=ChunkState.DONE, attempts=1)
    # The dead-letter handler settled it: its last attempt's uploads may be unrecorded.
    failed = ChunkSummary(state=ChunkState.FAILED, attempts=3, frames_done=frozenset({101}))
    store.chunks[job_id] = {0: done, 1: failed, 2: done}
    store.frames[job_id] = set(range(1, 151)) | set(range(201, 301))
    _, status = svc.statuses.status(job_id, tenant="acme")
    assert status.frames_done == 100 + 50 + 100
    # Two listings, of the blocks 100-199 and 200-299, rather than 19 exact prefixes.
    assert store.listed_prefixes == [("0001", "0002")]


def test_status_lists_the_frames_of_a_record_that_does_not_name_them() -> None:
    store = MemoryStore()
    svc, job_id = _three_chunk_job(store)
    older_worker = ChunkSummary(state=ChunkState.RENDERING, attempts=1)  # no frames metadata
    store.chunks[job_id] = {0: older_worker}
    store.frames[job_id] = set(range(1, 41))
    _, status = svc.statuses.status(job_id, tenant="acme")
    assert status.frames_done == 40
    assert store.listed_prefixes == [("0000", "0001")]


def test_a_scene_saved_by_4_5_goes_to_the_4_5_pool_and_one_saved_by_5_3_to_5_3() -> None:
    other = "f" * 64
    store, queue = MemoryStore(), Queue()
    scenes = Scenes(SCENE, other, heads={SCENE: SAVED_BY_4_5, other: SAVED_BY_5_3})
    jobs = use_cases(store, queue, scenes=scenes)
    old = jobs.submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest
    new = jobs.submission.submit(
        JobRequest(scene_sha256=other, frames="1-2"),
        tenant="acme",
        idempotency_key=None,
        trace_context={},
    ).manifest
    assert (old.blender, old.scene_saved_by, old.blender_pinned) == ("4.5", "4.5", False)
    assert (new.blender, new.scene_saved_by) == ("5.3", "5.3")
    assert queue.pools == ["4.5", "5.3"]


def test_a_pinned_blender_wins_over_the_scenes_own() -> None:
    store, queue = MemoryStore(), Queue()
    scenes = Scenes(SCENE, heads={SCENE: SAVED_BY_4_5})
    submitted = use_cases(store, queue, scenes=scenes).submission.submit(
        job(blender="5.3"), tenant="acme", idempotency_key=None, trace_context={}
    )
    assert (submitted.manifest.blender, submitted.manifest.blender_pinned) == ("5.3", True)
    assert queue.pools == ["5.3"]


def test_a_pin_the_farm_does_not_run_is_refused_before_anything_is_written() -> None:
    store, queue = MemoryStore(), Queue()
    with pytest.raises(NoBlenderPool) as refused:
        use_cases(store, queue).submission.submit(
            job(blender="4.2"), tenant="acme", idempotency_key=None, trace_context={}
        )
    assert refused.value.supported == ("4.5", "5.3")
    assert not store.manifests
    assert not queue.sent


def test_a_scene_newer_than_every_pool_is_refused() -> None:
    store, queue = MemoryStore(), Queue()
    scenes = Scenes(SCENE, heads={SCENE: b"BLENDER17-01v0600REN"})
    with pytest.raises(NoBlenderPool, match="newer than every pool"):
        use_cases(store, queue, scenes=scenes).submission.submit(
            job(), tenant="acme", idempotency_key=None, trace_context={}
        )
    assert not store.manifests


def test_a_file_that_is_not_a_blend_is_refused_before_anything_is_written() -> None:
    store, queue = MemoryStore(), Queue()
    scenes = Scenes(SCENE, heads={SCENE: b"PK\x03\x04 a zip, not a scene"})
    with pytest.raises(BlendHeaderError):
        use_cases(store, queue, scenes=scenes).submission.submit(
            job(), tenant="acme", idempotency_key=None, trace_context={}
        )
    assert not store.manifests
    assert not queue.sent


def test_a_status_read_never_writes_even_when_every_frame_is_in() -> None:
    store, queue = MemoryStore(), Queue()
    jobs = use_cases(store, queue)
    job_id = jobs.submission.submit(
        job("1-2"), tenant="acme", idempotency_key=None, trace_context={}
    )
    store.frames[job_id.manifest.job_id] = {1, 2}
    # The workers recorded every frame and have yet to record their chunks done.
    store.chunks[job_id.manifest.job_id] = {
        chunk.index: ChunkSummary(
            state=ChunkState.RENDERING, attempts=1, frames_done=frozenset(chunk.frames)
        )
        for chunk in job_id.manifest.chunks
    }
    writes = store.writes
    _, status = jobs.statuses.status(job_id.manifest.job_id, tenant="acme")
    assert status.state is JobState.COMPLETED  # read from the frames; recorded by the settler
    assert store.writes == writes
    assert store.read_manifest(job_id.manifest.job_id).manifest.outcome is None  # type: ignore[union-attr]


def test_an_accepted_job_says_so_once_its_chunks_are_on_the_queue() -> None:
    store, queue, events = MemoryStore(), Queue(), Events()
    submitted = use_cases(store, queue, events=events).submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    )
    assert events.types() == ["job.accepted"]
    assert events.published[0].id == f"{submitted.manifest.job_id}:job.accepted"


def test_cancelling_records_the_end_once_and_says_so_once() -> None:
    store, queue, events = MemoryStore(), Queue(), Events()
    jobs = use_cases(store, queue, events=events)
    job_id = jobs.submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    jobs.cancelling.cancel(job_id, tenant="acme")
    manifest, status = jobs.cancelling.cancel(job_id, tenant="acme")
    assert (manifest.outcome, manifest.finished_at, status.state) == (
        "cancelled",
        T0,
        JobState.CANCELLED,
    )
    assert events.types() == ["job.accepted", "job.cancelled"]
    assert job_id in store.terminal


def test_cancelling_marks_each_unsettled_chunk_for_its_worker_and_again_on_a_retry() -> None:
    store, queue = MemoryStore(), Queue()
    jobs = use_cases(store, queue)
    job_id = jobs.submission.submit(
        job(chunk_size=2), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    store.chunks[job_id] = {
        0: ChunkSummary(state=ChunkState.DONE, attempts=1),
        1: ChunkSummary(state=ChunkState.RENDERING, attempts=1),
        2: ChunkSummary(state=ChunkState.PENDING, attempts=1),  # handed back, to be redelivered
        3: ChunkSummary(state=ChunkState.CANCELLED, attempts=1),
    }  # chunk 4 has no record: its worker reads the manifest after recording its start
    jobs.cancelling.cancel(job_id, tenant="acme")
    assert store.cancel_markers[job_id] == {1, 2}
    store.cancel_markers.clear()
    jobs.cancelling.cancel(job_id, tenant="acme")  # the first one's markers may have been cut short
    assert store.cancel_markers[job_id] == {1, 2}


def test_a_completed_job_stays_completed_when_cancelled_late() -> None:
    store, queue, events = MemoryStore(), Queue(), Events()
    jobs = use_cases(store, queue, events=events)
    job_id = jobs.submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    current = store.manifests[job_id]
    store.replace_manifest(current.manifest.ended("completed", T0), current.etag)
    manifest, status = jobs.cancelling.cancel(job_id, tenant="acme")
    assert (manifest.outcome, manifest.cancelled_at, status.state) == (
        "completed",
        None,
        JobState.COMPLETED,
    )
    assert events.types() == ["job.accepted"]


def test_a_deferred_job_is_scheduled_until_its_time_and_cancelling_unschedules_it() -> None:
    store, queue = MemoryStore(), Queue()
    now = [T0]
    jobs = use_cases(store, queue, clock=lambda: now[0])
    later = T0 + timedelta(hours=2)
    manifest = jobs.submission.submit(
        job("1-4", chunk_size=2, not_before=later.isoformat()),
        tenant="acme",
        idempotency_key=None,
        trace_context={},
    ).manifest
    assert not queue.sent
    assert {at for at, _ in queue.scheduled.values()} == {later}
    assert jobs.statuses.status(manifest.job_id, tenant="acme")[1].state is JobState.SCHEDULED
    jobs.cancelling.cancel(manifest.job_id, tenant="acme")
    assert queue.scheduled == {}


def test_a_deferred_job_is_queued_once_its_time_has_come() -> None:
    store, queue = MemoryStore(), Queue()
    now = [T0]
    jobs = use_cases(store, queue, clock=lambda: now[0])
    later = T0 + timedelta(minutes=1)
    job_id = jobs.submission.submit(
        job(not_before=later.isoformat()), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    now[0] = later + timedelta(seconds=1)
    assert jobs.statuses.status(job_id, tenant="acme")[1].state is JobState.QUEUED


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(timedelta(seconds=-1), "in the past"), (timedelta(days=30, seconds=1), "30 days ahead")],
)
def test_a_not_before_in_the_past_or_too_far_ahead_is_refused(
    offset: timedelta, reason: str
) -> None:
    store, queue = MemoryStore(), Queue()
    with pytest.raises(InvalidSchedule, match=reason):
        use_cases(store, queue).submission.submit(
            job(not_before=(T0 + offset).isoformat()),
            tenant="acme",
            idempotency_key=None,
            trace_context={},
        )
    assert not store.manifests
