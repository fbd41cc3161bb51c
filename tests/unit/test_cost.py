"""The cost model's arithmetic, and the price table it reads."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from renderfarm.chunks.record import ChunkState, ChunkSummary
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs import cost
from renderfarm.jobs.cost import (
    CURRENT_PRICES,
    PRICES_DIR,
    JobUsage,
    PriceTable,
    current_prices,
    estimate,
    job_cost,
    operations,
)
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.spec import JobRequest
from renderfarm.jobs.status import job_status

T0 = datetime(2026, 1, 1, tzinfo=UTC)
INFRA = Path(__file__).resolve().parents[2] / "infra"
MAIN_BICEP = INFRA / "main.bicep"

#: Round prices, so each part of an estimate is easy to check by hand.
ROUND = PriceTable(
    version="test",
    as_of=date(2026, 1, 1),
    currency="USD",
    region="test",
    worker_vcpu=2,
    worker_memory_gib=4,
    usd_per_vcpu_second=0.01,
    usd_per_gib_second=0.001,
    usd_per_million_bus_operations=1.0,
    usd_per_gb_month=1.0,
    usd_per_10k_writes=1.0,
    usd_per_10k_reads=0.1,
    usd_per_10k_lists=1.0,
)


def usage(**fields: float) -> JobUsage:
    values: dict[str, float] = {
        "chunks": 2,
        "attempts": 3,
        "frames": 10,
        "worker_s": 100.0,
        "render_s": 80.0,
        "stored_bytes": 0,
        **fields,
    }
    return JobUsage(
        chunks=int(values["chunks"]),
        attempts=int(values["attempts"]),
        frames=int(values["frames"]),
        worker_s=values["worker_s"],
        render_s=values["render_s"],
        stored_bytes=int(values["stored_bytes"]),
    )


def test_compute_is_worker_seconds_times_the_replicas_vcpu_and_memory() -> None:
    result = estimate(usage(worker_s=100.0), ROUND)
    assert result.compute_usd == pytest.approx(100 * (2 * 0.01 + 4 * 0.001))
    assert result.worker_seconds == 100.0
    assert result.render_seconds == 80.0


def test_operations_follow_the_usage_model() -> None:
    ops = operations(usage(chunks=2, attempts=3, frames=10, worker_s=100.0))
    assert ops.bus == (
        2 * cost.SB_SENDS_PER_CHUNK
        + 3 * cost.SB_OPS_PER_ATTEMPT
        + 100 / cost.LOCK_RENEW_EVERY_S
        + cost.EVENTS_PER_JOB * cost.SB_OPS_PER_EVENT
    )
    assert ops.blob_writes == (
        10 * cost.BLOB_WRITES_PER_FRAME
        + 3 * cost.BLOB_WRITES_PER_ATTEMPT
        + cost.BLOB_WRITES_PER_JOB
    )
    assert ops.blob_reads == (
        10 * cost.BLOB_READS_PER_FRAME
        + 3 * cost.BLOB_READS_PER_ATTEMPT
        + 100 / cost.CANCEL_CHECK_EVERY_S
    )
    assert ops.blob_lists == 3 * cost.BLOB_LISTS_PER_ATTEMPT + cost.BLOB_LISTS_PER_JOB


def test_operations_are_priced_per_million_and_per_ten_thousand() -> None:
    used = usage()
    ops = operations(used)
    result = estimate(used, ROUND)
    assert result.bus_usd == pytest.approx(ops.bus / 1_000_000)
    assert result.blob_operations_usd == pytest.approx(
        (ops.blob_writes * 1.0 + ops.blob_reads * 0.1 + ops.blob_lists * 1.0) / 10_000
    )


def test_storage_is_the_frames_bytes_for_a_month() -> None:
    result = estimate(usage(stored_bytes=3 * 1024**3), ROUND)
    assert result.storage_usd == pytest.approx(3 * 1.0 * cost.STORAGE_MONTHS)


def test_total_and_per_frame() -> None:
    result = estimate(usage(frames=10, stored_bytes=1024**3), ROUND)
    parts = result.compute_usd + result.bus_usd + result.blob_operations_usd
    assert result.estimated_usd == pytest.approx(parts + result.storage_usd)
    assert result.usd_per_frame == pytest.approx(result.estimated_usd / 10)
    assert estimate(usage(frames=0), ROUND).usd_per_frame is None


def test_usage_adds_up_every_chunks_attempts_and_seconds() -> None:
    chunks = [
        (2, ChunkUsage(worker_s=10.0, render_s=8.0, uploaded_bytes=100)),
        (1, ChunkUsage(worker_s=5.0, render_s=4.0, uploaded_bytes=50)),
        (0, ChunkUsage()),  # never picked up: sent, nothing more
    ]
    assert JobUsage.of(chunks, frames=6) == JobUsage(
        chunks=3, attempts=3, frames=6, worker_s=15.0, render_s=12.0, stored_bytes=150
    )


def _manifest() -> JobManifest:
    spec = JobRequest(scene_sha256="d" * 64, frames="1-4", chunk_size=2).to_spec()
    return JobManifest.new(
        job_id="0" * 32,
        tenant="acme",
        spec=spec,
        created_at=T0,
        fingerprint="f",
        blender="5.3",
        scene_saved_by="5.3",
        blender_pinned=False,
    )


def test_a_jobs_cost_comes_from_its_chunk_summaries() -> None:
    timed = ChunkUsage(worker_s=30.0, render_s=20.0, uploaded_bytes=10_000)
    chunks = {
        0: ChunkSummary(state=ChunkState.DONE, attempts=1, usage=timed),
        1: ChunkSummary(state=ChunkState.DONE, attempts=2, usage=timed),
    }
    status = job_status(_manifest(), chunks=chunks, errors={}, frames_present={1, 2, 3, 4})
    result = job_cost(status, ROUND)
    assert result is not None
    assert result.worker_seconds == 60.0
    assert result.render_seconds == 40.0
    assert result.estimated_usd > 0
    assert result.usd_per_frame == pytest.approx(result.estimated_usd / 4)
    assert result.prices_as_of == ROUND.as_of


def test_no_cost_until_a_chunk_recorded_worker_time() -> None:
    chunks = {0: ChunkSummary(state=ChunkState.RENDERING, attempts=1)}
    status = job_status(_manifest(), chunks=chunks, errors={}, frames_present=set())
    assert job_cost(status, ROUND) is None


# --- the price table ---------------------------------------------------------------------------


def _table() -> dict[str, object]:
    data = json.loads((PRICES_DIR / CURRENT_PRICES).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_price_table_header_names_its_date_region_and_sources() -> None:
    data = _table()
    assert f"{data['version']}.json" == CURRENT_PRICES
    assert date.fromisoformat(str(data["as_of"])) <= datetime.now(UTC).date()
    assert data["currency"] == "USD"
    assert str(data["region"]).strip()
    sources = data["sources"]
    assert isinstance(sources, dict)
    assert set(sources) == {"container_apps", "service_bus", "blob_storage"}
    for urls in sources.values():
        assert urls and all(str(url).startswith("https://") for url in urls)
    notes = data["notes"]
    assert isinstance(notes, list) and notes


def test_the_price_table_reads_and_every_price_is_positive() -> None:
    table = current_prices()
    prices = [
        table.usd_per_vcpu_second,
        table.usd_per_gib_second,
        table.usd_per_million_bus_operations,
        table.usd_per_gb_month,
        table.usd_per_10k_writes,
        table.usd_per_10k_reads,
        table.usd_per_10k_lists,
    ]
    assert all(price > 0 for price in prices)
    assert table.worker_usd_per_second > 0


def _bicep_default(name: str) -> str:
    match = re.search(rf"^param {name} string = '([^']+)'", MAIN_BICEP.read_text(), re.MULTILINE)
    assert match, f"no string param {name} with a default in main.bicep"
    return match[1]


def test_the_price_tables_worker_is_the_size_the_bicep_deploys() -> None:
    """Change workerCpu or workerMemory and the cost model must change with them."""
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    cpu = {_bicep_default("workerCpu"), parameters["workerCpu"]["value"]}
    memory = {_bicep_default("workerMemory"), parameters["workerMemory"]["value"]}
    assert len(cpu) == 1 and len(memory) == 1, "the Bicep default and main.parameters.json differ"
    table = current_prices()
    assert float(cpu.pop()) == table.worker_vcpu
    (gib,) = memory
    assert gib.endswith("Gi")
    assert float(gib.removesuffix("Gi")) == table.worker_memory_gib


def test_a_jobs_estimate_is_its_attempts_added_to_its_own_costs() -> None:
    attempts = [
        (ChunkUsage(worker_s=10.0, render_s=8.0, uploaded_bytes=100), 2),
        (ChunkUsage(worker_s=7.5, render_s=4.0, uploaded_bytes=50), 1),
        (ChunkUsage(worker_s=3.25), 0),  # failed: nothing uploaded
    ]
    whole = estimate(
        JobUsage.of([(3, sum((u for u, _ in attempts), ChunkUsage()))], frames=3), ROUND
    )
    added = sum(cost.attempt_usd(u, frames=f, prices=ROUND) for u, f in attempts)
    assert added + cost.job_usd(chunks=1, prices=ROUND) == pytest.approx(whole.estimated_usd)
