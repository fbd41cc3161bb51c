"""Misbehaving clients cannot take the emulator down, and it stops cleanly on a signal."""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from proton import Data, Described, symbol, ulong

from emulators.servicebus.config import BUNDLED_CONFIG
from testbed.emulators import REPO, ServiceBusEmulator

WAIT = 2
SOCKET_TIMEOUT_S = 5.0  # fails rather than hangs
SASL_HEADER = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_INIT = 0x41
OPEN = 0x10
FRAME_AMQP = 0
FRAME_SASL = 1


def assert_still_serves(emulator: ServiceBusEmulator, body: str) -> None:
    """The SDK can still send and receive on the emulator."""
    with ServiceBusClient.from_connection_string(emulator.connection_string) as client:
        with client.get_queue_sender("sturdy") as sender:
            sender.send_messages(ServiceBusMessage(body))
        with client.get_queue_receiver("sturdy") as receiver:
            (message,) = receiver.receive_messages(max_message_count=1, max_wait_time=WAIT)
            assert str(message) == body
            receiver.complete_message(message)


def connect(emulator: ServiceBusEmulator) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", emulator.port), timeout=SOCKET_TIMEOUT_S)
    sock.settimeout(SOCKET_TIMEOUT_S)
    return sock


def frame(frame_type: int, body: bytes) -> bytes:
    """An AMQP frame: size, data offset 2 (words), type, channel 0, then the body."""
    return struct.pack(">IBBH", 8 + len(body), 2, frame_type, 0) + body


def performative(code: int, fields: list[Any]) -> bytes:
    data = Data()
    data.put_object(Described(ulong(code), fields))
    return bytes(data.encode())


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the socket; times out if it never does."""
    received = bytearray()
    while chunk := sock.recv(65536):
        received += chunk
    return bytes(received)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    received = bytearray()
    while len(received) < size:
        chunk = sock.recv(size - len(received))
        assert chunk, "the server closed the connection early"
        received += chunk
    return bytes(received)


def read_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">I", read_exactly(sock, 4))
    return read_exactly(sock, size - 4)


def test_a_client_that_connects_and_vanishes_does_no_harm(emulator: ServiceBusEmulator) -> None:
    for _ in range(5):
        connect(emulator).close()
    assert_still_serves(emulator, "after vanishing clients")


def test_garbage_after_the_amqp_header_closes_only_that_connection(
    emulator: ServiceBusEmulator,
) -> None:
    with connect(emulator) as sock:
        sock.sendall(AMQP_HEADER + b"\xde\xad\xbe\xef" * 64)
        read_until_closed(sock)
    with connect(emulator) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        read_until_closed(sock)
    assert_still_serves(emulator, "after garbage")


def open_raw_connection(emulator: ServiceBusEmulator) -> socket.socket:
    """A raw socket past SASL ANONYMOUS and the AMQP open, as the SDK would get it."""
    sock = connect(emulator)
    sock.sendall(SASL_HEADER)
    assert read_exactly(sock, 8) == SASL_HEADER
    read_frame(sock)  # sasl-mechanisms
    sock.sendall(frame(FRAME_SASL, performative(SASL_INIT, [symbol("ANONYMOUS")])))
    read_frame(sock)  # sasl-outcome
    sock.sendall(AMQP_HEADER + frame(FRAME_AMQP, performative(OPEN, ["raw-client"])))
    assert read_exactly(sock, 8) == AMQP_HEADER
    read_frame(sock)  # the server's open
    return sock


@pytest.mark.parametrize(
    ("malformed", "answer"),
    [
        pytest.param(b"\x00\x00\x00\x08\x05\x00\x00\x00", b"framing-error", id="bad-offset"),
        pytest.param(
            frame(FRAME_AMQP, b"\x00\x53\x12\xc0\x02\x01\xff"), b"no such channel", id="no-session"
        ),
        # Proton 0.40 neither answers nor closes on a performative it does not know: the
        # connection idles until the client leaves, and harms no one else meanwhile.
        pytest.param(frame(FRAME_AMQP, b"\x00\x53\x77\x40"), None, id="unknown-performative"),
    ],
)
def test_a_malformed_frame_after_a_valid_open_harms_only_that_connection(
    emulator: ServiceBusEmulator, malformed: bytes, answer: bytes | None
) -> None:
    with open_raw_connection(emulator) as sock:
        sock.sendall(malformed)
        assert_still_serves(emulator, "beside a malformed connection")
        if answer is not None:
            assert answer in read_until_closed(sock)
    assert_still_serves(emulator, "after a malformed frame")


def test_locks_of_a_client_that_vanished_expire_and_the_messages_return(
    emulator: ServiceBusEmulator, client: ServiceBusClient
) -> None:
    sent = [f"held-{i}" for i in range(3)]
    with client.get_queue_sender("sturdy-lock") as sender:
        sender.send_messages([ServiceBusMessage(i, message_id=i) for i in sent])
    argv = [
        sys.executable,
        "-m",
        "tests.emulator.lock_holder",
        emulator.connection_string,
        "sturdy-lock",
        str(len(sent)),
    ]
    held = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert sorted(held) == sent
    returned: list[str] = []
    with client.get_queue_receiver("sturdy-lock") as receiver:  # the lock lasts 1 s
        deadline = time.monotonic() + 15
        while len(returned) < len(sent) and time.monotonic() < deadline:
            for message in receiver.receive_messages(max_message_count=3, max_wait_time=WAIT):
                assert message.delivery_count == 1
                receiver.complete_message(message)
                returned.append(str(message.message_id))
    assert sorted(returned) == sent


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_emulator_cleanly(sig: signal.Signals, tmp_path: Path) -> None:
    argv = [
        sys.executable,
        "-m",
        "emulators.servicebus",
        "--port",
        "0",
        "--management-port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--config",
        str(BUNDLED_CONFIG),
    ]
    process = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith("Service Bus emulator ready on amqp://127.0.0.1:")
        process.send_signal(sig)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""  # one ready line, nothing else on stdout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
