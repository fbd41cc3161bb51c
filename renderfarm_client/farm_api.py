"""The farm's HTTP API from the client's side, with every failure turned into one line a
person can act on (``FarmError``).

Standard library only (``urllib.request``): Blender's bundled Python runs this module as it is,
vendored into the add-on by ``scripts/build_addon.py``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Any, BinaryIO

from .file_uploads import UPLOAD_THREADS, FilesSent, LocalFile, Progress, upload_each_once
from .wire import ChunkProgress, parse_time

DEFAULT_API_URL = "http://127.0.0.1:7071"
REQUEST_TIMEOUT_S = 30.0
#: How long a request that is safe to repeat keeps trying while the farm restarts or sheds load.
RETRY_FOR_S = 30.0
_FIRST_RETRY_S = 0.2
_MAX_RETRY_S = 2.0
#: Answers that say "try again": rate limited, or a dependency (or the API itself) restarting.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
UPLOAD_TIMEOUT_S = 600.0
_HASH_BLOCK = 1024 * 1024
_FRAMES_PAGE = 1000
#: The connection dropped before or during the answer (the API or storage restarting).
_DROPPED = (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionError)

#: Entries per ``POST /api/files/missing`` (renderfarm.file_set.MAX_HASHES_PER_CALL).
MAX_HASHES_PER_CALL = 500

__all__ = [
    "DEFAULT_API_URL",
    "ChunkProgress",
    "CostView",
    "FarmClient",
    "FarmError",
    "FarmUnreachable",
    "FileSetView",
    "FilesSent",
    "JobLine",
    "JobProgress",
    "KeyRefused",
    "LocalFile",
    "PreviewUrls",
    "RetryLater",
    "SceneTooLarge",
    "SubmittedJob",
    "TransferCancelled",
    "sha256_of",
]


class FarmError(Exception):
    """A failure with a one-line explanation for the person at the terminal."""


class FarmUnreachable(FarmError):
    """Nothing answers at the farm's URL (or not in time)."""

    def __init__(self, message: str, *, api_url: str):
        super().__init__(message)
        self.api_url = api_url


class KeyRefused(FarmError):
    """401: the key is missing (``missing``) or the farm does not know it."""

    def __init__(self, message: str, *, api_url: str, missing: bool):
        super().__init__(message)
        self.api_url = api_url
        self.missing = missing


class SceneTooLarge(FarmError):
    """The farm refused the scene's size (``POST /api/scenes``)."""


class TransferCancelled(FarmError):
    """The person stopped an upload or a download; nothing was submitted."""


class RetryLater(FarmError):
    """429 or 503 after the client stopped retrying: ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, *, retry_after_s: float | None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, kw_only=True)
class PreviewUrls:
    """Read URLs of the previews the farm built (``previews`` in the job's status)."""

    contact_sheet_url: str
    video_url: str


@dataclass(frozen=True, kw_only=True)
class CostView:
    """``cost`` in the job's status: the farm's estimate at list prices."""

    worker_seconds: float
    render_seconds: float
    estimated_usd: float
    usd_per_frame: float | None
    prices_as_of: str


@dataclass(frozen=True, kw_only=True)
class FileSetView:
    """``files`` in the job's status: the project a job renders."""

    main: str
    files: int
    bytes: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class JobProgress:
    """``GET /api/jobs/{id}``, with every page of frame URLs gathered."""

    job_id: str
    state: str
    frames_total: int
    frames_done: int
    frames_failed: int
    error: str | None
    created_at: datetime
    chunks: tuple[ChunkProgress, ...]
    frame_urls: dict[int, str]
    #: The pool (major.minor) and the full versions of the Blenders that rendered it.
    blender: str | None = None
    rendered_by: tuple[str, ...] = ()
    finished_at: datetime | None = None
    #: A farm that builds previews says ``previews`` (null until built); an older one does not.
    farm_builds_previews: bool = False
    previews: PreviewUrls | None = None
    cost: CostView | None = None
    #: What the farm warns of (files rendered without, for one).
    warnings: tuple[str, ...] = ()
    #: The project the job renders; None for a one-file scene.
    files: FileSetView | None = None

    @property
    def is_over(self) -> bool:
        return self.state in {"completed", "failed", "cancelled"}

    @property
    def failed_chunks(self) -> tuple[ChunkProgress, ...]:
        return tuple(chunk for chunk in self.chunks if chunk.state == "failed")


@dataclass(frozen=True, kw_only=True)
class JobLine:
    job_id: str
    state: str
    frames_total: int
    frames_done: int
    frames_failed: int
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class SubmittedJob:
    job_id: str
    frames_total: int
    chunk_count: int
    chunk_size: int
    blender: str | None = None
    scene_saved_by: str | None = None
    status_url: str | None = None
    #: Why chunk_size: the client's, measured from earlier renders, or a default spread.
    chunking_reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class _Answer:
    status: int
    reason: str
    headers: Message
    body: bytes
    path: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


def sha256_of(path: Path, *, cancelled: threading.Event | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_HASH_BLOCK):
            if cancelled is not None and cancelled.is_set():
                raise TransferCancelled(f"hashing {path.name} cancelled")
            digest.update(block)
    return digest.hexdigest()


def _previews(data: dict[str, Any] | None) -> PreviewUrls | None:
    if not data:
        return None
    return PreviewUrls(
        contact_sheet_url=str(data["contact_sheet_url"]), video_url=str(data["video_url"])
    )


def _file_set(data: dict[str, Any] | None) -> FileSetView | None:
    if not data:
        return None
    return FileSetView(
        main=str(data["main"]),
        files=int(data["files"]),
        bytes=int(data["bytes"]),
        sha256=str(data["sha256"]),
    )


def _cost(data: dict[str, Any] | None) -> CostView | None:
    if not data:
        return None
    per_frame = data.get("usd_per_frame")
    return CostView(
        worker_seconds=float(data["worker_seconds"]),
        render_seconds=float(data["render_seconds"]),
        estimated_usd=float(data["estimated_usd"]),
        usd_per_frame=float(per_frame) if per_frame is not None else None,
        prices_as_of=str(data["prices_as_of"]),
    )


class FarmClient:
    """One farm, one key. Usable as a context manager, as it always was (nothing to close:
    each request opens its own connection)."""

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str | None,
        retry_for_s: float = RETRY_FOR_S,
        timeout_s: float = REQUEST_TIMEOUT_S,
        on_retry: Callable[[str], None] | None = None,
    ):
        """``on_retry`` hears one line each time a request waits to be sent again."""
        # The farm's address, with or without the /api prefix (deploy.sh prints it with).
        self.api_url = api_url.rstrip("/").removesuffix("/api")
        self._key = api_key
        self._retry_for_s = retry_for_s
        self._timeout_s = timeout_s
        self._on_retry = on_retry

    def __enter__(self) -> FarmClient:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    # Requests.

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/api/health", auth=False, problem_ok=True)

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
        ticket = self._call(
            "POST",
            "/api/scenes",
            json_body={"sha256": sha256, "size": size},
            retry=True,
            cancelled=cancelled,
        )
        if ticket["exists"]:
            return sha256, False
        headers = ticket.get("upload_headers") or {}
        self._upload(path, ticket["upload_url"], headers, on_progress, cancelled)
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
            answer = self._call(
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

    def upload_files(
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
            self._upload(file.source, urls[file.sha256], headers, progress, cancelled)

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
        data = self._call(
            "POST",
            "/api/jobs",
            json_body=body,
            headers={"Idempotency-Key": key},
            retry=True,
            cancelled=cancelled,
        )
        blender = data.get("blender") or {}
        return SubmittedJob(
            job_id=data["job_id"],
            frames_total=int(data["frames_total"]),
            chunk_count=int(data["chunk_count"]),
            chunk_size=int(data["chunk_size"]),
            blender=blender.get("pool"),
            scene_saved_by=blender.get("scene_saved_by"),
            status_url=data.get("status_url"),
            chunking_reason=(data.get("chunking") or {}).get("reason"),
        )

    def status(self, job_id: str, *, with_frames: bool = True) -> JobProgress:
        urls: dict[int, str] = {}
        offset: int | None = 0
        data: dict[str, Any] = {}
        while offset is not None:
            limit = _FRAMES_PAGE if with_frames else 0
            data = self._call(
                "GET",
                f"/api/jobs/{job_id}",
                params={"frames_offset": offset, "frames_limit": limit},
                job_id=job_id,
            )
            urls.update({int(item["frame"]): str(item["url"]) for item in data["frame_urls"]})
            offset = data.get("frame_urls_next_offset") if with_frames else None
        blender = data.get("blender") or {}
        return JobProgress(
            job_id=data["job_id"],
            state=data["state"],
            frames_total=int(data["frames_total"]),
            frames_done=int(data["frames_done"]),
            frames_failed=int(data["frames_failed"]),
            error=data.get("error"),
            created_at=datetime.fromisoformat(data["created_at"]),
            chunks=tuple(ChunkProgress.from_json(chunk) for chunk in data["chunks"]),
            frame_urls=urls,
            blender=blender.get("pool"),
            rendered_by=tuple(blender.get("rendered_by") or ()),
            finished_at=parse_time(data.get("finished_at")),
            farm_builds_previews="previews" in data,
            previews=_previews(data.get("previews")),
            cost=_cost(data.get("cost")),
            warnings=tuple(str(line) for line in data.get("warnings") or ()),
            files=_file_set(data.get("files")),
        )

    def jobs(self, *, limit: int = 20, state: str | None = None) -> list[JobLine]:
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        data = self._call("GET", "/api/jobs", params=params)
        return [
            JobLine(
                job_id=item["job_id"],
                state=item["state"],
                frames_total=int(item["frames_total"]),
                frames_done=int(item["frames_done"]),
                frames_failed=int(item["frames_failed"]),
                created_at=datetime.fromisoformat(item["created_at"]),
            )
            for item in data["jobs"]
        ]

    def cancel(self, job_id: str) -> str:
        data = self._call("POST", f"/api/jobs/{job_id}/cancel", job_id=job_id, retry=True)
        return str(data["state"])

    def job_url(self, job_id: str) -> str:
        """Where a person looks at a job in a browser: the dashboard's page for it, at the farm's
        URL root (the API's status URL needs a key, so a browser would get a 401 there). Without
        a session the page sends the person to sign in, then back to the job."""
        return f"{self.api_url}/jobs/{urllib.parse.quote(job_id, safe='')}"

    def download(self, url: str, target: Path) -> None:
        """Fetch a frame through its read URL into ``target``, whole or not at all."""
        partial = target.with_name(target.name + ".part")
        request = urllib.request.Request(url, method="GET")  # noqa: S310 (the farm's SAS URL)
        try:
            with (
                urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT_S) as response,  # noqa: S310
                partial.open("wb") as file,
            ):
                while block := response.read(_HASH_BLOCK):
                    file.write(block)
        except urllib.error.HTTPError as error:
            partial.unlink(missing_ok=True)
            raise FarmError(f"downloading {target.name} failed: HTTP {error.code}") from None
        except (OSError, http.client.HTTPException) as error:
            partial.unlink(missing_ok=True)
            raise FarmError(f"downloading {target.name} failed: {_reason(error)}") from None
        partial.replace(target)

    # Plumbing.

    def _upload(
        self,
        path: Path,
        url: str,
        headers: dict[str, str],
        on_progress: Progress | None,
        cancelled: threading.Event | None,
    ) -> None:
        """PUT the file to storage (never with the API key). A single PUT commits whole or not
        at all, so a dropped connection or a 5xx is retried from the start within
        ``retry_for_s`` (``on_retry`` hears why and when); the job is posted only after this
        returns. ``cancelled`` stops it between blocks and while it waits to try again."""
        size = path.stat().st_size
        headers = {**headers, "Content-Length": str(size)}
        deadline = time.monotonic() + self._retry_for_s
        delay = _FIRST_RETRY_S
        while True:
            try:
                with path.open("rb") as file:
                    request = urllib.request.Request(  # noqa: S310 (the farm's SAS URL)
                        url,
                        data=_blocks(file, size, on_progress, cancelled),
                        headers=headers,
                        method="PUT",
                    )
                    with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT_S):  # noqa: S310
                        return
            except urllib.error.HTTPError as error:
                if error.code not in _RETRY_STATUSES or time.monotonic() + delay > deadline:
                    raise FarmError(f"uploading {path.name} failed: HTTP {error.code}") from None
                why = f"storage answered {error.code} to the upload"
            except TransferCancelled:
                raise
            except (OSError, http.client.HTTPException) as error:
                if time.monotonic() + delay > deadline:
                    raise FarmError(f"uploading {path.name} failed: {_reason(error)}") from None
                why = f"the upload was interrupted ({_reason(error)})"
            if self._on_retry is not None:
                self._on_retry(f"{why}: sending it again in {delay:.1f} s")
            _pause(delay, cancelled, f"uploading {path.name} cancelled")
            delay = min(delay * 2, _MAX_RETRY_S)

    def _call(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        problem_ok: bool = False,
        job_id: str | None = None,
        retry: bool | None = None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        cancelled: threading.Event | None = None,
    ) -> dict[str, Any]:
        """One API call. ``retry`` (GETs by default) repeats a call that is safe to repeat while
        the farm does not answer or says to try again, for up to ``retry_for_s``; ``cancelled``
        ends the wait between tries with TransferCancelled."""
        headers = {"Accept": "application/json", **(headers or {})}
        if auth and self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        repeat = method == "GET" if retry is None else retry
        try:
            answer = self._send(
                method, path + query, headers=headers, body=body, repeat=repeat, cancelled=cancelled
            )
        except TimeoutError:
            raise FarmUnreachable(
                f"the farm at {self.api_url} did not answer in time", api_url=self.api_url
            ) from None
        except urllib.error.URLError:
            raise FarmUnreachable(
                f"no farm answers at {self.api_url}: start one with `renderfarm local up`, "
                "or point --api-url / RENDERFARM_API_URL at yours",
                api_url=self.api_url,
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise FarmError(
                f"talking to the farm at {self.api_url} failed: {_reason(error)}"
            ) from None
        if answer.is_success or problem_ok:
            return _json(answer, self.api_url)
        raise _explain(answer, self.api_url, job_id, has_key=bool(self._key))

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        body: bytes | None,
        repeat: bool,
        cancelled: threading.Event | None = None,
    ) -> _Answer:
        deadline = time.monotonic() + (self._retry_for_s if repeat else 0.0)
        delay = _FIRST_RETRY_S
        while True:
            try:
                answer = self._request(method, path, headers=headers, body=body)
            except (*_DROPPED, urllib.error.URLError):
                # Not answered, or the connection dropped mid-answer (the API restarting).
                if time.monotonic() + delay > deadline:
                    raise
                wait = delay
                why = f"no answer from {self.api_url}"
            else:
                if answer.status not in _RETRY_STATUSES:
                    return answer
                wait = max(delay, _retry_after(answer.headers))
                if time.monotonic() + wait > deadline:
                    return answer
                why = f"the farm answered {answer.status} {answer.reason}".rstrip()
            if self._on_retry is not None:
                self._on_retry(f"{why}: trying again in {wait:.1f} s")
            _pause(wait, cancelled, f"{method} {path.partition('?')[0]} cancelled")
            delay = min(delay * 2, _MAX_RETRY_S)

    def _request(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> _Answer:
        url = self.api_url + path
        request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                return _Answer(
                    status=response.status,
                    reason=response.reason,
                    headers=response.headers,
                    body=response.read(),
                    path=urllib.parse.urlsplit(url).path,
                )
        except urllib.error.HTTPError as error:
            with error:
                return _Answer(
                    status=error.code,
                    reason=str(error.reason),
                    headers=error.headers,
                    body=error.read(),
                    path=urllib.parse.urlsplit(url).path,
                )
        except urllib.error.URLError as error:
            # urlopen wraps what the socket said: give the retry loop the socket's own error.
            if isinstance(error.reason, TimeoutError):
                raise error.reason from None
            raise


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _pause(seconds: float, cancelled: threading.Event | None, what: str) -> None:
    """Wait out a backoff; a cancel ends the wait at once (TransferCancelled)."""
    if cancelled is None:
        time.sleep(seconds)
    elif cancelled.wait(seconds):
        raise TransferCancelled(what)


def _retry_after(headers: Message) -> float:
    """Retry-After in seconds (the API sends seconds, never an HTTP date)."""
    try:
        return max(0.0, float(headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0


def _blocks(
    file: BinaryIO, size: int, on_progress: Progress | None, cancelled: threading.Event | None
) -> Iterator[bytes]:
    sent = 0
    if on_progress is not None:
        on_progress(0, size)
    while block := file.read(_HASH_BLOCK):
        if cancelled is not None and cancelled.is_set():
            raise TransferCancelled(f"uploading {Path(file.name).name} cancelled")
        yield block
        sent += len(block)
        if on_progress is not None:
            on_progress(sent, size)


def _json(answer: _Answer, api_url: str) -> dict[str, Any]:
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise FarmError(f"{api_url} answered something that is not the farm's API") from None
    if not isinstance(data, dict):
        raise FarmError(f"{api_url} answered something that is not the farm's API")
    return data


def _explain(answer: _Answer, api_url: str, job_id: str | None, *, has_key: bool) -> FarmError:
    """The error for a problem+json answer, its message in one line."""
    status = answer.status
    if status == 401:
        return KeyRefused(
            f"the farm at {api_url} needs an API key: set RENDERFARM_API_KEY or --api-key"
            if not has_key
            else f"the farm at {api_url} refused the API key: check RENDERFARM_API_KEY",
            api_url=api_url,
            missing=not has_key,
        )
    # A 404 problem of the farm's own (a scene it lacks) explains itself, below.
    if status == 404 and (job_id is not None or b"urn:renderfarm:problem:" not in answer.body):
        return FarmError(
            f"no job {job_id} on the farm at {api_url}"
            if job_id is not None
            else f"{api_url} has no renderfarm API at {answer.path}"
        )
    try:
        problem = json.loads(answer.body)
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    title = problem.get("title") or answer.reason or f"HTTP {status}"
    detail = problem.get("detail")
    errors = [e for e in problem.get("errors") or [] if isinstance(e, dict)]
    fields = "; ".join(f"{e.get('field')}: {e.get('detail')}" for e in errors)
    explanation = f"{title}: {fields or detail}" if (fields or detail) else title
    retry = answer.headers.get("Retry-After")
    size_refused = status == 413 or any(e.get("field") == "size" for e in errors)
    if answer.path == "/api/scenes" and status in {413, 422} and size_refused:
        return SceneTooLarge(explanation)
    if status in {429, 503}:
        suffix = f" (retry in {retry} s)" if retry else ""
        return RetryLater(
            explanation + suffix, retry_after_s=_retry_after(answer.headers) if retry else None
        )
    return FarmError(explanation)
