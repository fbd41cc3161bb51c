"""The local farm's Azurite keeps every write it acknowledged through a SIGKILL
(emulators/azurite/durable_writes.js), as Azure Storage does."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from renderfarm_local import services
from renderfarm_local.supervisor import free_port, port_open

SAVE_INTERVAL_S = 5  # Azurite's own whole saves


class KillableAzurite:
    def __init__(self, location: Path):
        self.location = location
        self.port = free_port()
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        argv = services.azurite_spec(location=self.location, port=self.port).argv
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not port_open(self.port):
            assert process.poll() is None and time.monotonic() < deadline, "Azurite did not start"
            time.sleep(0.05)
        return process

    def kill_and_restart(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = self._start()

    def container(self) -> ContainerClient:
        service = BlobServiceClient.from_connection_string(
            services.azurite_connection_string(self.port)
        )
        return service.get_container_client("frames")


@pytest.fixture
def azurite(tmp_path: Path) -> Iterator[KillableAzurite]:
    running = KillableAzurite(tmp_path / "azurite")
    try:
        yield running
    finally:
        running.process.terminate()
        running.process.wait(10)


def test_writes_acknowledged_just_before_a_sigkill_survive_it(azurite: KillableAzurite) -> None:
    container = azurite.container()
    container.create_container()
    for n in range(30):
        container.upload_blob(f"{n:04d}.png", b"frame %d" % n)
    azurite.kill_and_restart()  # within Azurite's 5 s between whole saves
    names = [blob.name for blob in container.list_blobs()]
    assert names == [f"{n:04d}.png" for n in range(30)]
    assert container.download_blob("0029.png").readall() == b"frame 29"


def test_deletes_overwrites_and_metadata_survive_a_sigkill_after_a_save(
    azurite: KillableAzurite,
) -> None:
    container = azurite.container()
    container.create_container()
    for n in range(10):
        container.upload_blob(f"{n}.json", b"v1")
    time.sleep(SAVE_INTERVAL_S + 1)  # a whole save folds the journal so far
    for n in range(0, 10, 2):
        container.delete_blob(f"{n}.json")
    container.upload_blob("1.json", b"v2", overwrite=True)
    container.get_blob_client("3.json").set_blob_metadata({"state": "done"})
    azurite.kill_and_restart()
    azurite.kill_and_restart()  # and a second crash, after the replay
    assert [blob.name for blob in container.list_blobs()] == [f"{n}.json" for n in (1, 3, 5, 7, 9)]
    assert container.download_blob("1.json").readall() == b"v2"
    assert container.get_blob_client("3.json").get_blob_properties().metadata == {"state": "done"}
