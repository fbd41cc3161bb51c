"""Reading the emulator's config, in the JSON schema of Microsoft's Service Bus emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emulators.servicebus.config import (
    BUNDLED_CONFIG,
    ConfigError,
    QueueConfig,
    load_config,
    parse_config,
)
from testbed.emulators import REPO, write_config


def queue(properties: dict[str, Any], name: str = "q") -> QueueConfig:
    document = {
        "UserConfig": {
            "Namespaces": [{"Name": "ns", "Queues": [{"Name": name, "Properties": properties}]}]
        }
    }
    (only,) = parse_config(document).queues
    return only


def test_bundled_config_loads_one_render_chunks_queue_per_blender_pool_and_band() -> None:
    config = load_config(BUNDLED_CONFIG)
    assert config.namespace == "sbemulatorns"
    names = [q.name for q in config.queues]
    assert names == [
        *("render-chunks-5.3-high", "render-chunks-5.3", "render-chunks-5.3-low"),
        *("render-chunks-4.5-high", "render-chunks-4.5", "render-chunks-4.5-low"),
        *("job-events", "webhook-deliveries"),
    ]
    for chunks in config.queues:
        # A chunk's lock is shorter: a killed worker's chunk waits for it
        # (docs/reliability.md "Lock duration and renewal").
        is_chunks = chunks.name.startswith("render-chunks")
        assert chunks.lock_duration_ms == (30_000 if is_chunks else 60_000)
        assert chunks.max_delivery_count == (5 if is_chunks else 10)
        assert chunks.default_ttl_ms == 14 * 24 * 3600 * 1000
        assert chunks.dead_letter_on_expiration
        assert chunks.requires_duplicate_detection
        assert chunks.duplicate_window_ms == 10 * 60 * 1000


def test_a_queue_name_with_a_dot_is_accepted_as_service_bus_allows() -> None:
    # Service Bus queue names allow letters, digits, '.', '-', '_' (and '/' for paths).
    assert queue({}, name="render-chunks-5.3").name == "render-chunks-5.3"


@pytest.mark.parametrize(
    ("duration", "ms"),
    [("PT1M", 60_000), ("PT5M", 300_000), ("PT30S", 30_000), ("PT0.5S", 500)],
)
def test_lock_duration_reads_iso_8601(duration: str, ms: int) -> None:
    assert queue({"LockDuration": duration}).lock_duration_ms == ms


def test_fourteen_days_time_to_live_reads_as_days() -> None:
    assert queue({"DefaultMessageTimeToLive": "P14D"}).default_ttl_ms == 14 * 86_400_000


def test_timespan_max_time_to_live_means_never_expires() -> None:
    ttl = queue({"DefaultMessageTimeToLive": "P10675199DT2H48M5.4775807S"}).default_ttl_ms
    assert ttl is None


def test_missing_properties_take_azure_defaults() -> None:
    assert queue({}) == QueueConfig(
        name="q",
        lock_duration_ms=60_000,
        max_delivery_count=10,
        default_ttl_ms=None,
        dead_letter_on_expiration=False,
        requires_duplicate_detection=False,
        duplicate_window_ms=600_000,
    )


def test_a_queue_without_properties_takes_azure_defaults() -> None:
    document = {"UserConfig": {"Namespaces": [{"Name": "ns", "Queues": [{"Name": "bare"}]}]}}
    (bare,) = parse_config(document).queues
    assert bare == QueueConfig(name="bare")


def test_write_config_output_round_trips(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.json", {"a": {"MaxDeliveryCount": 3}, "b": {}})
    config = load_config(path)
    assert [(q.name, q.max_delivery_count) for q in config.queues] == [("a", 3), ("b", 10)]


def test_bad_json_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{ not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot read .*broken\.json"):
        load_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"LockDuration": "one minute"}, "LockDuration: 'one minute' is not an ISO 8601"),
        ({"LockDuration": "P1M"}, "months or years"),
        ({"LockDuration": "PT10M"}, "between 0 and 5 minutes"),
        ({"DefaultMessageTimeToLive": "soon"}, "DefaultMessageTimeToLive"),
        ({"DuplicateDetectionHistoryTimeWindow": "x"}, "DuplicateDetectionHistoryTimeWindow"),
        ({"MaxDeliveryCount": 0}, "MaxDeliveryCount must be a whole number, at least 1"),
        ({"MaxDeliveryCount": "ten"}, "MaxDeliveryCount must be a whole number"),
        ({"RequiresSession": True}, "sessions are not supported"),
    ],
)
def test_bad_queue_property_is_a_config_error_naming_queue_and_field(
    properties: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=f"queue 'q'.*{message}"):
        queue(properties)


def test_duplicate_queue_names_differing_only_in_case_are_refused() -> None:
    document = {
        "UserConfig": {
            "Namespaces": [{"Name": "ns", "Queues": [{"Name": "Jobs"}, {"Name": "jobs"}]}]
        }
    }
    with pytest.raises(ConfigError, match="queue names must be unique"):
        parse_config(document)


@pytest.mark.parametrize(
    "document",
    [{}, {"UserConfig": {}}, {"UserConfig": {"Namespaces": []}}, []],
)
def test_a_document_without_a_namespace_is_refused(document: Any) -> None:
    with pytest.raises(ConfigError, match=r"UserConfig\.Namespaces\[0\]"):
        parse_config(document)


def test_queue_properties_that_are_not_an_object_are_refused() -> None:
    document = {"UserConfig": {"Namespaces": [{"Queues": [{"Name": "q", "Properties": [1]}]}]}}
    with pytest.raises(ConfigError, match="Properties must be an object"):
        parse_config(document)


def test_two_namespaces_are_refused() -> None:
    document = {"UserConfig": {"Namespaces": [{"Name": "a"}, {"Name": "b"}]}}
    with pytest.raises(ConfigError, match="exactly one namespace"):
        parse_config(document)


@pytest.mark.parametrize("name", ["", "a/b", None, 7])
def test_invalid_queue_name_is_refused(name: Any) -> None:
    with pytest.raises(ConfigError, match="queue name"):
        queue({}, name=name)


def test_emulator_with_a_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "UserConfig": {
                    "Namespaces": [
                        {
                            "Name": "ns",
                            "Queues": [{"Name": "q", "Properties": {"RequiresSession": True}}],
                        }
                    ]
                }
            }
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulators.servicebus",
            "--config",
            str(path),
            "--port",
            "0",
            "--management-port",
            "0",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "sessions are not supported" in lines[0]
    assert result.stdout == ""
