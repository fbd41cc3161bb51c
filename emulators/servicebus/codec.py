"""AMQP 1.0 message encoding at the level of sections.

The broker stores what a client sent nearly verbatim and only rewrites the sections it owns (the
header and the message annotations), so it never decodes or re-encodes a message body. Proton's
Python ``Message`` hides the message format and all but one body section, which a Service Bus batch
needs, so the bytes are split here by the AMQP type system's size rules.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from proton import Data, DataException, Described, symbol, timestamp, ubyte, uint, ulong

HEADER = 0x70
DELIVERY_ANNOTATIONS = 0x71
MESSAGE_ANNOTATIONS = 0x72
PROPERTIES = 0x73
APPLICATION_PROPERTIES = 0x74
DATA = 0x75
AMQP_SEQUENCE = 0x76
AMQP_VALUE = 0x77
FOOTER = 0x78
_BODY_SECTIONS = {DATA, AMQP_SEQUENCE, AMQP_VALUE}

_SYMBOLIC_DESCRIPTORS = {
    b"amqp:header:list": HEADER,
    b"amqp:delivery-annotations:map": DELIVERY_ANNOTATIONS,
    b"amqp:message-annotations:map": MESSAGE_ANNOTATIONS,
    b"amqp:properties:list": PROPERTIES,
    b"amqp:application-properties:map": APPLICATION_PROPERTIES,
    b"amqp:data:binary": DATA,
    b"amqp:amqp-sequence:list": AMQP_SEQUENCE,
    b"amqp:amqp-value:*": AMQP_VALUE,
    b"amqp:footer:map": FOOTER,
}

# Width of the fixed-size value that follows a constructor, by the constructor's high nibble.
_FIXED_WIDTH = {0x4: 0, 0x5: 1, 0x6: 2, 0x7: 4, 0x8: 8, 0x9: 16}
# Width of the size prefix of variable, compound and array encodings, by the high nibble.
_SIZE_WIDTH = {0xA: 1, 0xB: 4, 0xC: 1, 0xD: 4, 0xE: 1, 0xF: 4}


class MalformedMessage(ValueError):
    """The bytes are not an AMQP 1.0 message."""


def _skip_value(buf: bytes, pos: int) -> int:
    """Return the offset just past the AMQP value that starts at ``pos``."""
    if pos >= len(buf):
        raise MalformedMessage("truncated value")
    code = buf[pos]
    if code == 0x00:  # described: a descriptor value, then the value
        return _skip_value(buf, _skip_value(buf, pos + 1))
    high = code >> 4
    pos += 1
    if high in _FIXED_WIDTH:
        end = pos + _FIXED_WIDTH[high]
    elif high in _SIZE_WIDTH:
        width = _SIZE_WIDTH[high]
        if pos + width > len(buf):
            raise MalformedMessage("truncated size")
        size = buf[pos] if width == 1 else struct.unpack_from(">I", buf, pos)[0]
        end = pos + width + size
    else:
        raise MalformedMessage(f"unknown constructor 0x{code:02x}")
    if end > len(buf):
        raise MalformedMessage("value runs past the end of the message")
    return end


def _descriptor_code(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a section descriptor at ``pos`` (after 0x00); return (section code, value offset)."""
    end = _skip_value(buf, pos)  # bounds-checks the descriptor before it is read
    code = buf[pos]
    if code == 0x53:  # smallulong
        return buf[pos + 1], end
    if code == 0x80:  # ulong
        return struct.unpack_from(">Q", buf, pos + 1)[0], end
    if code in (0xA3, 0xB3):  # symbol
        width = 1 if code == 0xA3 else 4
        name = bytes(buf[pos + 1 + width : end])
        if name in _SYMBOLIC_DESCRIPTORS:
            return _SYMBOLIC_DESCRIPTORS[name], end
    raise MalformedMessage("unknown section descriptor")


def split_sections(buf: bytes) -> list[tuple[int, bytes]]:
    """Split an encoded message into (section code, raw section bytes) in order."""
    sections: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(buf):
        if buf[pos] != 0x00:
            raise MalformedMessage("a message section must be a described type")
        code, _ = _descriptor_code(buf, pos + 1)
        if not HEADER <= code <= FOOTER:
            raise MalformedMessage(f"unknown section 0x{code:02x}")
        end = _skip_value(buf, pos)
        sections.append((code, buf[pos:end]))
        pos = end
    if not sections:
        raise MalformedMessage("empty message")
    return sections


def decode_section(raw: bytes) -> Any:
    """Decode one section's value (the list or map inside its descriptor)."""
    data = Data()
    try:
        data.decode(raw)
        data.rewind()
        data.next()
        described = data.get_object()
    except DataException as error:  # sized right on the outside, garbage within
        raise MalformedMessage(f"undecodable section: {error}") from error
    value = described.value if isinstance(described, Described) else described
    return _owned(value)


def _owned(value: Any) -> Any:
    """Copy binary values out of Proton's buffers, which are freed with their Data object."""
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, list):
        return [_owned(item) for item in value]
    if isinstance(value, dict):
        return {key: _owned(item) for key, item in value.items()}
    return value


def encode_section(code: int, value: Any) -> bytes:
    data = Data()
    data.put_object(Described(ulong(code), value))
    return bytes(data.encode())


def _batch_parts(sections: list[tuple[int, bytes]]) -> Iterator[bytes]:
    for code, raw in sections:
        if code == DATA:
            yield bytes(decode_section(raw))


def split_batch(buf: bytes) -> list[bytes]:
    """Return the messages inside a Service Bus batch transfer, or ``[buf]`` for a plain message.

    A batch (message format 0x80013700) carries each message, encoded whole, as one data section.
    Proton's Python binding does not expose the transfer's message format, so a batch is recognised
    by its shape: only data sections in the body, each of them a complete message with a body.
    """
    sections = split_sections(buf)
    body = [code for code, _ in sections if code in _BODY_SECTIONS]
    if not body or any(code != DATA for code in body):
        return [buf]
    parts = list(_batch_parts(sections))
    for part in parts:
        try:
            inner = split_sections(part)
        except MalformedMessage:
            return [buf]
        if not any(code in _BODY_SECTIONS for code, _ in inner):
            return [buf]
    return parts


@dataclass(frozen=True, kw_only=True)
class IncomingMessage:
    """A message as a client sent it: the fields the broker acts on, the raw sections it keeps."""

    message_id: str | None
    ttl_ms: int | None
    priority: int
    scheduled_enqueue_ms: int | None
    annotations: bytes  # the client's message-annotations section, or b""
    properties: bytes  # the properties section, or b""
    application_properties: bytes  # the application-properties section, or b""
    body: bytes  # the body and footer sections, as sent

    @property
    def size(self) -> int:
        return sum(
            map(len, (self.annotations, self.properties, self.application_properties, self.body))
        )


def text_of(value: Any) -> str | None:
    """A string from an AMQP string, symbol or binary value (None stays None)."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _message_id_text(message_id: Any) -> str | None:
    if message_id is None:
        return None
    if isinstance(message_id, bytes):
        return message_id.hex()
    return str(message_id)


def _decoded(raw: bytes, kind: type[list[Any]] | type[dict[Any, Any]]) -> Any:
    """Decode a list or map section; anything else there is not a message the broker can read."""
    value = decode_section(raw)
    if value is not None and not isinstance(value, kind):
        raise MalformedMessage(f"a section holds {type(value).__name__}, not {kind.__name__}")
    return value or kind()


def parse_message(buf: bytes) -> IncomingMessage:
    """Read the fields the broker needs from an encoded message."""
    ttl_ms: int | None = None
    priority = 4
    message_id: str | None = None
    scheduled: int | None = None
    annotations = b""
    properties_section = b""
    app_properties = b""
    body = bytearray()
    for code, raw in split_sections(buf):
        if code == HEADER:
            header = _decoded(raw, list)
            priority = int(header[1]) if len(header) > 1 and header[1] is not None else 4
            ttl_ms = int(header[2]) if len(header) > 2 and header[2] is not None else None
        elif code == MESSAGE_ANNOTATIONS:
            annotations = raw
            value = _decoded(raw, dict).get(symbol("x-opt-scheduled-enqueue-time"))
            scheduled = int(value) if value is not None else None
        elif code == PROPERTIES:
            properties = _decoded(raw, list)
            message_id = _message_id_text(properties[0] if properties else None)
            properties_section = raw
        elif code == APPLICATION_PROPERTIES:
            app_properties = raw
        elif code != DELIVERY_ANNOTATIONS:  # delivery annotations are hop-by-hop: dropped
            body += raw
    return IncomingMessage(
        message_id=message_id,
        ttl_ms=ttl_ms,
        priority=priority,
        scheduled_enqueue_ms=scheduled,
        annotations=annotations,
        properties=properties_section,
        application_properties=app_properties,
        body=bytes(body),
    )


def with_application_properties(section: bytes, extra: dict[str, Any]) -> bytes:
    """Return an application-properties section with ``extra`` merged into ``section``'s map."""
    values: dict[Any, Any] = dict(decode_section(section) or {}) if section else {}
    values.update(extra)
    return encode_section(APPLICATION_PROPERTIES, values)


def encode_for_delivery(  # noqa: PLR0913 - keyword-only: the message's sections and header fields
    *,
    stored_annotations: bytes,
    properties: bytes,
    application_properties: bytes,
    body: bytes,
    priority: int,
    ttl_ms: int | None,
    delivery_count: int,
    broker_annotations: dict[str, Any],
) -> bytes:
    """Encode a stored message as the broker hands it to a receiver."""
    ttl = uint(ttl_ms) if ttl_ms is not None else None
    header = [True, ubyte(priority), ttl, False, uint(delivery_count)]
    broker = {symbol(key): value for key, value in broker_annotations.items()}
    if stored_annotations:  # the client's own annotations may hold any type: Proton merges them
        merged: dict[Any, Any] = dict(decode_section(stored_annotations) or {})
        merged.update(broker)
        annotations = encode_section(MESSAGE_ANNOTATIONS, merged)
    else:
        annotations = _described(MESSAGE_ANNOTATIONS, _compound(_MAP, broker))
    header_section = _described(HEADER, _compound(_LIST, header))
    return b"".join((header_section, annotations, properties, application_properties, body))


# Hand encoding of the few value types the broker itself writes on every delivery: Proton's Data
# costs tens of microseconds a section, which bounded receive throughput.
_LIST = (0xC0, 0xD0)
_MAP = (0xC1, 0xD1)


def _described(code: int, value: bytes) -> bytes:
    return bytes((0x00, 0x53, code)) + value


def _variable(small: int, large: int, raw: bytes) -> bytes:
    if len(raw) <= 0xFF:
        return bytes((small, len(raw))) + raw
    return struct.pack(">BI", large, len(raw)) + raw


# By Proton type, each before the Python type it subclasses (bool before int, symbol before str).
_ENCODERS: tuple[tuple[type[Any], Callable[[Any], bytes]], ...] = (
    (bool, lambda value: b"\x41" if value else b"\x42"),
    (timestamp, lambda value: struct.pack(">Bq", 0x83, value)),
    (ubyte, lambda value: struct.pack(">BB", 0x50, value)),
    (uint, lambda value: struct.pack(">BI", 0x70, value)),
    (symbol, lambda value: _variable(0xA3, 0xB3, value.encode("ascii"))),
    (str, lambda value: _variable(0xA1, 0xB1, value.encode("utf-8"))),
    (int, lambda value: struct.pack(">Bq", 0x81, value)),  # a long, as Proton encodes an int
)


def _value(value: Any) -> bytes:
    if value is None:
        return b"\x40"
    for kind, encode in _ENCODERS:
        if isinstance(value, kind):
            return encode(value)
    raise TypeError(f"no hand encoding for {type(value).__name__}")


def _compound(codes: tuple[int, int], items: list[Any] | dict[Any, Any]) -> bytes:
    """A list, or a map (keys and values alternate), in its 8-bit or 32-bit form."""
    values = items if isinstance(items, list) else [v for pair in items.items() for v in pair]
    payload = b"".join(map(_value, values))
    if len(payload) < 0xFF and len(values) <= 0xFF:
        return bytes((codes[0], len(payload) + 1, len(values))) + payload
    return struct.pack(">BII", codes[1], len(payload) + 4, len(values)) + payload


def as_timestamp(ms: int) -> timestamp:
    return timestamp(ms)
