"""The same scene on CPU and on GPU (OptiX, CUDA or HIP, as a GPU worker picks) where a GPU is
present: ``python -m bench.bench_gpu [--frames N]``. Prints a "no GPU here" line and exits 0 on a
machine without one: nothing depends on a GPU."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from containerapp_worker.errors import SettingsError
from renderfarm.shared.render_settings import Device, Engine, RenderSettings


def _render(runner: object, scene: Path, settings: RenderSettings, frames: int, out: Path) -> float:
    runner.open_scene(scene)  # type: ignore[attr-defined]
    runner.apply(settings)  # type: ignore[attr-defined]
    started = time.perf_counter()
    for frame in range(1, frames + 1):
        runner.render_frame(frame, out / f"{settings.device}-{frame:04d}.png")  # type: ignore[attr-defined]
    return (time.perf_counter() - started) / frames


@contextlib.contextmanager
def _blender_silenced() -> Iterator[None]:
    """Blender's own lines (``Read blend``, the GPU libraries it looks for) go to the null
    device: the benchmark prints its figures only."""
    saved = [os.dup(fd) for fd in (1, 2)]
    with open(os.devnull, "wb") as null:
        try:
            for fd in (1, 2):
                os.dup2(null.fileno(), fd)
            yield
        finally:
            for fd, kept in zip((1, 2), saved, strict=True):
                os.dup2(kept, fd)
                os.close(kept)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_gpu")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--resolution", type=int, default=512)
    args = parser.parse_args()
    from containerapp_worker.blender_runner import BlenderRunner  # noqa: PLC0415 (bpy)
    from testbed.scenes import build_cycles_scene  # noqa: PLC0415

    runner = BlenderRunner()
    common = {
        "engine": Engine.CYCLES,
        "samples": args.samples,
        "resolution_x": args.resolution,
        "resolution_y": args.resolution,
    }
    gpu_s: float | None = None
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as scratch, _blender_silenced():
        out = Path(scratch)
        scene = build_cycles_scene(out / "scene.blend")
        cpu_s = _render(runner, scene, RenderSettings(**common), args.frames, out)
        with contextlib.suppress(SettingsError):
            gpu_s = _render(
                runner, scene, RenderSettings(**common, device=Device.GPU), args.frames, out
            )
    if gpu_s is None:
        print(f"no GPU here (no OptiX, CUDA or HIP device): CPU {cpu_s:.3f} s/frame")
        return 0
    print(f"CPU {cpu_s:.3f} s/frame  GPU {gpu_s:.3f} s/frame  CPU/GPU {cpu_s / gpu_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
