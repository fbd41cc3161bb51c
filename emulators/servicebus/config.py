"""The emulator's configuration, in the JSON schema of Microsoft's Service Bus emulator.

The same file works with Microsoft's Docker emulator: ``UserConfig.Namespaces[].Queues[]`` with
``Properties`` named as in the Azure Resource Manager API. Missing properties take Azure's defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import isodate

BUNDLED_CONFIG = Path(__file__).with_name("config.json")
DEAD_LETTER_SUFFIX = "/$deadletterqueue"

#: Durations Azure accepts for a queue, bounded as Azure bounds them.
MAX_LOCK_DURATION_MS = 5 * 60 * 1000
#: Azure's "TimeSpan.MaxValue" stands for "never expires"; anything this long is treated so.
_NEVER_MS = 10 * 365 * 24 * 3600 * 1000


class ConfigError(ValueError):
    """The configuration file is not a valid Service Bus emulator config."""


@dataclass(frozen=True, kw_only=True)
class QueueConfig:
    name: str
    lock_duration_ms: int = 60_000
    max_delivery_count: int = 10
    default_ttl_ms: int | None = None  # None: messages never expire
    dead_letter_on_expiration: bool = False
    requires_duplicate_detection: bool = False
    duplicate_window_ms: int = 10 * 60 * 1000


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    namespace: str
    queues: tuple[QueueConfig, ...]


def _duration_ms(value: Any, field: str) -> int:
    try:
        duration = isodate.parse_duration(str(value))
    except (isodate.ISO8601Error, ValueError) as error:
        raise ConfigError(f"{field}: {value!r} is not an ISO 8601 duration") from error
    if not isinstance(duration, timedelta):
        raise ConfigError(f"{field}: {value!r} uses months or years; use days")
    return int(duration.total_seconds() * 1000)


def _queue(raw: Any) -> QueueConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"a queue must be an object, not {raw!r}")
    name = raw.get("Name")
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigError(f"queue name {name!r} is not valid")
    props: dict[str, Any] = raw.get("Properties") or {}
    if not isinstance(props, dict):
        raise ConfigError(f"queue {name!r}: Properties must be an object")
    where = f"queue {name!r}"
    if props.get("RequiresSession"):
        raise ConfigError(f"{where}: sessions are not supported by this emulator")
    lock_ms = _duration_ms(props.get("LockDuration", "PT1M"), f"{where} LockDuration")
    if not 0 < lock_ms <= MAX_LOCK_DURATION_MS:
        raise ConfigError(f"{where}: LockDuration must be between 0 and 5 minutes")
    max_delivery = props.get("MaxDeliveryCount", 10)
    if not isinstance(max_delivery, int) or isinstance(max_delivery, bool) or max_delivery < 1:
        raise ConfigError(f"{where}: MaxDeliveryCount must be a whole number, at least 1")
    ttl_ms: int | None = None
    if "DefaultMessageTimeToLive" in props:
        ttl_ms = _duration_ms(
            props["DefaultMessageTimeToLive"], f"{where} DefaultMessageTimeToLive"
        )
        ttl_ms = None if ttl_ms >= _NEVER_MS else ttl_ms
    window = props.get("DuplicateDetectionHistoryTimeWindow", "PT10M")
    return QueueConfig(
        name=name,
        lock_duration_ms=lock_ms,
        max_delivery_count=max_delivery,
        default_ttl_ms=ttl_ms,
        dead_letter_on_expiration=bool(props.get("DeadLetteringOnMessageExpiration", False)),
        requires_duplicate_detection=bool(props.get("RequiresDuplicateDetection", False)),
        duplicate_window_ms=_duration_ms(window, f"{where} DuplicateDetectionHistoryTimeWindow"),
    )


def parse_config(document: dict[str, Any]) -> EmulatorConfig:
    try:
        namespaces = document["UserConfig"]["Namespaces"]
        namespace = namespaces[0]
    except (KeyError, IndexError, TypeError) as error:
        raise ConfigError("expected UserConfig.Namespaces[0]") from error
    if len(namespaces) != 1:
        raise ConfigError("the emulator serves exactly one namespace, as Microsoft's does")
    queues = tuple(_queue(raw) for raw in namespace.get("Queues") or [])
    names = [queue.name.lower() for queue in queues]
    if len(set(names)) != len(names):
        raise ConfigError("queue names must be unique (Service Bus compares them without case)")
    return EmulatorConfig(namespace=str(namespace.get("Name", "sbemulatorns")), queues=queues)


def load_config(path: Path = BUNDLED_CONFIG) -> EmulatorConfig:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    return parse_config(document)
