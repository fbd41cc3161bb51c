"""What a chunk costs in Blob requests, counted on the wire against Azurite: the same for a job of
10 frames as for one of 2,000, and a cancel check that never reads the job's manifest. Also what a
replica keeps between chunks: the scene it has open.

The SDK is not mocked: the real client's ``raw_response_hook`` notes each HTTP request that went
to Azurite (and, for listings, how many blobs the answer named).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Callable, Container, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.transport import HttpRequest, HttpResponse
from azure.storage.blob import BlobServiceClient, ContainerClient

from containerapp_worker import chunk_attempt
from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.chunk_outcome import Outcome, Verdict
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.storage import WorkerStorage
from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.manifest import JobManifest
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.render_settings import RenderSettings
from testbed.emulators import Azurite
from tests.job_manifests import new_manifest

pytestmark = pytest.mark.timeout(120)

TENANT = "studio"
SCENE = b"BLENDER17-01v0503" + b"request-counts"
SCENE_SHA = hashlib.sha256(SCENE).hexdigest()
CHUNK_SIZE = 5
_BLOB_IN_LISTING = re.compile(rb"<Blob>")


@dataclass(frozen=True)
class Request:
    method: str
    blob: str  # the path after the container, with the job's id as <job>
    listing: str | None  # the prefix a listing asked for
    names: int  # blobs a listing's answer named


@dataclass
class RequestLog:
    """The client's ``raw_response_hook``: called once per HTTP response, retries included
    (storage clients take no ``per_retry_policies``; this hook runs after the retry policy)."""

    container: str
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, response: PipelineResponse[HttpRequest, HttpResponse]) -> None:
        http = response.http_request
        url = urlparse(http.url)
        path = unquote(url.path).split(f"/{self.container}", 1)[-1].lstrip("/")
        query = parse_qs(url.query)
        listing = query.get("prefix", [""])[0] if query.get("comp") == ["list"] else None
        names = 0
        if listing is not None:
            names = len(_BLOB_IN_LISTING.findall(response.http_response.body()))
        if not url.path.startswith(f"/{self.container}", url.path.index("/", 1)):
            return  # the scene's download: once per replica, whatever the job
        blob, prefix = (_anonymous(text) for text in (path, listing))
        with self._lock:
            self.requests.append(Request(http.method, blob or "", prefix, names))

    def take(self) -> list[Request]:
        with self._lock:
            taken, self.requests = self.requests, []
        return taken


def _anonymous(text: str | None) -> str | None:
    return None if text is None else re.sub(r"[0-9a-f]{32}", "<job>", text)


@dataclass(kw_only=True)
class FakeBlender:
    """Writes a few bytes per frame; ``on_frame`` runs before each (to cancel midway)."""

    seconds: float = 0.0
    on_frame: Callable[[int], None] | None = None
    rendered: list[int] = field(default_factory=list)
    opened: list[Path] = field(default_factory=list)
    applied: list[RenderSettings] = field(default_factory=list)
    logs_forgotten: int = 0

    def open_scene(self, path: Path) -> None:
        self.opened.append(path)

    def missing_files(self, root: Path) -> tuple[str, ...]:
        return ()

    def apply(self, settings: RenderSettings) -> None:
        self.applied.append(settings)

    def render_frame(self, frame: int, out_path: Path) -> Path:
        if self.on_frame is not None:
            self.on_frame(frame)
        time.sleep(self.seconds)
        self.rendered.append(frame)
        out_path.write_bytes(b"frame %d" % frame)
        return out_path

    def log_tail(self) -> tuple[str, ...]:
        return ()

    def forget_log(self) -> None:
        self.logs_forgotten += 1

    def new_output(self) -> bytes:
        return b""


@dataclass(kw_only=True)
class Rig:
    log: RequestLog
    storage: WorkerStorage
    jobs: ContainerClient
    cache_dir: Path

    def job(
        self,
        frame_count: int,
        *,
        missing: Container[int] = (1,),
        render: dict[str, object] | None = None,
    ) -> JobManifest:
        """A job whose every frame but those of the ``missing`` chunks is in Blob (written
        directly, not rendered)."""
        manifest = new_manifest(
            f"1-{frame_count}",
            chunk_size=CHUNK_SIZE,
            job_id=uuid.uuid4().hex,
            tenant=TENANT,
            created_at=datetime.now(UTC),
            scene_sha256=SCENE_SHA,
            render=render or {},
        )
        assert self.storage.jobs.manifests.create_manifest(manifest)
        frames = [
            f for chunk in manifest.chunks if chunk.index not in missing for f in chunk.frames
        ]

        def put(frame: int) -> None:
            self.jobs.upload_blob(layout.frame_blob(manifest.job_id, frame, "png"), b"png")

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(put, frames))
        self.log.take()
        return manifest

    def replica(self, blender: FakeBlender) -> ChunkRenderer:
        return ChunkRenderer(
            storage=self.storage,
            cache=BlendCache(self.cache_dir, max_bytes=10**9),
            renderer=blender,
            worker_id="counted",
            blender_version="5.3.0",
            stop_requested=threading.Event(),
        )

    def render(
        self,
        manifest: JobManifest,
        index: int,
        blender: FakeBlender,
        *,
        replica: ChunkRenderer | None = None,
    ) -> Outcome:
        (message,) = [m for m in manifest.messages() if m.chunk_index == index]
        replica = replica or self.replica(blender)
        return replica.render(message, lock_lost=threading.Event())


@pytest.fixture
def rig(azurite: Azurite, tmp_path: Path) -> Iterator[Rig]:
    suffix = uuid.uuid4().hex[:10]
    scenes, jobs = f"scenes-{suffix}", f"jobs-{suffix}"
    log = RequestLog(container=jobs)
    service = BlobServiceClient.from_connection_string(
        azurite.connection_string, raw_response_hook=log
    )
    service.create_container(scenes).upload_blob(layout.scene_blob(TENANT, SCENE_SHA), SCENE)
    container = service.create_container(jobs)
    yield Rig(
        log=log,
        storage=WorkerStorage(service, scenes=scenes, jobs=jobs),
        jobs=container,
        cache_dir=tmp_path / "cache",
    )


def test_a_chunk_costs_the_same_requests_in_a_job_of_10_frames_as_in_one_of_2000(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunk_attempt, "PROGRESS_EVERY_S", 3600.0)  # writes at start and end
    small, big = rig.job(10), rig.job(2_000)
    costs = []
    for manifest in (small, big):
        outcome = rig.render(manifest, 1, FakeBlender())
        assert outcome.verdict is Verdict.COMPLETE and outcome.frames_rendered == CHUNK_SIZE
        costs.append(rig.log.take())
    shape = [sorted((r.method, r.blob, r.listing or "") for r in cost) for cost in costs]
    assert shape[0] == shape[1], costs
    listed = [sum(r.names for r in cost) for cost in costs]
    assert max(listed) <= 4 * CHUNK_SIZE  # chunk 1 is frames 6-10: the blocks 0-9 and 10-19
    assert len(costs[1]) <= 20, costs[1]


def test_the_last_frame_leaves_the_record_to_the_write_that_ends_the_chunk(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunk_attempt, "PROGRESS_EVERY_S", 0.0)  # a write after every frame...
    manifest = rig.job(10)
    assert rig.render(manifest, 1, FakeBlender()).verdict is Verdict.COMPLETE
    record = layout.chunk_blob(manifest.job_id, 1).replace(manifest.job_id, "<job>")
    writes = [r for r in rig.log.take() if r.method == "PUT" and r.blob == record]
    # ...but the last: the start, frames 6-9, and the end, which records frame 10.
    assert len(writes) == 1 + (CHUNK_SIZE - 1) + 1, writes
    found = rig.storage.jobs.chunks.read_chunk_record(manifest.job_id, 1)
    assert found is not None and found[0].state is ChunkState.DONE
    assert set(found[0].frames_done) == set(range(6, 11))


def test_a_rendering_chunk_polls_its_own_cancel_marker_not_the_manifest(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunk_attempt, "CANCEL_CHECK_S", 0.05)
    manifest = rig.job(10)
    outcome = rig.render(manifest, 1, FakeBlender(seconds=0.06))
    assert outcome.verdict is Verdict.COMPLETE
    requests = rig.log.take()
    manifest_reads = [r for r in requests if r.blob == "<job>/job.json"]
    marker_checks = [r for r in requests if r.blob.startswith("<job>/cancel/")]
    assert len(manifest_reads) == 1, requests  # at the chunk's start only
    assert len(marker_checks) >= 3
    assert {(r.method, r.blob) for r in marker_checks} == {("HEAD", "<job>/cancel/1")}


def test_a_cancel_marker_stops_the_chunk_at_its_next_check(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunk_attempt, "CANCEL_CHECK_S", 0.05)
    manifest = rig.job(10)

    def cancel_at_frame_8(frame: int) -> None:
        if frame == 8:
            rig.storage.jobs.chunks.signal_cancel(manifest.job_id, [1])

    blender = FakeBlender(seconds=0.06, on_frame=cancel_at_frame_8)
    outcome = rig.render(manifest, 1, blender)
    assert (outcome.verdict, outcome.reason) == (Verdict.COMPLETE, "JobCancelled")
    assert blender.rendered == [6, 7, 8]
    found = rig.storage.jobs.chunks.read_chunk_record(manifest.job_id, 1)
    assert found is not None and found[0].state is ChunkState.CANCELLED


def test_a_chunk_skips_the_frames_a_crashed_attempt_uploaded_but_never_recorded(
    rig: Rig,
) -> None:
    manifest = rig.job(10)
    for frame in (6, 7):  # uploaded, then the replica died before its record said so
        rig.jobs.upload_blob(layout.frame_blob(manifest.job_id, frame, "png"), b"png")
    blender = FakeBlender()
    assert rig.render(manifest, 1, blender).verdict is Verdict.COMPLETE
    assert blender.rendered == [8, 9, 10]


def test_a_replica_opens_the_scene_once_for_consecutive_chunks_of_a_job(rig: Rig) -> None:
    manifest = rig.job(20, missing={0, 1, 2})
    blender = FakeBlender()
    replica = rig.replica(blender)
    for index in (0, 1, 2):
        assert rig.render(manifest, index, blender, replica=replica).verdict is Verdict.COMPLETE
    assert (len(blender.opened), len(blender.applied)) == (1, 1)
    assert blender.logs_forgotten == 3  # each chunk's error report has its own lines only
    assert blender.rendered == list(range(1, 16))
    found = rig.storage.jobs.chunks.read_chunk_record(manifest.job_id, 2)
    assert found is not None and found[0].usage.open_s == 0.0


def test_other_settings_or_a_failed_chunk_reopen_the_scene(rig: Rig) -> None:
    plain, fewer_samples = rig.job(10), rig.job(15, missing={1, 2}, render={"samples": 2})
    blender = FakeBlender()
    replica = rig.replica(blender)
    rig.render(plain, 1, blender, replica=replica)
    rig.render(fewer_samples, 1, blender, replica=replica)  # the same file, other settings
    assert len(blender.opened) == 2

    def crash(frame: int) -> None:
        raise RuntimeError(f"Blender crashed on frame {frame}")

    blender.on_frame = crash
    assert rig.render(fewer_samples, 2, blender, replica=replica).verdict is not Verdict.COMPLETE
    blender.on_frame = None
    assert rig.render(fewer_samples, 2, blender, replica=replica).verdict is Verdict.COMPLETE
    assert len(blender.opened) == 3  # what Blender held after the crash was not reused
