"""The render settings a job asks for, validated field by field: what the request's ``render``
holds, and how a chunk message carries them back."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from renderfarm.shared.errors import CameraNotInScene, SceneNotInFile
from renderfarm.shared.render_settings import Device, Engine, OutputFormat, RenderSettings

#: Blender stores names in 64 bytes, one of them the terminator.
MAX_BLENDER_NAME_BYTES = 63
MAX_SAMPLES = 1 << 24
MAX_RESOLUTION = 65_536
MAX_CHUNK_SIZE = 1_000


def json_integer(value: Any) -> Any:
    """A before-validator for integer fields: a JSON Schema integer is 5 or 5.0, but not true or
    "5", which pydantic would otherwise read as 1 and 5."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


BlenderName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_BLENDER_NAME_BYTES, pattern=r"^[^\x00-\x1f]+$"),
]


#: _samples_need_a_sampling_engine, as JSON Schema states it: no samples with Workbench.
_SAMPLES_NEED_A_SAMPLING_ENGINE: JsonDict = {
    "if": {"required": ["engine"], "properties": {"engine": {"const": "BLENDER_WORKBENCH"}}},
    "then": {"properties": {"samples": {"type": "null"}}},
}


class RenderSettingsIn(BaseModel):
    """Render overrides; omitted fields keep what the .blend says."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        json_schema_extra=_SAMPLES_NEED_A_SAMPLING_ENGINE,
    )

    engine: Engine | None = None
    samples: int | None = Field(default=None, ge=1, le=MAX_SAMPLES)
    resolution_x: int | None = Field(default=None, ge=4, le=MAX_RESOLUTION)
    resolution_y: int | None = Field(default=None, ge=4, le=MAX_RESOLUTION)
    resolution_percentage: int | None = Field(default=None, ge=1, le=100)
    output_format: OutputFormat = OutputFormat.PNG
    camera: BlenderName | None = None
    scene: BlenderName | None = None
    device: Device = Field(
        default=Device.CPU,
        description="CPU, or GPU: Cycles on a GPU worker (OptiX, CUDA or HIP); needs GPU workers",
    )

    _integers = field_validator(
        "samples", "resolution_x", "resolution_y", "resolution_percentage", mode="before"
    )(json_integer)

    @field_validator("camera", "scene")
    @classmethod
    def _fits_blender_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            if any(ord(ch) < 32 for ch in value):
                raise ValueError("no control characters")
            if len(value.encode()) > MAX_BLENDER_NAME_BYTES:
                # Blender would never find it: no file holds a name so long (a 404, not a 422).
                missing = CameraNotInScene if info.field_name == "camera" else SceneNotInFile
                raise missing(
                    f"no .blend has a {info.field_name} named {value!r}: Blender names are at "
                    f"most {MAX_BLENDER_NAME_BYTES} bytes in UTF-8"
                )
        return value

    @model_validator(mode="after")
    def _samples_need_a_sampling_engine(self) -> Self:
        if self.samples is not None and self.engine is Engine.WORKBENCH:
            raise ValueError("samples do not apply to the Workbench engine")
        return self

    def to_domain(self) -> RenderSettings:
        return RenderSettings(**self.model_dump())


def render_settings_from_dict(data: dict[str, Any]) -> RenderSettings:
    """Read back what ``render_settings_to_dict`` wrote (validated again: it crossed a wire)."""
    return RenderSettingsIn.model_validate(data).to_domain()
