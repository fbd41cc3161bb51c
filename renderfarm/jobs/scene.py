"""A scene upload request: the .blend is named by its sha256 and stored once per tenant."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from renderfarm.jobs.render_request import json_integer

#: Larger scenes would take longer to verify than a request may last.
MAX_SCENE_BYTES = 4 * 1024**3


class SceneUpload(BaseModel):
    """The body of ``POST /api/scenes``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the .blend, lower-case")
    size: int = Field(ge=1, le=MAX_SCENE_BYTES, description="size of the .blend in bytes")

    _integers = field_validator("size", mode="before")(json_integer)
