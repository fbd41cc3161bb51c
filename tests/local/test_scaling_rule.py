"""KEDA's azure-servicebus rule, decision by decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from renderfarm_local.scaling_rule import (
    ScaleRule,
    ScalingConfigError,
    ScalingParameters,
    hpa_replicas,
    is_active,
)
from renderfarm_local.services import SCALING_CONFIG


def params(**overrides: float) -> ScalingParameters:
    fields: dict[str, float] = {
        "min_replicas": 0,
        "max_replicas": 10,
        "message_count": 5,
        "activation_message_count": 0,
        "polling_interval_s": 5,
        "cooldown_period_s": 60,
        "scale_down_stabilization_s": 0,
        **overrides,
    }
    return ScalingParameters(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("active", "replicas"), [(1, 1), (5, 1), (6, 2), (10, 2), (11, 3), (49, 10), (500, 10)]
)
def test_replicas_are_active_messages_over_message_count_rounded_up_and_capped(
    active: int, replicas: int
) -> None:
    assert hpa_replicas(active, params()) == replicas


def test_min_replicas_is_a_floor_even_with_an_empty_queue() -> None:
    assert hpa_replicas(0, params(min_replicas=2)) == 2
    assert (
        ScaleRule(params=params(min_replicas=2)).decide(
            now=0, active_messages=0, current_replicas=0
        )
        == 2
    )


def test_activation_threshold_keeps_a_farm_at_zero_until_the_backlog_exceeds_it() -> None:
    rule = ScaleRule(params=params(activation_message_count=3))
    assert not is_active(3, rule.params)
    assert rule.decide(now=0, active_messages=3, current_replicas=0) == 0
    assert rule.decide(now=5, active_messages=4, current_replicas=0) == 1


def test_one_message_wakes_a_farm_with_activation_zero() -> None:
    rule = ScaleRule(params=params())
    assert rule.decide(now=0, active_messages=0, current_replicas=0) == 0
    assert rule.decide(now=5, active_messages=1, current_replicas=0) == 1


def test_an_idle_farm_keeps_one_replica_until_the_cooldown_has_passed() -> None:
    rule = ScaleRule(params=params(cooldown_period_s=60))
    assert rule.decide(now=0, active_messages=12, current_replicas=0) == 3
    assert rule.decide(now=5, active_messages=0, current_replicas=3) == 1
    assert rule.decide(now=59.9, active_messages=0, current_replicas=1) == 1
    assert rule.decide(now=60, active_messages=0, current_replicas=1) == 0


def test_cooldown_counts_from_the_last_poll_that_saw_messages() -> None:
    rule = ScaleRule(params=params(cooldown_period_s=60))
    rule.decide(now=0, active_messages=1, current_replicas=0)
    rule.decide(now=50, active_messages=1, current_replicas=1)
    assert rule.decide(now=100, active_messages=0, current_replicas=1) == 1
    assert rule.decide(now=110, active_messages=0, current_replicas=1) == 0


def test_scale_in_waits_out_the_stabilization_window_but_scale_out_is_immediate() -> None:
    rule = ScaleRule(params=params(message_count=1, scale_down_stabilization_s=30))
    assert rule.decide(now=0, active_messages=4, current_replicas=0) == 4
    assert rule.decide(now=10, active_messages=2, current_replicas=4) == 4
    assert rule.decide(now=20, active_messages=6, current_replicas=4) == 6
    assert rule.decide(now=45, active_messages=2, current_replicas=6) == 6
    assert rule.decide(now=51, active_messages=2, current_replicas=6) == 2


def test_a_farm_at_zero_with_nothing_to_do_stays_at_zero() -> None:
    rule = ScaleRule(params=params())
    assert [rule.decide(now=t, active_messages=0, current_replicas=0) for t in (0, 5, 10)] == [
        0,
        0,
        0,
    ]


def test_parameters_are_read_from_the_file_the_bicep_reads() -> None:
    loaded = ScalingParameters.load(SCALING_CONFIG)
    data = json.loads(SCALING_CONFIG.read_text())
    assert loaded.max_replicas == data["maxReplicas"]
    assert loaded.message_count == data["messageCount"]
    assert loaded.cooldown_period_s == data["cooldownPeriod"]
    assert loaded.polling_interval_s == data["pollingInterval"]


def test_a_scaling_file_without_a_field_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "scaling.json"
    path.write_text(json.dumps({"minReplicas": 0, "maxReplicas": 3}))
    with pytest.raises(ScalingConfigError, match="messageCount"):
        ScalingParameters.load(path)


def test_impossible_parameters_are_refused() -> None:
    with pytest.raises(ScalingConfigError):
        params(message_count=0)
    with pytest.raises(ScalingConfigError):
        params(min_replicas=4, max_replicas=3)
