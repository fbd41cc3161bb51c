"""What went wrong with a chunk, named by what the worker must do with its message.

Three families, and the worker loop settles by family, never by message text (and
``Superseded``, no failure: a message of a retry round the job has left, completed unworked):

* ``PoisonError``: the chunk can never succeed, on this replica or any other (a corrupt or
  not-a-blend file, a camera or scene name the file lacks, settings Blender cannot take, an error
  Blender reports while rendering a frame). Retrying only burns delivery attempts, so the message
  is dead-lettered at once with ``reason`` as the DeadLetterReason and ``description`` (plus the
  tail of Blender's log) as the DeadLetterErrorDescription, and the job shows the failed chunk.
* ``TransientError``: this replica, its disk or the network failed, not the chunk. The message is
  abandoned so another delivery (maybe on another replica) continues from the first missing
  frame; MaxDeliveryCount dead-letters a chunk that keeps failing this way.
* ``UnexpectedError``: any other exception (a bug, an unforeseen failure of bpy, a library or the
  SDK), wrapped with its type and words. The message is abandoned at once, as for a transient
  error, and the error is recorded on the chunk. ``StateInDoubt``, its kind that says the replica
  itself may be broken, also makes the worker exit non-zero to be replaced.

When is a replica's state in doubt? When Blender raised an exception that is none of ours (its
in-process state, kept from chunk to chunk, may be broken: the next chunk could hang or render
wrong pixels), when memory ran out anywhere, or when unexpected errors hit two different messages
in a row (the replica, not a message, is then the likely cause). One unexpected error elsewhere,
or the same message failing again, is not: the worker serves the next message, and
MaxDeliveryCount dead-letters a message that keeps failing.
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


class UnexpectedError(WorkerError):
    """An exception none of ours: abandon the message now, record it, and go on."""

    reason = "UnexpectedError"

    @classmethod
    def wrapping(cls, error: BaseException, *, in_blender: bool = False) -> UnexpectedError:
        """``error`` with its type named; StateInDoubt when it leaves the replica in doubt."""
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if in_blender:
            return StateInDoubt(f"Blender raised {text}")
        if isinstance(error, MemoryError):
            return StateInDoubt(f"out of memory: {text}")
        return cls(text)


class StateInDoubt(UnexpectedError):
    """This replica may be broken (Blender raised something none of ours, memory ran out):
    abandon the message, then exit non-zero so that a fresh replica takes over."""

    reason = "StateInDoubt"


class FileMismatch(PoisonError):
    """A file of the job's project is not the bytes its file set names (by sha256). The stored
    blob is deleted, so that the client's next submit uploads the file again."""

    reason = "FileMismatch"


class FileNotStored(PoisonError):
    """The job's file set names a file the farm does not hold (deleted since the submit)."""

    reason = "FileNotStored"


class MissingFiles(PoisonError):
    """The scene uses files its project lacks, and the job did not allow it (allow_missing)."""

    reason = "MissingFiles"


class Superseded(WorkerError):
    """The job was retried since this message was sent: a later round's message renders the
    chunk, so this one is completed with nothing recorded and nothing settled."""

    reason = "Superseded"
