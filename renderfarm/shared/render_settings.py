"""What a job asks Blender to do with each frame: the contract between the API and the worker."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Engine(StrEnum):
    """Render engines by the ids bpy 5.0.1 accepts for ``scene.render.engine``."""

    CYCLES = "CYCLES"
    EEVEE = "BLENDER_EEVEE"
    WORKBENCH = "BLENDER_WORKBENCH"


class OutputFormat(StrEnum):
    """Image formats by the ids of ``scene.render.image_settings.file_format``."""

    PNG = "PNG"
    JPEG = "JPEG"
    OPEN_EXR = "OPEN_EXR"

    @property
    def extension(self) -> str:
        return {"PNG": "png", "JPEG": "jpg", "OPEN_EXR": "exr"}[self.value]


class Device(StrEnum):
    """Where Cycles renders: the CPU, or the GPU of a GPU worker (OptiX, CUDA or HIP)."""

    CPU = "CPU"
    GPU = "GPU"


@dataclass(frozen=True, kw_only=True)
class RenderSettings:
    """Overrides applied to the scene before rendering; None keeps what the .blend says."""

    engine: Engine | None = None
    samples: int | None = None
    resolution_x: int | None = None
    resolution_y: int | None = None
    resolution_percentage: int | None = None
    output_format: OutputFormat = OutputFormat.PNG
    camera: str | None = None
    scene: str | None = None
    device: Device = Device.CPU


def render_settings_to_dict(settings: RenderSettings) -> dict[str, Any]:
    """Plain JSON values; the enums become their bpy ids. The device is left out for the CPU,
    its default, so that a CPU job's message is what workers of an older release read."""
    return {
        key: value.value if isinstance(value, Engine | OutputFormat | Device) else value
        for key, value in asdict(settings).items()
        if not (key == "device" and value is Device.CPU)
    }
