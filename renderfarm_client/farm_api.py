"""The farm's HTTP API from the client's side: one method per request, every failure turned
into one line a person can act on (``FarmError``). The plumbing (retries, transfers, answers
read as errors) is in ``farm_http``, the shapes read back in ``job_views``; the names callers
use are all here.

Standard library only (``urllib.request``): Blender's bundled Python runs this module as it is,
vendored into the add-on by ``scripts/build_addon.py``.
"""

from __future__ import annotations

import hashlib
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from renderfarm.wire import ChunkLogPage, ChunkProgress, RetryAnswer, UsageAnswer

from .farm_errors import (
    FarmError,
    FarmUnreachable,
    KeyRefused,
    RetryLater,
    SceneTooLarge,
    TransferCancelled,
)
from .farm_http import BLOCK_BYTES, REQUEST_TIMEOUT_S, RETRY_FOR_S, FarmHttp
from .farm_webhooks import FarmWebhooks
from .file_uploads import UPLOAD_THREADS, FilesSent, LocalFile, Progress, upload_each_once
from .job_views import (
    CostView,
    FileSetView,
    JobLine,
    JobProgress,
    PreviewUrls,
    SubmittedJob,
    job_line,
    job_progress,
    submitted_job,
)

DEFAULT_API_URL = "http://127.0.0.1:7071"
_FRAMES_PAGE = 1000

#: Entries per ``POST /api/files/missing`` (renderfarm.projects.file_set.MAX_HASHES_PER_CALL).
MAX_HASHES_PER_CALL = 500

__all__ = [
    "DEFAULT_API_URL",
    "RETRY_FOR_S",
    "ChunkLogPage",
    "ChunkProgress",
    "CostView",
    "FarmClient",
    "FarmError",
    "FarmUnreachable",
    "FarmWebhooks",
    "FileSetView",
    "FilesSent",
    "JobLine",
    "JobProgress",
    "KeyRefused",
    "LocalFile",
    "PreviewUrls",
    "RetryAnswer",
    "RetryLater",
    "SceneTooLarge",
    "SubmittedJob",
    "TransferCancelled",
    "UsageAnswer",
    "sha256_of",
]


def sha256_of(path: Path, *, cancelled: threading.Event | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(BLOCK_BYTES):
            if cancelled is not None and cancelled.is_set():
                raise TransferCancelled(f"hashing {path.name} cancelled")
            digest.update(block)
    return digest.hexdigest()


class FarmClient:
    """One farm, one key. Usable as a context manager, as it always was (nothing to close:
    each request opens its own connection)."""

    def __init__(  # noqa: PLR0913 - keyword-only: the farm, its key and how long to wait on it
        self,
        *,
        api_url: str,
        api_key: str | None,
        retry_for_s: float = RETRY_FOR_S,
        timeout_s: float = REQUEST_TIMEOUT_S,
        on_retry: Callable[[str], None] | None = None,
        first_contact_s: float | None = None,
    ):
        """``on_retry`` hears one line each time a request waits to be sent again;
        ``first_contact_s`` bounds the retries of a refused connection until the farm has
        answered once (default: ``retry_for_s``)."""
        # The farm's address, with or without the /api prefix (deploy.sh prints it with).
        self.api_url = api_url.rstrip("/").removesuffix("/api")
        self.http = FarmHttp(
            api_url=self.api_url,
            api_key=api_key,
            retry_for_s=retry_for_s,
            timeout_s=timeout_s,
            on_retry=on_retry,
            first_contact_s=first_contact_s,
        )

    def __enter__(self) -> FarmClient:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def health(self) -> dict[str, Any]:
        return self.http.call("GET", "/api/health", auth=False, problem_ok=True)

    def ensure_scene(
        self,
        path: Path,
        *,
        on_progress: Progress | None = None,
        cancelled: threading.Event | None = None,
    ) -> tuple[str, bool]:
        """The scene's sha256, uploading it only when this key's tenant has not already;
        (sha, uploaded)."""
        if not path.is_file():
            raise FarmError(f"no scene at {path}")
        size = path.stat().st_size
        sha256 = sha256_of(path, cancelled=cancelled)
        ticket = self.http.call(
            "POST",
            "/api/scenes",
            json_body={"sha256": sha256, "size": size},
            retry=True,
            cancelled=cancelled,
        )
        if ticket["exists"]:
            return sha256, False
        headers = ticket.get("upload_headers") or {}
        self.http.upload(path, ticket["upload_url"], headers, on_progress, cancelled)
        return sha256, True

    def missing_files(
        self, entries: Sequence[tuple[str, int]], *, cancelled: threading.Event | None = None
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Which of these (sha256, size) contents the farm lacks: ({sha256: upload URL}, the
        headers every upload sends). Asks at most MAX_HASHES_PER_CALL at a time."""
        unique = sorted(set(entries))
        urls: dict[str, str] = {}
        headers: dict[str, str] = {}
        for start in range(0, len(unique), MAX_HASHES_PER_CALL):
            batch = unique[start : start + MAX_HASHES_PER_CALL]
            answer = self.http.call(
                "POST",
                "/api/files/missing",
                json_body={"files": [{"sha256": sha, "size": size} for sha, size in batch]},
                retry=True,
                cancelled=cancelled,
            )
            method = str(answer.get("upload_method") or "PUT").upper()
            if method != "PUT":
                raise FarmError(f"the farm asks for uploads by {method}, which this client lacks")
            headers = {str(k): str(v) for k, v in (answer.get("upload_headers") or {}).items()}
            urls.update({str(m["sha256"]): str(m["upload_url"]) for m in answer["missing"]})
        return urls, headers

    def upload_files(  # noqa: PLR0913 - keyword-only: progress, cancel and thread count
        self,
        files: Sequence[LocalFile],
        urls: dict[str, str],
        headers: dict[str, str],
        *,
        on_progress: Progress | None = None,
        cancelled: threading.Event | None = None,
        threads: int = UPLOAD_THREADS,
    ) -> None:
        """PUT each file whose sha256 has a URL in ``urls`` (once per content), ``threads`` at a
        time; ``on_progress`` hears (bytes sent, bytes in all) over every file together."""

        def one(file: LocalFile, progress: Progress) -> None:
            # An upload still waiting its turn when the user cancelled never opens a connection.
            if cancelled is not None and cancelled.is_set():
                raise TransferCancelled(f"uploading {file.path} cancelled")
            self.http.upload(file.source, urls[file.sha256], headers, progress, cancelled)

        upload_each_once(files, urls, one, on_progress=on_progress, threads=threads)

    def ensure_files(
        self,
        files: Sequence[LocalFile],
        *,
        on_plan: Callable[[FilesSent], None] | None = None,
        on_progress: Progress | None = None,
        cancelled: threading.Event | None = None,
    ) -> FilesSent:
        """Upload the files this key's tenant does not have yet; ``on_plan`` hears the counts
        before the first byte is sent."""
        contents = {file.sha256: file.size for file in files}
        urls, headers = self.missing_files(list(contents.items()), cancelled=cancelled)
        plan = FilesSent(
            files=len(files),
            new=len(urls),
            new_bytes=sum(contents[sha] for sha in urls if sha in contents),
            present=len(contents) - len(urls),
        )
        if on_plan is not None:
            on_plan(plan)
        self.upload_files(files, urls, headers, on_progress=on_progress, cancelled=cancelled)
        return plan

    def submit(
        self,
        body: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        cancelled: threading.Event | None = None,
    ) -> SubmittedJob:
        """Submit once, however often the request is sent: every try carries the same
        Idempotency-Key, so a retry after a lost answer names the job the first try made.
        ``cancelled`` stops the waits between tries (TransferCancelled)."""
        key = idempotency_key or uuid.uuid4().hex
        data = self.http.call(
            "POST",
            "/api/jobs",
            json_body=body,
            headers={"Idempotency-Key": key},
            retry=True,
            cancelled=cancelled,
        )
        return submitted_job(data)

    def status(self, job_id: str, *, with_frames: bool = True) -> JobProgress:
        urls: dict[int, str] = {}
        offset: int | None = 0
        data: dict[str, Any] = {}
        poll_after_s = 0.0
        while offset is not None:
            limit = _FRAMES_PAGE if with_frames else 0
            data, poll_after_s = self.http.poll(
                f"/api/jobs/{job_id}",
                params={"frames_offset": offset, "frames_limit": limit},
                job_id=job_id,
            )
            urls.update({int(item["frame"]): str(item["url"]) for item in data["frame_urls"]})
            offset = data.get("frame_urls_next_offset") if with_frames else None
        return job_progress(data, urls, poll_after_s=poll_after_s)

    def poll_job(self, job_id: str) -> tuple[dict[str, Any], float]:
        """One read of the job's status without frame URLs, for a loop waiting on it: the JSON as
        the API sends it, and the seconds the farm asks the loop to wait before the next read."""
        return self.http.poll(f"/api/jobs/{job_id}", params={"frames_limit": 0}, job_id=job_id)

    def job_json(self, job_id: str, *, frames_limit: int | None = None) -> dict[str, Any]:
        """``GET /api/jobs/{id}``'s answer as the API sends it: its first page of frame URLs
        (``frames_limit`` of them; None: the API's default page)."""
        params = {} if frames_limit is None else {"frames_limit": frames_limit}
        return self.http.call("GET", f"/api/jobs/{job_id}", params=params, job_id=job_id)

    def job_list(
        self, *, limit: int = 20, cursor: str | None = None, **filters: str | list[str] | None
    ) -> dict[str, Any]:
        """One page of ``GET /api/jobs`` as the API sends it; its ``next_cursor``, passed back
        as ``cursor``, gives the next. ``filters`` (``state=...``, ``tag=[...]``) are sent unless
        None."""
        params: dict[str, Any] = {"limit": limit}
        params.update({name: value for name, value in filters.items() if value is not None})
        if cursor is not None:
            params["cursor"] = cursor
        return self.http.call("GET", "/api/jobs", params=params)

    def jobs(
        self,
        *,
        limit: int = 20,
        state: str | None = None,
        name: str | None = None,
        tags: Sequence[str] = (),
    ) -> list[JobLine]:
        """The newest jobs, up to ``limit``: only those in ``state``, whose name starts with
        ``name`` (ignoring case) and that carry every one of ``tags``, when given."""
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        if name:
            params["name"] = name
        if tags:
            params["tag"] = list(tags)
        data = self.http.call("GET", "/api/jobs", params=params)
        return [job_line(item) for item in data["jobs"]]

    def cancel(self, job_id: str) -> str:
        return str(self.cancel_json(job_id)["state"])

    def cancel_json(self, job_id: str) -> dict[str, Any]:
        """Cancel the job (again is harmless); the job's status as the API answers."""
        return self.http.call("POST", f"/api/jobs/{job_id}/cancel", job_id=job_id, retry=True)

    @property
    def webhooks(self) -> FarmWebhooks:
        """The tenant's webhooks: add, list, remove."""
        return FarmWebhooks(self.http)

    def chunk_log(
        self,
        job_id: str,
        chunk_index: int,
        *,
        attempt: int | None = None,
        offset: int = 0,
        etag: str | None = None,
    ) -> tuple[ChunkLogPage | None, str | None]:
        """Blender's log of an attempt at the chunk (default: the latest), from ``offset`` on:
        (the log, its ETag), or (None, ``etag``) while it is still the version ``etag`` names.
        A follower passes back the last ``next_offset`` and ETag."""
        params: dict[str, Any] = {"offset": offset}
        if attempt is not None:
            params["attempt"] = attempt
        data, new_etag = self.http.get_versioned(
            f"/api/jobs/{urllib.parse.quote(job_id, safe='')}/chunks/{chunk_index}/log",
            params=params,
            etag=etag,
            job_id=job_id,
        )
        return (None if data is None else ChunkLogPage.from_json(data)), new_etag

    def usage_json(
        self, *, first: str | None = None, last: str | None = None, group_by: str = "day"
    ) -> dict[str, Any]:
        """``GET /api/usage`` as the API sends it: the tenant's spending from ``first`` to
        ``last`` (YYYY-MM-DD; default: this month so far), by day, tag, name or key."""
        params: dict[str, Any] = {"group_by": group_by}
        if first is not None:
            params["from"] = first
        if last is not None:
            params["to"] = last
        return self.http.call("GET", "/api/usage", params=params, retry=True)

    def usage(
        self, *, first: str | None = None, last: str | None = None, group_by: str = "day"
    ) -> UsageAnswer:
        return UsageAnswer.from_json(self.usage_json(first=first, last=last, group_by=group_by))

    def retry(self, job_id: str, *, include_cancelled: bool = False) -> RetryAnswer:
        """Render again only the failed chunks of an ended job (with ``include_cancelled``,
        also those its cancel stopped). Sent again after a lost answer or a 503, it changes
        nothing more: a round under way is finished, never started twice."""
        data = self.http.call(
            "POST",
            f"/api/jobs/{job_id}/retry",
            json_body={"include_cancelled": include_cancelled},
            job_id=job_id,
            retry=True,
        )
        return RetryAnswer.from_json(data)

    def approve(self, job_id: str) -> JobProgress:
        """Approve a scouted job's quote: the rest of it renders (again is harmless)."""
        data = self.http.call("POST", f"/api/jobs/{job_id}/approve", job_id=job_id, retry=True)
        return job_progress(data, {})

    def job_url(self, job_id: str) -> str:
        """Where a person looks at a job in a browser: the dashboard's page for it, at the farm's
        URL root (the API's status URL needs a key, so a browser would get a 401 there). Without
        a session the page sends the person to sign in, then back to the job."""
        return f"{self.api_url}/jobs/{urllib.parse.quote(job_id, safe='')}"

    def download(self, url: str, target: Path) -> None:
        """Fetch a frame through its read URL into ``target``, whole or not at all."""
        self.http.download(url, target)
