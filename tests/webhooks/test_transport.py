"""One POST against receivers that misbehave: redirects, silence, trickling, hang-ups, TLS to a
pinned address with the certificate checked against the host name."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from renderfarm.webhooks.rules import Outcome, outcome_of
from renderfarm.webhooks.urls import Target
from renderfarm_azure.webhooks.transport import post

LOOPBACK = ipaddress.ip_address("127.0.0.1")


def target(port: int, host: str = "127.0.0.1", https: bool = False) -> Target:
    return Target(https=https, host=host, port=port, path="/hook", loopback_allowed=True)


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """A TCP server whose every connection is handed to ``behave``; returns its port."""
    listeners: list[socket.socket] = []

    def start(behave: Callable[[socket.socket], None]) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def accept() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=behave, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        listener.close()


def silent(conn: socket.socket) -> None:
    conn.recv(65536)
    time.sleep(5)
    conn.close()


def trickle(conn: socket.socket) -> None:
    """Answers a status line, then one header byte every 0.2 s, for ever."""
    conn.recv(65536)
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while True:
            conn.sendall(b"x")
            time.sleep(0.2)
    except OSError:
        return


def hang_up(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.close()


@pytest.mark.parametrize("behave", [silent, trickle])
def test_a_receiver_cannot_hold_a_post_past_its_timeout(
    raw_server: Callable[[Callable[[socket.socket], None]], int], behave: Callable[..., None]
) -> None:
    port = raw_server(behave)
    started = time.monotonic()
    result = post(target(port), LOOPBACK, b"{}", {}, timeout_s=1.0)
    assert time.monotonic() - started < 2.0
    assert result.status is None and result.error == "no answer within 1 s"
    assert outcome_of(result.status) is Outcome.RETRY


def test_a_closed_connection_or_a_refused_one_is_retried(
    raw_server: Callable[[Callable[[socket.socket], None]], int],
) -> None:
    closed = post(target(raw_server(hang_up)), LOOPBACK, b"{}", {}, timeout_s=2.0)
    assert closed.status is None and closed.error == "connection closed without an answer"
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free = probe.getsockname()[1]
    refused = post(target(free), LOOPBACK, b"{}", {}, timeout_s=2.0)
    assert refused.status is None and refused.error == "connection refused"


class _Redirecting(BaseHTTPRequestHandler):
    followed: list[str] = []  # noqa: RUF012 (shared by the test's two servers)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        _Redirecting.followed.append(self.path)
        self.send_response(302 if self.path == "/hook" else 200)
        self.send_header("location", "/elsewhere")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_redirects_are_not_followed() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = post(target(server.server_address[1]), LOOPBACK, b"{}", {}, timeout_s=2.0)
    finally:
        server.shutdown()
        server.server_close()
    assert result.status == 302 and _Redirecting.followed == ["/hook"]
    assert outcome_of(result.status) is Outcome.REJECTED


def _certificate(folder: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``host``: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Recording(BaseHTTPRequestHandler):
    hosts: list[str] = []  # noqa: RUF012

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        _Recording.hosts.append(self.headers["host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_tls_goes_to_the_pinned_address_and_checks_the_certificate_against_the_host(
    tmp_path: Path,
) -> None:
    cert, key = _certificate(tmp_path, "hooks.example.test")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_tls = ssl.create_default_context(cafile=str(cert))
    port = server.server_address[1]
    try:
        good = post(
            target(port, "hooks.example.test", https=True), LOOPBACK, b"{}", {}, tls=client_tls
        )
        bad = post(
            target(port, "evil.example.test", https=True), LOOPBACK, b"{}", {}, tls=client_tls
        )
        untrusted = post(target(port, "hooks.example.test", https=True), LOOPBACK, b"{}", {})
    finally:
        server.shutdown()
        server.server_close()
    assert good.status == 204 and _Recording.hosts == [f"hooks.example.test:{port}"]
    assert names[0] == "hooks.example.test"  # SNI carries the name, not the dialled IP
    assert bad.status is None and "TLS certificate refused" in str(bad.error)
    assert untrusted.status is None and "TLS certificate refused" in str(untrusted.error)
