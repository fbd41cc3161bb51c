"""Errors the domain raises, each saying what the caller can do about it."""

from __future__ import annotations

from typing import ClassVar


class DependencyUnavailable(RuntimeError):
    """Blob Storage or Service Bus did not answer in time: retry after ``retry_after`` seconds."""

    def __init__(self, dependency: str, retry_after: int, detail: str = ""):
        super().__init__(f"{dependency} is unavailable" + (f": {detail}" if detail else ""))
        self.dependency = dependency
        self.retry_after = retry_after
        self.detail = detail


class EnqueueFailed(DependencyUnavailable):
    """The job's chunks could not all be queued; its manifest says so (state failed)."""

    def __init__(self, job_id: str, cause: DependencyUnavailable):
        super().__init__(
            cause.dependency, cause.retry_after, f"job {job_id} failed to enqueue ({cause.detail})"
        )
        self.job_id = job_id


class JobNotFound(LookupError):
    """No such job for this tenant (another tenant's job is reported the same way)."""


class IdempotencyKeyReused(ValueError):
    """The Idempotency-Key already names a job whose request differs from this one."""


class SceneNotUsable(ValueError):
    """The job names a scene that is missing or whose bytes do not hash to its name."""


class SceneNotFound(SceneNotUsable, LookupError):
    """No scene stored under that sha256 for this tenant (another tenant's is not found either)."""


class QueuedFramesCapExceeded(RuntimeError):
    """The tenant already has too many frames waiting: retry when some have rendered."""

    def __init__(self, *, waiting: int, asked: int, cap: int):
        super().__init__(f"{waiting} frames waiting + {asked} asked exceeds the cap of {cap}")
        self.waiting, self.asked, self.cap = waiting, asked, cap


class UnreadableMessage(ValueError):
    """A queue message that is not what its queue carries: dead-letter it with ``reason``, since
    no retry can help (renderfarm_azure.queue_consumer)."""

    reason: ClassVar[str] = "UnreadableMessage"


class ConcurrentUpdate(RuntimeError):
    """Someone else changed the blob since it was read: read it again and retry."""


class InvalidCursor(ValueError):
    """A list cursor that this API did not hand out."""


class InvalidSchedule(ValueError):
    """A ``not_before`` in the past or too far ahead."""


class ProjectFileNotUsable(ValueError):
    """A file of the job's project is not on the farm, not whole, or not what its hash says;
    ``path`` is its path in the project, the user's own name for it."""

    def __init__(self, message: str, *, path: str):
        super().__init__(message)
        self.path = path


class ProjectFileNotFound(ProjectFileNotUsable, LookupError):
    """Files of the job's project this tenant never uploaded; ``path`` names the first."""
