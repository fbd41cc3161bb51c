"""The ChunkQueue port: one Service Bus queue per Blender pool, priority band and device
(CPU, or GPU where the farm has GPU workers), over shared senders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from azure.servicebus import ServiceBusMessage

from renderfarm.jobs.chunk_messages import CONTENT_TYPE, SUBJECT, ChunkMessage
from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import queue_key, queue_name
from renderfarm.shared.priority import BANDS
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
        self,
        *,
        senders: QueueSenders,
        queue_prefix: str,
        blenders: Sequence[BlenderVersion],
        gpu: bool = False,
    ):
        self._senders = senders
        kinds = (False, True) if gpu else (False,)
        #: queue key (5.3-high) -> queue name (render-chunks-5.3-high), for every queue routed to
        self._queues = {
            queue_key(version, band, gpu=kind): queue_name(queue_prefix, version, band, gpu=kind)
            for version in blenders
            for kind in kinds
            for band in BANDS
        }
        self._checked = [queue_name(queue_prefix, version) for version in blenders]

    def send(
        self, queue: str, messages: Sequence[ChunkMessage], trace_context: Mapping[str, str]
    ) -> None:
        name = self._queues[queue]  # the job service routes only to queues the farm has
        self._senders.send(name, [to_servicebus(m, trace_context) for m in messages])

    def schedule(
        self,
        queue: str,
        messages: Sequence[ChunkMessage],
        trace_context: Mapping[str, str],
        *,
        at: datetime,
    ) -> tuple[int, ...]:
        return self._senders.schedule(
            self._queues[queue], [to_servicebus(m, trace_context) for m in messages], at
        )

    def cancel_scheduled(self, queue: str, sequence_numbers: Sequence[int]) -> None:
        self._senders.cancel_scheduled(self._queues[queue], sequence_numbers)

    def check(self) -> None:
        """Open a link (CBS auth + attach) to each pool's normal queue: proof the namespace
        answers (one per pool, not per band: a readiness probe stays cheap)."""
        for queue in self._checked:
            self._senders.open_link(queue)
