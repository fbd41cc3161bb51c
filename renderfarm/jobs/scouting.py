"""A scouted job's scout chunks, and the steps of its quote in the manifest.

Scout chunks are chunks of their own, numbered after the job's planned chunks: a job of N
planned chunks and scout frames f1..fk has scout chunks N..N+k-1, one frame each. They have
their own records and messages (``<job>:<N+i>``), so they render on several replicas at once,
and they are never in the job's ledger (renderfarm.jobs.end), which counts only the planned
chunks: a scout chunk settling cannot make the ledger think the job ended. Their frames are
the job's frames, in Blob under the same names, so the planned chunk that holds one finds it
there and skips it, as a redelivered chunk does (docs/cost-and-speed.md "Scout frames and
quotes").

The manifest's steps, each written once over its etag (renderfarm.jobs.manifest_updates):
``quoted`` (with ``approved`` at once when the quote is under approve_below_usd), ``approved``,
``rest_enqueued``, or ``expired`` (cancelled and ended).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from renderfarm.chunks.chunking import Chunk
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.jobs.end import JobOutcome
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.quote import Decision, Quote, QuoteRecord


def scout_chunks(manifest: JobManifest) -> tuple[Chunk, ...]:
    """One chunk per scout frame, numbered after the planned chunks."""
    first = len(manifest.chunks)
    return tuple(
        Chunk(index=first + number, frames=(frame,))
        for number, frame in enumerate(manifest.spec.scout)
    )


def is_scout_chunk(manifest: JobManifest, index: int) -> bool:
    return bool(manifest.spec.scout) and index >= len(manifest.chunks)


def scout_messages(manifest: JobManifest) -> tuple[ChunkMessage, ...]:
    return tuple(
        ChunkMessage(
            job_id=manifest.job_id,
            chunk_index=chunk.index,
            frames=chunk.frames,
            scene_sha256=manifest.spec.scene_sha256,
            render=manifest.spec.render,
            tenant=manifest.tenant,
            priority=manifest.spec.priority,
        )
        for chunk in scout_chunks(manifest)
    )


def first_messages(manifest: JobManifest) -> tuple[ChunkMessage, ...]:
    """What a submit sends: a scouted job's scout chunks, else every planned chunk."""
    return scout_messages(manifest) if manifest.spec.scout else manifest.messages()


def frames_rendered_by_chunk(manifest: JobManifest) -> dict[int, int]:
    """How many frames each chunk renders: a planned chunk skips the scout frames it holds."""
    scouted = set(manifest.spec.scout)
    counts = {c.index: sum(1 for f in c.frames if f not in scouted) for c in manifest.chunks}
    counts.update({chunk.index: 1 for chunk in scout_chunks(manifest)})
    return counts


def is_approved(manifest: JobManifest) -> bool:
    return manifest.quote is not None and manifest.quote.approved_at is not None


def is_awaiting(manifest: JobManifest) -> bool:
    """Quoted, neither approved nor over: what an approval or the expiry acts on."""
    return manifest.quote is not None and not is_approved(manifest) and manifest.outcome is None


def holds_the_rest(manifest: JobManifest) -> bool:
    """A scouted job whose planned chunks are not sent, as they must not be yet."""
    return bool(manifest.spec.scout) and not is_approved(manifest)


def decision(manifest: JobManifest) -> Decision | None:
    """What became of the job's quote; None before it has one."""
    record = manifest.quote
    if record is None:
        return None
    if record.approved_at is not None:
        return Decision.AUTO_APPROVED if record.auto else Decision.APPROVED
    if record.expired_at is not None:
        return Decision.EXPIRED
    return Decision.REJECTED if manifest.outcome is not None else Decision.PENDING


# --- the manifest's steps: each returns the manifest itself when there is nothing to write ---


def quoted(manifest: JobManifest, quote: Quote, *, auto_approve: bool) -> JobManifest:
    """The first quote stands; approved with it when it is under approve_below_usd."""
    if manifest.quote is not None or manifest.outcome is not None:
        return manifest
    approved_at = quote.quoted_at if auto_approve else None
    record = QuoteRecord(quote=quote, approved_at=approved_at, auto=auto_approve)
    return replace(manifest, quote=record)


def approved(manifest: JobManifest, at: datetime) -> JobManifest:
    if not is_awaiting(manifest):
        return manifest
    assert manifest.quote is not None
    return replace(manifest, quote=replace(manifest.quote, approved_at=at))


def rest_enqueued(manifest: JobManifest) -> JobManifest:
    record = manifest.quote
    if record is None or record.rest_enqueued:
        return manifest
    return replace(manifest, quote=replace(record, rest_enqueued=True))


def expired(manifest: JobManifest, at: datetime) -> JobManifest:
    """Cancelled and ended, saying why, if it is still awaiting approval past its expiry."""
    record = manifest.quote
    if record is None or not is_awaiting(manifest) or at < record.quote.expires_at:
        return manifest
    ended = manifest.cancelled(at).ended(JobOutcome.CANCELLED, at)
    return replace(ended, quote=replace(record, expired_at=at))
