"""Errors the domain raises, each saying what the caller can do about it.

Every error a request can cause is a DomainError: it carries its problem's slug, HTTP status and
title, and where in the request it points, so the API's mapping to RFC 9457 problems is one
table (functions/problems.py), not a list of every error kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    """An error with its answer: ``status`` and ``slug`` (the problem type's last part),
    ``title``, and ``field`` (name, where: body, query, header) when it is about one value of
    the request. Subclasses say more through the ``problem_*`` methods."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    field: ClassVar[tuple[str, str] | None] = None
    #: A failure of the farm, not of the request: the API logs it as an error.
    alarming: ClassVar[bool] = False

    def problem_detail(self) -> str | None:
        """The problem's detail: the message, unless the title says it all."""
        return str(self)

    def problem_extra(self) -> Mapping[str, Any]:
        """Extension members of the problem beside ``errors``."""
        return {}

    def problem_headers(self) -> Mapping[str, str]:
        return {}


class DependencyUnavailable(DomainError, RuntimeError):
    """Blob Storage or Service Bus did not answer in time: retry after ``retry_after`` seconds."""

    status, slug, title = 503, "unavailable", "Service unavailable"

    def problem_headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}

    def __init__(self, dependency: str, retry_after: int, detail: str = ""):
        super().__init__(f"{dependency} is unavailable" + (f": {detail}" if detail else ""))
        self.dependency = dependency
        self.retry_after = retry_after
        self.detail = detail


class EnqueueFailed(DependencyUnavailable):
    """The job's chunks could not all be queued; its manifest says so (state failed)."""

    slug, title = "enqueue-failed", "Job not enqueued"

    def problem_detail(self) -> str:
        return f"{self}; the job is marked failed, submit again later"

    def problem_extra(self) -> Mapping[str, Any]:
        return {"job_id": self.job_id, "status_url": f"/api/jobs/{self.job_id}"}

    def __init__(self, job_id: str, cause: DependencyUnavailable):
        super().__init__(
            cause.dependency, cause.retry_after, f"job {job_id} failed to enqueue ({cause.detail})"
        )
        self.job_id = job_id


class JobNotFound(DomainError, LookupError):
    """No such job for this tenant (another tenant's job is reported the same way)."""

    status, slug, title = 404, "job-not-found", "No such job"

    def problem_detail(self) -> None:
        return None


class IdempotencyKeyReused(DomainError, ValueError):
    """The Idempotency-Key already names a job whose request differs from this one."""

    status, slug, title = 422, "idempotency-key-reused", "Idempotency-Key reused"
    field = ("Idempotency-Key", "header")


class SceneNotUsable(DomainError, ValueError):
    """The job names a scene that is missing or whose bytes do not hash to its name."""

    status, slug, title = 422, "scene-not-usable", "Scene not usable"
    field = ("scene_sha256", "body")


class SceneNotFound(SceneNotUsable, LookupError):
    """No scene stored under that sha256 for this tenant (another tenant's is not found either)."""

    # A 404, not a 422: the request is well formed, what it names is missing (like a job id
    # that names no job), and only the farm's stored scenes can say so. A 422 would mean the
    # document failed to state a rule of the request.
    status, slug, title = 404, "scene-not-found", "No such scene"


class QueuedFramesCapExceeded(DomainError, RuntimeError):
    """The tenant already has too many frames waiting: retry when some have rendered."""

    status, slug, title = 429, "queued-frames-cap", "Too many frames waiting"
    #: How long a tenant over its cap is told to wait.
    retry_after_s: ClassVar[int] = 60

    def problem_extra(self) -> Mapping[str, Any]:
        return {"waiting": self.waiting, "cap": self.cap}

    def problem_headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after_s)}

    def __init__(self, *, waiting: int, asked: int, cap: int):
        super().__init__(f"{waiting} frames waiting + {asked} asked exceeds the cap of {cap}")
        self.waiting, self.asked, self.cap = waiting, asked, cap


class UnreadableMessage(ValueError):
    """A queue message that is not what its queue carries: dead-letter it with ``reason``, since
    no retry can help (renderfarm_azure.queue_consumer)."""

    reason: ClassVar[str] = "UnreadableMessage"


class ConcurrentUpdate(DomainError, RuntimeError):
    """Someone else changed the blob since it was read: read it again and retry."""

    status, slug, title = 409, "concurrent-update", "Changed concurrently"

    def problem_detail(self) -> str:
        return "retry the request"


class InvalidCursor(DomainError, ValueError):
    """A list cursor that this API did not hand out."""

    status, slug, title = 400, "invalid-cursor", "Invalid cursor"
    field = ("cursor", "query")


class FarmLimitExceeded(DomainError):
    """A well-formed request past a limit this farm sets: 403, which RFC 9110 gives a request
    the server understood and refuses. Not a 422: nothing in the request is malformed, another
    farm (or this one with other settings) would take it, and no schema of the request can say
    where the line is, since the farm draws it from its settings, its storage or the clock.

    Not a ValueError either: raised while a body is validated, it is not folded into the 422 of
    the fields pydantic refuses, and answers with its own status.
    """

    status, slug, title = 403, "farm-limit", "Past the farm's limits"


class TooManyFrames(FarmLimitExceeded):
    """More frames than one job may hold (manifests, messages and status stay bounded)."""

    field = ("frames", "body")


class ScheduleTooFarAhead(FarmLimitExceeded):
    """A ``not_before`` too far ahead: project files no job names are kept only so long."""

    field = ("not_before", "body")


class NameNotInScene(DomainError, LookupError):
    """A camera or scene name no .blend can hold (Blender keeps names in 63 bytes), so none in
    the job's file: a 404, as for a name looked up and not found. Not a ValueError (see
    FarmLimitExceeded): the request is well formed, the thing it names cannot exist."""

    status, slug, title = 404, "name-not-in-scene", "No such name in the scene"


class CameraNotInScene(NameNotInScene):
    field = ("render.camera", "body")


class SceneNotInFile(NameNotInScene):
    field = ("render.scene", "body")


class AboutAFile(DomainError):
    """An error about one file of a job's project: ``path`` is its path in the project, the
    user's own name for it, and the problem's ``path`` member (absent when None)."""

    field = ("files", "body")

    def problem_extra(self) -> Mapping[str, Any]:
        return {} if self.path is None else {"path": self.path}

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class ProjectFileNotUsable(AboutAFile, ValueError):
    """A file of the job's project is not on the farm, not whole, or not what its hash says."""

    status, slug, title = 422, "project-file-not-usable", "Project file not usable"


class ProjectFileNotFound(ProjectFileNotUsable, LookupError):
    """Files of the job's project this tenant never uploaded; ``path`` names the first."""

    # A 404, as a scene never uploaded is: what the request names is missing from the farm's
    # store, which only the farm can know.
    status, slug, title = 404, "project-file-not-found", "Project file not found"
