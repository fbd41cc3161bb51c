"""A job's status as the API answers it: its manifest, its chunk records and the frames in
Blob, listed only where the records cannot say which are there."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from renderfarm.chunks.chunking import Chunk
from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.chunks.states import is_settled
from renderfarm.jobs.end import JobOutcome
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.ports import ChunkRecords, FrameIndex, ManifestStore
from renderfarm.jobs.scouting import scout_chunks
from renderfarm.jobs.status import JobStatus, job_status
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.errors import JobNotFound

#: Chunk records downloaded per status read for their last error (the rest say only their state).
MAX_ERRORS_READ = 20
#: Past this many name prefixes, one listing of all the job's frames costs less.
MAX_FRAME_LISTINGS = 24


class JobStatusReader:
    def __init__(
        self,
        *,
        manifests: ManifestStore,
        chunks: ChunkRecords,
        frames: FrameIndex,
        clock: Callable[[], datetime],
    ):
        self._manifests = manifests
        self._chunks = chunks
        self._frames = frames
        self._clock = clock

    def status(self, job_id: str, *, tenant: str) -> tuple[JobManifest, JobStatus]:
        """JobNotFound for no such job, and for another tenant's."""
        found = self.status_if_any(job_id, tenant=tenant)
        if found is None:
            raise JobNotFound(job_id)
        return found

    def status_if_any(
        self, job_id: str, *, tenant: str, list_frames: bool = True
    ) -> tuple[JobManifest, JobStatus] | None:
        """The job's status; ``list_frames=False`` lists no frames at all (for job lists: the
        count then leaves out the frames of chunks that stopped without saying which)."""
        if not layout.is_job_id(job_id):
            return None  # no listing under a name that is not a job's
        with ThreadPoolExecutor(max_workers=1) as pool:  # two round trips at once, not in turn
            listing = pool.submit(self._chunks.chunk_summaries, job_id)
            stored = self._manifests.read_manifest(job_id)
            if stored is None or stored.manifest.tenant != tenant:
                return None  # the listing's answer is dropped unread
            chunks = listing.result()
        manifest = stored.manifest
        # A job once complete stays complete (frames are never removed): no need to list them.
        if manifest.outcome == JobOutcome.COMPLETED:
            frames = frozenset(manifest.spec.frames)
        else:
            frames = self._frames_present(manifest, chunks, list_unsure=list_frames)
        troubled = [
            index
            for index, summary in sorted(chunks.items())
            # failed, or retried after a failure (the worker sets it back to pending or rendering)
            if summary.state is ChunkState.FAILED
            or (summary.state is not ChunkState.DONE and summary.attempts > 1)
        ][:MAX_ERRORS_READ]
        errors = self._chunks.chunk_errors(job_id, troubled) if troubled else {}
        # A read never writes: the job's end is recorded where its last chunk settles.
        status = job_status(
            manifest, chunks=chunks, errors=errors, frames_present=frames, now=self._clock()
        )
        return manifest, status

    def _frames_present(
        self, manifest: JobManifest, chunks: Mapping[int, ChunkSummary], *, list_unsure: bool
    ) -> frozenset[int]:
        """Frames in Blob, from the chunk records where they can say, listed where they cannot.

        A chunk recorded done has all its frames: its worker writes done only after its last
        upload. An unsettled chunk's record names the frames its worker uploaded, written every
        few seconds (and a worker that takes a chunk up again records the frames it finds), so
        it is trusted, a few seconds behind. A chunk without a record has none: a worker
        records the start before its first upload. Only a chunk that failed or was cancelled
        part-way, or whose record does not name its frames, has its frames listed, by name
        prefix: they may hold frames an attempt uploaded and then died before recording.
        """
        found: set[int] = set()
        unsure: list[tuple[int, int]] = []
        previous_unsure = False
        for chunk in manifest.chunks:  # contiguous slices of the job's sorted frames
            trusted = _recorded_frames(chunk, chunks.get(chunk.index))
            if trusted is not None:
                found.update(trusted)
            elif previous_unsure:  # the unsure chunk before it ends right where this one starts
                unsure[-1] = (unsure[-1][0], max(chunk.frames))
            else:
                unsure.append((min(chunk.frames), max(chunk.frames)))
            previous_unsure = trusted is None
        for chunk in scout_chunks(manifest):  # one frame each, outside the planned chunks
            scouted = _recorded_frames(chunk, chunks.get(chunk.index))
            found.update(scouted if scouted is not None else ())
            unsure.extend([] if scouted is not None else [(chunk.frames[0], chunk.frames[0])])
        if not unsure or not list_unsure:
            return frozenset(found)
        prefixes = _listing_prefixes(unsure)
        if prefixes is None or len(prefixes) > MAX_FRAME_LISTINGS:
            return frozenset(found) | self._frames.frames_present(manifest.job_id)
        job_frames = frozenset(manifest.spec.frames)  # a block may name other chunks' frames too
        listed = self._frames.frames_present(manifest.job_id, prefixes)
        return frozenset(found) | (listed & job_frames)


def _recorded_frames(chunk: Chunk, summary: ChunkSummary | None) -> Set[int] | None:
    """The chunk's frames in Blob as its record tells them; None when the record cannot tell
    and the frames must be listed."""
    if summary is None:
        return frozenset()  # never started: a worker records the start before any upload
    if summary.state is ChunkState.DONE:
        return frozenset(chunk.frames)
    if summary.frames_done is None or is_settled(summary.state):
        return None
    return summary.frames_done.intersection(chunk.frames)


def _listing_prefixes(ranges: Sequence[tuple[int, int]]) -> list[str] | None:
    """At most two name prefixes per range (blob_layout.range_prefixes), without repeats or a
    prefix another one covers; None when a range goes past the padding."""
    found: set[str] = set()
    for first, last in ranges:
        prefixes = layout.range_prefixes(first, last)
        if prefixes is None:
            return None
        found.update(prefixes)
    ordered = sorted(found)
    return [p for i, p in enumerate(ordered) if not any(p.startswith(q) for q in ordered[:i])]
