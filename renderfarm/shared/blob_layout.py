"""Where everything lives in Blob Storage: the names the API, the worker and the tests share.

Container ``scenes``: ``<tenant>/<sha256>.blend``, and the files of projects,
``<tenant>/files/<sha256>`` with ``<tenant>/filesets/<sha256>.json``. A scene is named by its
content hash within its tenant's folder: a tenant's uploads are deduplicated, but no tenant can
learn whether another holds the same bytes, nor name another's scene in a job.
Container ``jobs``: ``<id>/job.json``, ``<id>/chunks/<n>.json``, ``<id>/cancel/<n>`` (empty: the
cancel signal for a chunk that was rendering), ``<id>/settled/<level>/<parent>/<slot>`` (the
ledger tree's markers; a retry round's markers are under ``r<round>/`` in both),
``<id>/frames/<frame:06d>.<ext>``, ``<id>/thumbs/<frame:06d>.jpg``,
``<id>/previews/{contact-sheet.png,preview.mp4}``, ``<id>/logs/<n>/<attempt>.log`` (Blender's
log of one attempt at a chunk, written by that attempt's worker alone), the listing index
``_tenants/<tenant>/<newest-first key>_<id>``, and the jobs awaiting approval
``_awaiting/<expiry key>_<id>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from renderfarm.shared.tenants import is_tenant

SCENES_CONTAINER = "scenes"
JOBS_CONTAINER = "jobs"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_FRAME_NAME = re.compile(r"^(?P<frame>\d{6,7})\.[a-z]{3,4}$")
_CHUNK_NAME = re.compile(r"^(?P<index>\d+)\.json$")
_LOG_NAME = re.compile(r"^(?P<attempt>[1-9]\d{0,8})\.log$")
# Index keys sort newest first: the creation time is subtracted from this many microseconds.
_INDEX_EPOCH_LIMIT_US = 10**17


def is_sha256(text: str) -> bool:
    return _SHA256.match(text) is not None


def is_job_id(text: str) -> bool:
    return _JOB_ID.match(text) is not None


def scene_blob(tenant: str, sha256: str) -> str:
    """``scenes/<tenant>/<sha256>.blend``: a scene is stored under its content hash, per tenant."""
    return f"{_tenant_folder(tenant)}{_checked(sha256, 'scene')}.blend"


def files_prefix(tenant: str) -> str:
    """``scenes/<tenant>/files/``: every file of the tenant's projects, named by its sha256."""
    return f"{_tenant_folder(tenant)}files/"


def file_blob(tenant: str, sha256: str) -> str:
    """``scenes/<tenant>/files/<sha256>``: one file of a project, stored once per tenant."""
    return f"{files_prefix(tenant)}{_checked(sha256, 'file')}"


def file_sets_prefix(tenant: str) -> str:
    return f"{_tenant_folder(tenant)}filesets/"


def file_set_blob(tenant: str, sha256: str) -> str:
    """``scenes/<tenant>/filesets/<sha256>.json``: a project's paths and hashes
    (renderfarm.projects.file_set), written by the API when a job names it; the blob's
    last-modified time
    is when a job last did, which the clean-up reads."""
    return f"{file_sets_prefix(tenant)}{_checked(sha256, 'file set')}.json"


def _tenant_folder(tenant: str) -> str:
    if not is_tenant(tenant):
        raise ValueError("a tenant is 1-63 lower-case letters, digits or hyphens")
    return f"{tenant}/"


def _checked(sha256: str, what: str) -> str:
    if not is_sha256(sha256):
        raise ValueError(f"{what} sha256 must be 64 lower-case hex digits")
    return sha256


def job_prefix(job_id: str) -> str:
    return f"{job_id}/"


def manifest_blob(job_id: str) -> str:
    return f"{job_id}/job.json"


def chunks_prefix(job_id: str) -> str:
    return f"{job_id}/chunks/"


def chunk_blob(job_id: str, index: int) -> str:
    return f"{job_id}/chunks/{index}.json"


def cancel_blob(job_id: str, index: int, *, retry_round: int = 0) -> str:
    """An empty blob the cancel writes for each chunk it saw unsettled: its worker polls this one
    name instead of the job's manifest, so no blob is read by every replica at once. A retry
    round's chunks have their own (``<id>/cancel/r<round>/<n>``): a marker an earlier cancel
    left never stops the chunk rendering again."""
    return f"{job_id}/cancel/{_round_folder(retry_round)}{index}"


def settled_blob(job_id: str) -> str:
    """The ledger of the job's settled chunks (renderfarm.jobs.end)."""
    return f"{job_id}/settled.json"


def ledger_node_blob(
    job_id: str, level: int, index: int, *, fanout: int, retry_round: int = 0
) -> str:
    """``<id>/settled/<level>/<parent>/<slot>``: a marker of the ledger tree (renderfarm.jobs.end),
    named under its parent so that one listing finds a node's children, and no others. A retry
    round's tree is ``<id>/settled/r<round>/...``."""
    parent = ledger_children_prefix(job_id, level + 1, index // fanout, retry_round=retry_round)
    return f"{parent}{index % fanout}"


def ledger_children_prefix(job_id: str, level: int, index: int, *, retry_round: int = 0) -> str:
    """Where the markers of node (``level``, ``index``)'s children are."""
    return f"{job_id}/settled/{_round_folder(retry_round)}{level - 1}/{index}/"


def _round_folder(retry_round: int) -> str:
    """The folder of a retry round's markers: none for the job's first render (round 0), whose
    names stay as they were before retries."""
    if retry_round < 0:
        raise ValueError("a retry round is 0 or more")
    return f"r{retry_round}/" if retry_round else ""


def schedule_blob(job_id: str) -> str:
    """The sequence numbers of a deferred job's scheduled messages."""
    return f"{job_id}/scheduled.json"


def scene_timings_blob(tenant: str, sha256: str, settings: str) -> str:
    """``_timings/<tenant>/<sha256>/<settings>.json``: what rendering this scene with these
    settings measured (renderfarm.chunks.plan), which plans the chunks of its next jobs."""
    if not re.fullmatch(r"[0-9a-f]{16}", settings):
        raise ValueError("a settings key is 16 lower-case hex digits")
    return f"_timings/{scene_blob(tenant, sha256).removesuffix('.blend')}/{settings}.json"


def frames_prefix(job_id: str) -> str:
    return f"{job_id}/frames/"


def frame_blob(job_id: str, frame: int, extension: str) -> str:
    return f"{job_id}/frames/{frame:0{FRAME_DIGITS}d}.{extension}"


def thumb_blob(job_id: str, frame: int) -> str:
    return f"{job_id}/thumbs/{frame:06d}.jpg"


def thumbs_prefix(job_id: str) -> str:
    return f"{job_id}/thumbs/"


def contact_sheet_blob(job_id: str) -> str:
    """Every frame of a finished job as a labelled tile (PNG), written once by the finalizer."""
    return f"{job_id}/previews/contact-sheet.png"


def preview_video_blob(job_id: str) -> str:
    """A finished job's frames as an H.264 MP4 at 24 fps, written once by the finalizer."""
    return f"{job_id}/previews/preview.mp4"


#: Frame numbers are zero-padded to this many digits in blob names (wider past 999,999).
FRAME_DIGITS = 6


def frame_name_prefixes(ranges: Iterable[tuple[int, int]]) -> list[str] | None:
    """The fewest name prefixes (after ``<id>/frames/``) that cover exactly the frames in
    ``ranges`` (inclusive), so a listing returns those frames' blobs and few others; None when a
    frame has more digits than the padding (list everything then)."""
    prefixes: list[str] = []
    for first, last in ranges:
        if first < 0 or last >= 10**FRAME_DIGITS:
            return None
        low = first
        while low <= last:
            width = 0  # grow the block while it stays aligned and inside the range
            while (
                width < FRAME_DIGITS
                and low % 10 ** (width + 1) == 0
                and low + 10 ** (width + 1) - 1 <= last
            ):
                width += 1
            prefixes.append(f"{low:0{FRAME_DIGITS}d}"[: FRAME_DIGITS - width])
            low += 10**width
    return prefixes


def chunk_frame_prefixes(frames: Sequence[int]) -> list[str]:
    """One or two name prefixes (after ``<id>/frames/``) whose listings hold every frame of a
    chunk (a contiguous slice of the job's sorted frames): see ``range_prefixes``. Past the
    padding, one prefix per frame."""
    ordered = sorted(frames)
    if not ordered:
        return []
    covering = range_prefixes(ordered[0], ordered[-1])
    return covering if covering is not None else [f"{frame}." for frame in ordered]


def range_prefixes(first: int, last: int) -> list[str] | None:
    """At most two name prefixes whose listings hold every frame from ``first`` to ``last``:
    the exact cover when it takes two, else the two aligned blocks of 10**w names the range
    spans, for the smallest such w. A block is at most 10 times the range, so the listings name
    at most 20 times the range's frames, whatever the job's size (the caller keeps the ones it
    asked for). None past the padding."""
    exact = frame_name_prefixes([(first, last)])
    if exact is None:
        return None
    if len(exact) <= 2:  # as few listings as the blocks would take
        return exact
    width = next(w for w in range(FRAME_DIGITS + 1) if last // 10**w - first // 10**w <= 1)
    if width == FRAME_DIGITS:
        return [""]
    low, high = first // 10**width, last // 10**width
    return [f"{block:0{FRAME_DIGITS - width}d}" for block in range(low, high + 1)]


def frame_of(blob_name: str, job_id: str) -> int | None:
    """The frame a blob under ``<id>/frames/`` holds, or None for anything else."""
    prefix = frames_prefix(job_id)
    if not blob_name.startswith(prefix):
        return None
    match = _FRAME_NAME.match(blob_name[len(prefix) :])
    return int(match["frame"]) if match else None


def chunk_index_of(blob_name: str, job_id: str) -> int | None:
    """The chunk index of a blob under ``<id>/chunks/``, or None for anything else."""
    prefix = chunks_prefix(job_id)
    if not blob_name.startswith(prefix):
        return None
    match = _CHUNK_NAME.match(blob_name[len(prefix) :])
    return int(match["index"]) if match else None


def chunk_logs_prefix(job_id: str, index: int) -> str:
    """``<id>/logs/<n>/``: the logs of every attempt at chunk ``n``, one listing away."""
    return f"{job_id}/logs/{index}/"


def chunk_log_blob(job_id: str, index: int, attempt: int) -> str:
    """``<id>/logs/<n>/<attempt>.log``: one attempt's log; only the worker of that attempt
    writes it (renderfarm.chunks.logs), so no two workers ever write one blob."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    return f"{chunk_logs_prefix(job_id, index)}{attempt}.log"


def log_attempt_of(blob_name: str, job_id: str, index: int) -> int | None:
    """The attempt a blob under ``<id>/logs/<n>/`` is the log of, or None for anything else."""
    prefix = chunk_logs_prefix(job_id, index)
    if not blob_name.startswith(prefix):
        return None
    match = _LOG_NAME.match(blob_name[len(prefix) :])
    return int(match["attempt"]) if match else None


def tenant_index_prefix(tenant: str) -> str:
    return f"_tenants/{tenant}/"


def tenant_index_blob(tenant: str, job_id: str, created_us: int) -> str:
    """An empty marker blob per job; names sort newest first within the tenant."""
    return f"{tenant_index_prefix(tenant)}{_INDEX_EPOCH_LIMIT_US - created_us:017d}_{job_id}"


def job_id_of_index_blob(blob_name: str) -> str:
    return blob_name.rsplit("_", 1)[-1]


#: Scouted jobs awaiting approval, by when their quotes expire (renderfarm.jobs.awaiting).
AWAITING_PREFIX = "_awaiting/"


def awaiting_blob(expires_us: int, job_id: str) -> str:
    """An empty marker blob per job awaiting approval; names sort soonest expiry first."""
    return f"{AWAITING_PREFIX}{expires_us:017d}_{job_id}"


def awaiting_of_blob(blob_name: str) -> tuple[int, str] | None:
    """(expiry in microseconds since the epoch, job id) of an awaiting marker's name."""
    expires, _, job_id = blob_name.removeprefix(AWAITING_PREFIX).partition("_")
    return (int(expires), job_id) if expires.isdigit() and is_job_id(job_id) else None
