"""The clean-up of stored project files over Azurite: what no job has named within the time
kept goes, what a recent job names stays, and one-file scenes are never touched."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from azure.storage.blob import BlobServiceClient, ContainerClient
from fastapi.testclient import TestClient

from renderfarm.shared import blob_layout as layout
from renderfarm.shared.settings import Settings
from renderfarm_azure.project_gc import collect
from tests.api.conftest import upload_scene
from tests.api.test_projects import MAIN, TEXTURE, project_job, sha, submit, upload

#: Apart enough that last-modified times in whole seconds (Azurite's) tell them apart.
GAP_S = 3.0


def scenes(settings: Settings) -> ContainerClient:
    assert settings.storage_connection_string
    service = BlobServiceClient.from_connection_string(settings.storage_connection_string)
    return service.get_container_client(settings.scenes_container)


def stored(container: ContainerClient) -> set[str]:
    return {blob.name for blob in container.list_blobs()}


def test_files_no_recent_job_names_are_deleted_and_the_rest_kept(
    client: TestClient, settings: Settings
) -> None:
    named = {"shot.blend": MAIN, "textures/wood.png": TEXTURE}
    forgotten = {"textures/old.png": b"a texture no job names any more"}
    upload(client, named | forgotten)
    scene = upload_scene(client)
    time.sleep(GAP_S)
    # The clean-up's "now" is taken before the job: however long its submission takes under
    # load, the file set it writes is at most Azurite's one-second rounding old, well inside
    # what is kept, while the files uploaded before the gap are outside it.
    now = datetime.now(UTC)
    # A job names the project now: its files were uploaded before, but the set is recent.
    assert submit(client, project_job(named)).status_code == 202
    container = scenes(settings)

    report = collect(container, now=now, keep=timedelta(seconds=GAP_S - 1))

    left = stored(container)
    assert layout.file_blob("acme", sha(forgotten["textures/old.png"])) not in left
    assert {layout.file_blob("acme", sha(data)) for data in named.values()} <= left
    assert layout.scene_blob("acme", scene) in left  # one-file scenes are not project files
    assert (report.files_deleted, report.file_sets_deleted, report.files_kept) == (1, 0, 2)
    assert report.bytes_deleted == len(forgotten["textures/old.png"])


def test_once_no_job_named_a_project_for_the_time_kept_it_all_goes(
    client: TestClient, settings: Settings
) -> None:
    named = {"shot.blend": MAIN, "textures/wood.png": TEXTURE}
    upload(client, named)
    assert submit(client, project_job(named)).status_code == 202
    container = scenes(settings)
    later = datetime.now(UTC) + timedelta(days=31)

    report = collect(container, now=later, keep=timedelta(days=30))

    assert (report.files_deleted, report.file_sets_deleted) == (2, 1)
    assert not any("/files/" in name or "/filesets/" in name for name in stored(container))
    # Gone from the farm: the next submit uploads them again.
    assert upload(client, named) == 2
