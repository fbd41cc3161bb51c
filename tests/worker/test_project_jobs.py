"""Rendering a project (a file set): laid out from Blob on Azurite, opened by the real Blender,
checked for the files the scene uses, rendered or refused.

Each test writes its job's manifest, files and file set as the API does, then has one
ChunkRenderer render the chunk's message as the worker loop would hand it over.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from containerapp_worker.blend_cache import BlendCache
from containerapp_worker.blender_runner import BlenderRunner
from containerapp_worker.chunk_outcome import Outcome, Verdict
from containerapp_worker.chunk_renderer import ChunkRenderer
from containerapp_worker.project_cache import ProjectCache
from containerapp_worker.storage import WorkerStorage
from renderfarm.chunks.record import ChunkRecord, ChunkState
from renderfarm.jobs.chunk_messages import ChunkMessage
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.spec import JobSpec
from renderfarm.projects.file_set import FileEntry, FileSet
from renderfarm.shared import blob_layout as layout
from renderfarm.shared.redact import without_paths
from renderfarm.shared.render_settings import RenderSettings
from renderfarm_azure.chunk_records import read_chunk_record
from testbed.emulators import Azurite
from tests.worker import project_scenes
from tests.worker.project_scenes import CHECKER, LIBRARY, MAIN, WOOD

pytestmark = pytest.mark.timeout(120)
TENANT = "studio"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    project_scenes.build_project(root)
    return root


@dataclass(kw_only=True)
class Farm:
    """The scenes and jobs containers of one test, and a replica's ChunkRenderer."""

    scenes: ContainerClient
    jobs: ContainerClient
    chunks: ChunkRenderer
    root: Path

    def submit(
        self,
        paths: tuple[str, ...],
        *,
        allow_missing: bool = False,
        frames: tuple[int, ...] = (1,),
        stored: dict[str, bytes] | None = None,
    ) -> tuple[ChunkMessage, ...]:
        """A job of the project's ``paths``, its files uploaded (``stored`` overrides what a
        path's blob holds, keeping the hash of the real file), as the API leaves it."""
        stored = stored or {}
        entries = []
        for path in paths:
            data = (self.root / path).read_bytes()
            entries.append(FileEntry(path=path, sha256=sha(data), size=len(data)))
            self.scenes.upload_blob(
                layout.file_blob(TENANT, sha(data)), stored.get(path, data), overwrite=True
            )
        file_set = FileSet.of(main=MAIN, files=entries)
        self.scenes.upload_blob(
            layout.file_set_blob(TENANT, file_set.sha256), file_set.to_json(), overwrite=True
        )
        spec = JobSpec(
            scene_sha256=file_set.main_entry.sha256,
            frames=frames,
            render=RenderSettings(),
            chunk_size=1,
            priority=5,
            file_set=file_set.ref(),
            allow_missing=allow_missing,
        )
        manifest = JobManifest.new(
            job_id=uuid.uuid4().hex,
            tenant=TENANT,
            spec=spec,
            created_at=datetime.now(UTC),
            fingerprint="test",
            blender="5.3",
            scene_saved_by="5.3",
            blender_pinned=False,
        )
        assert self.chunks.storage.jobs.manifests.create_manifest(manifest) is not None
        return manifest.messages()

    def render(self, message: ChunkMessage) -> Outcome:
        return self.chunks.render(message, lock_lost=threading.Event())

    def record(self, message: ChunkMessage) -> ChunkRecord:
        record = read_chunk_record(self.jobs, message.job_id, message.chunk_index)[0]
        assert record is not None
        return record

    def manifest(self, job_id: str) -> JobManifest:
        return JobManifest.from_json(
            self.jobs.download_blob(layout.manifest_blob(job_id)).readall()
        )


@pytest.fixture
def farm(
    azurite: Azurite, runner: BlenderRunner, project_root: Path, tmp_path: Path
) -> Iterator[Farm]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    suffix = uuid.uuid4().hex[:10]
    scenes = service.create_container(f"scenes-{suffix}")
    jobs = service.create_container(f"jobs-{suffix}")
    storage = WorkerStorage(service, scenes=scenes.container_name, jobs=jobs.container_name)
    chunks = ChunkRenderer(
        storage=storage,
        cache=BlendCache(tmp_path / "cache", max_bytes=10**9),
        projects=ProjectCache(tmp_path / "cache" / "_projects", max_bytes=10**9, store=storage),
        renderer=runner,
        worker_id="test-projects",
        blender_version="5.3.0",
        stop_requested=threading.Event(),
    )
    yield Farm(scenes=scenes, jobs=jobs, chunks=chunks, root=project_root)
    scenes.delete_container()
    jobs.delete_container()


def test_a_whole_project_renders_from_its_laid_out_folder(farm: Farm) -> None:
    (message,) = farm.submit(project_scenes.PATHS)

    outcome = farm.render(message)

    assert outcome.verdict is Verdict.COMPLETE, outcome
    assert farm.record(message).state is ChunkState.DONE
    assert farm.jobs.get_blob_client(layout.frame_blob(message.job_id, 1, "png")).exists()


def test_a_texture_missing_from_the_project_fails_the_chunk_naming_it(farm: Farm) -> None:
    (message,) = farm.submit((MAIN, LIBRARY, WOOD))

    outcome = farm.render(message)

    assert (outcome.verdict, outcome.reason) == (Verdict.DEAD_LETTER, "MissingFiles")
    assert outcome.description == f"the scene uses files that are missing: {CHECKER}"
    record = farm.record(message)
    assert record.state is ChunkState.FAILED
    assert record.last_error == f"MissingFiles: the scene uses files that are missing: {CHECKER}"
    assert "_projects" not in record.log_tail and "/jobs/" not in record.log_tail
    assert "Read library: 'lib/props.blend'" in record.log_tail, "named by its project path"


def test_a_project_path_survives_the_redaction_of_the_workers_folders() -> None:
    text = "missing: textures/checker.png, lib/wood.png in /var/cache/renderfarm/a/shot.blend"
    assert without_paths(text) == "missing: textures/checker.png, lib/wood.png in shot.blend"


def test_files_missing_from_a_library_are_named_by_their_project_paths(farm: Farm) -> None:
    """lib/props.blend names its texture //wood.png, relative to itself."""
    (message,) = farm.submit((MAIN, LIBRARY))

    outcome = farm.render(message)

    assert outcome.reason == "MissingFiles"
    assert outcome.description.endswith(f": {WOOD}, {CHECKER}")


def test_a_missing_library_fails_the_chunk_naming_it(farm: Farm) -> None:
    (message,) = farm.submit((MAIN, CHECKER, WOOD))

    outcome = farm.render(message)

    assert outcome.reason == "MissingFiles"
    assert LIBRARY in outcome.description


def test_with_allow_missing_the_job_renders_and_warns_once_of_its_missing_files(
    farm: Farm,
) -> None:
    first, second = farm.submit((MAIN, LIBRARY, WOOD), allow_missing=True, frames=(1, 2))

    outcomes = [farm.render(first), farm.render(second)]

    assert [outcome.verdict for outcome in outcomes] == [Verdict.COMPLETE] * 2
    manifest = farm.manifest(first.job_id)
    assert manifest.warnings == (f"missing file: {CHECKER}",)
    assert first.job_id in farm.chunks._missing_files._warned


def test_a_warning_already_in_the_manifest_is_not_written_again(farm: Farm) -> None:
    (message,) = farm.submit((MAIN, LIBRARY, WOOD), allow_missing=True)
    blob = farm.jobs.get_blob_client(layout.manifest_blob(message.job_id))
    manifest = JobManifest.from_json(blob.download_blob().readall())
    blob.upload_blob(manifest.warned((f"missing file: {CHECKER}",)).to_json(), overwrite=True)
    etag = blob.get_blob_properties().etag

    assert farm.render(message).verdict is Verdict.COMPLETE

    assert blob.get_blob_properties().etag == etag


def test_a_file_whose_bytes_differ_from_its_hash_fails_naming_it_and_its_blob_is_deleted(
    farm: Farm,
) -> None:
    (message,) = farm.submit(project_scenes.PATHS, stored={WOOD: b"not the wood texture"})

    outcome = farm.render(message)

    assert (outcome.verdict, outcome.reason) == (Verdict.DEAD_LETTER, "FileMismatch")
    assert WOOD in outcome.description
    wood = sha((farm.root / WOOD).read_bytes())
    assert wood not in outcome.description
    assert farm.record(message).last_error == f"FileMismatch: {outcome.description}"
    with pytest.raises(ResourceNotFoundError):
        farm.scenes.get_blob_client(layout.file_blob(TENANT, wood)).get_blob_properties()
