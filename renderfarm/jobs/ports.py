"""What the job use cases need from storage and the queue: narrow interfaces, declared here by
their consumer, implemented by the Azure adapters (and by in-memory fakes in unit tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from renderfarm.chunks.plan import SceneTimings
from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.jobs.end import Node, SettledChunks
from renderfarm.jobs.events import JobEvent
from renderfarm.jobs.manifest import JobManifest


@dataclass(frozen=True, kw_only=True)
class StoredManifest:
    """A job's manifest as read, with the etag a conditional write goes over."""

    manifest: JobManifest
    etag: str


@dataclass(frozen=True, kw_only=True)
class IndexEntry:
    """A job in its tenant's index, with enough of its plan to count its waiting frames, and
    its name and tags to filter lists by (None on entries from before names)."""

    job_id: str
    terminal: bool
    frames_total: int
    chunk_size: int
    name: str | None = None
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class IndexPage:
    entries: tuple[IndexEntry, ...]
    cursor: str | None


class JobCosts(Protocol):
    """Where a job's own costs are counted once its end is seen (renderfarm.billing.recording:
    the usage totals). Never raises; again is a no-op."""

    def job_ended(self, manifest: JobManifest) -> None: ...


class SceneTimingsStore(Protocol):
    """What earlier renders of a scene measured, per tenant, scene and render settings."""

    def read_scene_timings(self, tenant: str, sha256: str, settings: str) -> SceneTimings | None:
        """None when nothing was measured (or what was stored cannot be read)."""

    def record_scene_timings(
        self, tenant: str, sha256: str, settings: str, measured: SceneTimings
    ) -> None:
        """Fold ``measured`` into what is stored (a running average)."""


class ManifestStore(Protocol):
    """Each job's manifest, and the sequence numbers of its scheduled messages."""

    def create_manifest(self, manifest: JobManifest) -> str | None:
        """Write a new manifest and return its etag; None when one with that id exists."""

    def read_manifest(self, job_id: str) -> StoredManifest | None: ...

    def replace_manifest(self, manifest: JobManifest, etag: str) -> str:
        """Overwrite if unchanged since read, else raise ConcurrentUpdate; the new etag."""

    def save_schedule(self, job_id: str, sequence_numbers: Sequence[int]) -> None:
        """Keep the scheduled messages' sequence numbers, to cancel them with the job."""

    def read_schedule(self, job_id: str) -> tuple[int, ...]: ...


class ChunkRecords(Protocol):
    """Each chunk's record (its state, attempts and last error) and its cancel marker."""

    def chunk_summaries(self, job_id: str) -> Mapping[int, ChunkSummary]:
        """Every chunk record's state and attempts, by index, from one listing."""

    def chunk_errors(self, job_id: str, indexes: Sequence[int]) -> dict[int, str]:
        """Last errors of these chunks' records (a download each: ask only for a few)."""

    def signal_cancel(self, job_id: str, indexes: Sequence[int], *, retry_round: int = 0) -> None:
        """Tell the workers of these chunks that the job is cancelled (a marker each, where
        the workers of ``retry_round``'s messages look)."""


class FrameIndex(Protocol):
    """Which of a job's frames are stored, from listings of their names."""

    def frames_present(
        self, job_id: str, name_prefixes: Sequence[str] | None = None
    ) -> frozenset[int]:
        """The frames whose blobs exist: a listing of ``<id>/frames/``, or of only the names
        under ``<id>/frames/<prefix>`` for each of ``name_prefixes``."""


class TenantIndex(Protocol):
    """Each tenant's jobs, newest first, each marked once it is over."""

    def index_job(self, manifest: JobManifest) -> None: ...

    def index_page(self, tenant: str, *, size: int, cursor: str | None) -> IndexPage: ...

    def mark_terminal(self, manifest: JobManifest) -> None:
        """Note in the index that the job is over, so the queued-frames count skips it."""

    def relabel(self, manifest: JobManifest) -> None:
        """Note the job's name and tags as its manifest now has them (nothing else changes)."""


class SceneStore(Protocol):
    def verify(self, sha256: str, *, tenant: str, whole_blend: bool = True) -> None:
        """Raise SceneNotUsable unless ``scenes/<tenant>/<sha256>.blend`` exists, hashes to its
        name and (``whole_blend``) is a whole .blend; another tenant's copy of the same bytes
        counts as missing."""

    def head(self, sha256: str, *, tenant: str) -> bytes:
        """The first ``blend_header.HEAD_BYTES`` bytes of the tenant's scene (fewer if the file
        is shorter)."""


class ChunkQueue(Protocol):
    """``queue``: which chunk queue, by its name after the prefix (``blender_pools.queue_key``):
    the pool's Blender version, then the GPU and band suffixes: ``5.3``, ``5.3-high``,
    ``5.3-gpu-low``."""

    def send(
        self, queue: str, messages: Sequence[ChunkMessage], trace_context: Mapping[str, str]
    ) -> None:
        """Put every message on ``queue`` or raise DependencyUnavailable."""

    def schedule(
        self,
        queue: str,
        messages: Sequence[ChunkMessage],
        trace_context: Mapping[str, str],
        *,
        at: datetime,
    ) -> tuple[int, ...]:
        """Schedule every message for ``at``; their sequence numbers."""

    def cancel_scheduled(self, queue: str, sequence_numbers: Sequence[int]) -> None:
        """Take scheduled messages off the queue (those already due are gone: fine)."""


class JobLedgerStore(Protocol):
    """Where a job's settled chunks are counted (renderfarm.jobs.end, renderfarm.jobs.lifecycle):
    the markers of its ledger tree, and the one ledger blob of jobs from before the tree."""

    def put_marker(self, job_id: str, node: Node, code: str) -> None:
        """A chunk's own marker, written outright: only its settler writes it."""

    def ensure_marker(self, job_id: str, node: Node, code: str) -> None:
        """A node's marker: created once, corrected if it says otherwise (LedgerContention
        when it kept changing)."""

    def children_codes(self, job_id: str, node: Node) -> list[str]:
        """The codes of the node's children that have a marker."""

    def add_settled(self, manifest: JobManifest, index: int, state: ChunkState) -> SettledChunks:
        """A pre-tree job's ledger with the chunk noted (LedgerContention when it kept
        changing)."""


class EventPublisher(Protocol):
    def publish(self, events: Sequence[JobEvent]) -> None:
        """Put the events on the events queue (a repeated id is dropped there) or raise
        DependencyUnavailable."""


@dataclass(frozen=True, kw_only=True)
class SignedLink:
    """A URL that lets whoever holds it read one blob until ``expires_at``."""

    url: str
    expires_at: datetime


class FrameLinks(Protocol):
    """Read links to a job's blobs (frames, thumbnails, previews) for the API and the dashboard.
    The blob names come from renderfarm.shared.blob_layout; signing is the adapter's business."""

    @property
    def origin(self) -> str:
        """Where the links point (``scheme://host[:port]``): the dashboard's CSP allows it."""

    def read_link(self, blob: str) -> SignedLink:
        """A short-lived read link to ``blob`` in the jobs container."""


@dataclass(frozen=True, kw_only=True)
class QueueCounts:
    """One queue's messages as Service Bus counts them (active includes locked ones)."""

    queue: str
    active: int
    scheduled: int
    dead_lettered: int


class QueueMonitor(Protocol):
    def counts(self, queues: Sequence[str]) -> tuple[QueueCounts, ...]:
        """The counts of each of ``queues`` that exists, in order, or raise
        DependencyUnavailable."""
