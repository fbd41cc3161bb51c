"""The ChunkQueue port: one Service Bus queue per Blender pool, over shared senders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from azure.servicebus import ServiceBusMessage

from renderfarm.blend_header import BlenderVersion
from renderfarm.blender_pools import queue_name
from renderfarm.messages import CONTENT_TYPE, SUBJECT, ChunkMessage
from renderfarm_azure.senders import QueueSenders


def to_servicebus(message: ChunkMessage, trace_context: Mapping[str, str]) -> ServiceBusMessage:
    return ServiceBusMessage(
        message.to_json(),
        message_id=message.message_id,
        content_type=CONTENT_TYPE,
        subject=SUBJECT,
        application_properties=message.application_properties(trace_context),  # type: ignore[arg-type]
    )


class ServiceBusChunkQueue:
    def __init__(
        self, *, senders: QueueSenders, queue_prefix: str, blenders: Sequence[BlenderVersion]
    ):
        self._senders = senders
        self._queues = {str(version): queue_name(queue_prefix, version) for version in blenders}

    def send(
        self, blender: str, messages: Sequence[ChunkMessage], trace_context: Mapping[str, str]
    ) -> None:
        queue = self._queues[blender]  # the job service routes only to pools the farm runs
        self._senders.send(queue, [to_servicebus(m, trace_context) for m in messages])

    def schedule(
        self,
        blender: str,
        messages: Sequence[ChunkMessage],
        trace_context: Mapping[str, str],
        *,
        at: datetime,
    ) -> tuple[int, ...]:
        return self._senders.schedule(
            self._queues[blender], [to_servicebus(m, trace_context) for m in messages], at
        )

    def cancel_scheduled(self, blender: str, sequence_numbers: Sequence[int]) -> None:
        self._senders.cancel_scheduled(self._queues[blender], sequence_numbers)

    def check(self) -> None:
        """Open a link (CBS auth + attach) to each pool's queue: proof the namespace answers."""
        for queue in self._queues.values():
            self._senders.open_link(queue)
