"""Network work off Blender's main thread: ``runner.Runner`` wired to ``bpy.app.timers`` (a
worker thread does the work, a timer function on the main thread reads what it left and touches
Blender's data). In background mode (``bpy.app.background``) the same work runs inline, so
scripts see it done when the operator returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import bpy

from .client import FarmSettings
from .runner import (
    POLL_S,
    Runner,
    State,
    Submission,
    Timer,
    download_frames,
    output_path,
)

__all__ = [
    "POLL_S",
    "State",
    "Submission",
    "current_settings",
    "download_frames",
    "job_action",
    "output_path",
    "panel_drawn",
    "refresh_jobs",
    "runner",
    "state",
    "status_bar",
    "submit",
]

#: The jobs list refreshes this often while a panel showing it has drawn lately.
JOBS_REFRESH_S = 3.0
PANEL_OPEN_S = 6.0
STATUS_BAR_S = 8.0


def _background() -> bool:
    return bool(bpy.app.background)


def _schedule(timer: Timer, first_interval: float) -> None:
    bpy.app.timers.register(timer, first_interval=first_interval)


def tag_redraw() -> None:
    if bpy.app.background:
        return
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "PROPERTIES":
                area.tag_redraw()


runner = Runner(background=_background, schedule=_schedule, redraw=tag_redraw)
state = runner.state


def submit(
    submission: Submission, report: Callable[[str], None], on_done: Callable[[Submission], None]
) -> None:
    runner.submit(submission, report=report, on_done=on_done)


def refresh_jobs(settings: FarmSettings, watch: str | None = None) -> None:
    """The jobs list, and the warnings of ``watch`` (the scene's last job)."""
    runner.refresh_jobs(settings, watch=watch)


def job_action(
    job_id: str, work: Callable[[], str], on_done: Callable[[str], None] | None = None
) -> None:
    runner.job_action(job_id, work, on_done)


def panel_drawn() -> None:
    """Called by the panel's draw: keeps the jobs list refreshing while someone looks."""
    state.panel_drawn_at = time.monotonic()
    if not bpy.app.timers.is_registered(_jobs_timer):
        bpy.app.timers.register(_jobs_timer, first_interval=0.1)


def _jobs_timer() -> float | None:
    if time.monotonic() - state.panel_drawn_at > PANEL_OPEN_S:
        return None  # nobody is looking: stop until the panel draws again
    if time.monotonic() - state.jobs_at >= JOBS_REFRESH_S:
        scene = bpy.context.scene
        refresh_jobs(current_settings(), scene.renderfarm.last_job_id if scene else None)
    return 1.0


def current_settings() -> FarmSettings:
    prefs = bpy.context.preferences.addons[__package__].preferences
    return FarmSettings.resolve(prefs.api_url, prefs.api_key)


def status_bar(text: str | None) -> None:
    """One line in the status bar of every window, cleared a while after the last one."""
    if bpy.app.background:
        if text:
            print(f"renderfarm: {text}")
        return
    for window in bpy.context.window_manager.windows:
        window.workspace.status_text_set(text)
    if bpy.app.timers.is_registered(_clear_status_bar):
        bpy.app.timers.unregister(_clear_status_bar)
    if text:
        bpy.app.timers.register(_clear_status_bar, first_interval=STATUS_BAR_S)


def _clear_status_bar() -> None:
    status_bar(None)
