"""Taking back the link credit a timed-out receive leaves behind.

With prefetch 0 the SDK grants the broker one message's credit for each ``receive_messages``
call and leaves it granted when the call times out. A worker holds one receiver per priority
band: while it renders a chunk from one, each idle one still offers the broker a message. A
message sent then is locked to the busy worker, out of every idle worker's reach, until the
chunk ends, or until its lock expires, which counts a delivery: a few such and a message no one
ever rendered is dead-lettered (seen in tests/chaos under load). Setting the credit back to 0
right after the empty receive closes that window to one round trip; a message already on its
way comes back to the next receive on that receiver, or is released by the SDK if it arrives
between receives.

The SDK has no public call for it: this uses its transport's ``reset_link_credit``, as its own
receive does (azure-servicebus is pinned in containerapp_worker/requirements.txt).
"""

from __future__ import annotations

import logging
from typing import Any

from azure.servicebus import ServiceBusReceiver

log = logging.getLogger(__name__)


def revoke_unused_credit(receiver: ServiceBusReceiver) -> bool:
    """Tell the broker this receiver takes no message until its next receive; True if it had
    credit to take back. Best effort: a receiver the SDK has closed has none."""
    handler: Any = getattr(receiver, "_handler", None)
    transport: Any = getattr(receiver, "_amqp_transport", None)
    link: Any = getattr(handler, "_link", None)
    if transport is None or link is None or getattr(link, "current_link_credit", 0) <= 0:
        return False
    try:
        transport.reset_link_credit(handler, 0)
    except Exception:
        log.debug("could not take back the link credit", exc_info=True)
        return False
    return True
