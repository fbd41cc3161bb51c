"""The add-on's network work and its state, without Blender: a worker thread does the work and a
timer function, called on Blender's main thread, reads what it left (``Runner``); in background
mode the work runs inline. ``tasks`` wires this to ``bpy.app.timers``; the tests drive the timer
function by hand. Nothing here imports bpy.

Module state lives for the session, never in the .blend: the submission in flight and the
latest jobs list (``State``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import FarmSettings, explain, farm_api, job_follower, project, render_request

POLL_S = 0.2

#: A timer function as ``bpy.app.timers`` runs it: seconds until the next call, or None to stop.
Timer = Callable[[], float | None]
#: Registers a timer function to be first called after so many seconds (``bpy.app.timers``).
Schedule = Callable[[Timer, float], None]

_UPLOADING = "uploading the project"
_SUBMITTING = "submitting the job"


@dataclass(kw_only=True)
class Submission:
    """One scene going to the farm: the project traced from ``blend``, the upload's progress,
    then the job or the error. ``blend`` is deleted when the submission ends if ``temporary``
    (a copy of the open file's current state); the job names it ``main_name``."""

    scene_name: str
    blend: Path
    settings: FarmSettings
    options: render_request.RenderOptions
    project_root: Path | None = None
    main_name: str | None = None
    allow_missing: bool = False
    temporary: bool = True
    #: Files the scene uses that are missing here, which the job renders without (warnings).
    warnings: list[str] = field(default_factory=list)
    retry_for_s: float = farm_api.RETRY_FOR_S
    cancelled: threading.Event = field(default_factory=threading.Event)
    sent: int = 0
    total: int = 0
    stage: str = "tracing the project"
    job: farm_api.SubmittedJob | None = None
    error: str | None = None
    #: Each wait to try again, as the line the panel showed (why, and when it tries again).
    retries: list[str] = field(default_factory=list)
    #: The job is being posted: from here a cancel may come after the farm made it.
    posting: bool = False
    done: bool = False

    def run(self) -> None:
        """The network part: upload when the farm lacks the scene, then post the job. The job
        is posted only once the scene is on the farm whole; a cancel stops every wait."""
        try:
            client = self.settings.client(retry_for_s=self.retry_for_s, on_retry=self._retrying)
            with project.trace_project(
                self.blend,
                project_root=self.project_root,
                main_name=self.main_name,
                cancelled=self.cancelled,
            ) as traced:
                if traced.missing and not self.allow_missing:
                    named = ", ".join(file.path for file in traced.missing)
                    raise project.ProjectError(
                        f"Missing files: {named} (tick Allow missing files to render without)"
                    )
                self.warnings = [f"missing file: {file.path}" for file in traced.missing]
                client.ensure_files(
                    traced.files, on_progress=self._progress, cancelled=self.cancelled
                )
                if self.cancelled.is_set():
                    raise farm_api.TransferCancelled("submission cancelled")
                self.stage, self.posting = _SUBMITTING, True
                body = self.options.job_body(
                    files=traced.file_set(allow_missing=self.allow_missing),
                    allow_missing=self.allow_missing,
                )
                self.job = client.submit(body, cancelled=self.cancelled)
        except farm_api.TransferCancelled:
            self.error = (
                "Cancelled before the farm confirmed the job: see the jobs list"
                if self.posting
                else "Cancelled: no job was created"
            )
        except Exception as error:
            self.error = explain(error)
        finally:
            if self.temporary:
                self.blend.unlink(missing_ok=True)
            self.done = True

    def _retrying(self, line: str) -> None:
        self.retries.append(line)
        self.stage = line

    def _progress(self, sent: int, total: int) -> None:
        self.stage, self.sent, self.total = _UPLOADING, sent, total

    def line(self) -> str:
        """Where it is, in one line: the stage, the upload's MiB, or why it waits."""
        if self.done:
            return self.outcome()
        if self.stage == _UPLOADING and self.total:
            return f"Uploading the project: {self.sent / 2**20:.0f} of {self.total / 2**20:.0f} MiB"
        return self.stage[:1].upper() + self.stage[1:] + " ..."

    def outcome(self) -> str:
        if self.job is not None:
            job = self.job
            line = f"Job {job.job_id}: {job.frames_total} frames in {job.chunk_count} chunks"
            if self.warnings:
                line += f" ({len(self.warnings)} missing files: see the job's warnings)"
            return line
        return self.error or "Submission failed"


@dataclass(kw_only=True)
class State:
    submission: Submission | None = None
    jobs: list[farm_api.JobLine] = field(default_factory=list)
    jobs_error: str | None = None
    jobs_at: float = 0.0
    jobs_busy: bool = False
    panel_drawn_at: float = 0.0
    #: One line per job id, from actions on a job (cancel, download).
    notes: dict[str, str] = field(default_factory=dict)
    #: What the farm warns of, per job id: the watched job's ``warnings`` from its status.
    warnings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: The quote of each listed job awaiting approval, as lines to show.
    quotes: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _nothing() -> None:
    return None


@dataclass(kw_only=True)
class Runner:
    """Runs network work off the main thread and hands its results back on it.

    ``background()`` says whether Blender runs without a UI (then work runs inline and the
    caller sees it done); ``schedule`` registers a timer function (``bpy.app.timers.register``);
    ``redraw`` asks the panels to draw again."""

    background: Callable[[], bool]
    schedule: Schedule
    redraw: Callable[[], None] = _nothing
    state: State = field(default_factory=State)

    def run(
        self,
        work: Callable[[], None],
        on_done: Callable[[], None],
        on_tick: Callable[[], None] = _nothing,
    ) -> None:
        """``work`` (no bpy in it) on a worker thread; ``on_tick`` on the main thread while it
        runs, ``on_done`` there once it has ended. Returns at once, unless in background."""
        if self.background():
            work()
            on_done()
            return
        thread = threading.Thread(target=work, name="renderfarm", daemon=True)
        thread.start()

        def check() -> float | None:
            if thread.is_alive():
                on_tick()
                self.redraw()
                return POLL_S
            on_done()
            self.redraw()
            return None

        self.schedule(check, POLL_S)

    def submit(
        self,
        submission: Submission,
        *,
        report: Callable[[str], None],
        on_done: Callable[[Submission], None] = lambda _: None,
    ) -> None:
        """Send ``submission``; ``report`` hears each new line while it runs (progress, a retry
        and when) and its outcome last, after ``on_done``."""
        self.state.submission = submission
        shown = [""]

        def tick() -> None:
            line = submission.line()
            if line != shown[0]:
                shown[0] = line
                report(line)

        def done() -> None:
            if submission.job is not None:
                self.state.jobs_at = 0.0  # show it in the list at the next refresh
            on_done(submission)
            report(submission.outcome())

        self.run(submission.run, done, tick)

    def refresh_jobs(self, settings: FarmSettings, *, watch: str | None = None) -> None:
        """Fetch the latest jobs unless a fetch is running; the panel shows them when it
        lands. ``watch`` (the scene's last job) also has its status fetched, for its warnings
        (the jobs list carries none)."""
        state = self.state
        if state.jobs_busy:
            return
        state.jobs_busy = True
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                # A list that refreshes itself retries nothing: the next refresh is the retry.
                client = settings.client(retry_for_s=0)
                result["jobs"] = jobs = client.jobs(limit=10)
                if watch and any(job.job_id == watch for job in jobs):
                    result["warnings"] = client.status(watch, with_frames=False).warnings
                result["quotes"] = _quotes(client, jobs)
            except Exception as error:
                result["error"] = explain(error)

        def done() -> None:
            state.jobs_busy = False
            state.jobs_at = time.monotonic()
            state.jobs_error = result.get("error")
            if "jobs" in result:
                state.jobs = result["jobs"]
            if "warnings" in result and watch:
                state.warnings[watch] = result["warnings"]
            if "quotes" in result:
                state.quotes = result["quotes"]

        self.run(work, done)

    def job_action(
        self, job_id: str, work: Callable[[], str], on_done: Callable[[str], None] | None = None
    ) -> None:
        """Cancel or download one job off the main thread; its line shows in the jobs list."""
        notes = self.state.notes
        notes[job_id] = "working ..."
        result: dict[str, str] = {}

        def run() -> None:
            try:
                result["line"] = work()
            except Exception as error:
                result["line"] = explain(error)

        def done() -> None:
            notes[job_id] = result["line"]
            if on_done is not None:
                on_done(result["line"])

        self.run(run, done)


#: Quotes fetched per refresh of the jobs list (a status read each).
MAX_QUOTES = 3


def _quotes(
    client: farm_api.FarmClient, jobs: list[farm_api.JobLine]
) -> dict[str, tuple[str, ...]]:
    """The quotes of the listed jobs awaiting approval, as lines for the panel."""
    found: dict[str, tuple[str, ...]] = {}
    for job in [job for job in jobs if job.state == "awaiting_approval"][:MAX_QUOTES]:
        quote = client.status(job.job_id, with_frames=False).quote
        if quote is not None:
            found[job.job_id] = tuple(quote.lines())
    return found


def download_frames(settings: FarmSettings, job_id: str, target: Callable[[int, str], Path]) -> str:
    """Every frame the job has so far, to ``target(frame, url)``; frames on disk are kept."""
    client = settings.client()
    progress = client.status(job_id)
    fetched = 0
    for frame, url in sorted(progress.frame_urls.items()):
        path = target(frame, url)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        client.download(url, path)
        fetched += 1
    where = target(0, "x.png").parent if progress.frame_urls else None
    more = "" if progress.is_over else f" (job is {progress.state}: download again later)"
    return f"{fetched} frames downloaded to {where}{more}" if where else "No frames yet"


def output_path(template: str, frame: int, url: str) -> Path:
    """Where Blender would write ``frame`` for an output path ``template`` (absolute): its #s
    become the padded frame number, else four digits are appended; the farm's extension."""
    suffix = Path(job_follower.frame_file_name(frame, url)).suffix
    folder, name = Path(template).parent, Path(template).name
    if template.endswith(("/", "\\")):
        folder, name = Path(template), ""
    if "#" in name:
        start = name.rindex("#")
        end = start
        while end > 0 and name[end - 1] == "#":
            end -= 1
        width = start - end + 1
        name = f"{name[:end]}{frame:0{width}d}{name[start + 1 :]}"
    else:
        name = f"{name}{frame:04d}"
    return folder / f"{name}{suffix}"
