"""Sending a project: ask which contents the farm lacks (in batches), upload only those, several
at a time with one progress over every byte; and the CLI's refusal of missing files."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from renderfarm_cli import main
from renderfarm_client import farm_api
from renderfarm_client.farm_api import FarmClient
from tests.http_stub import Reply, Seen, http_stub
from tests.projects import build_project


@dataclass(frozen=True, kw_only=True)
class File:
    path: str
    source: Path
    sha256: str
    size: int


def _files(folder: Path, count: int) -> list[File]:
    files = []
    for n in range(count):
        source = folder / f"f{n}.bin"
        source.write_bytes(f"file {n % 7}".encode() * 100)  # 7 distinct contents
        data = source.read_bytes()
        files.append(
            File(
                path=source.name,
                source=source,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
            )
        )
    return files


def test_the_farm_is_asked_in_batches_and_only_missing_contents_are_uploaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(farm_api, "MAX_HASHES_PER_CALL", 3)
    files = _files(tmp_path, 20)
    present = {files[0].sha256, files[1].sha256}

    def answer(seen: Seen) -> Reply:
        if seen.path == "/api/files/missing":
            asked = seen.json()["files"]
            missing = [e for e in asked if e["sha256"] not in present]
            return Reply(
                body={
                    "missing": [
                        {"sha256": e["sha256"], "upload_url": f"{stub.url}/blob/{e['sha256']}"}
                        for e in missing
                    ],
                    "present": len(asked) - len(missing),
                    "upload_method": "PUT",
                    "upload_headers": {"x-ms-blob-type": "BlockBlob"},
                    "expires_at": "2030-01-01T00:00:00Z",
                }
            )
        return Reply(status=201, body={})

    heard: list[tuple[int, int]] = []
    plans: list[farm_api.FilesSent] = []
    with http_stub(answer) as stub:
        client = FarmClient(api_url=stub.url, api_key="k")
        sent = client.ensure_files(
            files, on_plan=plans.append, on_progress=lambda d, t: heard.append((d, t))
        )
    asks = [s for s in stub.seen if s.path == "/api/files/missing"]
    puts = [s for s in stub.seen if s.method == "PUT"]
    assert [len(s.json()["files"]) for s in asks] == [3, 3, 1]  # 7 contents, 3 a call
    assert sent == plans[0]
    assert sent == farm_api.FilesSent(files=20, new=5, new_bytes=5 * 600, present=2)
    assert sorted(s.path.rsplit("/", 1)[1] for s in puts) == sorted(
        {f.sha256 for f in files} - present
    )
    assert all(s.headers["x-ms-blob-type"] == "BlockBlob" for s in puts)
    assert all(s.headers.get("authorization") is None for s in puts)
    assert heard[0] == (0, 3000) and heard[-1] == (3000, 3000)
    assert all(total == 3000 for _, total in heard)


def test_submit_refuses_missing_files_naming_each_before_any_job_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = build_project(tmp_path)
    project.textures["wood"].unlink()
    shutil.rmtree(project.outside_dir)
    with http_stub(lambda seen: Reply(status=500)) as stub:
        code = main(
            ["--api-url", stub.url, "--api-key", "k", "submit", str(project.main), "--frames", "1"]
        )
    assert code == 1
    error = capsys.readouterr().err
    assert "2 files the scene uses are not on this machine" in error
    assert "textures/wood.png" in error
    assert "_outside/" in error and "outside.png" in error
    assert "--allow-missing" in error
    assert stub.seen == []


def test_submit_with_allow_missing_sends_the_missing_paths(tmp_path: Path) -> None:
    project = build_project(tmp_path)
    project.textures["wood"].unlink()

    def answer(seen: Seen) -> Reply:
        if seen.path == "/api/files/missing":
            return Reply(body={"missing": [], "present": 1, "upload_method": "PUT"})
        return Reply(
            status=201,
            body={"job_id": "j1", "frames_total": 1, "chunk_count": 1, "chunk_size": 1},
        )

    with http_stub(answer) as stub:
        code = main(
            [
                "--api-url", stub.url, "--api-key", "k", "submit", str(project.main),
                "--frames", "1", "--allow-missing",
            ]
        )  # fmt: skip
    assert code == 0
    job = next(s for s in stub.seen if s.path == "/api/jobs").json()
    assert "scene_sha256" not in job
    assert job["allow_missing"] is True
    assert job["files"]["main"] == "shot.blend"
    assert job["files"]["missing"] == ["textures/wood.png"]
    assert "lib/lib.blend" in {f["path"] for f in job["files"]["files"]}
