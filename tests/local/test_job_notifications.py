"""The whole loop through the local farm: a job renders, the worker that settles its last chunk
records the end, the events consumer builds the previews and fans the event out, and a signed
webhook reaches a receiver once. No status is read until the webhook has come."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from standardwebhooks import Webhook

from renderfarm_client.farm_api import FarmClient
from testbed.scenes import FRAMES, build_cycles_scene
from tests.local.conftest import RunningFarm

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]
WAIT_S = 120.0
QUIET_S = 3.0  # how long to keep listening for a second copy


class Receiver:
    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/renderfarm"

    def of_type(self, event_type: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in self.posts if json.loads(b)["type"] == event_type]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_a_completed_job_is_announced_once_signed_with_its_previews_and_cost(
    local_farm: RunningFarm, receiver: Receiver, tmp_path: Path
) -> None:
    endpoints = local_farm.farm.endpoints
    headers = {"Authorization": f"Bearer {endpoints.api_key}"}
    registered = httpx.post(
        f"{endpoints.api_url}/api/webhooks",
        json={"url": receiver.url, "events": ["job.started", "job.completed"]},
        headers=headers,
    )
    assert registered.status_code == 201, registered.text
    secret = registered.json()["secret"]
    scene = build_cycles_scene(tmp_path / "scene.blend")
    with FarmClient(api_url=endpoints.api_url, api_key=endpoints.api_key) as client:
        sha, _ = client.ensure_scene(scene)
        job = client.submit({"scene_sha256": sha, "frames": "1-3", "chunk_size": 1})
    deadline = time.monotonic() + WAIT_S
    while not receiver.of_type("job.completed"):
        assert time.monotonic() < deadline, receiver.posts
        time.sleep(0.2)
    time.sleep(QUIET_S)
    (completed,) = receiver.of_type("job.completed")
    assert len(receiver.of_type("job.started")) == 1
    headers_in, body = completed
    Webhook(secret).verify(body, headers_in)  # raises unless the signature is the farm's
    payload = json.loads(body)
    data = payload["data"]
    assert (data["job_id"], data["state"], data["frames_done"]) == (job.job_id, "completed", 3)
    assert data["cost"]["estimated_usd"] > 0
    assert data["cost"]["usd_per_frame"] > 0
    video = tmp_path / "preview.mp4"
    video.write_bytes(httpx.get(data["previews"]["video_url"]).content)
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == len(FRAMES)
