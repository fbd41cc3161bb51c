"""GET /api/health: whether Blob Storage and Service Bus answer. No key needed."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from fastapi import APIRouter, Response

from functions.openapi import RETRY_AFTER, problem
from functions.problems import PROBLEM_JSON
from functions.schemas import HealthPublic, ProblemPublic
from renderfarm.shared.errors import DependencyUnavailable
from web_deps.services import ServicesDep

router = APIRouter(tags=["health"])

#: The whole check answers within about this, however slow a dependency is.
HEALTH_TIMEOUT_S = 5.0


_DEGRADED = {
    "description": (
        "Blob Storage or Service Bus did not answer (`status: degraded`), or the API is "
        "misconfigured (a problem: `unavailable`)"
    ),
    "headers": RETRY_AFTER,
    "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{HealthPublic.__name__}"}},
        PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{ProblemPublic.__name__}"}},
    },
}


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={413: problem(413), 500: problem(500), 503: _DEGRADED},
)
def health(services: ServicesDep, response: Response) -> HealthPublic:
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")
    try:
        blob = pool.submit(services.ensure_containers)
        bus = pool.submit(services.queue.check)
        blob_state, bus_state = _state(blob), _state(bus)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung check must not hold the answer
    healthy = blob_state == bus_state == "ok"
    if not healthy:
        response.status_code = 503
        response.headers["Retry-After"] = "5"
    return HealthPublic(
        status="ok" if healthy else "degraded", blob_storage=blob_state, service_bus=bus_state
    )


def _state(future: Future[None]) -> str:
    try:
        future.result(timeout=HEALTH_TIMEOUT_S)
    except (DependencyUnavailable, FutureTimeout):
        return "unavailable"
    return "ok"
