"""Webhook subscriptions and their deliveries, after the Standard Webhooks specification.

A tenant subscribes a URL to some event types and is shown its ``whsec_`` secret once. Each event
becomes one delivery per matching webhook: a message on the ``webhook-deliveries`` queue whose
message-id is ``<event id>:<webhook id>``, so the queue's duplicate detection drops a repeat. A
try that fails for a reason that may pass (timeout, 5xx, 429) is retried by a new message
scheduled after a growing delay; after the last try the delivery is dead-lettered and counted on
the webhook. Pure: storage, signing and HTTP are the adapters' part (renderfarm_azure/webhooks).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from renderfarm.jobs.events import EventType, JobEvent
from renderfarm.shared.errors import DomainError, UnreadableMessage

SCHEMA_VERSION = 1
MAX_WEBHOOKS_PER_TENANT = 20
SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32
#: The dead-letter reason of a delivery whose last try failed.
DEAD_LETTER_REASON = "WebhookDeliveryFailed"
#: Multiples of the base delay before tries 2, 3, ...: with the default 5 s base that is
#: 5 s, 25 s, 2 min, 10 min and 1 h, so a receiver has about 73 min to come back.
BACKOFF_MULTIPLES = (1, 5, 24, 120, 720)
MAX_ATTEMPTS = len(BACKOFF_MULTIPLES) + 1
DEFAULT_BASE_DELAY_S = 5.0
#: Longest error text kept on a webhook's record.
MAX_ERROR_CHARS = 300

_WEBHOOK_ID = re.compile(r"^[0-9a-f]{32}$")
_OK_LOW, _OK_HIGH = 200, 300
_GONE = 410
_REQUEST_TIMEOUT = 408
_TOO_MANY_REQUESTS = 429
_SERVER_ERROR = 500


class TooManyWebhooks(DomainError, RuntimeError):
    """The tenant has the most webhooks allowed: delete one first."""

    status, slug, title = 409, "too-many-webhooks", "Too many webhooks"

    def problem_extra(self) -> Mapping[str, Any]:
        return {"limit": self.limit}

    def __init__(self, limit: int):
        super().__init__(f"a tenant may have at most {limit} webhooks")
        self.limit = limit


class WebhookNotFound(DomainError, LookupError):
    """No such webhook for this tenant (another tenant's is reported the same way)."""

    status, slug, title = 404, "webhook-not-found", "No such webhook"

    def problem_detail(self) -> None:
        return None


class DeliveryFormatError(UnreadableMessage):
    """A message on the deliveries queue that is not a delivery: dead-letter it."""

    reason = "NotAWebhookDelivery"


def new_webhook_id() -> str:
    return uuid.uuid4().hex


def is_webhook_id(text: str) -> bool:
    return _WEBHOOK_ID.match(text) is not None


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes, the Standard Webhooks secret format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class Outcome(StrEnum):
    DELIVERED = "delivered"  # 2xx
    RETRY = "retry"  # no answer, 408, 429 or 5xx: it may pass
    GONE = "gone"  # 410: the receiver asks to be unsubscribed
    REJECTED = "rejected"  # any other answer: trying again would get the same


def outcome_of(status: int | None) -> Outcome:
    """What a receiver's HTTP status (None: no answer at all) means for the delivery."""
    if status is None or status in (_REQUEST_TIMEOUT, _TOO_MANY_REQUESTS):
        return Outcome.RETRY
    if _OK_LOW <= status < _OK_HIGH:
        return Outcome.DELIVERED
    if status == _GONE:
        return Outcome.GONE
    return Outcome.RETRY if status >= _SERVER_ERROR else Outcome.REJECTED


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    base_delay_s: float = DEFAULT_BASE_DELAY_S
    max_attempts: int = MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if self.base_delay_s <= 0 or not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            raise ValueError(f"base delay > 0 and 1 <= max attempts <= {MAX_ATTEMPTS}")

    def delay_before(self, attempt: int) -> float | None:
        """Seconds to wait before try ``attempt`` (2, 3, ...); None when there is no such try."""
        if not 2 <= attempt <= self.max_attempts:  # the first try does not wait
            return None
        return self.base_delay_s * BACKOFF_MULTIPLES[attempt - 2]


@dataclass(frozen=True, kw_only=True)
class DeliveryStats:
    """What the webhook's ``GET`` shows of its deliveries."""

    attempts: int = 0  # POSTs tried
    deliveries: int = 0  # events delivered (a 2xx)
    failures: int = 0  # events given up on (dead-lettered or refused by the receiver)
    last_status: int | None = None  # None: the last try got no answer
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    last_delivered_at: datetime | None = None

    def after_try(
        self, outcome: Outcome, *, status: int | None, error: str | None, final: bool, at: datetime
    ) -> DeliveryStats:
        """The stats after one try; ``final``: no try will follow it."""
        stats = replace(
            self,
            attempts=self.attempts + 1,
            last_status=status,
            last_error=error[:MAX_ERROR_CHARS] if error else None,
            last_attempt_at=at,
        )
        if outcome is Outcome.DELIVERED:
            return replace(stats, deliveries=stats.deliveries + 1, last_delivered_at=at)
        if outcome is Outcome.REJECTED or (outcome is Outcome.RETRY and final):
            return replace(stats, failures=stats.failures + 1)
        return stats

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "deliveries": self.deliveries,
            "failures": self.failures,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "last_attempt_at": _iso(self.last_attempt_at),
            "last_delivered_at": _iso(self.last_delivered_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeliveryStats:
        status = data.get("last_status")
        return cls(
            attempts=int(data.get("attempts", 0)),
            deliveries=int(data.get("deliveries", 0)),
            failures=int(data.get("failures", 0)),
            last_status=int(status) if status is not None else None,
            last_error=data.get("last_error"),
            last_attempt_at=_from_iso(data.get("last_attempt_at")),
            last_delivered_at=_from_iso(data.get("last_delivered_at")),
        )


@dataclass(frozen=True, kw_only=True)
class Webhook:
    """A subscription. Its secret is stored apart (Key Vault in Azure), never in this record."""

    id: str
    tenant: str
    url: str
    events: tuple[EventType, ...]
    created_at: datetime
    stats: DeliveryStats = field(default_factory=DeliveryStats)

    def wants(self, event_type: EventType) -> bool:
        return event_type in self.events

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": SCHEMA_VERSION,
                "id": self.id,
                "tenant": self.tenant,
                "url": self.url,
                "events": [event.value for event in self.events],
                "created_at": self.created_at.isoformat(),
                "stats": self.stats.to_dict(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, body: str | bytes) -> Webhook:
        data: dict[str, Any] = json.loads(body)
        return cls(
            id=str(data["id"]),
            tenant=str(data["tenant"]),
            url=str(data["url"]),
            events=tuple(EventType(name) for name in data["events"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            stats=DeliveryStats.from_dict(dict(data.get("stats") or {})),
        )


def event_types(names: tuple[EventType, ...] | list[EventType]) -> tuple[EventType, ...]:
    """The subscribed types without repeats, in the order given."""
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One try of one event to one webhook: the body of a deliveries-queue message."""

    webhook_id: str
    tenant: str
    event_id: str
    type: EventType
    timestamp: datetime  # when the event happened, not when it is delivered
    data: dict[str, Any]
    attempt: int = 1

    @classmethod
    def of_event(cls, event: JobEvent, webhook_id: str, summary: dict[str, Any]) -> Delivery:
        return cls(
            webhook_id=webhook_id,
            tenant=event.tenant,
            event_id=event.id,
            type=event.type,
            timestamp=event.at,
            data=summary,
        )

    @property
    def message_id(self) -> str:
        """Fixed by event, webhook and try, so a repeat of any of them is dropped by the queue."""
        first = f"{self.event_id}:{self.webhook_id}"
        return first if self.attempt == 1 else f"{first}:{self.attempt}"

    def next_try(self) -> Delivery:
        return replace(self, attempt=self.attempt + 1)

    def payload(self) -> str:
        """What the receiver gets: the Standard Webhooks ``{type, timestamp, data}``."""
        return json.dumps(
            {"type": self.type.value, "timestamp": self.timestamp.isoformat(), "data": self.data},
            separators=(",", ":"),
            default=_json_value,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": SCHEMA_VERSION,
                "webhook_id": self.webhook_id,
                "tenant": self.tenant,
                "event_id": self.event_id,
                "type": self.type.value,
                "timestamp": self.timestamp.isoformat(),
                "data": self.data,
                "attempt": self.attempt,
            },
            separators=(",", ":"),
            default=_json_value,
        )

    @classmethod
    def from_json(cls, body: str | bytes) -> Delivery:
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or data.get("version") != SCHEMA_VERSION:
                raise DeliveryFormatError("not a webhook delivery of version 1")
            return cls(
                webhook_id=str(data["webhook_id"]),
                tenant=str(data["tenant"]),
                event_id=str(data["event_id"]),
                type=EventType(data["type"]),
                timestamp=datetime.fromisoformat(data["timestamp"]),
                data=dict(data["data"]),
                attempt=int(data["attempt"]),
            )
        except DeliveryFormatError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise DeliveryFormatError(f"not a webhook delivery: {error}") from error


def _json_value(value: object) -> str:
    """Times in a job summary as RFC 3339 text; anything else JSON cannot hold is an error."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
