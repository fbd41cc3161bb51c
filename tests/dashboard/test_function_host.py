"""In Azure the Functions host serves the dashboard at ``/`` and the API under ``/api``: the HTTP
route prefix is empty (host.json) and the one HTTP function's catch-all route hands every path,
``/api`` included, to the same FastAPI app."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from renderfarm.shared.settings import Settings
from testbed.emulators import REPO
from tests.api.conftest import KEYS
from webapp.app import create_app


class _Context:
    invocation_id = "test-invocation"
    function_name = "http_app_func"
    function_directory = "."
    trace_context = None
    retry_context = None
    thread_local_storage = None


def test_host_json_lets_the_root_reach_the_app() -> None:
    host = json.loads((REPO / "host.json").read_text(encoding="utf-8"))
    assert host["extensions"]["http"]["routePrefix"] == ""


def _http_function(settings: Settings) -> Any:
    app = func.AsgiFunctionApp(
        app=create_app(settings=settings), http_auth_level=func.AuthLevel.ANONYMOUS
    )
    (function,) = app.get_functions()
    return function.get_user_function()


async def test_the_root_and_the_api_both_reach_the_app_through_the_host(settings: Settings) -> None:
    handler = _http_function(settings)

    async def get(path: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
        request = func.HttpRequest(
            method="GET", url=f"http://localhost:7071{path}", headers=headers or {}, body=b""
        )
        response: func.HttpResponse = await handler(request, _Context())
        return response

    root = await get("/")
    assert root.status_code == 303
    assert root.headers["Location"] == "/sign-in?next=/"
    sign_in = await get("/sign-in")
    assert sign_in.status_code == 200
    assert "default-src 'none'" in sign_in.headers["Content-Security-Policy"]
    script = await get("/static/dashboard.js")
    assert script.status_code == 200
    api = await get("/api/jobs", {"Authorization": f"Bearer {KEYS['acme']}"})
    assert api.status_code == 200
    assert json.loads(api.get_body()) == {"jobs": [], "next_cursor": None}
