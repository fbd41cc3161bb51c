"""What the panel's buttons do: submit, cancel an upload, and act on a job."""

# mypy: disable-error-code="valid-type, misc"

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import bpy

from . import saving, tasks
from .client import PackingError, explain, farm_api
from .properties import render_options


class RENDERFARM_OT_submit(bpy.types.Operator):
    """Trace the scene's files, upload those the farm lacks, and render it"""

    bl_idname = "renderfarm.submit"
    bl_label = "Submit to farm"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        busy = tasks.state.submission is not None and not tasks.state.submission.done
        return context.scene is not None and not busy

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        try:
            options = render_options(scene)
            options.job_body("0" * 64)  # bad input is refused before anything is saved
            main = saving.main_file()
        except (farm_api.FarmError, PackingError) as error:
            return self._fail(scene, explain(error))
        submission = tasks.Submission(
            scene_name=scene.name,
            blend=main.blend,
            project_root=main.project_root,
            main_name=main.main_name,
            temporary=main.temporary,
            allow_missing=scene.renderfarm.allow_missing,
            settings=tasks.current_settings(),
            options=options,
        )
        scene_name = scene.name

        def report(line: str) -> None:
            """Each new line, on the main thread: the panel and the status bar."""
            target = bpy.data.scenes.get(scene_name)
            if target is not None:
                target.renderfarm.message = line
            tasks.status_bar(line)

        scene.renderfarm.message = submission.line()
        # Returns at once in the UI (a worker thread uploads, a timer reports); inline in
        # background mode.
        tasks.submit(submission, report, _submitted)
        if bpy.app.background:
            if submission.error:
                self.report({"ERROR"}, submission.error)
                return {"CANCELLED"}
            self.report({"INFO"}, scene.renderfarm.message)
        return {"FINISHED"}

    def _fail(self, scene: bpy.types.Scene, line: str) -> set[str]:
        scene.renderfarm.message = line
        self.report({"ERROR"}, line)
        return {"CANCELLED"}


def _submitted(submission: tasks.Submission) -> None:
    """Back on the main thread: the job's id into the scene (its line follows)."""
    scene = bpy.data.scenes.get(submission.scene_name)
    if submission.job is not None and scene is not None:
        scene.renderfarm.last_job_id = submission.job.job_id


class RENDERFARM_OT_cancel_upload(bpy.types.Operator):
    """Stop the upload in progress; no job is created"""

    bl_idname = "renderfarm.cancel_upload"
    bl_label = "Cancel upload"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return tasks.state.submission is not None and not tasks.state.submission.done

    def execute(self, context: bpy.types.Context) -> set[str]:
        if tasks.state.submission is not None:
            tasks.state.submission.cancelled.set()
        return {"FINISHED"}


class _JobOperator:
    """What the operators on one job share (a mixin: Blender reads its property too)."""

    job_id: bpy.props.StringProperty(name="Job", options={"HIDDEN"})
    if TYPE_CHECKING:  # the Operator's, in the classes that mix this in
        report: Callable[[set[str], str], None]

    def _run(self, work: Callable[[], str]) -> set[str]:
        tasks.job_action(self.job_id, work, tasks.status_bar)
        if bpy.app.background:
            self.report({"INFO"}, tasks.state.notes[self.job_id])
        return {"FINISHED"}


class RENDERFARM_OT_cancel_job(_JobOperator, bpy.types.Operator):
    """Cancel the job on the farm; workers stop at their next frame"""

    bl_idname = "renderfarm.cancel_job"
    bl_label = "Cancel job"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings, job_id = tasks.current_settings(), self.job_id
        tasks.state.jobs_at = 0.0
        return self._run(lambda: f"Job {job_id}: {settings.client().cancel(job_id)}")


class RENDERFARM_OT_approve_job(_JobOperator, bpy.types.Operator):
    """Approve the job's quote: the rest of it renders"""

    bl_idname = "renderfarm.approve_job"
    bl_label = "Approve quote"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings, job_id = tasks.current_settings(), self.job_id
        tasks.state.jobs_at = 0.0
        return self._run(lambda: f"Job {job_id}: {settings.client().approve(job_id).state}")


class RENDERFARM_OT_download_frames(_JobOperator, bpy.types.Operator):
    """Download the job's frames into the scene's output path"""

    bl_idname = "renderfarm.download_frames"
    bl_label = "Download frames"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings, job_id = tasks.current_settings(), self.job_id
        template = bpy.path.abspath(context.scene.render.filepath)
        if not Path(template).is_absolute():
            line = "Save the file first, or set an absolute output path"
            self.report({"ERROR"}, line)
            return {"CANCELLED"}

        def work() -> str:
            return tasks.download_frames(
                settings, job_id, lambda frame, url: tasks.output_path(template, frame, url)
            )

        return self._run(work)


class RENDERFARM_OT_open_job(_JobOperator, bpy.types.Operator):
    """Open the job's page in the web browser"""

    bl_idname = "renderfarm.open_job"
    bl_label = "Open in browser"

    def execute(self, context: bpy.types.Context) -> set[str]:
        bpy.ops.wm.url_open(url=tasks.current_settings().client().job_url(self.job_id))
        return {"FINISHED"}


class RENDERFARM_OT_refresh_jobs(bpy.types.Operator):
    """Fetch the latest jobs now"""

    bl_idname = "renderfarm.refresh_jobs"
    bl_label = "Refresh"

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        tasks.refresh_jobs(
            tasks.current_settings(), scene.renderfarm.last_job_id if scene else None
        )
        return {"FINISHED"}


CLASSES = (
    RENDERFARM_OT_submit,
    RENDERFARM_OT_cancel_upload,
    RENDERFARM_OT_cancel_job,
    RENDERFARM_OT_approve_job,
    RENDERFARM_OT_download_frames,
    RENDERFARM_OT_open_job,
    RENDERFARM_OT_refresh_jobs,
)
