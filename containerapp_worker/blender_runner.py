"""Blender kept loaded in a long-lived process: open an untrusted scene, apply a job's settings,
render one frame at a time.

bpy is imported once, with this module. Every call must come from the one thread that renders;
``bpy.ops.render.render`` releases the GIL, so other threads (uploads, lock renewal) run meanwhile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from containerapp_worker.blender_log import BlenderLog
from containerapp_worker.errors import (
    FrameError,
    OutputWriteError,
    SceneError,
    SettingsError,
)
from containerapp_worker.render_device import use_device
from containerapp_worker.scene_files import missing_files
from renderfarm.shared.render_settings import Engine, RenderSettings

#: Largest frame we agree to render (16k x 16k): bigger ones would exhaust a replica's memory.
MAX_FRAME_PIXELS = 16384 * 16384
RENDER_RESULT = "Render Result"
LOG_LINES = 50


def blender_version() -> str:
    """The full version of the Blender this process runs (``5.3.0``)."""
    return str(bpy.app.version_string)


def _disable_script_execution() -> None:
    """No Python from a .blend runs: not auto-run text blocks, add-on registration or drivers.

    With auto-execution off, Blender skips registered text blocks and refuses every driver
    expression that is not a plain, whitelisted math expression (``bpy.app.autoexec_fail``).
    """
    bpy.context.preferences.filepaths.use_scripts_auto_execute = False


def _report_text(error: RuntimeError) -> str:
    """Blender's operator report without its trailing newline."""
    return str(error).strip()


def _bounded_int(owner: Any, name: str, value: int) -> int:
    """``value`` if the RNA property takes it; bpy would clamp silently, we refuse instead."""
    prop = owner.bl_rna.properties[name]
    if not prop.hard_min <= value <= prop.hard_max:
        raise SettingsError(f"{name}={value} is outside {prop.hard_min}..{prop.hard_max}")
    return value


class BlenderRunner:
    """One Blender session: the scene it has open and the settings applied to it."""

    def __init__(self, *, log_lines: int = LOG_LINES, threads: int = 0) -> None:
        self._log = BlenderLog(max_lines=log_lines)
        #: Render threads (0: every core). Workers sharing one machine each take their share:
        #: two Cycles renders each using every core are slower together than one at a time.
        self._threads = threads
        self._opened: Any = None  # the open file's active scene
        self._applied: Any = None  # the scene to render, once apply() has succeeded
        _disable_script_execution()
        # A file never runs code to fill this, but keep it pristine in case anything else did.
        self._driver_namespace = dict(bpy.app.driver_namespace)

    def log_tail(self) -> tuple[str, ...]:
        """Blender's last output lines, for a failed chunk's report."""
        return self._log.tail()

    def forget_log(self) -> None:
        """Start the chunk's own log: its report must not show an earlier job's lines."""
        self._log.clear()

    def new_output(self) -> bytes:
        """Blender's output since the last call (any thread), for the attempt's log."""
        return self._log.new_output()

    def open_scene(self, path: Path) -> None:
        """Open ``path`` with scripts disabled; its active scene becomes the one to render.

        Raises SceneError for a file Blender cannot read (corrupt, not a .blend) and
        FileNotFoundError when ``path`` is missing locally (the cache's fault, not the chunk's).
        """
        if not path.is_file():
            raise FileNotFoundError(path)
        self._opened = self._applied = None
        _disable_script_execution()
        self._restore_driver_namespace()
        try:
            with self._log.capture():
                bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False, use_scripts=False)
        except RuntimeError as error:
            raise SceneError(
                f"cannot open {path.name}: {_report_text(error)}", blender_log=self.log_tail()
            ) from error
        self._opened = bpy.context.scene

    def missing_files(self, root: Path) -> tuple[str, ...]:
        """The files the open scene uses that are not on disk, by their paths under ``root``
        (the job's project folder), or as the scene wrote them when outside it."""
        if self._opened is None:
            raise RuntimeError("open_scene() must succeed before missing_files()")
        return missing_files(bpy, root)

    def apply(self, settings: RenderSettings) -> str:
        """Apply a job's overrides to the open file and make Cycles deterministic; the device it
        renders on (``CPU``, ``OPTIX:NVIDIA H200``: render_device).

        Overrides stay until the next ``open_scene``; after a failed apply nothing renders.
        """
        self._applied = None
        scene = self._pick_scene(settings.scene)
        render = scene.render
        if settings.engine is not None:
            render.engine = settings.engine.value
        if settings.samples is not None:
            self._apply_samples(scene, settings.samples)
        if settings.resolution_x is not None:
            render.resolution_x = _bounded_int(render, "resolution_x", settings.resolution_x)
        if settings.resolution_y is not None:
            render.resolution_y = _bounded_int(render, "resolution_y", settings.resolution_y)
        if settings.resolution_percentage is not None:
            render.resolution_percentage = _bounded_int(
                render, "resolution_percentage", settings.resolution_percentage
            )
        self._check_frame_size(render)
        if hasattr(render.image_settings, "media_type"):  # Blender 5.0+; 4.x has images only
            render.image_settings.media_type = "IMAGE"
        render.image_settings.file_format = settings.output_format.value
        self._pick_camera(scene, settings.camera)
        self._make_cycles_deterministic(scene)
        self._set_threads(render)
        device = use_device(bpy, scene, settings.device)
        self._applied = scene
        return device

    def render_frame(self, frame: int, out_path: Path) -> Path:
        """Render ``frame`` of the applied scene and write it to ``out_path`` in its format."""
        scene = self._require_scene()
        try:
            with self._log.capture():
                scene.frame_set(frame)
                bpy.ops.render.render(scene=scene.name)
        except RuntimeError as error:
            raise FrameError(
                f"frame {frame} failed: {_report_text(error)}", blender_log=self.log_tail()
            ) from error
        try:
            with self._log.capture():
                bpy.data.images[RENDER_RESULT].save_render(filepath=str(out_path), scene=scene)
        except RuntimeError as error:
            raise OutputWriteError(
                f"cannot write frame {frame}: {_report_text(error)}", blender_log=self.log_tail()
            ) from error
        if not out_path.is_file():
            raise OutputWriteError(f"frame {frame} was not written to {out_path}")
        return out_path

    def _pick_scene(self, name: str | None) -> Any:
        if self._opened is None:
            raise RuntimeError("open_scene() must succeed before apply()")
        if name is None:
            return self._opened
        scene = bpy.data.scenes.get(name)
        if scene is None:
            raise SceneError(f"the file has no scene named {name!r}")
        return scene

    @staticmethod
    def _pick_camera(scene: Any, name: str | None) -> None:
        if name is not None:
            camera = scene.objects.get(name)
            if camera is None or camera.type != "CAMERA":
                raise SceneError(f"scene {scene.name!r} has no camera named {name!r}")
            scene.camera = camera
        if scene.camera is None:
            raise SceneError(f"scene {scene.name!r} has no camera")

    @staticmethod
    def _apply_samples(scene: Any, samples: int) -> None:
        engine = scene.render.engine
        if engine == Engine.CYCLES:
            scene.cycles.samples = _bounded_int(scene.cycles, "samples", samples)
        elif engine == Engine.EEVEE:
            scene.eevee.taa_render_samples = _bounded_int(
                scene.eevee, "taa_render_samples", samples
            )
        # Workbench has no sample count (its anti-aliasing is a preset): nothing to set.

    @staticmethod
    def _check_frame_size(render: Any) -> None:
        scale = render.resolution_percentage / 100
        pixels = int(render.resolution_x * scale) * int(render.resolution_y * scale)
        if pixels > MAX_FRAME_PIXELS:
            raise SettingsError(f"a frame of {pixels} pixels exceeds {MAX_FRAME_PIXELS}")

    def _set_threads(self, render: Any) -> None:
        """The file's own thread setting is the artist's machine's, not this replica's."""
        if self._threads > 0:
            render.threads_mode = "FIXED"
            render.threads = _bounded_int(render, "threads", self._threads)
        else:
            render.threads_mode = "AUTO"

    @staticmethod
    def _make_cycles_deterministic(scene: Any) -> None:
        """Same pixels on every replica and every retry (docs/facts.md "Deterministic pixels")."""
        cycles = scene.cycles
        cycles.seed = 0
        cycles.use_animated_seed = False
        cycles.use_adaptive_sampling = False
        cycles.use_denoising = False

    def _require_scene(self) -> Any:
        if self._applied is None:
            raise RuntimeError("open_scene() and apply() must succeed before render_frame()")
        return self._applied

    def _restore_driver_namespace(self) -> None:
        namespace = bpy.app.driver_namespace
        namespace.clear()
        namespace.update(self._driver_namespace)
