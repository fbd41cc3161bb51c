"""The render worker with a fault a test can turn on and off: ``python -m tests.local.faulty_worker
FAULTS`` runs ``containerapp_worker`` unchanged, except that a frame listed in the file FAULTS
(a frame list, ``2`` or ``4-6``) fails as Blender's own errors do, for good (FrameError, a
poison chunk). The file is read before each frame, so removing it fixes the cause for the next
attempt, without touching the job: what a bad node, a driver or a licence server that came back
would look like."""

from __future__ import annotations

import sys
from pathlib import Path

from containerapp_worker import blender_runner
from containerapp_worker.__main__ import main
from containerapp_worker.errors import FrameError
from renderfarm.shared.frames import parse_frames


def inject(faults: Path) -> None:
    render_frame = blender_runner.BlenderRunner.render_frame

    def faulty(self: blender_runner.BlenderRunner, frame: int, out_path: Path) -> Path:
        if faults.is_file() and frame in parse_frames(faults.read_text(encoding="utf-8")):
            raise FrameError(f"frame {frame} failed: injected fault")
        return render_frame(self, frame, out_path)

    blender_runner.BlenderRunner.render_frame = faulty  # type: ignore[method-assign]


if __name__ == "__main__":
    inject(Path(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
