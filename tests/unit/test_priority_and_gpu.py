"""Priority bands, the chunk queues' names, render.device and the worker's device choice."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest
from pydantic import ValidationError

from containerapp_worker.errors import SettingsError
from containerapp_worker.render_device import NO_GPU, GpuDevice, choose
from renderfarm.jobs.render_request import render_settings_from_dict
from renderfarm.jobs.spec import JobRequest
from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import (
    farm_queues,
    is_gpu_queue,
    pool_queues,
    queue_key,
    queue_name,
    version_of_queue,
)
from renderfarm.shared.priority import BAND_PRIORITY, DEFAULT_PRIORITY, Band, band_of
from renderfarm.shared.render_settings import Device, RenderSettings, render_settings_to_dict

V5_3 = BlenderVersion(5, 3)
V4_5 = BlenderVersion(4, 5)
SHA = "a" * 64


@pytest.mark.parametrize(
    ("priority", "band"),
    [
        (0, Band.LOW),
        (3, Band.LOW),
        (4, Band.NORMAL),
        (6, Band.NORMAL),
        (7, Band.HIGH),
        (9, Band.HIGH),
    ],
)
def test_priorities_map_to_three_bands(priority: int, band: Band) -> None:
    assert band_of(priority) is band


def test_the_default_priority_is_normal_and_each_band_name_stands_for_its_own_band() -> None:
    assert band_of(DEFAULT_PRIORITY) is Band.NORMAL
    for band, number in BAND_PRIORITY.items():
        assert band_of(number) is band


@pytest.mark.parametrize("priority", [-1, 10])
def test_a_priority_outside_0_to_9_has_no_band(priority: int) -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.9"):
        band_of(priority)


@pytest.mark.parametrize(
    ("given", "stored", "band"),
    [("high", 8, Band.HIGH), ("normal", 5, Band.NORMAL), ("low", 2, Band.LOW), (7, 7, Band.HIGH)],
)
def test_a_job_takes_an_integer_or_a_band_name(given: int | str, stored: int, band: Band) -> None:
    spec = JobRequest(scene_sha256=SHA, frames="1", priority=given).to_spec()  # type: ignore[arg-type]
    assert (spec.priority, spec.band) == (stored, band)


@pytest.mark.parametrize("given", ["urgent", "HIGH", "5", 12, -1, True, None, 2.5])
def test_anything_else_is_refused_on_the_priority_field(given: object) -> None:
    with pytest.raises(ValidationError) as raised:
        JobRequest.model_validate({"scene_sha256": SHA, "frames": "1", "priority": given})
    assert [error["loc"] for error in raised.value.errors()] == [("priority",)]


def test_a_pool_has_one_queue_per_band_and_the_normal_one_keeps_its_old_name() -> None:
    assert pool_queues("render-chunks", V5_3) == (
        "render-chunks-5.3-high",
        "render-chunks-5.3",
        "render-chunks-5.3-low",
    )
    assert pool_queues("render-chunks", V5_3, gpu=True) == (
        "render-chunks-5.3-gpu-high",
        "render-chunks-5.3-gpu",
        "render-chunks-5.3-gpu-low",
    )
    assert queue_key(V4_5, Band.LOW, gpu=True) == "4.5-gpu-low"


def test_every_queue_of_the_farm_gives_back_its_version_and_kind() -> None:
    cpu = farm_queues("render-chunks", [V4_5, V5_3])
    both = farm_queues("render-chunks", [V4_5, V5_3], gpu=True)
    assert len(cpu) == 6 and len(both) == 12 and set(cpu) < set(both)
    for name in both:
        assert version_of_queue("render-chunks", name) in {V4_5, V5_3}
        assert is_gpu_queue("render-chunks", name) == ("-gpu" in name)


@pytest.mark.parametrize("name", ["render-chunks-5.3-urgent", "render-chunks-5.3-gpu-gpu"])
def test_unknown_suffixes_are_no_pool_queue(name: str) -> None:
    assert version_of_queue("render-chunks", name) is None


def test_a_manifest_routes_by_band_and_device() -> None:
    assert queue_name("render-chunks", V5_3, Band.HIGH) == "render-chunks-5.3-high"
    gpu_high = JobRequest.model_validate(
        {"scene_sha256": SHA, "frames": "1", "priority": "high", "render": {"device": "GPU"}}
    ).to_spec()
    assert (gpu_high.band, gpu_high.gpu) == (Band.HIGH, True)


def test_render_device_defaults_to_cpu_and_a_cpu_message_keeps_its_old_shape() -> None:
    assert RenderSettings().device is Device.CPU
    assert "device" not in render_settings_to_dict(RenderSettings())
    gpu = RenderSettings(device=Device.GPU)
    assert render_settings_to_dict(gpu)["device"] == "GPU"
    assert render_settings_from_dict(render_settings_to_dict(gpu)) == gpu


@pytest.mark.parametrize("device", ["gpu", "CUDA", "", 1])
def test_a_bad_render_device_is_refused(device: object) -> None:
    with pytest.raises(ValidationError) as raised:
        JobRequest.model_validate(
            {"scene_sha256": SHA, "frames": "1", "render": {"device": device}}
        )
    assert [error["loc"] for error in raised.value.errors()] == [("render", "device")]


def lister(devices: Mapping[str, Sequence[GpuDevice]]) -> Callable[[str], Sequence[GpuDevice]]:
    return lambda backend: devices.get(backend, ())


def gpu(backend: str, name: str = "NVIDIA H200") -> GpuDevice:
    return GpuDevice(backend=backend, name=name, type=backend)


def test_a_cpu_chunk_renders_on_the_cpu_whatever_gpu_is_there() -> None:
    assert choose(Device.CPU, lister({"OPTIX": [gpu("OPTIX")]})).label == "CPU"


def test_optix_is_preferred_over_cuda_and_cuda_over_hip() -> None:
    everything = {"OPTIX": [gpu("OPTIX")], "CUDA": [gpu("CUDA")], "HIP": [gpu("HIP", "MI300")]}
    assert choose(Device.GPU, lister(everything)).label == "OPTIX:NVIDIA H200"
    del everything["OPTIX"]
    assert choose(Device.GPU, lister(everything)).label == "CUDA:NVIDIA H200"
    del everything["CUDA"]
    assert choose(Device.GPU, lister(everything)).label == "HIP:MI300"


def test_every_gpu_of_the_backend_is_used_and_cpu_entries_are_not() -> None:
    listed = {
        "CUDA": [
            gpu("CUDA", "A"),
            GpuDevice(backend="CUDA", name="cpu", type="CPU"),
            gpu("CUDA", "B"),
        ]
    }
    choice = choose(Device.GPU, lister(listed))
    assert choice.label == "CUDA:A+B"


def test_a_gpu_chunk_on_a_worker_without_a_gpu_fails_for_good_saying_why() -> None:
    cpu_only = {"CUDA": [GpuDevice(backend="CUDA", name="cpu", type="CPU")]}
    with pytest.raises(SettingsError, match=r"no GPU: this chunk asks for render\.device GPU"):
        choose(Device.GPU, lister(cpu_only))
    assert "OptiX, CUDA or HIP" in NO_GPU
