"""How a stored message goes out on the wire: the broker's annotations on the client's sections."""

from __future__ import annotations

from typing import Any

from . import codec
from .broker import Delivered
from .store import MessageState


def encode_delivered(delivered: Delivered, *, state: MessageState | None = None) -> bytes:
    """Encode a message as Service Bus hands it out, with its broker annotations."""
    meta = delivered.meta
    annotations: dict[str, Any] = {
        "x-opt-sequence-number": meta.seq,
        "x-opt-enqueued-time": codec.as_timestamp(meta.enqueued_ms),
    }
    if meta.locked_until_ms is not None and delivered.lock_token is not None:
        annotations["x-opt-locked-until"] = codec.as_timestamp(meta.locked_until_ms)
    if meta.dead_letter_source:
        annotations["x-opt-deadletter-source"] = meta.dead_letter_source
    if state is not None:
        annotations["x-opt-message-state"] = int(state)
        if state is MessageState.SCHEDULED:
            annotations["x-opt-scheduled-enqueue-time"] = codec.as_timestamp(meta.visible_ms)
    content = delivered.content
    return codec.encode_for_delivery(
        stored_annotations=content.annotations,
        properties=content.properties,
        application_properties=content.app_properties,
        body=content.body,
        priority=meta.priority,
        ttl_ms=meta.ttl_ms,
        delivery_count=meta.delivery_count,
        broker_annotations=annotations,
    )
