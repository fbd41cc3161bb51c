"""One signed POST to a receiver, to an address checked beforehand, bounded in time.

The connection goes to the vetted IP address itself (so a DNS answer that changes after the check
cannot redirect it) while TLS still sends the host name (SNI) and verifies the certificate against
it. Redirects are never followed (http.client does not), the response body is never read, and a
watchdog shuts the socket down when the whole exchange has taken ``timeout_s``: a receiver that
answers one byte at a time cannot hold a consumer longer than that.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import TracebackType

from standardwebhooks import Webhook as StandardWebhook

from renderfarm.webhooks.urls import IPAddress, Resolver, Target

#: Whole exchange: connect, TLS, request, status line and headers.
DEFAULT_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
RESOLVE_TIMEOUT_S = 3.0
RESOLVER_THREADS = 8
USER_AGENT = "renderfarm-webhooks/1"


@dataclass(frozen=True, kw_only=True)
class PostResult:
    status: int | None  # None: no answer (timeout, refused, closed, TLS failure)
    error: str | None = None


def signed_headers(secret: str, message_id: str, payload: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers, signed by the reference library."""
    signature = StandardWebhook(secret).sign(msg_id=message_id, timestamp=now, data=payload)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


@lru_cache(maxsize=1)
def _resolver_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="webhook-dns")


def system_resolver(timeout_s: float = RESOLVE_TIMEOUT_S) -> Resolver:
    """The system's resolver (getaddrinfo), given up on after ``timeout_s``."""

    def resolve(host: str, port: int) -> list[str]:
        future = _resolver_threads().submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            answers = future.result(timeout=timeout_s)
        except TimeoutError:
            raise OSError(f"no DNS answer within {timeout_s:g} s") from None
        return list(dict.fromkeys(str(answer[4][0]) for answer in answers))

    return resolve


@lru_cache(maxsize=1)
def default_tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class _Deadline:
    """Shuts the watched socket down once ``timeout_s`` has passed."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout_s, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shut(self._sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return  # closed already


def post(  # noqa: PLR0913 - the request's parts; timeout and TLS keyword-only
    target: Target,
    address: IPAddress,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    tls: ssl.SSLContext | None = None,
) -> PostResult:
    """POST ``body`` to ``target`` at ``address``; never raises for what the receiver does."""
    with _Deadline(timeout_s) as deadline:
        try:
            status = _exchange(
                target, address, body, headers, deadline=deadline, tls=tls or default_tls()
            )
        except (OSError, http.client.HTTPException) as error:
            return PostResult(status=None, error=_explain(error, deadline))
    if deadline.expired:  # cut short: what was read (an EOF ends headers) proves nothing
        return PostResult(status=None, error=_explain(TimeoutError(), deadline))
    return PostResult(status=status)


def _exchange(  # noqa: PLR0913 - the request's parts; deadline and TLS keyword-only
    target: Target,
    address: IPAddress,
    body: bytes,
    headers: Mapping[str, str],
    *,
    deadline: _Deadline,
    tls: ssl.SSLContext,
) -> int:
    sock = socket.create_connection(
        (str(address), target.port), timeout=min(CONNECT_TIMEOUT_S, deadline.timeout_s)
    )
    deadline.watch(sock)
    sock.settimeout(deadline.timeout_s)
    if target.https:
        sock = tls.wrap_socket(sock, server_hostname=target.host)
        deadline.watch(sock)
    connection = http.client.HTTPConnection(target.host, target.port, timeout=deadline.timeout_s)
    connection.sock = sock  # pinned: http.client connects only when it has no socket
    try:
        connection.request(
            "POST", target.path, body=body, headers={**headers, "host": target.host_header}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def _explain(error: BaseException, deadline: _Deadline) -> str:
    if deadline.expired or isinstance(error, TimeoutError):
        return f"no answer within {deadline.timeout_s:g} s"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate refused: {error.verify_message}"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, http.client.RemoteDisconnected | ConnectionResetError):
        return "connection closed without an answer"
    return f"{type(error).__name__}: {error}"
