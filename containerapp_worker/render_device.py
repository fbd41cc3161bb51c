"""Which device Cycles renders a chunk on: the CPU, or for ``render.device GPU`` the best GPU
backend present, OptiX, then CUDA, then HIP.

The choice is pure (``choose``) and unit-tested without a GPU; ``use_device`` applies it to bpy's
Cycles preferences and the scene. A GPU chunk on a worker with no GPU fails for good: a
SettingsError, dead-lettered with a message that says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from containerapp_worker.errors import SettingsError
from renderfarm.shared.render_settings import Device

#: Cycles' GPU backends, best first.
GPU_BACKENDS = ("OPTIX", "CUDA", "HIP")
NO_GPU = (
    "no GPU: this chunk asks for render.device GPU but the worker has no OptiX, CUDA or HIP device"
)


@dataclass(frozen=True, kw_only=True)
class GpuDevice:
    """A device Cycles lists under one backend (``type`` is the backend, or CPU)."""

    backend: str
    name: str
    type: str


@dataclass(frozen=True, kw_only=True)
class Choice:
    backend: str  # "" for the CPU
    devices: tuple[GpuDevice, ...]

    @property
    def label(self) -> str:
        """What the chunk record says: ``CPU`` or ``OPTIX:NVIDIA H200`` (names joined by +)."""
        if not self.backend:
            return "CPU"
        return f"{self.backend}:" + "+".join(device.name for device in self.devices)


def choose(device: Device, listed: Callable[[str], Sequence[GpuDevice]]) -> Choice:
    """The CPU for a CPU chunk; for a GPU chunk the first backend of GPU_BACKENDS that lists a
    GPU (``listed(backend)``: the devices Cycles lists with that backend), with all its GPUs.
    SettingsError when there is none."""
    if device is Device.CPU:
        return Choice(backend="", devices=())
    for backend in GPU_BACKENDS:
        gpus = tuple(d for d in listed(backend) if d.type == backend)
        if gpus:
            return Choice(backend=backend, devices=gpus)
    raise SettingsError(NO_GPU)


def use_device(bpy: Any, scene: Any, device: Device) -> str:
    """Point Cycles at ``device`` for ``scene``; the label of what it will render on."""
    if device is Device.CPU:
        if hasattr(scene, "cycles"):
            scene.cycles.device = "CPU"
        return "CPU"
    preferences = bpy.context.preferences.addons["cycles"].preferences

    def listed(backend: str) -> list[GpuDevice]:
        try:
            preferences.compute_device_type = backend
        except TypeError:  # this build of Cycles has no such backend
            return []
        preferences.refresh_devices()
        return [
            GpuDevice(backend=backend, name=str(d.name), type=str(d.type))
            for d in preferences.get_devices_for_type(backend)
        ]

    choice = choose(device, listed)
    preferences.compute_device_type = choice.backend
    preferences.refresh_devices()
    chosen = {d.name for d in choice.devices}
    for listed_device in preferences.devices:
        listed_device.use = listed_device.type == choice.backend and listed_device.name in chosen
    scene.cycles.device = "GPU"
    return choice.label
