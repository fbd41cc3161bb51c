"""What an answer of the farm's API means to the client: its JSON, how long it asks the client to
wait (Retry-After), or the FarmError of one line its problem (RFC 9457) says."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import Message
from typing import Any

from .farm_errors import FarmError, KeyRefused, RetryLater, SceneTooLarge


@dataclass(frozen=True, kw_only=True)
class Answer:
    status: int
    reason: str
    headers: Message
    body: bytes
    path: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


def retry_after_s(headers: Message) -> float:
    """Retry-After in seconds (the API sends seconds, never an HTTP date); 0 where it is absent
    or not a number of seconds (a proxy's date)."""
    try:
        return max(0.0, float(headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0


def answer_json(answer: Answer, api_url: str) -> dict[str, Any]:
    if answer.status == 204:  # No Content: a DELETE's answer
        return {}
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise FarmError(f"{api_url} answered something that is not the farm's API") from None
    if not isinstance(data, dict):
        raise FarmError(f"{api_url} answered something that is not the farm's API")
    return data


def explain(answer: Answer, api_url: str, job_id: str | None, *, has_key: bool) -> FarmError:
    """The error for a problem+json answer, its message in one line."""
    status = answer.status
    if status == 401:
        return KeyRefused(
            f"the farm at {api_url} needs an API key: set RENDERFARM_API_KEY or --api-key"
            if not has_key
            else f"the farm at {api_url} refused the API key: check RENDERFARM_API_KEY",
            api_url=api_url,
            missing=not has_key,
        )
    # A 404 problem of the farm's own (a scene it lacks) explains itself, below.
    if status == 404 and (job_id is not None or b"urn:renderfarm:problem:" not in answer.body):
        return FarmError(
            f"no job {job_id} on the farm at {api_url}"
            if job_id is not None
            else f"{api_url} has no renderfarm API at {answer.path}"
        )
    try:
        problem = json.loads(answer.body)
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    title = problem.get("title") or answer.reason or f"HTTP {status}"
    detail = problem.get("detail")
    errors = [e for e in problem.get("errors") or [] if isinstance(e, dict)]
    fields = "; ".join(f"{e.get('field')}: {e.get('detail')}" for e in errors)
    explanation = f"{title}: {fields or detail}" if (fields or detail) else title
    retry = answer.headers.get("Retry-After")
    size_refused = status == 413 or any(e.get("field") == "size" for e in errors)
    if answer.path == "/api/scenes" and status in {413, 422} and size_refused:
        return SceneTooLarge(explanation)
    if status in {429, 503}:
        suffix = f" (retry in {retry} s)" if retry else ""
        return RetryLater(
            explanation + suffix, retry_after_s=retry_after_s(answer.headers) if retry else None
        )
    return FarmError(explanation)
