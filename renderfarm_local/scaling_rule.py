"""KEDA's azure-servicebus scale rule as pure logic: queue depth in, replica count out.

KEDA does two things. While the scaler is *active* (more active messages than
``activationMessageCount``) the HPA sets ``ceil(active / messageCount)`` replicas between
``max(minReplicas, 1)`` and ``maxReplicas``; the HPA scales in only to the highest count it
recommended during its scale-down stabilization window (300 s in Kubernetes), so a backlog that
is draining does not stop busy workers. Once the scaler has been inactive for
``cooldownPeriod`` seconds, KEDA itself sets ``minReplicas`` (zero here). From zero it waits
for activation. Service Bus counts locked messages as active, so a busy worker keeps itself up.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Kubernetes' default ``behavior.scaleDown.stabilizationWindowSeconds``.
HPA_SCALE_DOWN_STABILIZATION_S = 300.0


class ScalingConfigError(ValueError):
    """infra/scaling.json is missing a field or holds a value KEDA would refuse."""


@dataclass(frozen=True, kw_only=True)
class ScalingParameters:
    """The scale rule's parameters, named as in infra/scaling.json (seconds as floats)."""

    min_replicas: int
    max_replicas: int
    message_count: int
    activation_message_count: int
    polling_interval_s: float
    cooldown_period_s: float
    scale_down_stabilization_s: float = HPA_SCALE_DOWN_STABILIZATION_S

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ScalingConfigError("need 0 <= minReplicas <= maxReplicas and maxReplicas >= 1")
        if self.message_count < 1 or self.activation_message_count < 0:
            raise ScalingConfigError("need messageCount >= 1 and activationMessageCount >= 0")
        if self.polling_interval_s <= 0 or self.cooldown_period_s < 0:
            raise ScalingConfigError("need pollingInterval > 0 and cooldownPeriod >= 0")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScalingParameters:
        try:
            return cls(
                min_replicas=int(data["minReplicas"]),
                max_replicas=int(data["maxReplicas"]),
                message_count=int(data["messageCount"]),
                activation_message_count=int(data["activationMessageCount"]),
                polling_interval_s=float(data["pollingInterval"]),
                cooldown_period_s=float(data["cooldownPeriod"]),
            )
        except KeyError as missing:
            raise ScalingConfigError(f"scaling config lacks {missing.args[0]}") from None
        except (TypeError, ValueError) as error:
            raise ScalingConfigError(f"scaling config value is not a number: {error}") from None

    @classmethod
    def load(cls, path: Path) -> ScalingParameters:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ScalingConfigError(f"cannot read {path}: {error}") from None
        return cls.from_json(data)


def is_active(active_messages: int, params: ScalingParameters) -> bool:
    """KEDA's activation: the scaler wakes only above ``activationMessageCount``."""
    return active_messages > params.activation_message_count


def hpa_replicas(active_messages: int, params: ScalingParameters) -> int:
    """The HPA's target for an average of ``messageCount`` messages per replica."""
    wanted = math.ceil(active_messages / params.message_count)
    return max(params.min_replicas, 1, min(params.max_replicas, wanted))


@dataclass(kw_only=True)
class ScaleRule:
    """Feed it one observation per polling interval; it answers the replica count to run."""

    params: ScalingParameters
    last_active_at: float | None = None
    _recommendations: deque[tuple[float, int]] = field(default_factory=deque)

    def decide(self, *, now: float, active_messages: int, current_replicas: int) -> int:
        if is_active(active_messages, self.params):
            self.last_active_at = now
            return self._stabilized(now, hpa_replicas(active_messages, self.params))
        if self.params.min_replicas > 0:
            return self._stabilized(now, hpa_replicas(active_messages, self.params))
        cooled = (
            self.last_active_at is None
            or now - self.last_active_at >= self.params.cooldown_period_s
        )
        if current_replicas == 0 or cooled:
            self._recommendations.clear()  # KEDA scales to zero itself, past the HPA
            return 0
        return self._stabilized(now, hpa_replicas(active_messages, self.params))

    def _stabilized(self, now: float, recommended: int) -> int:
        """The highest recommendation within the stabilization window (scale-out is at once)."""
        window = self.params.scale_down_stabilization_s
        self._recommendations.append((now, recommended))
        while self._recommendations and self._recommendations[0][0] < now - window:
            self._recommendations.popleft()
        return max(count for _, count in self._recommendations)
