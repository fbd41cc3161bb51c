"""The emulator's AMQP section codec, on bytes the official SDK's own encoder produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch
from azure.servicebus._pyamqp._encode import encode_payload
from azure.servicebus._pyamqp.message import BatchMessage
from azure.servicebus._transport._pyamqp_transport import PyamqpTransport
from proton import symbol, timestamp

from emulators.servicebus import codec


def encoded(message: ServiceBusMessage) -> bytes:
    """The bytes the SDK puts in a transfer for one message."""
    outgoing = PyamqpTransport.to_outgoing_amqp_message(message.raw_amqp_message)
    return bytes(encode_payload(bytearray(), outgoing))


@pytest.fixture
def sdk_batch() -> bytes:
    """A ServiceBusMessageBatch of three messages, encoded as the SDK sends it."""
    batch = ServiceBusMessageBatch()
    batch.add_message(ServiceBusMessage("first", message_id="job:0"))
    batch.add_message(
        ServiceBusMessage("second", message_id="job:1", time_to_live=timedelta(seconds=5))
    )
    batch.add_message(ServiceBusMessage(b"\x00\x01third", message_id="job:2"))
    return bytes(encode_payload(bytearray(), BatchMessage(*batch._message)))


def test_split_sections_names_each_section_in_order() -> None:
    message = ServiceBusMessage(
        "body", message_id="m", application_properties={"k": "v"}, time_to_live=timedelta(1)
    )
    codes = [code for code, _ in codec.split_sections(encoded(message))]
    assert codes == [
        codec.HEADER,
        codec.PROPERTIES,
        codec.APPLICATION_PROPERTIES,
        codec.DATA,
    ]


def test_split_sections_pieces_join_back_to_the_original_bytes() -> None:
    raw = encoded(ServiceBusMessage("body", message_id="m", subject="s"))
    assert b"".join(section for _, section in codec.split_sections(raw)) == raw


def test_split_batch_returns_each_message_of_an_sdk_batch(sdk_batch: bytes) -> None:
    parts = codec.split_batch(sdk_batch)
    messages = [codec.parse_message(part) for part in parts]
    assert [message.message_id for message in messages] == ["job:0", "job:1", "job:2"]
    assert [message.ttl_ms for message in messages] == [None, 5000, None]


def test_split_batch_leaves_a_plain_message_alone() -> None:
    raw = encoded(ServiceBusMessage("just one", message_id="solo"))
    assert codec.split_batch(raw) == [raw]


def test_split_batch_leaves_a_message_with_a_binary_body_alone() -> None:
    raw = encoded(ServiceBusMessage(b"\x00Su\xa0\x01x not a message inside"))
    assert codec.split_batch(raw) == [raw]


def test_parse_message_reads_ttl_message_id_and_scheduled_time() -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    raw = encoded(
        ServiceBusMessage(
            "later",
            message_id="job-7:3",
            time_to_live=timedelta(minutes=2),
            scheduled_enqueue_time_utc=when,
        )
    )
    message = codec.parse_message(raw)
    assert message.message_id == "job-7:3"
    assert message.ttl_ms == 120_000
    assert message.scheduled_enqueue_ms == int(when.timestamp() * 1000)


def test_parse_message_without_header_takes_defaults() -> None:
    message = codec.parse_message(encoded(ServiceBusMessage("plain")))
    assert message.ttl_ms is None
    assert message.priority == 4
    assert message.scheduled_enqueue_ms is None
    assert message.body.endswith(b"plain")


def test_parse_message_keeps_the_body_bytes_as_sent() -> None:
    raw = encoded(ServiceBusMessage(b"\xff\x00payload", application_properties={"a": 1}))
    message = codec.parse_message(raw)
    body = [section for code, section in codec.split_sections(raw) if code == codec.DATA]
    assert message.body == body[0]
    assert message.application_properties in raw


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "empty message"),
        (b"\x53\x75", "described type"),
        (b"\x00\x53\x75\xa0\x10abc", "past the end"),
        (b"\x00\x53\x75\xa0", "truncated size"),
        (b"\x00\x53\x75\x01", "unknown constructor"),
        (b"\x00\x53\x99\xa0\x01x", "unknown section"),
        (b"\x00\xa3\x03abc\xa0\x01x", "unknown section descriptor"),
        (b"\x00\x53", "past the end"),
        (b"\x00", "truncated"),
        (b"\x00\x80\x00", "past the end"),
        (b"\x00\x53\x70\xc0\x02\x01\xff", "undecodable section"),
        (b"\x00\x53\x70\xa1\x01x", "holds str, not list"),
    ],
)
def test_malformed_bytes_raise_malformed_message(raw: bytes, why: str) -> None:
    with pytest.raises(codec.MalformedMessage, match=why):
        codec.parse_message(raw)


def test_encode_for_delivery_puts_broker_annotations_beside_the_clients() -> None:
    raw = encoded(ServiceBusMessage("x", message_id="m"))
    sent = codec.parse_message(raw)
    out = codec.encode_for_delivery(
        stored_annotations=sent.annotations,
        properties=sent.properties,
        application_properties=sent.application_properties,
        body=sent.body,
        priority=sent.priority,
        ttl_ms=1000,
        delivery_count=3,
        broker_annotations={"x-opt-sequence-number": 42},
    )
    sections = dict(codec.split_sections(out))
    header = codec.decode_section(sections[codec.HEADER])
    annotations = codec.decode_section(sections[codec.MESSAGE_ANNOTATIONS])
    assert header[2] == 1000 and header[4] == 3
    assert annotations["x-opt-sequence-number"] == 42
    assert codec.parse_message(out).message_id == "m"


def delivered_sections(**overrides: Any) -> dict[int, Any]:
    arguments: dict[str, Any] = {
        "stored_annotations": b"",
        "properties": b"",
        "application_properties": b"",
        "body": codec.encode_section(codec.DATA, b"x"),
        "priority": 4,
        "ttl_ms": None,
        "delivery_count": 0,
        "broker_annotations": {},
        **overrides,
    }
    out = codec.encode_for_delivery(**arguments)
    return {code: codec.decode_section(raw) for code, raw in codec.split_sections(out)}


def test_delivery_header_and_annotations_decode_to_what_the_broker_wrote() -> None:
    source = "render-chunks-" + "q" * 300  # long enough for the 32-bit string and map forms
    sections = delivered_sections(
        priority=7,
        ttl_ms=None,
        delivery_count=2,
        broker_annotations={
            "x-opt-sequence-number": 2**40,
            "x-opt-enqueued-time": codec.as_timestamp(1_700_000_000_123),
            "x-opt-deadletter-source": source,
            "x-opt-message-state": 1,
        },
    )
    assert sections[codec.HEADER] == [True, 7, None, False, 2]
    assert sections[codec.MESSAGE_ANNOTATIONS] == {
        "x-opt-sequence-number": 2**40,
        "x-opt-enqueued-time": 1_700_000_000_123,
        "x-opt-deadletter-source": source,
        "x-opt-message-state": 1,
    }
    annotations = sections[codec.MESSAGE_ANNOTATIONS]
    assert all(isinstance(key, symbol) for key in annotations)
    assert isinstance(annotations["x-opt-enqueued-time"], timestamp)


def test_delivery_keeps_the_clients_annotations_beside_the_brokers() -> None:
    raw = encoded(ServiceBusMessage("x", partition_key="pk-1"))
    sent = codec.parse_message(raw)
    assert sent.annotations
    sections = delivered_sections(
        stored_annotations=sent.annotations, broker_annotations={"x-opt-sequence-number": 5}
    )
    annotations = sections[codec.MESSAGE_ANNOTATIONS]
    assert annotations["x-opt-partition-key"] == "pk-1"
    assert annotations["x-opt-sequence-number"] == 5
