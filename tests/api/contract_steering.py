"""Where the contract test (tests/api/test_openapi_contract.py) steers schemathesis' generated
data: past the checks that answer before a job's rules are read, and into the rules that relate
two values of one request. The checks themselves are never narrowed."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Any

import httpx
import hypothesis
import jsonschema_rs
from schemathesis import Case, Response

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
    """The stateful phase is about what follows an accepted job: leave out what the farm's
    limits or a missing file would refuse (403, 404). The stateless test covers these fields."""
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


# --- The relations the document states in words ----------------------------------------------


def steer_relations(case: Case[Any]) -> None:
    """Make a generated request the document calls valid keep the rules that relate two of its
    values, which no JSON Schema states and the API refuses with a 422 by design (each is in
    its field's description; tests/api test each refusal):

    - a listed scout frame is one of the job's frames (issue 26 asks a 422 of it);
    - ``from`` is not after ``to``, whose default is today (issue 26 asks a 422 of it);
    - one path, one content: the same path twice with other bytes is ambiguous.

    Positive cases only, and only the values at fault change, so negative cases stay as
    generated. Every check runs whole on every answer.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if case.operation.label == "POST /api/jobs" and isinstance(case.body, dict):
        _scout_among_frames(case.body)
        _one_content_per_path(case.body)
    elif case.operation.label == "GET /api/usage" and isinstance(case.query, dict):
        _from_not_after_to(case.query)


def _scout_among_frames(body: dict[str, Any]) -> None:
    scout = body.get("scout")
    if not isinstance(scout, list) or not isinstance(body.get("frames"), str):
        return
    try:
        frames = parse_frames(body["frames"], step=body.get("step", 1))
    except (FrameSpecError, TypeError):
        return
    body["scout"] = sorted({frame if frame in frames else frames[0] for frame in scout})


def _one_content_per_path(body: dict[str, Any]) -> None:
    files = body.get("files")
    if not isinstance(files, dict) or not isinstance(files.get("files"), list):
        return
    first: dict[str, dict[str, Any]] = {}
    for entry in files["files"]:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            entry.update(first.setdefault(entry["path"], dict(entry)))  # the first's bytes


def _from_not_after_to(query: dict[str, Any]) -> None:
    first, last = query.get("from"), query.get("to")
    if not isinstance(first, str):
        return
    if last is None and first > date.today().isoformat():
        query["to"] = first
    elif isinstance(last, str) and first > last:
        query["from"], query["to"] = last, first


# --- What schemathesis takes for negative and is not --------------------------------------------


def skip_negatives_valid_on_the_wire(case: Case[Any]) -> None:
    """A query array sent as one scalar is a one-item array on the wire (``?tag=5`` is
    ``["5"]``). schemathesis 4.32 checks such a type mutation against the array's schema rather
    than its items' (its single-element rule skips array parameters), so it would call a valid
    request negative and its 200 a failure. Such a case is not negative: it is not run."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or not isinstance(case.query, dict):
        return
    for name, value in case.query.items():
        parameter = case.operation.query.get(name)
        if parameter is None or not isinstance(value, str | int | float):
            continue
        items = _array_items(parameter.validation_schema)
        if items is not None and jsonschema_rs.validator_for(items).is_valid(str(value)):
            hypothesis.reject()


def _array_items(schema: Any) -> dict[str, Any] | None:
    """The items' schema of an array parameter (``list[str] | None`` is an anyOf)."""
    if not isinstance(schema, dict):
        return None
    for option in [schema, *schema.get("anyOf", [])]:
        if isinstance(option, dict) and option.get("type") == "array":
            items = option.get("items")
            return items if isinstance(items, dict) else None
    return None
