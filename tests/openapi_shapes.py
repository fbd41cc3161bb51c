"""What the farm's OpenAPI document says an answer looks like, checked on the answers a client
printed (``renderfarm ... --json``): the document as the API serves it, and each answer
validated against the schema of its operation's response, as OpenAPI 3.1 reads it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from openapi_schema_validator import OAS31Validator


def served_document(api_url: str) -> dict[str, Any]:
    """``GET /api/openapi.json`` of the farm at ``api_url``."""
    with urllib.request.urlopen(f"{api_url}/api/openapi.json", timeout=30) as answer:  # noqa: S310
        document: dict[str, Any] = json.load(answer)
    return document


def assert_fits(document: dict[str, Any], method: str, path: str, status: int, answer: Any) -> None:
    """``answer`` is what the document says ``method path`` answers with ``status``."""
    response = document["paths"][path][method.lower()]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    # The schema's $refs point into the document's components: validate against both.
    OAS31Validator({**schema, "components": document["components"]}).validate(answer)
