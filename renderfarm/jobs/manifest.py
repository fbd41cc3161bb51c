"""The job manifest ``jobs/<id>/job.json``: the spec, its chunk plan, who asked, and its lifecycle.

Written by the API before any message is sent, updated when every chunk is on the queue (or the
sending failed), when the job is cancelled and when it is retried (a new round: its end is
cleared, to be recorded anew). Workers read it to decide whether to render.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from renderfarm.chunks.chunking import TARGET_CHUNKS, Chunk, plan_chunks, planned_chunk_size
from renderfarm.chunks.order import send_order
from renderfarm.chunks.plan import ChunkPlan, PlanSource
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.jobs.end import LEDGER_BLOB, LEDGER_TREE, JobOutcome
from renderfarm.jobs.naming import JobLabel, default_name
from renderfarm.jobs.quote import QuoteRecord
from renderfarm.jobs.retry_round import RetryRound
from renderfarm.jobs.spec import JobSpec
from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import queue_key

SCHEMA_VERSION = 1
LEGACY_BLENDER = "5.0"


class EnqueueState(StrEnum):
    """Whether the job's chunks are on the queue: never half-sent, so failure is said out loud."""

    ENQUEUING = "enqueuing"
    ENQUEUED = "enqueued"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class JobManifest:
    job_id: str
    tenant: str
    spec: JobSpec
    chunk_size: int
    created_at: datetime
    request_fingerprint: str
    #: The pool that renders it (major.minor), and the Blender that saved its scene.
    blender: str
    scene_saved_by: str | None = None
    #: What the client pinned, if anything (else the farm chose ``blender``).
    blender_pinned: bool = False
    enqueue_state: EnqueueState = EnqueueState.ENQUEUING
    enqueue_error: str | None = None
    cancelled_at: datetime | None = None
    #: When its first frame was in Blob (the worker that uploaded it wrote this, once).
    started_at: datetime | None = None
    #: How it ended (completed, failed or cancelled) and when: written once, by whoever settled
    #: its last chunk (renderfarm.jobs.lifecycle) or cancelled it. A read never writes.
    outcome: str | None = None
    finished_at: datetime | None = None
    #: When the finalizer uploaded ``previews/`` (renderfarm_azure.previews): a status read then
    #: knows they exist without listing.
    previews_at: datetime | None = None
    #: How the chunk size was chosen, for the status (None on jobs from before it was said).
    chunking: ChunkPlan | None = None
    #: What the user should know of a job that renders (files it renders without, under
    #: allow_missing): set at submit from what the client found missing, and by the first
    #: worker that finds more.
    warnings: tuple[str, ...] = ()
    #: How its settled chunks are noted (renderfarm.jobs.end): the tree for every new job; jobs
    #: from before it keep their one ledger blob.
    ledger: int = LEDGER_BLOB
    #: Its name, tags and submitter (renderfarm.jobs.naming); None on a job from before names,
    #: which is called by its default name (``label``).
    naming: JobLabel | None = None
    #: The retry round under way or last run (renderfarm.jobs.retry_round); None before any.
    retry: RetryRound | None = None
    #: A scouted job's quote and its approval (renderfarm.jobs.scouting): None until quoted.
    quote: QuoteRecord | None = None

    @classmethod
    def new(  # noqa: PLR0913 - keyword-only: the manifest's fields
        cls,
        *,
        job_id: str,
        tenant: str,
        spec: JobSpec,
        created_at: datetime,
        fingerprint: str,
        blender: str,
        scene_saved_by: str | None,
        blender_pinned: bool,
        plan: ChunkPlan | None = None,
        warnings: tuple[str, ...] = (),
        label: JobLabel | None = None,
    ) -> JobManifest:
        """A manifest whose chunk size is the client's, else ``plan``'s (renderfarm.chunks.plan),
        else one spread over about TARGET_CHUNKS chunks."""
        if spec.chunk_size:
            plan = ChunkPlan.from_client(spec.chunk_size)
        elif plan is None:
            size = planned_chunk_size(len(spec.frames))
            plan = ChunkPlan(
                size=size,
                source=PlanSource.DEFAULT,
                reason=f"{size} frames per chunk: about {TARGET_CHUNKS} chunks",
            )
        return cls(
            job_id=job_id,
            tenant=tenant,
            spec=spec,
            chunk_size=plan.size,
            chunking=plan,
            created_at=created_at,
            request_fingerprint=fingerprint,
            blender=blender,
            scene_saved_by=scene_saved_by,
            blender_pinned=blender_pinned,
            warnings=warnings,
            ledger=LEDGER_TREE,
            naming=label,
        )

    @cached_property
    def chunks(self) -> tuple[Chunk, ...]:
        return plan_chunks(self.spec.frames, self.chunk_size)

    @property
    def label(self) -> JobLabel:
        """Its name, tags and submitter; a job from before names has its default name."""
        if self.naming is not None:
            return self.naming
        main = self.spec.file_set.main if self.spec.file_set is not None else None
        name = default_name(main=main, scene_sha256=self.spec.scene_sha256, frames=self.spec.frames)
        return JobLabel(name=name)

    @property
    def output_extension(self) -> str:
        return self.spec.render.output_format.extension

    @property
    def queue(self) -> str:
        """The chunk queue of the job's pool, band and device, by its name after the prefix
        (``5.3``, ``5.3-high``, ``5.3-gpu-low``)."""
        return queue_key(BlenderVersion.parse(self.blender), self.spec.band, gpu=self.spec.gpu)

    @property
    def round(self) -> int:
        """Its retry round: 0 until it is first retried."""
        return 0 if self.retry is None else self.retry.number

    def accepts_work(self) -> bool:
        """Whether a worker holding one of this job's messages should render it."""
        return self.cancelled_at is None and self.enqueue_state is not EnqueueState.FAILED

    def messages(self) -> tuple[ChunkMessage, ...]:
        """One message per chunk, in the order they are sent (the spec's ``order``; each keeps
        its chunk's index)."""
        chunks = self.chunks
        return tuple(
            ChunkMessage(
                job_id=self.job_id,
                chunk_index=chunks[index].index,
                frames=chunks[index].frames,
                scene_sha256=self.spec.scene_sha256,
                render=self.spec.render,
                tenant=self.tenant,
                priority=self.spec.priority,
            )
            for index in send_order(len(chunks), self.spec.order)
        )

    def enqueued(self) -> JobManifest:
        return replace(self, enqueue_state=EnqueueState.ENQUEUED, enqueue_error=None)

    def enqueue_failed(self, reason: str) -> JobManifest:
        return replace(self, enqueue_state=EnqueueState.FAILED, enqueue_error=reason[:1000])

    def cancelled(self, at: datetime) -> JobManifest:
        return self if self.cancelled_at is not None else replace(self, cancelled_at=at)

    def started(self, at: datetime) -> JobManifest:
        return self if self.started_at is not None else replace(self, started_at=at)

    def ended(self, outcome: str, at: datetime) -> JobManifest:
        """The job's end; the first one recorded stands."""
        if outcome not in JobOutcome.ALL:
            raise ValueError(f"{outcome!r} is not how a job ends")
        return self if self.outcome is not None else replace(self, outcome=outcome, finished_at=at)

    def retried(self, retry: RetryRound) -> JobManifest:
        """An ended job rendering again: its end (and cancel) cleared, to be recorded anew, and
        the round's chunks to be sent."""
        if self.outcome is None or retry.number != self.round + 1:
            raise ValueError("only an ended job is retried, one round after the last")
        return replace(
            self,
            retry=retry,
            outcome=None,
            finished_at=None,
            cancelled_at=None,
            enqueue_state=EnqueueState.ENQUEUING,
            enqueue_error=None,
        )

    def warned(self, warnings: tuple[str, ...]) -> JobManifest:
        """With ``warnings`` added to those it has (each said once)."""
        merged = tuple(dict.fromkeys((*self.warnings, *warnings)))
        return self if merged == self.warnings else replace(self, warnings=merged)

    def with_previews(self, at: datetime) -> JobManifest:
        return self if self.previews_at is not None else replace(self, previews_at=at)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": SCHEMA_VERSION,
                "job_id": self.job_id,
                "tenant": self.tenant,
                "spec": self.spec.to_dict(),
                "chunk_size": self.chunk_size,
                "chunk_count": len(self.chunks),
                "created_at": self.created_at.isoformat(),
                "request_fingerprint": self.request_fingerprint,
                "blender": self.blender,
                "scene_saved_by": self.scene_saved_by,
                "blender_pinned": self.blender_pinned,
                "enqueue_state": self.enqueue_state.value,
                "enqueue_error": self.enqueue_error,
                "cancelled_at": self.cancelled_at.isoformat() if self.cancelled_at else None,
                "started_at": _iso(self.started_at),
                "outcome": self.outcome,
                "finished_at": _iso(self.finished_at),
                "previews_at": self.previews_at.isoformat() if self.previews_at else None,
                "chunking": self.chunking.to_dict() if self.chunking else None,
                "warnings": list(self.warnings),
                "ledger": self.ledger,
                "label": self.naming.to_dict() if self.naming is not None else None,
                "retry": self.retry.to_dict() if self.retry else None,
                "quote": self.quote.to_dict() if self.quote else None,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, body: str | bytes) -> JobManifest:
        data: dict[str, Any] = json.loads(body)
        if data.get("version") != SCHEMA_VERSION:
            raise ValueError(f"unknown manifest version {data.get('version')!r}")
        cancelled = data.get("cancelled_at")
        # Before the farm recorded ends, a status read set completed_at on seeing every frame.
        legacy_completed = _time(data.get("completed_at"))
        return cls(
            job_id=data["job_id"],
            tenant=data["tenant"],
            spec=JobSpec.from_dict(data["spec"]),
            chunk_size=int(data["chunk_size"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            request_fingerprint=data["request_fingerprint"],
            # Jobs from before the pools were per Blender version ran on the one pool, 5.0.
            blender=data.get("blender") or LEGACY_BLENDER,
            scene_saved_by=data.get("scene_saved_by"),
            blender_pinned=bool(data.get("blender_pinned", False)),
            enqueue_state=EnqueueState(data["enqueue_state"]),
            enqueue_error=data.get("enqueue_error"),
            cancelled_at=datetime.fromisoformat(cancelled) if cancelled else None,
            started_at=_time(data.get("started_at")),
            outcome=data.get("outcome") or ("completed" if legacy_completed else None),
            finished_at=_time(data.get("finished_at")) or legacy_completed,
            previews_at=_time(data.get("previews_at")),
            chunking=ChunkPlan.from_dict(data["chunking"]) if data.get("chunking") else None,
            warnings=tuple(str(w) for w in data.get("warnings", ())),
            ledger=int(data.get("ledger", LEDGER_BLOB)),
            naming=JobLabel.from_dict(data["label"]) if data.get("label") else None,
            retry=RetryRound.from_dict(data["retry"]) if data.get("retry") else None,
            quote=QuoteRecord.from_dict(data["quote"]) if data.get("quote") else None,
        )


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
