"""Submitting a job: sent before it says enqueued, replayed after a crash, the scene and its
Blender checked before anything is written, and a deferred job scheduled."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from renderfarm.jobs.manifest import EnqueueState
from renderfarm.jobs.spec import JobRequest
from renderfarm.jobs.status import JobState
from renderfarm.shared.blend_header import BlendHeaderError
from renderfarm.shared.blender_pools import NoBlenderPool
from renderfarm.shared.errors import (
    EnqueueFailed,
    IdempotencyKeyReused,
    SceneNotUsable,
    ScheduleTooFarAhead,
)
from tests.unit.job_use_case_fakes import (
    SAVED_BY_4_5,
    SAVED_BY_5_3,
    SCENE,
    T0,
    Events,
    MemoryStore,
    Queue,
    Scenes,
    job,
    use_cases,
)


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


def test_an_accepted_job_says_so_once_its_chunks_are_on_the_queue() -> None:
    store, queue, events = MemoryStore(), Queue(), Events()
    submitted = use_cases(store, queue, events=events).submission.submit(
        job(), tenant="acme", idempotency_key=None, trace_context={}
    )
    assert events.types() == ["job.accepted"]
    assert events.published[0].id == f"{submitted.manifest.job_id}:job.accepted"


def test_a_not_before_too_far_ahead_is_refused() -> None:
    store, queue = MemoryStore(), Queue()
    with pytest.raises(ScheduleTooFarAhead, match="30 days ahead"):
        use_cases(store, queue).submission.submit(
            job(not_before=(T0 + timedelta(days=30, seconds=1)).isoformat()),
            tenant="acme",
            idempotency_key=None,
            trace_context={},
        )
    assert not store.manifests


def test_a_not_before_already_past_sends_the_chunks_now() -> None:
    store, queue = MemoryStore(), Queue()
    use_cases(store, queue).submission.submit(
        job(not_before=(T0 - timedelta(seconds=1)).isoformat()),
        tenant="acme",
        idempotency_key=None,
        trace_context={},
    )
    assert queue.sent and not queue.scheduled
