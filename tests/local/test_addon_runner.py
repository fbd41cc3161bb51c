"""The add-on's job runner without Blender or a farm: the built zip's ``runner`` module (no bpy in
it) against a scripted farm (``tests/http_stub.py``) that answers ``/api/files/missing``, takes
uploads and makes jobs. What is sent is a real project (``tests/projects.py``: a shot, linked
libraries, textures), traced by the vendored client core with the BAT the venv has (the add-on
bundles its wheel). The UI path is driven as Blender would drive it: ``submit`` starts a worker
thread and registers a timer function, and the test calls that function by hand, as
``bpy.app.timers`` would on the main thread.

Covers the faults of a submission: a large project's upload progress and its cancel, a cancel
while a retry waits, a connection dropped mid-upload, a busy farm (429/503), a missing file
(refused, or sent as missing with the checkbox), and what the status line says in each case.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import sys
import threading
import time
import types
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from scripts.build_addon import build
from tests.http_stub import Reply, Seen, Stub, http_stub
from tests.projects import Project, build_project, layout

PACKAGE = "renderfarm_addon_under_test"
JOB = "1" * 32
MIB = 2**20
JOB_REPLY = {"job_id": JOB, "frames_total": 2, "chunk_count": 1, "chunk_size": 2}
#: Every PUT to storage (the URLs the stand-in farm hands out are /blob/<sha256>).
ANY_BLOB = "/blob/*"
MISSING = "/api/files/missing"


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


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The project, built once (bpy in a subprocess); each test works on a copy."""
    return build_project(tmp_path_factory.mktemp("template"))


@pytest.fixture
def project(template: Project, tmp_path: Path) -> Project:
    """This test's copy. The absolute-path texture stays the template's (outside the copy)."""
    shutil.copytree(template.root, tmp_path / "project")
    copy = layout(tmp_path)
    textures = {**copy.textures, "outside": template.textures["outside"]}
    return replace(copy, textures=textures, outside_dir=template.outside_dir)


def sparse(path: Path, size: int) -> str:
    """Make ``path`` a file of ``size`` bytes (a sparse hole: no disk used); its sha256."""
    with path.open("wb") as file:
        file.truncate(size)
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(MIB):
            digest.update(block)
    return digest.hexdigest()


@dataclass(kw_only=True)
class Farm:
    """A scripted farm: it lacks every file but those in ``have``, storage takes them, the job
    is made. Override a path's answers with ``script[(method, path)]`` (``ANY_BLOB`` for every
    upload): a list of Replies used in turn (the last one repeats)."""

    script: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    have: set[str] = field(default_factory=set)
    #: Set to hold the answer to POST /api/jobs until the test releases it.
    hold_jobs: threading.Event | None = None
    stub: Stub | None = None

    @property
    def url(self) -> str:
        assert self.stub is not None
        return self.stub.url

    def answer(self, request: Seen) -> Reply:
        replies = self.script.get((request.method, request.path))
        if replies is None and request.path.startswith("/blob/"):
            replies = self.script.get((request.method, ANY_BLOB))
        if replies:
            return replies.pop(0) if len(replies) > 1 else replies[0]
        if request.path == MISSING:
            asked = [entry["sha256"] for entry in request.json()["files"]]
            lacking = [sha for sha in asked if sha not in self.have]
            return Reply(
                body={
                    "missing": [
                        {"sha256": sha, "upload_url": f"{self.url}/blob/{sha}"} for sha in lacking
                    ],
                    "present": len(asked) - len(lacking),
                    "upload_method": "PUT",
                    "upload_headers": {"x-ms-blob-type": "BlockBlob"},
                    "expires_at": "2030-01-01T00:00:00Z",
                }
            )
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

    def puts(self) -> list[str]:
        """The sha256 of each upload, in the order they came."""
        return [path.removeprefix("/blob/") for method, path in self.seen() if method == "PUT"]

    def job_body(self) -> dict[str, Any]:
        assert self.stub is not None
        [job] = {
            s.headers["idempotency-key"]: s for s in self.stub.seen if s.path == "/api/jobs"
        }.values()
        return job.json()  # type: ignore[no-any-return]


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
        self, timeout_s: float = 15.0, every: Callable[[], None] = lambda: None
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while self.tick():
            assert time.monotonic() < deadline, self.lines
            every()
            time.sleep(0.02)


def submission(
    runner: Any,
    farm: Farm,
    project: Project,
    *,
    retry_for_s: float = 30.0,
    allow_missing: bool = False,
    blend: Path | None = None,
) -> Any:
    """The open file unchanged (the artist's own .blend, never deleted), unless ``blend`` is a
    copy of its current state saved next to it (deleted when the submission ends)."""
    client = sys.modules[f"{PACKAGE}.client"]
    render_request = client.render_request
    return runner.Submission(
        scene_name="Scene",
        blend=blend or project.main,
        project_root=project.root,
        main_name=project.main.name,
        temporary=blend is not None,
        allow_missing=allow_missing,
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


def digests(root: Path) -> dict[Path, str]:
    return {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_submit_in_the_ui_returns_at_once_and_reports_the_job_on_the_status_line(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    farm = farm_factory(Farm(hold_jobs=threading.Event()))
    before = digests(project.root)
    ui = Ui()
    done: list[Any] = []
    work = submission(runner, farm, project)
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
    # Asked once, every file uploaded once, then one job naming each file by its project path.
    seen = farm.seen()
    assert seen[0] == ("POST", MISSING) and seen[-1] == ("POST", "/api/jobs")
    files = farm.job_body()["files"]
    assert files["main"] == "shot.blend" and files["missing"] == []
    assert farm.job_body()["allow_missing"] is False
    paths = {entry["path"] for entry in files["files"]}
    assert {"shot.blend", "lib/lib.blend", "lib/base.blend", "lib/tex/lib_tex.png"} <= paths
    assert "textures/wood.png" in paths and "fonts/DejaVuSansMono.woff2" in paths
    assert any(path.startswith("_outside/") for path in paths)
    assert sorted(farm.puts()) == sorted({entry["sha256"] for entry in files["files"]})
    assert digests(project.root) == before, "the artist's files are untouched, and kept"


def test_a_copy_of_unsaved_changes_is_sent_under_the_files_name_and_deleted(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    farm = farm_factory()
    copy = project.main.with_name(".shot.renderfarm-0123abcd.blend")
    shutil.copyfile(project.main, copy)
    lines: list[str] = []
    work = submission(runner, farm, project, blend=copy)
    inline_runner(runner).submit(work, report=lines.append)
    assert lines == [f"Job {JOB}: 2 frames in 1 chunks"]
    files = farm.job_body()["files"]
    assert files["main"] == "shot.blend"
    assert not any("renderfarm-" in entry["path"] for entry in files["files"])
    assert not copy.exists() and project.main.exists()


def test_files_the_farm_has_are_not_uploaded_again(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    first = farm_factory()
    inline_runner(runner).submit(submission(runner, first, project), report=lambda _: None)
    everything = set(first.puts())
    again = farm_factory(Farm(have=everything))
    work = submission(runner, again, project)
    inline_runner(runner).submit(work, report=lambda _: None)
    assert work.job is not None and again.puts() == []
    assert again.seen() == [("POST", MISSING), ("POST", "/api/jobs")]


def test_submit_in_the_ui_reports_a_refused_key_in_one_line(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    refused = Reply(status=401, body={"title": "Unauthorized"})
    farm = farm_factory(Farm(script={("POST", MISSING): [refused]}))
    ui, work = Ui(), submission(runner, farm, project)
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert work.job is None
    assert ui.lines[-1] == (
        f"The farm at {farm.url} refused the API key: check it in "
        "Edit → Preferences → Add-ons → Render Farm"
    )
    assert ("POST", "/api/jobs") not in farm.seen()


def test_a_missing_texture_is_refused_before_any_request_naming_the_file(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    project.textures["wood"].unlink()
    farm = farm_factory()
    ui, work = Ui(), submission(runner, farm, project)
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert work.job is None
    assert ui.lines[-1] == (
        "Missing files: textures/wood.png (tick Allow missing files to render without)"
    )
    assert farm.seen() == []
    assert project.main.exists(), "the artist's file is never deleted"


def test_with_allow_missing_the_job_names_the_missing_file_and_warns(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    project.textures["wood"].unlink()
    farm = farm_factory()
    lines: list[str] = []
    work = submission(runner, farm, project, allow_missing=True)
    inline_runner(runner).submit(work, report=lines.append)
    assert work.job is not None
    assert lines == [f"Job {JOB}: 2 frames in 1 chunks (1 missing files: see the job's warnings)"]
    assert work.warnings == ["missing file: textures/wood.png"]
    body = farm.job_body()
    assert body["allow_missing"] is True
    assert body["files"]["missing"] == ["textures/wood.png"]
    assert "textures/wood.png" not in {entry["path"] for entry in body["files"]["files"]}


def test_a_large_upload_shows_rising_progress_and_a_cancel_stops_it_with_no_job(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    """A 256 MiB texture over a slow link: the status line counts up the MiB; the cancel
    button (``cancelled.set()``, as the operator does) stops it within a block, and no job is
    made."""
    sparse(project.textures["wood"], 256 * MIB)
    farm = farm_factory(read_bytes_per_s=32 * MIB)
    ui, work = Ui(), submission(runner, farm, project)
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
    uploading = [line for line in ui.lines if line.startswith("Uploading the project: ")]
    of_total = f" of {work.total / MIB:.0f} MiB"  # the texture and the project's other files
    assert len(uploading) >= 3 and all(line.endswith(of_total) for line in uploading)
    assert 256 * MIB < work.total < 257 * MIB and work.sent < work.total
    assert ui.lines[-1] == "Cancelled: no job was created"
    assert ("POST", "/api/jobs") not in farm.seen()
    assert project.main.exists()


def test_upload_progress_rises_block_by_block_to_the_projects_size(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    sparse(project.textures["wood"], 20 * MIB + 5)
    farm = farm_factory()
    work = submission(runner, farm, project)
    progress: list[tuple[int, int]] = []
    recorded = work._progress

    def heard(sent: int, total: int) -> None:
        progress.append((sent, total))
        recorded(sent, total)

    work._progress = heard
    inline_runner(runner).submit(work, report=lambda _: None)
    total = sum(entry["size"] for entry in farm.job_body()["files"]["files"])
    steps = [sent for sent, _ in progress]
    assert steps[0] == 0 and steps[-1] == total
    assert steps == sorted(steps) and len(set(steps)) >= 21  # one a MiB block, at least
    assert {seen_total for _, seen_total in progress} == {total}


@pytest.mark.parametrize("where", ["ticket", "upload"])
def test_a_cancel_while_a_retry_waits_stops_at_once(
    runner: Any, farm_factory: Callable[..., Farm], project: Project, where: str
) -> None:
    """The farm says to come back in 30 s (asking what it lacks), or storage keeps answering
    503 (uploads, backing off): a cancel does not wait out the backoff. (Uploads still queued
    when the cancel comes each open a connection before they stop, and a connection can take a
    1 s SYN retry on a busy loopback: hence the 2 s wait and the 1.5 s bound.)"""
    busy = Reply(status=429, body={"title": "Too many requests"}, headers={"Retry-After": "30"})
    script = (
        {("POST", MISSING): [busy]}
        if where == "ticket"
        else {("PUT", ANY_BLOB): [Reply(status=503)]}
    )
    farm = farm_factory(Farm(script=script))
    ui, work = Ui(), submission(runner, farm, project, retry_for_s=60)
    # The ticket's first wait is the 30 s the farm asked for; an upload's fifth is 2.0 s.
    waiting = "in 30.0 s" if where == "ticket" else "in 2.0 s"
    cancelled_at: list[float] = []

    def watch() -> None:
        if waiting in work.stage and not cancelled_at:
            work.cancelled.set()
            cancelled_at.append(time.monotonic())

    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle(timeout_s=15, every=watch)
    assert cancelled_at and time.monotonic() - cancelled_at[0] < 1.5
    assert ui.lines[-1] == "Cancelled: no job was created"
    assert any(waiting in line for line in ui.lines), ui.lines
    assert ("POST", "/api/jobs") not in farm.seen()


def test_a_connection_dropped_mid_upload_is_sent_again_whole_then_one_job(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    big = sparse(project.textures["wood"], 6 * MIB)
    drops = [MIB]  # the big file's first PUT loses its connection after 1 MiB

    def cut(method: str, path: str) -> int | None:
        return drops.pop() if path == f"/blob/{big}" and drops else None

    farm = farm_factory(cut=cut)
    work = submission(runner, farm, project)
    lines: list[str] = []
    inline_runner(runner).submit(work, report=lines.append)
    assert work.job is not None and lines == [f"Job {JOB}: 2 frames in 1 chunks"]
    assert farm.stub is not None
    first, second = [seen for seen in farm.stub.seen if seen.path == f"/blob/{big}"]
    assert len(first.body) == MIB
    assert hashlib.sha256(second.body).hexdigest() == big
    assert farm.puts().count(big) == 2 and len(farm.puts()) == len(set(farm.puts())) + 1
    assert (
        farm.seen()[-1] == ("POST", "/api/jobs") and farm.seen().count(("POST", "/api/jobs")) == 1
    )
    assert len(work.retries) == 1
    assert work.retries[0].startswith("the upload was interrupted (")
    assert work.retries[0].endswith("): sending it again in 0.2 s")


def test_an_upload_that_keeps_dropping_creates_no_job_and_names_the_file(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    big = sparse(project.textures["wood"], 2 * MIB)

    def cut(method: str, path: str) -> int | None:
        return 4096 if path == f"/blob/{big}" else None

    farm = farm_factory(cut=cut)
    work = submission(runner, farm, project, retry_for_s=1.0)
    lines: list[str] = []
    inline_runner(runner).submit(work, report=lines.append)
    assert work.job is None and len(lines) == 1
    assert lines[0].startswith("Uploading wood.png failed: "), lines
    assert "\n" not in lines[0]
    assert farm.puts().count(big) >= 2 and farm.puts().count(big) == len(work.retries) + 1
    assert ("POST", "/api/jobs") not in farm.seen()
    assert project.main.exists()


def test_a_busy_farm_is_retried_and_the_status_line_says_when(
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    busy = Reply(status=429, body={"title": "Too many requests"}, headers={"Retry-After": "1"})
    made = Reply(status=202, body=JOB_REPLY)
    farm = farm_factory(Farm(script={("POST", "/api/jobs"): [busy, made]}))
    ui, work = Ui(), submission(runner, farm, project)
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
    runner: Any, farm_factory: Callable[..., Farm], project: Project
) -> None:
    unavailable = Reply(
        status=503,
        body={"title": "The farm is restarting"},
        headers={"Content-Type": "application/problem+json", "Retry-After": "1"},
    )
    farm = farm_factory(Farm(script={("POST", MISSING): [unavailable]}))
    ui, work = Ui(), submission(runner, farm, project, retry_for_s=1.5)
    ui_runner(runner, ui).submit(work, report=ui.lines.append)
    ui.run_until_idle()
    assert "The farm answered 503 Service Unavailable: trying again in 1.0 s ..." in ui.lines
    assert ui.lines[-1] == "The farm is restarting (retry in 1 s)"
    assert work.job is None and ("POST", "/api/jobs") not in farm.seen()


def test_the_jobs_list_brings_the_farms_warnings_for_the_scenes_last_job(
    runner: Any, farm_factory: Callable[..., Farm]
) -> None:
    other = "2" * 32
    line = {"frames_total": 1, "frames_done": 1, "frames_failed": 0}
    listing = {
        "jobs": [
            {"job_id": JOB, "state": "completed", "created_at": "2030-01-01T00:00:00Z", **line},
            {"job_id": other, "state": "completed", "created_at": "2030-01-01T00:00:00Z", **line},
        ]
    }
    status = {
        "job_id": JOB,
        "state": "completed",
        "created_at": "2030-01-01T00:00:00Z",
        "error": None,
        "chunks": [],
        "frame_urls": [],
        "warnings": ["missing file: textures/wood.png"],
        **line,
    }
    farm = farm_factory(
        Farm(
            script={
                ("GET", "/api/jobs"): [Reply(body=listing)],
                ("GET", f"/api/jobs/{JOB}"): [Reply(body=status)],
            }
        )
    )
    settings = sys.modules[f"{PACKAGE}.client"].FarmSettings(api_url=farm.url, api_key="k")
    ui = Ui()
    jobs = ui_runner(runner, ui)
    jobs.refresh_jobs(settings, watch=JOB)
    ui.run_until_idle()
    assert [job.job_id for job in jobs.state.jobs] == [JOB, other]
    assert jobs.state.warnings == {JOB: ("missing file: textures/wood.png",)}
    assert ("GET", f"/api/jobs/{other}") not in farm.seen(), "only the watched job's status"
