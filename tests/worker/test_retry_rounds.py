"""The worker and a retried job: a message of a round the job was retried past is completed
unworked, and the retry's own message renders only the frames the first round did not leave in
Blob. The loop runs in-process against Azurite and the Service Bus emulator, as in
test_worker_failures.py (whose rig and stand-in Blender this uses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from azure.servicebus import ServiceBusMessage

from containerapp_worker.errors import FrameError
from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared import blob_layout as layout
from tests.worker import test_worker_failures as failures
from tests.worker.test_worker_failures import (
    API_KEY,
    QUEUE,
    BrokenBlender,
    Rig,
    _real_lifecycle,
    run_bounded,
)

#: That module's fixtures, under the names tests ask for.
bus = failures.bus
rig = failures.rig


@dataclass(kw_only=True)
class FaultyBlender(BrokenBlender):
    """The stand-in Blender, noting each frame it renders, failing for good on ``faulty``."""

    faulty: frozenset[int] = frozenset()
    rendered: list[int] = field(default_factory=list)

    def render_frame(self, frame: int, out_path: Path) -> Path:
        if frame in self.faulty:
            raise FrameError(f"frame {frame} failed: no camera")
        self.rendered.append(frame)
        return super().render_frame(frame, out_path)


def manifest_of(rig: Rig, job_id: str) -> JobManifest:
    jobs = rig.blob_service.get_container_client(rig.settings.jobs_container)
    return JobManifest.from_json(jobs.download_blob(layout.manifest_blob(job_id)).readall())


def test_a_superseded_message_is_completed_unworked_and_the_retry_keeps_the_frames_in_blob(
    rig: Rig, cycles_blend: Path
) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    job_id = rig.submit(cycles_blend, "1-3")
    lifecycle = _real_lifecycle(rig)
    # Frame 2 fails for good: frame 1 is in Blob, the chunk and the job fail.
    failing = FaultyBlender(faulty=frozenset({2}))
    run_bounded(rig.worker(failing, lifecycle=lifecycle, max_messages=1))
    assert failing.rendered == [1]
    assert rig.api.get(f"/api/jobs/{job_id}", headers=auth).json()["state"] == "failed"
    first_round = manifest_of(rig, job_id).messages()[0]

    # A copy of the first round's message is still about (a redelivery): it waits first.
    with rig.client().get_queue_sender(QUEUE) as sender:
        sender.send_messages(ServiceBusMessage(first_round.to_json(), message_id="a-late-copy"))
    answer = rig.api.post(f"/api/jobs/{job_id}/retry", headers=auth)
    assert answer.status_code == 202, answer.text

    steady = FaultyBlender()
    run_bounded(rig.worker(steady, lifecycle=lifecycle, max_messages=2))

    assert steady.rendered == [2, 3], "frame 1 stays as the first round left it"
    record = rig.record(job_id)
    assert record is not None
    assert (record.state, record.round, record.attempts) == (ChunkState.DONE, 1, 2)
    status = rig.api.get(f"/api/jobs/{job_id}", headers=auth).json()
    assert (status["state"], status["frames_done"]) == ("completed", 3)
    counts = rig.bus.counts(QUEUE)
    assert counts["total_message_count"] == counts["dead_letter_message_count"] == 1
