"""A scripted farm for the add-on's runner (``tests/http_stub.py`` answering ``/api/files/missing``,
taking uploads and making jobs), Blender's main thread by hand, and the submissions the tests
make."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.http_stub import Reply, Seen, Stub
from tests.projects import Project

PACKAGE = "renderfarm_addon_under_test"
JOB = "1" * 32
MIB = 2**20
JOB_REPLY = {"job_id": JOB, "frames_total": 2, "chunk_count": 1, "chunk_size": 2}
#: Every PUT to storage (the URLs the stand-in farm hands out are /blob/<sha256>).
ANY_BLOB = "/blob/*"
MISSING = "/api/files/missing"


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


def submission(  # noqa: PLR0913 - keyword-only: what a test changes in a submission
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
