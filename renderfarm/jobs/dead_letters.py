"""A dead-lettered chunk into its job's status: the chunk is marked failed, with the reason
Service Bus gives, and settled in its job (whose end it may be).

A worker that dead-letters a poison chunk records the failure itself, but a chunk can also land in
the dead-letter queue with no one to say so: its workers were killed (out of memory, evicted) until
MaxDeliveryCount ran out, or its time-to-live expired. The dead-letter handler (a Function in
Azure, renderfarm_azure/dead_letters.py locally) calls this for each. Safe to repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from renderfarm.chunks import states as chunk_states
from renderfarm.chunks.record import ChunkRecord
from renderfarm.jobs.chunk_messages import ChunkMessage, MessageFormatError, parse_message_id
from renderfarm.jobs.chunk_settlement import JobLedger, settle_chunk
from renderfarm.jobs.ports import ManifestStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    """What Service Bus says of a dead-lettered message."""

    body: bytes
    message_id: str | None
    reason: str | None
    description: str | None
    delivery_count: int


class ChunkRecordUpdates(Protocol):
    """Conditional updates of a chunk's record (renderfarm_azure.chunk_records)."""

    def update(
        self, job_id: str, index: int, change: Callable[[ChunkRecord | None], ChunkRecord]
    ) -> ChunkRecord: ...


@dataclass(frozen=True, kw_only=True)
class JobSettling:
    """Where a dead-lettered chunk settles: its job's manifest, and the ledger
    (renderfarm.jobs.lifecycle.JobLifecycle)."""

    manifests: ManifestStore
    ledger: JobLedger


def chunk_of(body: bytes, message_id: str | None) -> tuple[str, int, int] | None:
    """(job id, chunk index, retry round) of a dead-lettered message, from its body or else its
    message-id."""
    try:
        chunk = ChunkMessage.from_json(body)
        return chunk.job_id, chunk.chunk_index, chunk.round
    except MessageFormatError:
        pass
    try:
        return parse_message_id(message_id or "")
    except MessageFormatError:
        return None


def record_dead_letter(
    letter: DeadLetter,
    *,
    records: ChunkRecordUpdates,
    settling: JobSettling | None,
    at: datetime,
) -> ChunkRecord | None:
    """Mark the letter's chunk failed and settle it in its job; None when the message is not a
    chunk message. A letter of a round the job has been retried past since changes nothing."""
    found = chunk_of(letter.body, letter.message_id)
    if found is None:
        log.warning("dead-lettered message %s is not a chunk message", letter.message_id)
        return None
    job_id, index, retry_round = found
    record = records.update(
        job_id,
        index,
        lambda current: chunk_states.dead_lettered(
            current or chunk_states.new_record(job_id, index),
            reason=letter.reason or "DeadLettered",
            description=letter.description or "",
            delivery_count=letter.delivery_count,
            at=at,
            retry_round=retry_round,
        ),
    )
    if settling is not None and chunk_states.is_settled(record.state):
        _settle(settling, record, retry_round)
    return record


def _settle(settling: JobSettling, record: ChunkRecord, retry_round: int) -> None:
    stored = settling.manifests.read_manifest(record.job_id)
    if stored is None:
        log.warning("dead-lettered chunk of job %s, which has no manifest", record.job_id)
        return
    if stored.manifest.round != retry_round:
        log.info(
            "dead-lettered chunk of job %s from round %d: retried since", record.job_id, retry_round
        )
        return
    error = record.last_error or ""
    settle_chunk(settling.ledger, stored.manifest, record.chunk_index, record.state, error=error)
