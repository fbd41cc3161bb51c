"""The farm's HTTP API from the client's side, with every failure turned into one line a
person can act on (``FarmError``)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

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


class FarmError(Exception):
    """A failure with a one-line explanation for the person at the terminal."""


@dataclass(frozen=True, kw_only=True)
class ChunkProgress:
    index: int
    state: str
    frames_total: int
    frames_done: int
    attempts: int
    last_error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    blender_version: str | None = None


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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _chunk(data: dict[str, Any]) -> ChunkProgress:
    return ChunkProgress(
        index=int(data["index"]),
        state=str(data["state"]),
        frames_total=int(data["frames_total"]),
        frames_done=int(data["frames_done"]),
        attempts=int(data["attempts"]),
        last_error=data.get("last_error"),
        started_at=_time(data.get("started_at")),
        finished_at=_time(data.get("finished_at")),
        blender_version=data.get("blender_version"),
    )


def _previews(data: dict[str, Any] | None) -> PreviewUrls | None:
    if not data:
        return None
    return PreviewUrls(
        contact_sheet_url=str(data["contact_sheet_url"]), video_url=str(data["video_url"])
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
    """One farm, one key. Use as a context manager (it holds a connection pool)."""

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str | None,
        transport: httpx.BaseTransport | None = None,
        retry_for_s: float = RETRY_FOR_S,
    ):
        # The farm's address, with or without the /api prefix (deploy.sh prints it with).
        self.api_url = api_url.rstrip("/").removesuffix("/api")
        self._key = api_key
        self._retry_for_s = retry_for_s
        self._transport = transport
        self._http = httpx.Client(
            base_url=self.api_url, timeout=REQUEST_TIMEOUT_S, transport=transport
        )

    def __enter__(self) -> FarmClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    # Requests.

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/api/health", auth=False, problem_ok=True)

    def ensure_scene(self, path: Path) -> tuple[str, bool]:
        """The scene's sha256, uploading it only when this key's tenant has not already;
        (sha, uploaded)."""
        if not path.is_file():
            raise FarmError(f"no scene at {path}")
        size = path.stat().st_size
        sha256 = sha256_of(path)
        ticket = self._call(
            "POST", "/api/scenes", json={"sha256": sha256, "size": size}, retry=True
        )
        if ticket["exists"]:
            return sha256, False
        self._upload(path, ticket["upload_url"], ticket.get("upload_headers") or {})
        return sha256, True

    def submit(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> SubmittedJob:
        """Submit once, however often the request is sent: every try carries the same
        Idempotency-Key, so a retry after a lost answer names the job the first try made."""
        key = idempotency_key or uuid.uuid4().hex
        data = self._call(
            "POST", "/api/jobs", json=body, headers={"Idempotency-Key": key}, retry=True
        )
        blender = data.get("blender") or {}
        return SubmittedJob(
            job_id=data["job_id"],
            frames_total=int(data["frames_total"]),
            chunk_count=int(data["chunk_count"]),
            chunk_size=int(data["chunk_size"]),
            blender=blender.get("pool"),
            scene_saved_by=blender.get("scene_saved_by"),
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
        return JobProgress(
            job_id=data["job_id"],
            state=data["state"],
            frames_total=int(data["frames_total"]),
            frames_done=int(data["frames_done"]),
            frames_failed=int(data["frames_failed"]),
            error=data.get("error"),
            created_at=datetime.fromisoformat(data["created_at"]),
            chunks=tuple(_chunk(chunk) for chunk in data["chunks"]),
            frame_urls=urls,
            blender=(data.get("blender") or {}).get("pool"),
            rendered_by=tuple((data.get("blender") or {}).get("rendered_by") or ()),
            finished_at=_time(data.get("finished_at")),
            farm_builds_previews="previews" in data,
            previews=_previews(data.get("previews")),
            cost=_cost(data.get("cost")),
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

    def download(self, url: str, target: Path) -> None:
        """Fetch a frame through its read URL into ``target``, whole or not at all."""
        partial = target.with_name(target.name + ".part")
        try:
            with self._transfer() as http, http.stream("GET", url) as response:
                if response.status_code != 200:
                    status = response.status_code
                    raise FarmError(f"downloading {target.name} failed: HTTP {status}")
                with partial.open("wb") as file:
                    for block in response.iter_bytes():
                        file.write(block)
        except httpx.HTTPError as error:
            partial.unlink(missing_ok=True)
            raise FarmError(f"downloading {target.name} failed: {error}") from None
        partial.replace(target)

    # Plumbing.

    def _upload(self, path: Path, url: str, headers: dict[str, str]) -> None:
        headers = {**headers, "Content-Length": str(path.stat().st_size)}
        try:
            with self._transfer() as http, path.open("rb") as file:
                response = http.put(url, content=_blocks(file), headers=headers)
        except httpx.HTTPError as error:
            raise FarmError(f"uploading {path.name} failed: {error}") from None
        if response.status_code not in {200, 201}:
            raise FarmError(f"uploading {path.name} failed: HTTP {response.status_code}")

    def _transfer(self) -> httpx.Client:
        """A client for storage URLs: no API key, which storage must never see."""
        return httpx.Client(timeout=UPLOAD_TIMEOUT_S, transport=self._transport)

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
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One API call. ``retry`` (GETs by default) repeats a call that is safe to repeat while
        the farm does not answer or says to try again, for up to ``retry_for_s``."""
        headers = dict(headers or {})
        if auth and self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        repeat = method == "GET" if retry is None else retry
        try:
            response = self._send(method, path, headers=headers, repeat=repeat, **kwargs)
        except httpx.ConnectError:
            raise FarmError(
                f"no farm answers at {self.api_url}: start one with `renderfarm local up`, "
                "or point --api-url / RENDERFARM_API_URL at yours"
            ) from None
        except httpx.TimeoutException:
            raise FarmError(f"the farm at {self.api_url} did not answer in time") from None
        except httpx.HTTPError as error:
            raise FarmError(f"talking to the farm at {self.api_url} failed: {error}") from None
        if response.is_success or problem_ok:
            return _json(response, self.api_url)
        raise FarmError(_explain(response, self.api_url, job_id, has_key=bool(self._key)))

    def _send(
        self, method: str, path: str, *, headers: dict[str, str], repeat: bool, **kwargs: Any
    ) -> httpx.Response:
        deadline = time.monotonic() + (self._retry_for_s if repeat else 0.0)
        delay = _FIRST_RETRY_S
        while True:
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                # Not answered, or the connection dropped mid-answer (the API restarting).
                if time.monotonic() + delay > deadline:
                    raise
                wait = delay
            else:
                if response.status_code not in _RETRY_STATUSES:
                    return response
                wait = max(delay, _retry_after(response))
                if time.monotonic() + wait > deadline:
                    return response
            time.sleep(wait)
            delay = min(delay * 2, _MAX_RETRY_S)


def _retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds (the API sends seconds, never an HTTP date)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0


def _blocks(file: Any) -> Iterator[bytes]:
    while block := file.read(_HASH_BLOCK):
        yield block


def _json(response: httpx.Response, api_url: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise FarmError(f"{api_url} answered something that is not the farm's API") from None
    if not isinstance(data, dict):
        raise FarmError(f"{api_url} answered something that is not the farm's API")
    return data


def _explain(response: httpx.Response, api_url: str, job_id: str | None, *, has_key: bool) -> str:
    """One line from a problem+json answer."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    status = response.status_code
    if status == 401 and not has_key:
        return f"the farm at {api_url} needs an API key: set RENDERFARM_API_KEY or --api-key"
    if status == 401:
        return f"the farm at {api_url} refused the API key: check RENDERFARM_API_KEY"
    if status == 404 and job_id is not None:
        return f"no job {job_id} on the farm at {api_url}"
    if status == 404:
        return f"{api_url} has no renderfarm API at {response.request.url.path}"
    title = problem.get("title") or response.reason_phrase or f"HTTP {status}"
    detail = problem.get("detail")
    errors = [e for e in problem.get("errors", []) if isinstance(e, dict)]
    fields = "; ".join(f"{e.get('field')}: {e.get('detail')}" for e in errors)
    explanation = f"{title}: {fields or detail}" if (fields or detail) else title
    retry = response.headers.get("Retry-After")
    return explanation + (f" (retry in {retry} s)" if retry and status in {429, 503} else "")
