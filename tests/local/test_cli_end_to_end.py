"""The ``renderfarm`` command against the whole local farm: real Blender workers, tiny scenes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from testbed.scenes import FRAMES, SIZE, build_cameraless_scene, build_cycles_scene
from tests.local.conftest import RunningFarm
from tests.openapi_shapes import assert_fits, served_document

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
JOB_LINE = re.compile(r"^([0-9a-f]{32})$", re.MULTILINE)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cycles_scene(tmp_path_factory.mktemp("scenes") / "moving-square.blend")


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert lines[-1].startswith("error: ")
    return lines[-1]


def test_submit_wait_downloads_every_frame_and_writes_previews_and_a_summary(
    local_farm: RunningFarm, scene: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = local_farm.cli(
        "submit", str(scene), "--frames", "1-3", "--chunk-size", "2", "--wait", "--out", str(out)
    )
    assert result.code == 0, result.stderr
    frames = sorted((out / "frames").iterdir())
    assert [path.name for path in frames] == [f"{frame:06d}.png" for frame in FRAMES]
    with Image.open(frames[0]) as image:
        assert image.size == (SIZE, SIZE)
    # Built by the farm when the job completed (its events consumer), then downloaded.
    assert (out / "contact-sheet.png").is_file()
    assert (out / "preview.mp4").is_file()
    assert "(by the farm)" in result.stdout
    assert re.search(r"^cost\s+\$\d+\.\d+ per frame", result.stdout, re.MULTILINE)
    assert re.search(r"^1 file, [01] new \([\d.]+ MB\)", result.stderr, re.MULTILINE)
    assert re.search(r"^overhead\s+\d+\.\d s", result.stdout, re.MULTILINE)
    assert re.search(r"^frames\s+3$", result.stdout, re.MULTILINE)


def test_a_scene_the_farm_has_is_not_uploaded_again_and_a_job_can_be_cancelled(
    local_farm: RunningFarm, scene: Path
) -> None:
    assert local_farm.cli("submit", str(scene), "--frames", "1").code == 0
    # Long enough (frame numbers past the animation still render) that the cancel comes first.
    submitted = local_farm.cli(
        "submit", str(scene), "--frames", "1-400", "--chunk-size", "200", "--samples", "64"
    )
    assert submitted.code == 0, submitted.stderr
    assert "1 file, 0 new (0.0 MB), 1 already on the farm" in submitted.stderr
    job_id = JOB_LINE.search(submitted.stdout)
    assert job_id is not None
    cancelled = local_farm.cli("cancel", job_id[1])
    assert cancelled.code == 0, cancelled.stderr
    assert f"job {job_id[1]}: cancelled" in cancelled.stdout
    status = local_farm.cli("status", job_id[1])
    assert f"job {job_id[1]}: cancelled" in status.stdout
    listed = local_farm.cli("jobs")
    assert job_id[1] in listed.stdout


def test_download_fetches_the_frames_of_a_finished_job(
    local_farm: RunningFarm, scene: Path, tmp_path: Path
) -> None:
    rendered = local_farm.cli(
        "submit", str(scene), "--frames", "2", "--wait", "--out", str(tmp_path / "first")
    )
    assert rendered.code == 0, rendered.stderr
    job_id = re.search(r"job ([0-9a-f]{32})", rendered.stderr)
    assert job_id is not None
    again = local_farm.cli("download", job_id[1], "--out", str(tmp_path / "again"))
    assert again.code == 0, again.stderr
    assert [p.name for p in (tmp_path / "again" / "frames").iterdir()] == ["000002.png"]


def test_a_failing_job_names_its_chunk_and_reason_in_one_line(
    local_farm: RunningFarm, tmp_path: Path
) -> None:
    cameraless = build_cameraless_scene(tmp_path / "cameraless.blend")
    result = local_farm.cli("submit", str(cameraless), "--frames", "1-2", "--wait")
    assert result.code == 1
    line = _one_error_line(result.stderr)
    assert re.match(r"error: job [0-9a-f]{32} failed: chunk 0 after \d+ attempts: .+", line), line


def test_a_wrong_key_is_one_line_and_exit_1(local_farm: RunningFarm) -> None:
    result = local_farm.cli("jobs", key="rf_not-a-key")
    assert result.code == 1
    assert _one_error_line(result.stderr).endswith("refused the API key: check RENDERFARM_API_KEY")


def test_a_missing_job_is_one_line_and_exit_1(local_farm: RunningFarm) -> None:
    result = local_farm.cli("status", "f" * 32)
    assert result.code == 1
    assert _one_error_line(result.stderr) == (
        f"error: no job {'f' * 32} on the farm at {local_farm.farm.endpoints.api_url}"
    )


def test_wait_exits_0_when_the_job_completes_and_1_when_it_fails(
    local_farm: RunningFarm, scene: Path, tmp_path: Path
) -> None:
    document = served_document(local_farm.farm.endpoints.api_url)
    rendering = local_farm.cli("submit", str(scene), "--frames", "1", "--json")
    assert rendering.code == 0, rendering.stderr
    cameraless = build_cameraless_scene(tmp_path / "cameraless.blend")
    failing = local_farm.cli("submit", str(cameraless), "--frames", "1", "--json")
    assert failing.code == 0, failing.stderr
    completes, fails = (json.loads(each.stdout)["job_id"] for each in (rendering, failing))

    waited = local_farm.cli("wait", completes, "--json")
    assert waited.code == 0, waited.stderr
    assert_fits(document, "GET", "/api/jobs/{job_id}", 200, json.loads(waited.stdout))
    assert json.loads(waited.stdout)["state"] == "completed"
    failed = local_farm.cli("wait", fails)
    assert failed.code == 1, failed.stderr
    assert re.match(rf"job {fails} failed: chunk 0 after \d+ attempts: .+", failed.stdout)


def test_submit_wait_json_prints_the_completed_jobs_status(
    local_farm: RunningFarm, scene: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = local_farm.cli(
        "submit", str(scene), "--frames", "2", "--wait", "--json", "--out", str(out)
    )
    assert result.code == 0, result.stderr
    status = json.loads(result.stdout)  # one JSON document, nothing else on stdout
    document = served_document(local_farm.farm.endpoints.api_url)
    assert_fits(document, "GET", "/api/jobs/{job_id}", 200, status)
    assert (status["state"], status["frames_done"]) == ("completed", 1)
    assert [path.name for path in (out / "frames").iterdir()] == ["000002.png"]
