"""A job page's filmstrip shows frames as they land, in any order: preview-first sends the start,
the end and the middle of a shot before the rest."""

from __future__ import annotations

import functools
import uuid

from azure.storage.blob import BlobServiceClient
from fastapi.testclient import TestClient

from dashboard.views import spread
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.shared.settings import Settings
from renderfarm_azure.chunk_records import update_chunk_record
from testbed.scenes import whole_blend
from tests.api.conftest import auth, upload_scene
from tests.dashboard.conftest import sign_in


def as_written(record: ChunkRecord, _: ChunkRecord | None) -> ChunkRecord:
    return record


def test_a_sample_of_frames_spans_the_whole_shot_first_and_last_included() -> None:
    assert spread((1, 2, 3), 5) == (1, 2, 3)
    assert spread(tuple(range(1, 11)), 4) == (1, 4, 7, 10)
    sample = spread(tuple(range(1, 251)), 120)
    assert (len(sample), len(set(sample)), sample[0], sample[-1]) == (120, 120, 1, 250)
    assert sample == tuple(sorted(sample))


def test_the_filmstrip_of_a_long_shot_spans_frames_landed_out_of_order(
    client: TestClient, settings: Settings
) -> None:
    """Past its limit the filmstrip samples the whole shot, not only its first frames."""
    scene = upload_scene(client, whole_blend(b"BLENDER-v500", uuid.uuid4().bytes + b"\0" * 4096))
    response = client.post(
        "/api/jobs",
        json={"scene_sha256": scene, "frames": "1-250", "chunk_size": 50},
        headers=auth(),
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    jobs = service.get_container_client(settings.jobs_container)
    for index in (0, 4, 2):  # frames 1-50, 201-250 and 101-150, as preview-first sends them
        done = ChunkRecord(job_id=job_id, chunk_index=index, state=ChunkState.DONE, attempts=1)
        update_chunk_record(jobs, job_id, index, functools.partial(as_written, done))
    service.close()
    sign_in(client)
    page = client.get(f"/jobs/{job_id}").text
    assert page.count('alt="Frame ') == 120
    for frame in (1, 120, 250):  # the first, one in the middle, the last
        assert f'alt="Frame {frame}"' in page
    assert 'alt="Frame 60"' not in page  # a chunk not rendered yet
    assert "30 more frames are not shown" in page
