"""The job body the CLI sends, from its options: names a person types to the API's ids."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .farm_api import FarmError

ENGINES = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}
FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "exr": "OPEN_EXR", "open_exr": "OPEN_EXR"}
#: The API's ``order``: how a job's chunks are sent (preview_first is the farm's default).
ORDERS = ("preview_first", "sequential")
_RESOLUTION = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


@dataclass(frozen=True, kw_only=True)
class RenderOptions:
    frames: str
    chunk_size: int | None = None
    engine: str | None = None
    samples: int | None = None
    resolution: str | None = None
    output_format: str = "png"
    priority: int | str | None = None  # 0..9, or a band: "low", "normal", "high"
    blender: str | None = None  # a pinned major.minor; else the farm picks by the scene
    not_before: str | None = None  # RFC 3339: a deferred render
    order: str | None = None  # one of ORDERS; else the farm's default (preview_first)
    name: str | None = None  # else the farm's default: the .blend's file name and the frames
    tags: tuple[str, ...] = ()  # labels or key=value (the farm checks their grammar)
    #: Scout first: True (the first, middle and last frames) or the frames; and the quote under
    #: which the farm approves without asking.
    scout: bool | tuple[int, ...] = False
    approve_below_usd: float | None = None

    def job_body(
        self,
        scene_sha256: str | None = None,
        *,
        files: dict[str, Any] | None = None,
        allow_missing: bool = False,
    ) -> dict[str, Any]:
        """The body of ``POST /api/jobs`` for a one-file scene (``scene_sha256``) or a project
        (``files``: main, files, missing, as renderfarm_client.project's ``file_set()`` gives)."""
        render: dict[str, Any] = {"output_format": _lookup(FORMATS, self.output_format, "format")}
        if self.engine is not None:
            render["engine"] = _lookup(ENGINES, self.engine, "engine")
        if self.samples is not None:
            render["samples"] = self.samples
        if self.resolution is not None:
            render["resolution_x"], render["resolution_y"] = parse_resolution(self.resolution)
        body: dict[str, Any] = {"frames": self.frames, "render": render}
        if files is not None:
            body["files"] = files
            body["allow_missing"] = allow_missing
        else:
            body["scene_sha256"] = scene_sha256
        given = {
            "chunk_size": self.chunk_size,
            "priority": self.priority,
            "blender": self.blender,
            "not_before": self.not_before,
            "order": self.order,
            "name": self.name or None,
            "tags": list(self.tags) or None,
            "approve_below_usd": self.approve_below_usd,
        }
        body.update({member: value for member, value in given.items() if value is not None})
        if self.scout:
            body["scout"] = list(self.scout) if isinstance(self.scout, tuple) else True
        return body


def parse_resolution(text: str) -> tuple[int, int]:
    match = _RESOLUTION.match(text)
    if match is None:
        raise FarmError(f"--resolution {text!r} is not WIDTHxHEIGHT, e.g. 320x240")
    return int(match[1]), int(match[2])


def _lookup(table: dict[str, str], value: str, what: str) -> str:
    key = value.strip().lower()
    if key in table:
        return table[key]
    if value in table.values():
        return value
    raise FarmError(f"unknown {what} {value!r}: use one of {', '.join(sorted(table))}")
