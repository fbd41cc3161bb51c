"""One farm's HTTP, from the client's side: API calls that repeat what is safe to repeat while
the farm restarts or sheds load, uploads to storage retried whole, downloads written whole or not
at all, and every failure turned into a FarmError of one line."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any, BinaryIO

from .farm_answers import Answer, answer_json, explain, retry_after_s
from .farm_errors import FarmError, FarmUnreachable, TransferCancelled
from .file_uploads import Progress

REQUEST_TIMEOUT_S = 30.0
#: How long a request that is safe to repeat keeps trying while the farm restarts or sheds load.
RETRY_FOR_S = 30.0
#: How long the CLI retries a refused connection until the farm has answered it once: there
#: may be no farm at that URL at all, and a user at a terminal should hear so at once, not after
#: RETRY_FOR_S. (The library waits RETRY_FOR_S by default: a script's fresh client must ride
#: out an API restart.)
FIRST_CONTACT_S = 2.0
_FIRST_RETRY_S = 0.2
_MAX_RETRY_S = 2.0
#: Answers that say "try again": rate limited, or a dependency (or the API itself) restarting.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
UPLOAD_TIMEOUT_S = 600.0
BLOCK_BYTES = 1024 * 1024
#: The longest wait a status read's Retry-After may ask of a follower: a proxy's, or a
#: misconfigured farm's, larger value does not stall it.
MAX_POLL_AFTER_S = 30.0
#: The connection dropped before or during the answer (the API or storage restarting).
_DROPPED = (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionError)


class FarmHttp:
    """Calls to one farm's API with one key, and transfers to and from its storage (never with
    the key)."""

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
        """``on_retry`` hears one line each time a request waits to be sent again."""
        self.api_url = api_url
        self._key = api_key
        self._retry_for_s = retry_for_s
        self._timeout_s = timeout_s
        self._on_retry = on_retry
        self._first_contact_s = retry_for_s if first_contact_s is None else first_contact_s
        self._answered = False  # has the farm ever answered this client?

    def download(self, url: str, target: Path) -> None:
        """Fetch a frame through its read URL into ``target``, whole or not at all."""
        partial = target.with_name(target.name + ".part")
        request = urllib.request.Request(url, method="GET")  # noqa: S310 (the farm's SAS URL)
        try:
            with (
                urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT_S) as response,  # noqa: S310
                partial.open("wb") as file,
            ):
                while block := response.read(BLOCK_BYTES):
                    file.write(block)
        except urllib.error.HTTPError as error:
            partial.unlink(missing_ok=True)
            raise FarmError(f"downloading {target.name} failed: HTTP {error.code}") from None
        except (OSError, http.client.HTTPException) as error:
            partial.unlink(missing_ok=True)
            raise FarmError(f"downloading {target.name} failed: {_reason(error)}") from None
        partial.replace(target)

    def upload(
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

    def call(  # noqa: PLR0913 - keyword-only: one per option of an API call
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
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        repeat = method == "GET" if retry is None else retry
        answer = self._exchange(
            method,
            path,
            auth=auth,
            headers=headers,
            body=body,
            params=params,
            repeat=repeat,
            cancelled=cancelled,
        )
        if answer.is_success or problem_ok:
            return answer_json(answer, self.api_url)
        raise explain(answer, self.api_url, job_id, has_key=bool(self._key))

    def poll(
        self, path: str, *, params: dict[str, Any], job_id: str
    ) -> tuple[dict[str, Any], float]:
        """A GET of something a loop follows (a job's status): its JSON, and the seconds the farm
        asks the loop to wait before the next read (its Retry-After, at most MAX_POLL_AFTER_S;
        0 when it says none, or says it in a form other than seconds)."""
        answer = self._exchange(
            "GET",
            path,
            auth=True,
            headers={"Accept": "application/json"},
            body=None,
            params=params,
            repeat=True,
        )
        if not answer.is_success:
            raise explain(answer, self.api_url, job_id, has_key=bool(self._key))
        asked_s = min(retry_after_s(answer.headers), MAX_POLL_AFTER_S)
        return answer_json(answer, self.api_url), asked_s

    def get_versioned(
        self, path: str, *, params: dict[str, Any], etag: str | None, job_id: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        """A GET of something that changes (a log being written): (None, ``etag``) while it is
        still the version ``etag`` names (a 304), else (its JSON, its new ETag). A 404 of the
        job names the job; any other 404 explains itself (no such chunk, no such attempt)."""
        headers = {"Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag
        answer = self._exchange(
            "GET", path, auth=True, headers=headers, body=None, params=params, repeat=True
        )
        if answer.status == HTTPStatus.NOT_MODIFIED:
            return None, etag
        if answer.is_success:
            return answer_json(answer, self.api_url), answer.headers.get("ETag")
        named = job_id if answer.status != 404 or b":job-not-found" in answer.body else None
        raise explain(answer, self.api_url, named, has_key=bool(self._key))

    def _exchange(  # noqa: PLR0913 - keyword-only: the request's parts and its retry
        self,
        method: str,
        path: str,
        *,
        auth: bool,
        headers: dict[str, str],
        body: bytes | None,
        params: dict[str, Any] | None,
        repeat: bool,
        cancelled: threading.Event | None = None,
    ) -> Answer:
        """One request and its answer, whatever its status; FarmError when none came."""
        if auth and self._key:
            headers = {**headers, "Authorization": f"Bearer {self._key}"}
        query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
        try:
            return self._send(
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

    def _send(  # noqa: PLR0913 - keyword-only: the request's parts and its retry
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        body: bytes | None,
        repeat: bool,
        cancelled: threading.Event | None = None,
    ) -> Answer:
        started = time.monotonic()
        deadline = started + (self._retry_for_s if repeat else 0.0)
        delay = _FIRST_RETRY_S
        while True:
            try:
                answer = self._request(method, path, headers=headers, body=body)
            except (*_DROPPED, urllib.error.URLError) as error:
                # Not answered, or the connection dropped mid-answer (the API restarting).
                give_up = deadline
                if not self._answered and _nobody_listening(error):
                    give_up = min(deadline, started + self._first_contact_s)
                if time.monotonic() + delay > give_up:
                    raise
                wait = delay
                why = f"no answer from {self.api_url}"
            else:
                self._answered = True
                if answer.status not in _RETRY_STATUSES:
                    return answer
                wait = max(delay, retry_after_s(answer.headers))
                if time.monotonic() + wait > deadline:
                    return answer
                why = f"the farm answered {answer.status} {answer.reason}".rstrip()
            if self._on_retry is not None:
                self._on_retry(f"{why}: trying again in {wait:.1f} s")
            _pause(wait, cancelled, f"{method} {path.partition('?')[0]} cancelled")
            delay = min(delay * 2, _MAX_RETRY_S)

    def _request(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        url = self.api_url + path
        request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                return Answer(
                    status=response.status,
                    reason=response.reason,
                    headers=response.headers,
                    body=response.read(),
                    path=urllib.parse.urlsplit(url).path,
                )
        except urllib.error.HTTPError as error:
            with error:
                return Answer(
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


def _nobody_listening(error: BaseException) -> bool:
    """Refused, or a host that does not resolve: no farm there (a dropped connection had one)."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    return isinstance(reason, ConnectionRefusedError | socket.gaierror)


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


def _blocks(
    file: BinaryIO, size: int, on_progress: Progress | None, cancelled: threading.Event | None
) -> Iterator[bytes]:
    sent = 0
    if on_progress is not None:
        on_progress(0, size)
    while block := file.read(BLOCK_BYTES):
        if cancelled is not None and cancelled.is_set():
            raise TransferCancelled(f"uploading {Path(file.name).name} cancelled")
        yield block
        sent += len(block)
        if on_progress is not None:
            on_progress(sent, size)
