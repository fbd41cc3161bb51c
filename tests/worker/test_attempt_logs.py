"""A chunk attempt's log on the worker's side: Blender's output taken while it runs, written to
Blob (Azurite) while the chunk renders and at its end, with that attempt's lines only and none of
the worker's folders."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from containerapp_worker import attempt_log
from containerapp_worker.attempt_log import AttemptLog
from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.blender_log import BlenderLog
from containerapp_worker.chunk_outcome import Verdict
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.errors import OutputWriteError
from containerapp_worker.storage import WorkerStorage
from renderfarm.chunks.logs import ChunkLog, LogFacts
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.render_settings import RenderSettings
from testbed.emulators import Azurite
from tests.job_manifests import new_manifest

pytestmark = pytest.mark.timeout(120)

TENANT = "studio"
SCENE = b"BLENDER17-01v0503" + b"attempt-logs"
SCENE_SHA = hashlib.sha256(SCENE).hexdigest()
STARTED = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


# --- Blender's output, taken while it runs ----------------------------------------------------


def test_output_written_during_a_capture_is_handed_out_while_it_runs_and_each_byte_once() -> None:
    blender = BlenderLog()
    seen_inside: list[bytes] = []
    with blender.capture():
        os.write(1, b"Fra:1 Sample 1/8\n")
        seen_inside.append(blender.new_output())  # as the log's thread reads it mid-frame
        os.write(2, b"Fra:1 Sample 8/8\n")
    assert seen_inside == [b"Fra:1 Sample 1/8\n"]
    assert blender.new_output() == b"Fra:1 Sample 8/8\n"
    assert blender.new_output() == b""
    assert blender.tail() == ("Fra:1 Sample 1/8", "Fra:1 Sample 8/8")


def test_a_new_chunk_forgets_output_no_one_took() -> None:
    blender = BlenderLog()
    with blender.capture():
        os.write(1, b"the last job's scene\n")
    blender.clear()
    assert blender.new_output() == b""


# --- The attempt's log, written as it grows ---------------------------------------------------


@dataclass
class Writes:
    """The log store's port, in memory: every write, in order."""

    logs: list[tuple[LogFacts, bytes]] = field(default_factory=list)

    def write_log(self, facts: LogFacts, content: bytes) -> None:
        self.logs.append((facts, content))


@dataclass
class Output:
    pending: bytearray = field(default_factory=bytearray)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, data: bytes) -> None:
        with self.lock:
            self.pending += data

    def take(self) -> bytes:
        with self.lock:
            taken = bytes(self.pending)
            self.pending.clear()
            return taken


def _facts() -> LogFacts:
    return LogFacts(job_id="a" * 32, chunk_index=0, attempt=1, worker_id="w", started_at=STARTED)


def test_a_log_is_written_at_its_start_only_when_it_grows_and_at_its_end() -> None:
    writes, output = Writes(), Output()
    log = AttemptLog(store=writes, output=output.take, redact=str.upper, every_s=0.02)
    log.begin(_facts())
    _wait_for(lambda: len(writes.logs) == 1)
    time.sleep(0.1)  # five periods with nothing new: no write
    assert len(writes.logs) == 1
    output.write(b"fra:1\nfra:")
    _wait_for(lambda: len(writes.logs) == 2)
    assert writes.logs[1][1] == b"FRA:1\n"  # whole lines only: "fra:" waits for its end
    output.write(b"2")
    log.end(STARTED)
    facts, content = writes.logs[-1]
    assert (content, facts.ended_at) == (b"FRA:1\nFRA:2\n", STARTED)
    output.write(b"the next chunk's line\n")
    time.sleep(0.1)
    assert writes.logs[-1][1] == b"FRA:1\nFRA:2\n"


def test_the_workers_json_log_records_caught_in_blenders_output_are_left_out() -> None:
    writes, output = Writes(), Output()
    log = AttemptLog(store=writes, output=output.take, redact=str, every_s=60)
    log.begin(_facts())
    record = '{"time": "2026-11-03T09:30:00+00:00", "level": "INFO", "logger": "x", "message": "m"}'
    output.write(f"Fra:1\n{record}\nFra:2\n".encode())
    log.end(STARTED)
    assert writes.logs[-1][1] == b"Fra:1\nFra:2\n"


def test_an_attempt_that_never_counted_keeps_no_log() -> None:
    writes, output = Writes(), Output()
    output.write(b"opened a scene\n")
    AttemptLog(store=writes, output=output.take, redact=str, every_s=0.02).end(STARTED)
    assert writes.logs == []


def _wait_for(condition: object, timeout_s: float = 10.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- Through the chunk renderer, on Azurite ---------------------------------------------------


@dataclass(kw_only=True)
class TalkingBlender:
    """Stands in for BlenderRunner: says one line per frame naming the frame's local file (in
    the worker's folders), and runs ``during`` before each frame."""

    output: Output = field(default_factory=Output)
    during: list[object] = field(default_factory=list)

    def open_scene(self, path: Path) -> None:
        self.output.write(f"Read blend: {path}\n".encode())

    def missing_files(self, root: Path) -> tuple[str, ...]:
        return ()

    def apply(self, settings: RenderSettings) -> None:
        return None

    def render_frame(self, frame: int, out_path: Path) -> Path:
        for step in self.during:
            assert callable(step)
            step(frame)
        self.output.write(f"Fra:{frame} Sample 8/8\nSaved: '{out_path}'\n".encode())
        out_path.write_bytes(b"frame %d" % frame)
        return out_path

    def log_tail(self) -> tuple[str, ...]:
        return ()

    def forget_log(self) -> None:
        self.output.take()

    def new_output(self) -> bytes:
        return self.output.take()


@dataclass(kw_only=True)
class Rig:
    storage: WorkerStorage
    cache: Path

    def job(self) -> JobManifest:
        manifest = new_manifest(
            chunk_size=3,
            job_id=uuid.uuid4().hex,
            tenant=TENANT,
            created_at=datetime.now(UTC),
            scene_sha256=SCENE_SHA,
        )
        assert self.storage.jobs.manifests.create_manifest(manifest)
        return manifest

    def replica(self, blender: TalkingBlender) -> ChunkRenderer:
        return ChunkRenderer(
            storage=self.storage,
            cache=BlendCache(self.cache, max_bytes=10**9),
            renderer=blender,
            worker_id="replica-7",
            blender_version="5.3.0",
            stop_requested=threading.Event(),
        )

    def log(self, job_id: str, index: int, attempt: int = 1) -> ChunkLog | None:
        found = self.storage.jobs.logs.read_log(job_id, index, attempt)
        return found if isinstance(found, ChunkLog) else None


@pytest.fixture
def rig(azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setattr(attempt_log, "LOG_EVERY_S", 0.05)
    suffix = uuid.uuid4().hex[:10]
    scenes, jobs = f"scenes-{suffix}", f"jobs-{suffix}"
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(scenes).upload_blob(layout.scene_blob(TENANT, SCENE_SHA), SCENE)
    service.create_container(jobs)
    yield Rig(storage=WorkerStorage(service, scenes=scenes, jobs=jobs), cache=tmp_path / "cache")
    service.close()


def test_a_chunks_log_is_readable_while_it_renders_and_whole_once_it_ends(rig: Rig) -> None:
    manifest = rig.job()
    blender = TalkingBlender()
    seen_while_rendering: list[ChunkLog] = []

    def read_before_frame_3(frame: int) -> None:
        if frame == 3:  # frame 2's lines were said: wait until the log shows them
            _wait_for(lambda: "Fra:2" in _text(rig.log(manifest.job_id, 0)))
            log = rig.log(manifest.job_id, 0)
            assert log is not None
            seen_while_rendering.append(log)

    blender.during.append(read_before_frame_3)
    (message, _) = manifest.messages()
    outcome = rig.replica(blender).render(message, lock_lost=threading.Event())
    assert outcome.verdict is Verdict.COMPLETE

    (running,) = seen_while_rendering
    assert (running.facts.worker_id, running.facts.attempt, running.facts.ended_at) == (
        "replica-7",
        1,
        None,
    )
    assert "Fra:3" not in running.content.decode()
    ended = rig.log(manifest.job_id, 0)
    assert ended is not None and ended.facts.ended_at is not None
    text = ended.content.decode()
    assert [line for line in text.splitlines() if line.startswith("Fra:")] == [
        "Fra:1 Sample 8/8",
        "Fra:2 Sample 8/8",
        "Fra:3 Sample 8/8",
    ]
    # The worker's own lines, in order with Blender's.
    notes = [line.split("| ", 1)[1] for line in text.splitlines() if "renderfarm       |" in line]
    assert notes[0] == "attempt 1 at chunk 0 (frames 1-3) on worker replica-7, Blender 5.3.0"
    assert "frame 1 rendered in" in notes[1] and "frame 1 uploaded" in notes
    assert notes[-1] == "chunk done: 3 frames rendered"
    assert text.index("Fra:1") < text.index("frame 1 rendered") < text.index("Fra:2")
    # Blender named the cached scene and the scratch frames by their paths on the replica.
    assert f"Read blend: {SCENE_SHA}.blend" in text
    assert "Saved: '000001.png'" in text
    assert str(rig.cache) not in text and "/tmp" not in text and TENANT not in text


def test_each_chunk_on_a_replica_logs_its_own_lines_only(rig: Rig) -> None:
    first, second = rig.job(), rig.job()
    blender = TalkingBlender()
    replica = rig.replica(blender)
    for manifest in (first, second):
        message = manifest.messages()[1]
        assert replica.render(message, lock_lost=threading.Event()).verdict is Verdict.COMPLETE
    texts = [_text(rig.log(manifest.job_id, 1)) for manifest in (first, second)]
    for text in texts:
        assert [line[:5] for line in text.splitlines() if line.startswith("Fra:")] == [
            "Fra:4",
            "Fra:5",
            "Fra:6",
        ]
    # The second chunk kept the first's scene open: its log says nothing of opening it.
    assert "Read blend" in texts[0] and "Read blend" not in texts[1]
    assert rig.storage.jobs.logs.log_attempts(first.job_id, 0) == []


def _text(log: ChunkLog | None) -> str:
    return "" if log is None else log.content.decode()


def test_a_failed_attempt_logs_why_and_the_next_attempt_has_a_log_of_its_own(rig: Rig) -> None:
    manifest = rig.job()
    blender = TalkingBlender()

    def out_of_memory(frame: int) -> None:
        if frame == 2:
            blender.output.write(b"Error: Out of memory in CUDA queue enqueue\n")
            raise OutputWriteError(f"frame {frame} failed: out of memory at {rig.cache}/x")

    blender.during.append(out_of_memory)
    replica = rig.replica(blender)
    message = manifest.messages()[0]
    assert replica.render(message, lock_lost=threading.Event()).verdict is Verdict.ABANDON
    blender.during.clear()
    assert replica.render(message, lock_lost=threading.Event()).verdict is Verdict.COMPLETE

    assert rig.storage.jobs.logs.log_attempts(manifest.job_id, 0) == [1, 2]
    first, second = (_text(rig.log(manifest.job_id, 0, attempt)) for attempt in (1, 2))
    assert "Error: Out of memory in CUDA queue enqueue" in first
    assert (
        "failed, to be tried again: OutputWriteError: frame 2 failed: out of memory at /x" in first
    )
    assert str(rig.cache) not in first
    assert "attempt 2 at chunk 0" in second and "Out of memory" not in second
    # Frame 1 was uploaded by the first attempt: the second renders 2 and 3 only.
    assert "frame 1 " not in second and "frame 3 uploaded" in second
