"""What a job cost in Azure, estimated from the worker seconds its chunk records carry.

The estimate is the job's marginal cost at list prices (renderfarm/jobs/prices/<version>.json):
- compute: worker seconds (pick-up to settle, every attempt that recorded) times the worker
  replica's size as the Bicep sets it, in vCPU-seconds and GiB-seconds of Container Apps
  Consumption;
- Service Bus: operations (sends, receives, settlements, lock renewals, the job's events);
- Blob Storage: write, read and list transactions (frames, thumbnails, chunk records, manifest,
  previews, one download of each frame) and the frames' bytes stored for STORAGE_MONTHS.
It leaves out what no job causes alone (free grants, Service Bus's base charge, the Functions
app, idle replicas, egress, Key Vault, Log Analytics, the registry): docs/cost-and-speed.md
"What it leaves out".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.status import JobStatus

PRICES_DIR = Path(__file__).resolve().parent / "prices"
#: The price table in force; a new one is a new file, never an edit of a published one.
CURRENT_PRICES = "azure-2026-11.json"

# --- the usage model: operations the farm's code performs, per job, chunk, attempt and frame ---
#: The API sends each chunk's message once (duplicate detection drops a resend).
SB_SENDS_PER_CHUNK = 1
#: A worker receives the message and settles it (complete, abandon or dead-letter).
SB_OPS_PER_ATTEMPT = 2
#: A worker renews its lock every third of the chunk queues' 30 s LockDuration.
LOCK_RENEW_EVERY_S = 10.0
#: Events per job (accepted, started, and how it ended), each sent, received and completed.
EVENTS_PER_JOB = 3
SB_OPS_PER_EVENT = 3
#: The frame, its thumbnail and at most one progress write of the chunk record.
BLOB_WRITES_PER_FRAME = 3
#: The chunk record's first and last write of an attempt.
BLOB_WRITES_PER_ATTEMPT = 2
#: The manifest and the scene (counted even when the replica's cache has it).
BLOB_READS_PER_ATTEMPT = 2
#: A rendering worker re-reads the manifest this often to notice a cancel.
CANCEL_CHECK_EVERY_S = 2.0
#: The worker lists the frames already present once per attempt.
BLOB_LISTS_PER_ATTEMPT = 1
#: One download by the client, one by the preview builder.
BLOB_READS_PER_FRAME = 2
#: Manifest (created, enqueued, completed, previews recorded), index entry (made, marked over),
#: the two previews.
BLOB_WRITES_PER_JOB = 8
#: The preview builder lists the frames and the thumbnails.
BLOB_LISTS_PER_JOB = 2
#: Frames are priced as stored this long.
STORAGE_MONTHS = 1.0
_GIB = 1024**3


@dataclass(frozen=True, kw_only=True)
class PriceTable:
    version: str
    as_of: date
    currency: str
    region: str
    worker_vcpu: float
    worker_memory_gib: float
    usd_per_vcpu_second: float
    usd_per_gib_second: float
    usd_per_million_bus_operations: float
    usd_per_gb_month: float
    usd_per_10k_writes: float
    usd_per_10k_reads: float
    usd_per_10k_lists: float

    @property
    def worker_usd_per_second(self) -> float:
        """What one second of one worker replica costs."""
        return (
            self.worker_vcpu * self.usd_per_vcpu_second
            + self.worker_memory_gib * self.usd_per_gib_second
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriceTable:
        worker, apps = data["worker"], data["container_apps"]
        bus, blob = data["service_bus"], data["blob_storage"]
        return cls(
            version=str(data["version"]),
            as_of=date.fromisoformat(data["as_of"]),
            currency=str(data["currency"]),
            region=str(data["region"]),
            worker_vcpu=float(worker["vcpu"]),
            worker_memory_gib=float(worker["memory_gib"]),
            usd_per_vcpu_second=float(apps["vcpu_second"]),
            usd_per_gib_second=float(apps["gib_second"]),
            usd_per_million_bus_operations=float(bus["usd_per_million_operations"]),
            usd_per_gb_month=float(blob["usd_per_gb_month"]),
            usd_per_10k_writes=float(blob["usd_per_10k_writes"]),
            usd_per_10k_reads=float(blob["usd_per_10k_reads"]),
            usd_per_10k_lists=float(blob["usd_per_10k_lists"]),
        )


def load_prices(path: Path) -> PriceTable:
    return PriceTable.from_dict(json.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def current_prices() -> PriceTable:
    return load_prices(PRICES_DIR / CURRENT_PRICES)


@dataclass(frozen=True, kw_only=True)
class JobUsage:
    """What a job used, as far as its chunk records tell."""

    chunks: int
    attempts: int
    frames: int
    worker_s: float
    render_s: float
    stored_bytes: int

    @classmethod
    def of(cls, chunks: Iterable[tuple[int, ChunkUsage]], *, frames: int) -> JobUsage:
        """From each chunk's attempts and usage (chunks never picked up count too: sent)."""
        listed = list(chunks)
        total = sum((usage for _, usage in listed), ChunkUsage())
        return cls(
            chunks=len(listed),
            attempts=sum(attempts for attempts, _ in listed),
            frames=frames,
            worker_s=total.worker_s,
            render_s=total.render_s,
            stored_bytes=total.uploaded_bytes,
        )


@dataclass(frozen=True, kw_only=True)
class Operations:
    """Billed operations. Lock renewals and cancel checks are counted as worker time over their
    period, unrounded, so the model is linear: a job's operations are its attempts' added to its
    own (renderfarm.billing adds them up attempt by attempt as chunks settle)."""

    bus: float
    blob_writes: float
    blob_reads: float
    blob_lists: float

    def __add__(self, other: Operations) -> Operations:
        return Operations(
            bus=self.bus + other.bus,
            blob_writes=self.blob_writes + other.blob_writes,
            blob_reads=self.blob_reads + other.blob_reads,
            blob_lists=self.blob_lists + other.blob_lists,
        )


def attempt_operations(*, attempts: int, frames: int, worker_s: float) -> Operations:
    """What attempts at chunks cost in operations: their messages, records and frames."""
    return Operations(
        bus=attempts * SB_OPS_PER_ATTEMPT + worker_s / LOCK_RENEW_EVERY_S,
        blob_writes=frames * BLOB_WRITES_PER_FRAME + attempts * BLOB_WRITES_PER_ATTEMPT,
        blob_reads=frames * BLOB_READS_PER_FRAME
        + attempts * BLOB_READS_PER_ATTEMPT
        + worker_s / CANCEL_CHECK_EVERY_S,
        blob_lists=attempts * BLOB_LISTS_PER_ATTEMPT,
    )


def job_operations(*, chunks: int) -> Operations:
    """What a job costs in operations besides its attempts: its sends, events and own blobs."""
    return Operations(
        bus=chunks * SB_SENDS_PER_CHUNK + EVENTS_PER_JOB * SB_OPS_PER_EVENT,
        blob_writes=BLOB_WRITES_PER_JOB,
        blob_reads=0,
        blob_lists=BLOB_LISTS_PER_JOB,
    )


def operations(usage: JobUsage) -> Operations:
    """The billed operations the usage model counts for a job."""
    return attempt_operations(
        attempts=usage.attempts, frames=usage.frames, worker_s=usage.worker_s
    ) + job_operations(chunks=usage.chunks)


@dataclass(frozen=True, kw_only=True)
class CostEstimate:
    worker_seconds: float
    render_seconds: float
    compute_usd: float
    bus_usd: float
    blob_operations_usd: float
    storage_usd: float
    frames: int
    prices_version: str
    prices_as_of: date

    @property
    def estimated_usd(self) -> float:
        return self.compute_usd + self.bus_usd + self.blob_operations_usd + self.storage_usd

    @property
    def usd_per_frame(self) -> float | None:
        return self.estimated_usd / self.frames if self.frames else None


def estimate(usage: JobUsage, prices: PriceTable) -> CostEstimate:
    ops = operations(usage)
    return CostEstimate(
        worker_seconds=usage.worker_s,
        render_seconds=usage.render_s,
        compute_usd=usage.worker_s * prices.worker_usd_per_second,
        bus_usd=_bus_usd(ops, prices),
        blob_operations_usd=_blob_operations_usd(ops, prices),
        storage_usd=_storage_usd(usage.stored_bytes, prices),
        frames=usage.frames,
        prices_version=prices.version,
        prices_as_of=prices.as_of,
    )


def attempt_usd(usage: ChunkUsage, *, frames: int, prices: PriceTable) -> float:
    """What one attempt at a chunk cost, ``frames`` of them uploaded by it: a job's estimate is
    its attempts' added to ``job_usd``."""
    ops = attempt_operations(attempts=1, frames=frames, worker_s=usage.worker_s)
    return (
        usage.worker_s * prices.worker_usd_per_second
        + _bus_usd(ops, prices)
        + _blob_operations_usd(ops, prices)
        + _storage_usd(usage.uploaded_bytes, prices)
    )


def job_usd(*, chunks: int, prices: PriceTable) -> float:
    """What a job of ``chunks`` chunks costs besides its attempts."""
    ops = job_operations(chunks=chunks)
    return _bus_usd(ops, prices) + _blob_operations_usd(ops, prices)


def _bus_usd(ops: Operations, prices: PriceTable) -> float:
    return ops.bus * prices.usd_per_million_bus_operations / 1_000_000


def _blob_operations_usd(ops: Operations, prices: PriceTable) -> float:
    return (
        ops.blob_writes * prices.usd_per_10k_writes
        + ops.blob_reads * prices.usd_per_10k_reads
        + ops.blob_lists * prices.usd_per_10k_lists
    ) / 10_000


def _storage_usd(stored_bytes: int, prices: PriceTable) -> float:
    return stored_bytes / _GIB * prices.usd_per_gb_month * STORAGE_MONTHS


def job_cost(status: JobStatus, prices: PriceTable | None = None) -> CostEstimate | None:
    """The job's estimate from its status; None until a chunk has recorded worker time."""
    chunks = [(chunk.attempts, chunk.usage) for chunk in (*status.chunks, *status.scout_chunks)]
    if all(usage.is_empty for _, usage in chunks):
        return None
    usage = JobUsage.of(chunks, frames=status.frames_done)
    return estimate(usage, prices or current_prices())
