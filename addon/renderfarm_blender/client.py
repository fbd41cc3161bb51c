"""The farm's client for the add-on: the vendored stdlib core, a client from the preferences, and
every failure as one line a person can act on in Blender.

The core (``renderfarm_client``'s top-level modules) is copied into ``client_core/`` by
``scripts/build_addon.py``; the repository holds it once. Nothing here touches the network on
import or at register time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the repository's copy, for the type checker
    from renderfarm_client import farm_api, job_follower, project, render_request
else:  # the copy the build put into the extension (project.py needs the bundled BAT wheel)
    from .client_core import farm_api, job_follower, project, render_request

__all__ = ["FarmSettings", "explain", "farm_api", "job_follower", "project", "render_request"]

log = logging.getLogger(__name__)

PREFERENCES_HINT = "Edit → Preferences → Add-ons → Render Farm"


@dataclass(frozen=True, kw_only=True)
class FarmSettings:
    """Where the farm is and the key to it: the preferences, else the environment."""

    api_url: str
    api_key: str | None

    @classmethod
    def resolve(cls, api_url: str, api_key: str) -> FarmSettings:
        url = api_url.strip() or os.environ.get("RENDERFARM_API_URL", "").strip()
        key = api_key.strip() or os.environ.get("RENDERFARM_API_KEY", "").strip()
        return cls(api_url=url or farm_api.DEFAULT_API_URL, api_key=key or None)

    def client(
        self,
        *,
        retry_for_s: float = farm_api.RETRY_FOR_S,
        on_retry: Callable[[str], None] | None = None,
    ) -> farm_api.FarmClient:
        return farm_api.FarmClient(
            api_url=self.api_url, api_key=self.api_key, retry_for_s=retry_for_s, on_retry=on_retry
        )


def explain(error: BaseException) -> str:
    """One line for the status bar and the panel; never a traceback (that goes to the log)."""
    if isinstance(error, farm_api.FarmUnreachable | farm_api.KeyRefused):
        return _where_to_fix(error)
    if isinstance(error, farm_api.SceneTooLarge):
        return f"The scene is too large for the farm: {error}"
    if isinstance(error, farm_api.FarmError | PackingError):
        return _one_line(str(error))
    log.error("renderfarm: unexpected error", exc_info=error)
    return _one_line(f"Unexpected error ({type(error).__name__}): {error}; see the system console")


def _where_to_fix(error: farm_api.FarmUnreachable | farm_api.KeyRefused) -> str:
    url = error.api_url
    if isinstance(error, farm_api.KeyRefused):
        verb = "needs an API key: set it" if error.missing else "refused the API key: check it"
        return f"The farm at {url} {verb} in {PREFERENCES_HINT}"
    if "in time" in str(error):
        return f"The farm at {url} did not answer in time"
    return f"No farm answers at {url}: check the farm URL in {PREFERENCES_HINT}"


class PackingError(Exception):
    """The scene cannot be sent as it is: the message names what is missing."""


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "failed"
    return line[:1].upper() + line[1:]
