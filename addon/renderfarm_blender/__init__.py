"""Render Farm: submit the open scene to a renderfarm from Properties → Output, and follow,
cancel and download its jobs there.

Nothing here touches the network at register time; every request runs off the main thread
(``tasks``), or inline when Blender runs in the background.
"""

# mypy: disable-error-code="valid-type, misc"

import time
from typing import Any, ClassVar

import bpy

from . import operators, properties, tasks
from .client import farm_api


class RENDERFARM_PT_output(bpy.types.Panel):
    bl_idname = "RENDERFARM_PT_output"
    bl_label = "Render Farm"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"
    bl_options: ClassVar[set[str]] = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        tasks.panel_drawn()
        layout = self.layout
        layout.use_property_split = True
        props = context.scene.renderfarm
        layout.prop(props, "use_scene_range")
        if not props.use_scene_range:
            column = layout.column(align=True)
            column.prop(props, "frame_start")
            column.prop(props, "frame_end")
        self._draw_name(layout, context.scene)
        layout.prop(props, "chunk_size", text="Chunk size (0: auto)")
        layout.prop(props, "priority")
        layout.prop(props, "engine")
        row = layout.row(heading="Samples")
        row.prop(props, "override_samples", text="")
        row.active = props.override_samples
        row.prop(props, "samples", text="")
        row = layout.row(heading="Resolution", align=True)
        row.prop(props, "override_resolution", text="")
        sub = row.row(align=True)
        sub.active = props.override_resolution
        sub.prop(props, "resolution_x", text="")
        sub.prop(props, "resolution_y", text="")
        self._draw_submission(layout, props)
        self._draw_jobs(layout, props)

    def _draw_name(self, layout: bpy.types.UILayout, scene: bpy.types.Scene) -> None:
        """The job's name (the default shown while the field is empty) and its tags."""
        props = scene.renderfarm
        layout.prop(props, "job_name", text="Name")
        if not props.job_name.strip():
            try:
                default = properties.default_job_name(properties.job_frames(scene))
            except farm_api.FarmError:
                default = ""
            if default:
                row = layout.row()
                row.active = False
                row.label(text=f"Name: {default}")
        layout.prop(props, "job_tags")

    def _draw_submission(self, layout: bpy.types.UILayout, props: Any) -> None:
        submission = tasks.state.submission
        row = layout.row(align=True)
        if submission is not None and not submission.done:
            if submission.total and bpy.app.version >= (4, 0, 0):
                row.progress(factor=submission.sent / submission.total, text=submission.line())
            else:
                row.label(text=submission.line(), icon="SORTTIME")
            row.operator("renderfarm.cancel_upload", text="", icon="CANCEL")
        else:
            row.scale_y = 1.4
            row.operator("renderfarm.submit", icon="RENDER_ANIMATION")
        layout.prop(props, "allow_missing")
        layout.prop(props, "scout")
        layout.prop(props, "preview_first")
        if props.message:
            layout.label(text=props.message, icon="INFO")
        if submission is not None and submission.done:
            job_id = submission.job.job_id if submission.job is not None else None
            if job_id not in tasks.state.warnings:  # until the farm's own list is in
                for warning in submission.warnings:
                    layout.label(text=warning, icon="ERROR")

    def _draw_jobs(self, layout: bpy.types.UILayout, props: Any) -> None:
        box = layout.box()
        header = box.row()
        header.label(text="Jobs")
        header.operator("renderfarm.refresh_jobs", text="", icon="FILE_REFRESH")
        if tasks.state.jobs_error:
            box.label(text=tasks.state.jobs_error, icon="ERROR")
        if not tasks.state.jobs and tasks.state.jobs_at == 0.0:
            box.label(text="loading ..." if tasks.state.jobs_busy else "no jobs yet")
        for job in tasks.state.jobs:
            row = box.row(align=True)
            mark = "● " if job.job_id == props.last_job_id else ""
            row.label(text=f"{mark}{job.name or job.job_id[:8]}  {job.state}")
            row.label(text=f"{job.frames_done}/{job.frames_total}")
            for operator, icon in (
                ("renderfarm.open_job", "URL"),
                ("renderfarm.download_frames", "IMPORT"),
                ("renderfarm.cancel_job", "X"),
            ):
                row.operator(operator, text="", icon=icon).job_id = job.job_id
            about = [job.job_id[:12], *job.tags]
            if job.submitted_by:
                about.append(f"by key {job.submitted_by}")
            box.label(text="   " + "  ".join(about))
            self._draw_quote(box, job.job_id)
            for warning in tasks.state.warnings.get(job.job_id, ()):
                box.label(text=warning, icon="ERROR")
            note = tasks.state.notes.get(job.job_id)
            if note:
                box.label(text=note)
        if tasks.state.jobs_at:
            age = int(time.monotonic() - tasks.state.jobs_at)
            box.label(text=f"updated {age} s ago")

    def _draw_quote(self, box: bpy.types.UILayout, job_id: str) -> None:
        """A job awaiting approval: its quote, and the button that approves it."""
        lines = tasks.state.quotes.get(job_id)
        if not lines:
            return
        column = box.column(align=True)
        for line in lines:
            column.label(text=line)
        column.operator("renderfarm.approve_job", icon="CHECKMARK").job_id = job_id


CLASSES = (
    properties.RENDERFARM_AddonPreferences,
    properties.RENDERFARM_OT_test_connection,
    properties.RENDERFARM_PG_scene,
    *operators.CLASSES,
    RENDERFARM_PT_output,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.renderfarm = bpy.props.PointerProperty(type=properties.RENDERFARM_PG_scene)


def unregister() -> None:
    if tasks.state.submission is not None:
        tasks.state.submission.cancelled.set()
    del bpy.types.Scene.renderfarm
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
