"""A chunk a spent budget holds (containerapp_worker/billing.py) waits in its queue, not in a
worker: its message is sent again, scheduled ``recheck_s`` later, and the one in hand completed.

So a held chunk keeps no worker busy, burns none of its message's deliveries (MaxDeliveryCount
dead-letters a message abandoned too often), and, being scheduled, is not in the active count
KEDA scales the workers by. The copy has the same body and properties and a new message-id: the
queue's duplicate detection would drop a copy under the id it has (the dead-letter handler reads
a chunk from the body, not the id). When it comes back, the worker looks at the budget again: a
budget raised, removed, or a new month, and the chunk renders.

The copy is scheduled before the original is completed. A crash between the two leaves two
messages for one chunk: the second finds the chunk's frames in Blob, or its record done, and
settles it again, which changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage
from azure.servicebus import ServiceBusReceiver as Receiver
from azure.servicebus.exceptions import ServiceBusError

from renderfarm.shared.errors import DependencyUnavailable
from renderfarm_azure.guard import breaker
from renderfarm_azure.senders import QueueSenders

log = logging.getLogger(__name__)


class HeldMessages:
    def __init__(self, *, client: ServiceBusClient, recheck_s: float) -> None:
        self._senders = QueueSenders(client=client, breaker=breaker("service bus"))
        self._recheck = timedelta(seconds=recheck_s)
        #: Each receiver's queue, by the receiver's id (the worker loop fills it in).
        self.queues: dict[int, str] = {}

    def defer(self, receiver: Receiver, message: ServiceBusReceivedMessage) -> None:
        """Schedule the copy, then complete ``message``; if the copy could not be scheduled,
        abandon it instead (it comes back at once, and counts a delivery)."""
        queue = self.queues[id(receiver)]
        try:
            self._senders.schedule(queue, [held_copy(message)], datetime.now(UTC) + self._recheck)
        except (DependencyUnavailable, ServiceBusError):
            log.warning("could not schedule the held chunk %s again", message.message_id)
            receiver.abandon_message(message)
            return
        receiver.complete_message(message)

    def close(self) -> None:
        self._senders.close()


def held_copy(message: ServiceBusReceivedMessage) -> ServiceBusMessage:
    """``message`` again, under a new id: ``<its first id>:held:<random>`` (held again and
    again, the id does not grow)."""
    first_id = str(message.message_id).split(":held:", 1)[0]
    properties: dict[str | bytes, int | float | bytes | bool | str | uuid.UUID] = {
        _text(key): _text(value) for key, value in (message.application_properties or {}).items()
    }
    return ServiceBusMessage(
        b"".join(message.body),
        message_id=f"{first_id}:held:{uuid.uuid4().hex[:12]}",
        content_type=message.content_type,
        subject=message.subject,
        application_properties=properties,
    )


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
