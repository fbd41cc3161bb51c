"""The ``webhook_deliveries`` Function's body: one message of the deliveries queue, one POST.

The logic lives in renderfarm_azure.webhooks.deliver, which the local farm runs as a process; this
is only the binding's view of the message. The host completes the message when this returns and
abandons it when this raises. A Python Function cannot dead-letter its trigger message with a
reason of its own (that needs the SDK-type binding, in preview), so a last try that failed raises
``DeliveryGaveUp``; each redelivery of it raises again without POSTing, and Service Bus
dead-letters it once MaxDeliveryCount is reached. The webhook's stats record the failure and its
last error on the first pass either way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache

import azure.functions as func

from renderfarm.shared.settings import Settings, get_settings
from renderfarm.webhooks.rules import Delivery, DeliveryFormatError
from renderfarm_azure.webhooks.deliver import Deliverer
from renderfarm_azure.webhooks.services import webhook_services

log = logging.getLogger(__name__)

FUNCTION_NAME = "webhook_deliveries"


class DeliveryGaveUp(RuntimeError):
    """The delivery's last try failed: leave the message to Service Bus's dead-lettering."""


def deliveries_queue(environ: Mapping[str, str]) -> str:
    """The queue the trigger listens on, read when the host indexes the functions; never raises
    (an import-time error in a Functions app unregisters every function)."""
    default = str(Settings.model_fields["webhook_deliveries_queue"].default)
    return environ.get("RENDERFARM_WEBHOOK_DELIVERIES_QUEUE") or default


@lru_cache(maxsize=1)
def deliverer() -> Deliverer:
    """One set of clients per process, reused across invocations."""
    return webhook_services(get_settings()).deliverer()


def handle_delivery(message: func.ServiceBusMessage, worker: Deliverer | None = None) -> None:
    worker = worker or deliverer()
    body = message.get_body()
    if (message.delivery_count or 0) > 1 and _is_last_try(body, worker):
        raise DeliveryGaveUp(f"{message.message_id}: the last try was made")
    settlement = worker.handle(body)
    if settlement.dead_letter_reason:
        log.warning(
            "delivery %s dead-lettered: %s: %s",
            message.message_id,
            settlement.dead_letter_reason,
            settlement.description,
        )
        raise DeliveryGaveUp(f"{settlement.dead_letter_reason}: {settlement.description}")


def _is_last_try(body: bytes, worker: Deliverer) -> bool:
    try:
        return Delivery.from_json(body).attempt >= worker.policy.max_attempts
    except DeliveryFormatError:
        return True
