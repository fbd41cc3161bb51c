"""In-memory fakes of the job use cases' ports (our own ports, not Azure), and every use case
wired over one store, for the tests of submit, status, listing, cancel and backpressure."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from renderfarm.chunks.record import ChunkSummary
from renderfarm.jobs.backpressure import Backpressure
from renderfarm.jobs.cancel import JobCancel
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.jobs.events import JobEvent
from renderfarm.jobs.listing import JobListing
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.ports import IndexEntry, IndexPage, StoredManifest
from renderfarm.jobs.spec import JobRequest
from renderfarm.jobs.status_reader import JobStatusReader
from renderfarm.jobs.submission import JobSubmission
from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.errors import ConcurrentUpdate, DependencyUnavailable, SceneNotUsable

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
        #: Each indexed job's name and tags (None: an entry from before names).
        self.labels: dict[str, tuple[str, tuple[str, ...]] | None] = {}
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

    def signal_cancel(self, job_id: str, indexes: Sequence[int], *, retry_round: int = 0) -> None:
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
        self.labels[manifest.job_id] = (manifest.label.name, manifest.label.tags)

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
                name=(self.labels.get(i) or (None, None))[0],
                tags=(self.labels.get(i) or (None, None))[1],
            )
            for i in page
        )
        return IndexPage(entries=entries, cursor=str(start + size) if more else None)

    def mark_terminal(self, manifest: JobManifest) -> None:
        self.terminal.add(manifest.job_id)

    def relabel(self, manifest: JobManifest) -> None:
        self.labels[manifest.job_id] = (manifest.label.name, manifest.label.tags)


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


def use_cases(  # noqa: PLR0913 - keyword-only: each a fake or knob a test may swap
    store: MemoryStore,
    queue: Queue,
    *,
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
