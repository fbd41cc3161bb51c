"""With real workers: the job's end is recorded by the worker that settles its last chunk, with
no status read at all, and the job's events arrive once each on the job-events queue."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from renderfarm.jobs.end import FANOUT
from renderfarm.shared import blob_layout as layout
from testbed.emulators import ServiceBusEmulator
from tests.farm.conftest import WAIT_S, Farm
from tests.services import events_of

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
    # The ledger tree: a marker per chunk, and the root that the last settler wrote.
    chunks = farm.jobs.list_blobs(name_starts_with=f"{job_id}/settled/0/", include=["metadata"])
    assert sorted((item.name, item.metadata["code"]) for item in chunks) == [
        (layout.ledger_node_blob(job_id, 0, index, fanout=FANOUT), "d") for index in range(3)
    ]
    root = farm.jobs.get_blob_client(layout.ledger_node_blob(job_id, 1, 0, fanout=FANOUT))
    assert root.get_blob_properties().metadata["code"] == "d"
    types = [event.type.value for event in events_of(farm_bus, job_id)]
    assert types == ["job.accepted", "job.started", "job.completed"]
