"""The CLI takes the farm's previews when it builds them, waits for them a bounded time, and
makes its own only for a farm that has none."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from renderfarm_client.cli.farm_previews import PREVIEW_WAIT_S, Previews, fetch_previews
from renderfarm_client.farm_api import FarmClient
from tests.http_stub import Reply, Seen, http_stub

JOB = "ab" * 16
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SHEET = b"\x89PNG farm sheet"
VIDEO = b"\0\0\0\x20ftypisom farm video"


def status(*, previews: dict[str, str] | None, with_field: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_id": JOB,
        "state": "completed",
        "frames_total": 2,
        "frames_done": 2,
        "frames_failed": 0,
        "error": None,
        "created_at": (NOW - timedelta(minutes=1)).isoformat(),
        "finished_at": (NOW - timedelta(seconds=1)).isoformat(),
        "chunks": [],
        "frame_urls": [],
        "frame_urls_next_offset": None,
        "cost": None,
    }
    if with_field:
        body["previews"] = previews
    return body


#: Read URLs on the stub farm (STUB becomes its address).
URLS = {
    "contact_sheet_url": "STUB/jobs/sheet.png?sig",
    "video_url": "STUB/jobs/preview.mp4?sig",
}


class Farm:
    """Answers status reads from a script, and the previews' read URLs."""

    def __init__(self, statuses: list[dict[str, Any]]):
        self.statuses = statuses
        self.reads = 0
        self.url = ""

    def __call__(self, request: Seen) -> Reply:
        if request.path.startswith("/api/jobs/"):
            body = self.statuses[min(self.reads, len(self.statuses) - 1)]
            self.reads += 1
            return Reply(body=json.dumps(body).replace("STUB", self.url).encode())
        if request.path.endswith("sheet.png"):
            return Reply(body=SHEET)
        return Reply(body=VIDEO)


def frames(tmp_path: Path) -> list[Path]:
    paths = []
    for frame in (1, 2):
        path = tmp_path / "frames" / f"{frame:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 24), "red").save(path)
        paths.append(path)
    return paths


class Clock:
    """Time that passes only when the code sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def run(farm: Farm, tmp_path: Path) -> tuple[Previews, Clock]:
    clock = Clock()
    with http_stub(farm) as stub, FarmClient(api_url=stub.url, api_key="k") as client:
        farm.url = stub.url
        progress = client.status(JOB, with_frames=False)
        farm.reads = 0
        result = fetch_previews(
            client,
            progress,
            frames(tmp_path),
            tmp_path / "out",
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            now=lambda: NOW,
        )
    return result, clock


def test_the_farms_previews_are_downloaded_once_they_appear(tmp_path: Path) -> None:
    farm = Farm([status(previews=None), status(previews=None), status(previews=URLS)])
    result, clock = run(farm, tmp_path)
    assert result.made_by == "the farm"
    assert (tmp_path / "out" / "contact-sheet.png").read_bytes() == SHEET
    assert (tmp_path / "out" / "preview.mp4").read_bytes() == VIDEO
    assert result.progress.previews is not None
    assert len(clock.sleeps) == 3


def test_a_farm_without_previews_gets_local_ones_at_once(tmp_path: Path) -> None:
    farm = Farm([status(previews=None, with_field=False)])
    result, clock = run(farm, tmp_path)
    assert result.made_by == "this machine"
    assert clock.sleeps == []
    assert (tmp_path / "out" / "contact-sheet.png").is_file()
    assert (tmp_path / "out" / "preview.gif").is_file()


def test_previews_that_never_come_are_waited_for_a_bounded_time(tmp_path: Path) -> None:
    farm = Farm([status(previews=None)])
    result, clock = run(farm, tmp_path)
    assert result.made_by == "this machine"
    # the job finished a second ago: what is left of the wait, and not a second more
    assert clock.now == PREVIEW_WAIT_S - 1
    assert (tmp_path / "out" / "preview.gif").is_file()
