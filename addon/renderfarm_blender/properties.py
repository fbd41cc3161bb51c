"""The add-on's preferences (the farm and its key) and the scene's submission settings."""

# Blender reads these annotations as property definitions: no postponed annotations here.
# mypy: disable-error-code="valid-type, misc"

import bpy

from . import tasks
from .client import farm_api, render_request


class RENDERFARM_AddonPreferences(bpy.types.AddonPreferences):
    """Stored by Blender in userpref.blend, in the user's config folder."""

    bl_idname = __package__

    api_url: bpy.props.StringProperty(
        name="Farm URL",
        description="The farm's API, e.g. https://<app>.azurewebsites.net "
        "(empty: RENDERFARM_API_URL, else http://127.0.0.1:7071)",
        default="",
    )
    api_key: bpy.props.StringProperty(
        name="API key",
        description="Your key to the farm (empty: RENDERFARM_API_KEY)",
        default="",
        subtype="PASSWORD",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "api_url")
        layout.prop(self, "api_key")
        row = layout.row()
        row.operator("renderfarm.test_connection", icon="URL")
        if tasks.state.notes.get("connection"):
            row.label(text=tasks.state.notes["connection"])


class RENDERFARM_OT_test_connection(bpy.types.Operator):
    """Ask the farm whether it is there and takes the key"""

    bl_idname = "renderfarm.test_connection"
    bl_label = "Test connection"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = tasks.current_settings()

        def work() -> str:
            client = settings.client(retry_for_s=0)
            health = client.health()
            client.jobs(limit=1)  # a call that needs the key
            return f"Connected to {settings.api_url}: {health.get('status', 'answering')}"

        def done(line: str) -> None:
            tasks.status_bar(line)

        tasks.job_action("connection", work, done)
        if bpy.app.background:
            line = tasks.state.notes["connection"]
            self.report({"INFO"} if line.startswith("Connected") else {"ERROR"}, line)
            return {"FINISHED"} if line.startswith("Connected") else {"CANCELLED"}
        return {"FINISHED"}


def _engines(self: object, context: object) -> list[tuple[str, str, str]]:
    return [
        ("SCENE", "Scene's", "Render with the scene's engine"),
        ("cycles", "Cycles", ""),
        ("eevee", "EEVEE", ""),
        ("workbench", "Workbench", ""),
    ]


class RENDERFARM_PG_scene(bpy.types.PropertyGroup):
    """``scene.renderfarm``: what to render on the farm, and the last job sent."""

    use_scene_range: bpy.props.BoolProperty(
        name="Scene's frame range", description="Render the scene's frame range", default=True
    )
    frame_start: bpy.props.IntProperty(name="Start", default=1, min=0)
    frame_end: bpy.props.IntProperty(name="End", default=250, min=0)
    chunk_size: bpy.props.IntProperty(
        name="Chunk size",
        description="Frames per chunk a worker renders (0: the farm chooses)",
        default=0,
        min=0,
        max=10000,
    )
    priority: bpy.props.IntProperty(
        name="Priority", description="0-3 low, 4-6 normal, 7-9 high", default=5, min=0, max=9
    )
    engine: bpy.props.EnumProperty(name="Engine", items=_engines)
    override_samples: bpy.props.BoolProperty(name="Samples", default=False)
    samples: bpy.props.IntProperty(name="Samples", default=64, min=1, max=1 << 20)
    override_resolution: bpy.props.BoolProperty(name="Resolution", default=False)
    resolution_x: bpy.props.IntProperty(name="X", default=1920, min=4, max=65536)
    resolution_y: bpy.props.IntProperty(name="Y", default=1080, min=4, max=65536)
    job_name: bpy.props.StringProperty(
        name="Job name",
        description="What to call the job on the farm (empty: the .blend's file name and the "
        "frames)",
        default="",
    )
    job_tags: bpy.props.StringProperty(
        name="Tags",
        description="Labels or key=value pairs to find the job by, separated by spaces, e.g. "
        "shot=010 lighting",
        default="",
    )
    allow_missing: bpy.props.BoolProperty(
        name="Allow missing files",
        description="Submit even when files the scene uses are missing; the job warns of each",
        default=False,
    )
    scout: bpy.props.BoolProperty(
        name="Scout frames first",
        description="Render the first, middle and last frames first, then wait for you to "
        "approve the quote they give",
        default=False,
    )
    preview_first: bpy.props.BoolProperty(
        name="Preview first",
        description="Render the first, last and middle frames first, then the gaps between "
        "them, so the whole shot shows early; off: frames render in file order",
        default=True,
    )
    last_job_id: bpy.props.StringProperty(name="Last job", default="")
    message: bpy.props.StringProperty(name="Message", default="")


def job_frames(scene: bpy.types.Scene) -> str:
    """The frames to render in Blender's syntax (raises FarmError for a backward range)."""
    props = scene.renderfarm
    start, end = (
        (scene.frame_start, scene.frame_end)
        if props.use_scene_range
        else (props.frame_start, props.frame_end)
    )
    if end < start:
        raise farm_api.FarmError(f"The frame range {start}-{end} ends before it starts")
    return f"{start}-{end}" + (f"x{scene.frame_step}" if scene.frame_step > 1 else "")


def default_job_name(frames: str) -> str:
    """The name a job gets when the artist gives none: the .blend's file name and the frames,
    as the farm names a job without one."""
    return f"{bpy.path.basename(bpy.data.filepath) or 'untitled.blend'} {frames}"


def render_options(scene: bpy.types.Scene) -> render_request.RenderOptions:
    """The job's options from the scene and its panel (raises FarmError on bad input)."""
    props = scene.renderfarm
    frames = job_frames(scene)
    file_format = scene.render.image_settings.file_format
    output = {"JPEG": "jpeg", "OPEN_EXR": "exr"}.get(file_format, "png")
    return render_request.RenderOptions(
        frames=frames,
        chunk_size=props.chunk_size or None,
        engine=None if props.engine == "SCENE" else props.engine,
        samples=props.samples if props.override_samples else None,
        resolution=(
            f"{props.resolution_x}x{props.resolution_y}" if props.override_resolution else None
        ),
        output_format=output,
        priority=props.priority,
        name=props.job_name.strip() or default_job_name(frames),
        tags=tuple(tag for tag in props.job_tags.replace(",", " ").split() if tag),
        scout=props.scout,
        # None leaves the farm's default order, preview first.
        order=None if props.preview_first else "sequential",
    )


__all__ = [
    "RENDERFARM_AddonPreferences",
    "RENDERFARM_OT_test_connection",
    "RENDERFARM_PG_scene",
    "default_job_name",
    "job_frames",
    "render_options",
]
