"""The tenant's webhooks from the client's side (``/api/webhooks``): each call returns the API's
answer as it came, which ``renderfarm webhooks`` prints as it is (``--json``) or as a table.

Standard library only, like the rest of the client core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .farm_http import FarmHttp


class FarmWebhooks:
    """Subscribe a URL to job events, list the subscriptions, remove one."""

    def __init__(self, http: FarmHttp):
        self._http = http

    def add(self, url: str, events: Sequence[str]) -> dict[str, Any]:
        """``POST /api/webhooks``: the answer carries the signing secret, this once only. Not
        repeated on its own: a lost answer would leave a second webhook whose secret nobody saw."""
        return self._http.call(
            "POST", "/api/webhooks", json_body={"url": url, "events": list(events)}, retry=False
        )

    def list(self) -> dict[str, Any]:
        """``GET /api/webhooks``: ``{"webhooks": [...]}``, oldest first, never a secret."""
        return self._http.call("GET", "/api/webhooks")

    def remove(self, webhook_id: str) -> None:
        """``DELETE /api/webhooks/{id}`` (safe to repeat: a second try's 404 is reported)."""
        self._http.call("DELETE", f"/api/webhooks/{webhook_id}", retry=True)
