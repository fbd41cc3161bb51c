"""The Farm page's facts: each pool's queue counts (the QueueMonitor port) and, in the local
farm, the replicas its autoscalers see (a JSON file they write, named by a setting)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class PoolReplicas:
    blender: str
    replicas: int
    min_replicas: int
    max_replicas: int
    active_messages: int
    started: int
    depth_error: str | None


@dataclass(frozen=True, kw_only=True)
class LocalReplicas:
    written_at: str
    pools: tuple[PoolReplicas, ...]


def read_replicas(path: str | None) -> LocalReplicas | None:
    """The autoscalers' last word; None outside the local farm or before their first poll."""
    if not path:
        return None
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return LocalReplicas(
            written_at=str(data["written_at"]),
            pools=tuple(
                PoolReplicas(
                    blender=str(pool["blender"]),
                    replicas=int(pool["replicas"]),
                    min_replicas=int(pool["min_replicas"]),
                    max_replicas=int(pool["max_replicas"]),
                    active_messages=int(pool["active_messages"]),
                    started=int(pool["started"]),
                    depth_error=pool.get("depth_error"),
                )
                for pool in data["pools"]
            ),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
