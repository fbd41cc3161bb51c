"""Where the contract test steers schemathesis' generated data, and the job rules its
positive_data_acceptance check is not applied to (tests/api/test_openapi_contract.py)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import httpx
from schemathesis import Case, Response
from schemathesis.checks import CheckContext, positive_data_acceptance

from functions.problems import TYPE_PREFIX
from renderfarm.jobs.idempotency import KEY_PATTERN
from renderfarm.shared.frames import FrameSpecError, parse_frames
from tests.api.conftest import SCENE_BYTES

SCENE_SHA256 = hashlib.sha256(SCENE_BYTES).hexdigest()
SHA256 = r"[0-9a-f]{64}"


# --- Where the harness steers generated data -------------------------------------------------


def steer_job(case: Case[Any]) -> None:
    """Take a generated job past the checks that answer before its rules are read. Each change
    puts a valid value in place of another valid one, so a negative case stays negative.

    - A scene never uploaded gets 404 (scene-not-found, tested elsewhere): name the uploaded
      scene instead, so the job goes on to its other rules.
    - A short Idempotency-Key ("0") sent again with another body gets 422 (the IETF draft's
      status for a reused key): that comes of the fuzzer's own history, not of one request.
      Suffix the key with the body's hash, so the same key comes back only with the same body.
    """
    body = case.body
    if case.operation.label != "POST /api/jobs" or not isinstance(body, dict):
        return
    scene = body.get("scene_sha256")
    if isinstance(scene, str) and re.fullmatch(SHA256, scene):
        body["scene_sha256"] = SCENE_SHA256
    for name, key in list((case.headers or {}).items()):
        if name.lower() == "idempotency-key" and re.fullmatch(KEY_PATTERN, str(key)):
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            case.headers[name] = f"{key[:190]}-{digest}"


def steer_to_acceptance(body: dict[str, Any]) -> None:
    """The stateful phase is about what follows an accepted job: replace what the rules below
    (_UNSTATABLE) would refuse. The stateless test covers these fields."""
    body.pop("not_before", None)
    body.pop("files", None)
    if isinstance(body.get("scout"), list):
        body.pop("scout")
    body["scene_sha256"] = SCENE_SHA256
    try:
        parse_frames(body["frames"], step=body.get("step", 1))
    except (FrameSpecError, KeyError, TypeError):
        body["frames"] = "1-3"
    render = body.get("render")
    if isinstance(render, dict):
        for name in ("camera", "scene"):
            if len(str(render.get(name, "")).encode()) > 63:
                render.pop(name)


def upload(ticket: Response) -> None:
    """PUT the scene's bytes to the upload URL a ticket gave, as a client would."""
    data = ticket.json()
    if ticket.status_code == 200 and not data["exists"] and data["sha256"] == SCENE_SHA256:
        put = httpx.put(data["upload_url"], content=SCENE_BYTES, headers=data["upload_headers"])
        assert put.status_code == 201, put.text


# --- What no JSON Schema can state -------------------------------------------------------------

#: The rules of a job the document cannot state, by field and the words the API refuses with:
#: a relation between two values of a list, a time relative to now, a length in UTF-8 bytes.
#: Every other rule is in the document, and every other refusal of a request it calls valid is a
#: 403, 404 or 409 (schemathesis' positive_data_acceptance allows those).
_UNSTATABLE: dict[str, tuple[str, ...]] = {
    "frames": ("more than",),  # a count of the frames: arithmetic on the numbers
    "not_before": ("days ahead",),  # relative to now
    "scout": ("is not one of the job's frames",),  # a relation between two values
    "render.camera": ("bytes in UTF-8",),  # maxLength counts characters
    "render.scene": ("bytes in UTF-8",),
    "files": (
        "is listed twice",  # uniqueItems compares whole entries, not their paths
        "differ only by case",
        "is not among the files",  # no JSON Schema compares two values of the request
        "bytes",  # a path's and a name's length in UTF-8 bytes
    ),
}


#: The same for a usage report's span: ``from`` after ``to`` relates two query values, and its
#: length (at most a year of days) is arithmetic on two dates; each date alone is a format: date.
_UNSTATABLE_USAGE: dict[str, tuple[str, ...]] = {
    "from": ("is after to", "spans at most"),
}
_UNSTATABLE_BY_OPERATION: dict[str, dict[str, tuple[str, ...]]] = {
    "POST /api/jobs": _UNSTATABLE,
    "GET /api/usage": _UNSTATABLE_USAGE,
}


def _unstatable(response: Response, case: Case[Any]) -> bool:
    """A 422 for POST /api/jobs or GET /api/usage whose every error is one of the rules above."""
    rules = _UNSTATABLE_BY_OPERATION.get(case.operation.label)
    if rules is None or response.status_code != 422:
        return False
    problem: dict[str, Any] = response.json()
    if problem["type"] == TYPE_PREFIX + "project-refused":  # the farm's limits: its settings
        return True
    return problem["type"] == TYPE_PREFIX + "validation" and all(
        any(words in error["detail"] for words in rules.get(error["field"], ()))
        for error in problem["errors"]
    )


def positive_data_acceptance_but_the_unstatable(
    ctx: CheckContext, response: Response, case: Case[Any]
) -> bool | None:
    """positive_data_acceptance, on everything but the refusals of _UNSTATABLE."""
    if _unstatable(response, case):
        return None
    verdict: bool | None = positive_data_acceptance(ctx, response, case)
    return verdict


CHECKS: dict[str, Any] = {
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [positive_data_acceptance_but_the_unstatable],
}
