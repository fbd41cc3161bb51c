"""The replicas as the local farm's autoscalers see them, written to a JSON file every second
for the dashboard's Farm page (the API runs in another process; RENDERFARM_LOCAL_REPLICAS_FILE
names the file). The format is the one dashboard/farm.py reads."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from renderfarm_local.autoscaler import ScalePoll
from renderfarm_local.scaling_rule import ScalingParameters

log = logging.getLogger(__name__)

REPORT_INTERVAL_S = 1.0


def report(polls: Mapping[str, ScalePoll | None], params: ScalingParameters) -> dict[str, object]:
    return {
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pools": [
            {
                "blender": version,
                "replicas": poll.replicas if poll else 0,
                "min_replicas": params.min_replicas,
                "max_replicas": params.max_replicas,
                "active_messages": poll.active_messages if poll else 0,
                "started": poll.workers.started if poll else 0,
                "depth_error": poll.depth_error if poll else None,
            }
            for version, poll in sorted(polls.items())
        ],
    }


def write_report(path: Path, document: Mapping[str, object]) -> None:
    """Replace the file whole, so a reader never sees half of it."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(document, indent=1), encoding="utf-8")
    os.replace(partial, path)


class ReplicasReporter:
    """Writes the report every second on a thread of its own until stopped."""

    def __init__(
        self,
        *,
        path: Path,
        polls: Callable[[], Mapping[str, ScalePoll | None]],
        params: ScalingParameters,
    ):
        self._path = path
        self._polls = polls
        self._params = params
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replicas-report", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                write_report(self._path, report(self._polls(), self._params))
            except OSError as error:
                log.warning("could not write %s: %s", self._path, error)
            self._stop.wait(REPORT_INTERVAL_S)
