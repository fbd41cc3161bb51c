"""What went wrong with a chunk, named by what the worker must do with its message.

Two families, and the worker loop settles by family, never by message text:

* ``PoisonError``: the chunk can never succeed, on this replica or any other (a corrupt or
  not-a-blend file, a camera or scene name the file lacks, settings Blender cannot take, an error
  Blender reports while rendering a frame). Retrying only burns delivery attempts, so the message
  is dead-lettered at once with ``reason`` as the DeadLetterReason and ``description`` (plus the
  tail of Blender's log) as the DeadLetterErrorDescription, and the job shows the failed chunk.
* ``TransientError``: this replica, its disk or the network failed, not the chunk. The message is
  abandoned so another delivery (maybe on another replica) continues from the first missing
  frame; MaxDeliveryCount dead-letters a chunk that keeps failing this way.

Any other exception is a bug or an unforeseen failure and is treated as transient by the loop.
"""

from __future__ import annotations


class WorkerError(Exception):
    """A failure the worker knows how to settle; ``blender_log`` is Blender's last log lines."""

    reason: str = "WorkerError"

    def __init__(self, description: str, *, blender_log: tuple[str, ...] = ()) -> None:
        super().__init__(description)
        self.description = description
        self.blender_log = blender_log


class PoisonError(WorkerError):
    """The chunk fails wherever it runs: dead-letter it now."""

    reason = "PoisonChunk"


class SceneError(PoisonError):
    """The .blend cannot be opened, or lacks the scene or camera the job names."""

    reason = "SceneError"


class SettingsError(PoisonError):
    """The job's render settings are impossible for Blender (out of range, too large)."""

    reason = "SettingsError"


class FrameError(PoisonError):
    """Blender reported an error while rendering a frame of this scene."""

    reason = "FrameError"


class TransientError(WorkerError):
    """This replica failed, not the chunk: abandon the message for another delivery."""

    reason = "TransientError"


class OutputWriteError(TransientError):
    """A rendered frame could not be written to local disk (full, read-only, vanished)."""

    reason = "OutputWriteError"
