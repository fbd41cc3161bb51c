"""The worker records each chunk's worker seconds, and the status prices them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from renderfarm.chunks.record import ChunkRecord, ChunkState, ChunkSummary
from renderfarm.shared import blob_layout as layout
from tests.farm.conftest import Farm

pytestmark = pytest.mark.timeout(180)


def every_chunk_recorded_done(farm: Farm, job_id: str) -> Any:
    """True once each chunk's record says done (it is written after the chunk's last frame)."""

    def check(status: dict[str, Any]) -> bool:
        summaries = [
            ChunkSummary.from_metadata(blob.metadata or {})
            for blob in farm.jobs.list_blobs(
                name_starts_with=layout.chunks_prefix(job_id), include=["metadata"]
            )
        ]
        return len(summaries) == len(status["chunks"]) and all(
            summary is not None and summary.state is ChunkState.DONE for summary in summaries
        )

    return check


def test_each_chunk_records_its_worker_seconds_and_the_status_has_a_cost(
    farm: Farm, scene_blend: Path
) -> None:
    sha = farm.upload_scene(scene_blend)
    job = farm.submit(sha, frames="1-4", chunk_size=2)
    farm.start_worker()
    status = farm.wait_for(job, every_chunk_recorded_done(farm, job))

    usages = [
        ChunkRecord.from_json(
            farm.jobs.download_blob(layout.chunk_blob(job, chunk)).readall()
        ).usage
        for chunk in range(2)
    ]
    for usage in usages:
        assert usage.worker_s > 0
        assert 0 < usage.render_s <= usage.worker_s
        assert usage.upload_s > 0
        assert usage.uploaded_bytes > 0  # two frames and their thumbnails
    # The replica downloads the scene once; the second chunk finds it in its cache.
    assert sum(usage.download_s for usage in usages) > 0
    # It opens the scene once too: the next chunk of the same scene and settings finds it open.
    assert sorted(usage.open_s > 0 for usage in usages) == [False, True], usages

    cost = status["cost"]
    assert cost is not None
    assert cost["estimated_usd"] > 0
    assert cost["usd_per_frame"] > 0
    assert cost["render_seconds"] <= cost["worker_seconds"]
