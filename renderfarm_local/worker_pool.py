"""The running workers: grow by starting processes, shrink by SIGTERM to the newest first."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from renderfarm_local.supervisor import ManagedProcess, ProcessSpec, stop_all

log = logging.getLogger(__name__)

#: Builds the spec of worker number ``n`` (numbers are never reused, so logs stay apart).
WorkerSpecFactory = Callable[[int], ProcessSpec]


@dataclass(frozen=True, kw_only=True)
class PoolCounts:
    running: int
    started: int
    exited_on_their_own: int


class WorkerPool:
    """Replicas as processes. A worker that exits by itself is reaped and counted; the next
    scaling decision replaces it, as Container Apps would."""

    def __init__(self, spec_for: WorkerSpecFactory):
        self._spec_for = spec_for
        self._numbers = itertools.count(1)
        self._workers: list[ManagedProcess] = []
        self._started = 0
        self._exited = 0

    @property
    def replicas(self) -> int:
        self._reap()
        return len(self._workers)

    def counts(self) -> PoolCounts:
        self._reap()
        return PoolCounts(
            running=len(self._workers), started=self._started, exited_on_their_own=self._exited
        )

    def running(self) -> list[ManagedProcess]:
        """For other threads (the autoscaler's thread alone reaps and resizes)."""
        return [worker for worker in list(self._workers) if worker.is_running()]

    def scale_to(self, replicas: int) -> None:
        self._reap()
        while len(self._workers) < replicas:
            self._workers.append(ManagedProcess(self._spec_for(next(self._numbers))))
            self._started += 1
        if len(self._workers) > replicas:
            # The newest have had the least time to pick up work.
            leaving = self._workers[replicas:]
            del self._workers[replicas:]
            stop_all(leaving)
            log.info("scaled in %d workers", len(leaving))

    def stop(self) -> None:
        self.scale_to(0)

    def _reap(self) -> None:
        for worker in [w for w in self._workers if not w.is_running()]:
            log.warning("%s exited with %s", worker.spec.name, worker.returncode)
            self._workers.remove(worker)
            self._exited += 1
