"""The add-on's job runner without Blender or a farm: the built zip's ``runner`` module (no bpy in
it) against a scripted farm (``tests/http_stub.py``). The UI path is driven as Blender would
drive it: ``submit`` starts a worker thread and registers a timer function, and the test calls
that function by hand, as ``bpy.app.timers`` would on the main thread.

Covers the faults of a submission: a large scene's upload progress and its cancel, a cancel
while a retry waits, a connection dropped mid-upload, a busy farm (429/503), and what the status
line says in each case.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import sys
import threading
import time
import types
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scripts.build_addon import build
from tests.http_stub import Reply, Seen, Stub, http_stub

PACKAGE = "renderfarm_addon_under_test"
JOB = "1" * 32
MIB = 2**20
JOB_REPLY = {"job_id": JOB, "frames_total": 2, "chunk_count": 1, "chunk_size": 2}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The built add-on's ``runner`` module, with its vendored client core. Its package's
    ``__init__`` needs bpy, so the package is made here, from the zip's folder, without it."""
    root = tmp_path_factory.mktemp("addon")
    with zipfile.ZipFile(build(root / "dist")) as archive:
        archive.extractall(root / "renderfarm")
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(root / "renderfarm")]
    sys.modules[PACKAGE] = package
    try:
        yield importlib.import_module(f"{PACKAGE}.runner")
    finally:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@dataclass(kw_only=True)
class Farm:
    """A scripted farm: the scene is new to it, storage takes it, the job is made. Override a
    path's answers with ``script[(method, path)]``: a list of Replies used in turn (the last
    one repeats)."""

    script: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    #: Set to hold the answer to POST /api/jobs until the test releases it.
    hold_jobs: threading.Event | None = None
    stub: Stub | None = None

    @property
    def url(self) -> str:
        assert self.stub is not None
        return self.stub.url

    def answer(self, request: Seen) -> Reply:
        replies = self.script.get((request.method, request.path))
        if replies:
            return replies.pop(0) if len(replies) > 1 else replies[0]
        if request.path == "/api/scenes":
            upload = f"{self.url}/blob/scene.blend"
            return Reply(body={"sha256": "x", "exists": False, "upload_url": upload})
        if request.method == "PUT":
            return Reply(status=201)
        if request.path == "/api/jobs":
            if self.hold_jobs is not None:
                self.hold_jobs.wait(10)
            return Reply(status=202, body=JOB_REPLY)
        return Reply(status=404, body={"title": "Not found"})

    def seen(self) -> list[tuple[str, str]]:
        assert self.stub is not None
        return [(request.method, request.path) for request in self.stub.seen]


@pytest.fixture
def farm_factory() -> Iterator[Callable[..., Farm]]:
    stack: list[Any] = []

    def start(farm: Farm | None = None, **stub_options: Any) -> Farm:
        farm = farm or Farm()
        context = http_stub(farm.answer, **stub_options)
        farm.stub = context.__enter__()
        stack.append(context)
        return farm

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@dataclass(kw_only=True)
class Ui:
    """Blender's main thread, by hand: the timers the runner registered, and the lines it
    reported to the status bar."""

    timers: list[Callable[[], float | None]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def schedule(self, timer: Callable[[], float | None], first_interval: float) -> None:
        self.timers.append(timer)

    def tick(self) -> bool:
        """Call each timer once, as Blender would; False once none is left."""
        self.timers = [timer for timer in self.timers if timer() is not None]
        return bool(self.timers)

    def run_until_idle(
        self, timeout_s: float = 10.0, every: Callable[[], None] = lambda: None
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while self.tick():
            assert time.monotonic() < deadline, self.lines
            every()
            time.sleep(0.02)


def scene(tmp_path: Path, size: int) -> Path:
    """A scene file of ``size`` bytes: a .blend header and then a sparse hole (no disk used)."""
    path = tmp_path / "renderfarm-packed.blend"
    with path.open("wb") as file:
        file.write(b"BLENDER17-01v0503")
        file.truncate(size)
    return path


def submission(runner: Any, farm: Farm, blend: Path, *, retry_for_s: float = 30.0) -> Any:
    client = sys.modules[f"{PACKAGE}.client"]
    render_request = client.render_request
    return runner.Submission(
        scene_name="Scene",
        blend=blend,
        settings=client.FarmSettings(api_url=farm.url, api_key="rf_key"),
        options=render_request.RenderOptions(frames="1-2", output_format="png"),
        retry_for_s=retry_for_s,
    )


def ui_runner(runner: Any, ui: Ui) -> Any:
    return runner.Runner(background=lambda: False, schedule=ui.schedule)


def inline_runner(runner: Any) -> Any:
    def no_timers(timer: object, first_interval: float) -> None:
        raise AssertionError("background mode registers no timer")

    return runner.Runner(background=lambda: True, schedule=no_timers)


def test_submit_in_the_ui_returns_at_once_and_reports_the_job_on_the_status_line(
    runner: Any, farm_factory: Callable[..., Farm], tmp_path: Path
) -> None:
    farm = farm_factory(Farm(hold_jobs=threading.Event()))
    blend = scene(tmp_path, 3 * MIB)
    ui = Ui()
    done: list[Any] = []
    work = submission(runner, farm, blend)
    started = time.monotonic()
    ui_runner(runner, ui).submit(work, report=ui.lines.append, on_done=done.append)
    # The main thread is free at once; the farm is still holding the job's answer.
    assert time.monotonic() - started < 0.5
    assert len(ui.timers) == 1 and not work.done and not done
    assert ui.timers[0]() == runner.POLL_S  # still running: call again after POLL_S
    deadline = time.monotonic() + 10
    while ("POST", "/api/jobs") not in farm.seen():
        assert time.monotonic() < deadline
        ui.tick()
        time.sleep(0.02)
    assert ui.tick() and not done
    assert ui.lines[-1] == "Submitting the job ..."
    assert farm.hold_jobs is not None
    farm.hold_jobs.set()
    ui.run_until_idle()
    assert done == [work] and work.job.job_id == JOB
    assert ui.lines[-1] == f"Job {JOB}: 2 frames in 1 chunks"
    assert len(ui.lines) == len(set(ui.lines)), "each line is reported once"
    assert not blend.exists(), "the packed copy is deleted"
    assert farm.seen() == [
        ("POST", "/api/scenes"),
        ("PUT", "/blob/scene.blend"),
        ("POST", "/api/jobs"),
    ]


def test_submit_in_the_ui_reports_a_refused_key_in_one_line(
    runner: Any, farm_factory: Callable[..., Farm], tmp_path: Path
) -> None:
    refused = Reply(status=401, body={"title": "Unauthorized"})
    farm = farm_factory(Farm(script={("POST", "/api/scenes"): [refused]}))
    ui, work = Ui(), submission(runner, farm, scene(tmp_path, 1024))
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert work.job is None
    assert ui.lines[-1] == (
        f"The farm at {farm.url} refused the API key: check it in "
        "Edit → Preferences → Add-ons → Render Farm"
    )
    assert ("POST", "/api/jobs") not in farm.seen()


def test_a_large_upload_shows_rising_progress_and_a_cancel_stops_it_with_no_job(
    runner: Any, farm_factory: Callable[..., Farm], tmp_path: Path
) -> None:
    """A 256 MiB scene over a slow link: the status line counts up the MiB; the cancel button
    (``cancelled.set()``, as the operator does) stops it within a block, and no job is made."""
    size = 256 * MIB
    farm = farm_factory(read_bytes_per_s=32 * MIB)
    blend = scene(tmp_path, size)
    ui, work = Ui(), submission(runner, farm, blend)
    sent: list[int] = []
    cancelled_at: list[float] = []

    def watch() -> None:
        sent.append(work.sent)
        if work.sent >= 16 * MIB and not cancelled_at:
            work.cancelled.set()
            cancelled_at.append(time.monotonic())

    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle(timeout_s=30, every=watch)
    assert cancelled_at and time.monotonic() - cancelled_at[0] < 2.0
    assert sent == sorted(sent) and len(set(sent)) >= 3, sent
    uploading = [line for line in ui.lines if line.startswith("Uploading the scene: ")]
    assert len(uploading) >= 3 and all(line.endswith(" of 256 MiB") for line in uploading)
    assert work.total == size and work.sent < size
    assert ui.lines[-1] == "Cancelled: no job was created"
    assert ("POST", "/api/jobs") not in farm.seen()
    assert not blend.exists()


def test_upload_progress_from_the_client_rises_block_by_block(
    runner: Any, farm_factory: Callable[..., Farm], tmp_path: Path
) -> None:
    farm_api = sys.modules[f"{PACKAGE}.client"].farm_api
    farm = farm_factory()
    blend = scene(tmp_path, 20 * MIB + 5)
    progress: list[tuple[int, int]] = []
    client = farm_api.FarmClient(api_url=farm.url, api_key="k")
    client.ensure_scene(blend, on_progress=lambda *p: progress.append(p))
    steps = [done for done, _ in progress]
    assert steps[0] == 0 and steps[-1] == blend.stat().st_size
    assert all(a < b for a, b in itertools.pairwise(steps)) and len(steps) == 22
    assert {total for _, total in progress} == {blend.stat().st_size}


@pytest.mark.parametrize("where", ["ticket", "upload"])
def test_a_cancel_while_a_retry_waits_stops_at_once(
    runner: Any, farm_factory: Callable[..., Farm], tmp_path: Path, where: str
) -> None:
    """The farm says to come back in 30 s (ticket), or storage keeps answering 503 (upload,
    backing off): a cancel does not wait out the backoff."""
    busy = Reply(status=429, body={"title": "Too many requests"}, headers={"Retry-After": "30"})
    script = (
        {("POST", "/api/scenes"): [busy]}
        if where == "ticket"
        else {("PUT", "/blob/scene.blend"): [Reply(status=503)]}
    )
    farm = farm_factory(Farm(script=script))
    ui, work = Ui(), submission(runner, farm, scene(tmp_path, 1024), retry_for_s=60)
    # The ticket's first wait is the 30 s the farm asked for; the upload's fourth is 1.6 s.
    waiting = "in 30.0 s" if where == "ticket" else "in 1.6 s"
    cancelled_at: list[float] = []

    def watch() -> None:
        if waiting in work.stage and not cancelled_at:
            work.cancelled.set()
            cancelled_at.append(time.monotonic())

    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle(timeout_s=15, every=watch)
    assert cancelled_at and time.monotonic() - cancelled_at[0] < 0.5
    assert ui.lines[-1] == "Cancelled: no job was created"
    assert any(waiting in line for line in ui.lines), ui.lines
    assert ("POST", "/api/jobs") not in farm.seen()


def test_a_connection_dropped_mid_upload_is_sent_again_whole_then_one_job(
    runner: Any, farm_factory: Callable[..., Farm], tmp_path: Path
) -> None:
    drops = [MIB]  # the first PUT loses its connection after 1 MiB

    def cut(method: str, path: str) -> int | None:
        return drops.pop() if method == "PUT" and drops else None

    farm = farm_factory(cut=cut)
    blend = scene(tmp_path, 6 * MIB)
    digest = hashlib.sha256(blend.read_bytes()).hexdigest()
    work = submission(runner, farm, blend)
    lines: list[str] = []
    inline_runner(runner).submit(work, report=lines.append)
    assert work.job is not None and lines == [f"Job {JOB}: 2 frames in 1 chunks"]
    assert farm.seen() == [
        ("POST", "/api/scenes"),
        ("PUT", "/blob/scene.blend"),
        ("PUT", "/blob/scene.blend"),
        ("POST", "/api/jobs"),
    ]
    assert farm.stub is not None
    first, second = farm.stub.seen[1], farm.stub.seen[2]
    assert len(first.body) == MIB
    assert hashlib.sha256(second.body).hexdigest() == digest
    assert len(work.retries) == 1
    assert work.retries[0].startswith("the upload was interrupted (")
    assert work.retries[0].endswith("): sending it again in 0.2 s")


def test_an_upload_that_keeps_dropping_creates_no_job(
    runner: Any, farm_factory: Callable[..., Farm], tmp_path: Path
) -> None:
    def cut(method: str, path: str) -> int | None:
        return 4096 if method == "PUT" else None

    farm = farm_factory(cut=cut)
    blend = scene(tmp_path, 2 * MIB)
    work = submission(runner, farm, blend, retry_for_s=1.0)
    lines: list[str] = []
    inline_runner(runner).submit(work, report=lines.append)
    assert work.job is None and len(lines) == 1
    assert lines[0].startswith("Uploading renderfarm-packed.blend failed: "), lines
    assert "\n" not in lines[0]
    puts = [seen for seen in farm.seen() if seen[0] == "PUT"]
    assert len(puts) >= 2 and len(puts) == len(work.retries) + 1
    assert ("POST", "/api/jobs") not in farm.seen()
    assert not blend.exists()


def test_a_busy_farm_is_retried_and_the_status_line_says_when(
    runner: Any, farm_factory: Callable[..., Farm], tmp_path: Path
) -> None:
    busy = Reply(status=429, body={"title": "Too many requests"}, headers={"Retry-After": "1"})
    made = Reply(status=202, body=JOB_REPLY)
    farm = farm_factory(Farm(script={("POST", "/api/jobs"): [busy, made]}))
    ui, work = Ui(), submission(runner, farm, scene(tmp_path, 1024))
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert "The farm answered 429 Too Many Requests: trying again in 1.0 s ..." in ui.lines
    assert ui.lines[-1] == f"Job {JOB}: 2 frames in 1 chunks"
    jobs = [seen for seen in farm.seen() if seen == ("POST", "/api/jobs")]
    assert len(jobs) == 2
    assert farm.stub is not None
    keys = {s.headers["idempotency-key"] for s in farm.stub.seen if s.path == "/api/jobs"}
    assert len(keys) == 1, "both tries are one submission"


def test_a_farm_that_stays_unavailable_ends_in_one_line_with_the_retry_time(
    runner: Any, farm_factory: Callable[..., Farm], tmp_path: Path
) -> None:
    unavailable = Reply(
        status=503,
        body={"title": "The farm is restarting"},
        headers={"Content-Type": "application/problem+json", "Retry-After": "1"},
    )
    farm = farm_factory(Farm(script={("POST", "/api/scenes"): [unavailable]}))
    ui, work = Ui(), submission(runner, farm, scene(tmp_path, 1024), retry_for_s=1.5)
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert "The farm answered 503 Service Unavailable: trying again in 1.0 s ..." in ui.lines
    assert ui.lines[-1] == "The farm is restarting (retry in 1 s)"
    assert work.job is None and ("POST", "/api/jobs") not in farm.seen()
