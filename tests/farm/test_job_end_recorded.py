"""With real workers: the job's end is recorded by the worker that settles its last chunk, with
no status read at all, and the job's events arrive once each on the job-events queue."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from renderfarm import blob_layout as layout
from tests.farm.conftest import WAIT_S, Farm
from tests.services import ServiceBusEmulator, events_of

pytestmark = pytest.mark.timeout(180)


def stored_manifest(farm: Farm, job_id: str) -> dict[str, Any]:
    """The manifest blob itself: no API call, so no status read can have written anything."""
    try:
        return dict(json.loads(farm.jobs.download_blob(layout.manifest_blob(job_id)).readall()))
    except ResourceNotFoundError:
        return {}


def test_completion_is_recorded_by_the_worker_with_no_status_read(
    farm: Farm, scene_blend: Path, farm_bus: ServiceBusEmulator
) -> None:
    sha = farm.upload_scene(scene_blend)
    job_id = farm.submit(sha, frames="1-3", chunk_size=1)
    farm.start_worker()
    deadline = time.monotonic() + WAIT_S
    while stored_manifest(farm, job_id).get("outcome") is None:
        assert time.monotonic() < deadline, stored_manifest(farm, job_id)
        time.sleep(0.2)
    manifest = stored_manifest(farm, job_id)
    assert manifest["outcome"] == "completed"
    assert manifest["started_at"] <= manifest["finished_at"]
    settled = json.loads(farm.jobs.download_blob(layout.settled_blob(job_id)).readall())
    assert settled["chunks"] == "ddd"
    types = [event.type.value for event in events_of(farm_bus, job_id)]
    assert types == ["job.accepted", "job.started", "job.completed"]
