"""The local autoscaler: every polling interval, read the queue depth, apply KEDA's rule and
resize the worker pool, as KEDA does for Container Apps."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from renderfarm_local.scaling_rule import ScaleRule
from renderfarm_local.worker_pool import PoolCounts, WorkerPool

log = logging.getLogger(__name__)


class QueueDepthUnavailable(RuntimeError):
    """The emulator's management endpoint did not answer with the queue's counts."""


@dataclass(frozen=True, kw_only=True)
class ScalePoll:
    """What one poll saw and did (the only view of the pool other threads read)."""

    at: float
    active_messages: int
    dead_letters: int
    workers: PoolCounts
    depth_error: str | None = None
    #: Each queue's active messages, where the depth names its queues (PoolQueueDepth with
    #: names): the pool's band queues, highest first.
    by_queue: tuple[tuple[str, int], ...] = ()

    @property
    def replicas(self) -> int:
        return self.workers.running


class ManagementQueueDepth:
    """Queue depth from the emulator's management endpoint (Azure's admin API needs HTTPS).

    One client for all its reads: ``httpx.get`` builds a client, and its TLS context, on every
    call (about 50 ms of CPU here), which every poll took from the workers' render."""

    def __init__(self, *, management_url: str, queue_name: str, timeout_s: float = 2.0):
        self._url = f"{management_url}/queues/{queue_name}"
        self._client = httpx.Client(timeout=timeout_s)

    def __call__(self) -> tuple[int, int]:
        """(active messages, locked ones included as Service Bus counts them; dead letters)."""
        try:
            response = self._client.get(self._url)
            response.raise_for_status()
            counts = response.json()
            return int(counts["active_message_count"]), int(counts["dead_letter_message_count"])
        except (httpx.HTTPError, ValueError, KeyError) as error:
            raise QueueDepthUnavailable(f"{self._url}: {error}") from error


class PoolQueueDepth:
    """A pool's depth over its queues, one per priority band, as KEDA sees it with one
    azure-servicebus rule per queue (infra: containerapps.bicep): the HPA runs the most replicas
    any rule asks for, which, every rule having the same messageCount and activation, is what
    the rule asks for the deepest queue. So: (the deepest queue's active messages, the dead
    letters of all of them)."""

    def __init__(
        self, depths: Sequence[Callable[[], tuple[int, int]]], *, names: Sequence[str] = ()
    ):
        if not depths:
            raise ValueError("a pool has at least one queue")
        if names and len(names) != len(depths):
            raise ValueError("name every queue or none")
        self._depths = tuple(depths)
        self._names = tuple(names)
        #: The last read's active messages per named queue, for the farm's views.
        self.by_queue: tuple[tuple[str, int], ...] = ()

    def __call__(self) -> tuple[int, int]:
        counts = [depth() for depth in self._depths]
        if self._names:
            self.by_queue = tuple(
                (name, active) for name, (active, _) in zip(self._names, counts, strict=True)
            )
        return max(active for active, _ in counts), sum(dead for _, dead in counts)


class Autoscaler:
    def __init__(
        self,
        *,
        rule: ScaleRule,
        queue_depth: Callable[[], tuple[int, int]],
        pool: WorkerPool,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rule = rule
        self.pool = pool
        self._queue_depth = queue_depth
        self._clock = clock
        self.last_poll: ScalePoll | None = None

    def poll(self) -> ScalePoll:
        """One decision. If the depth cannot be read, keep the replicas (KEDA does the same)."""
        now = self._clock()
        try:
            active, dead = self._queue_depth()
        except QueueDepthUnavailable as error:
            log.warning("queue depth unavailable, keeping the replicas: %s", error)
            previous = self.last_poll
            poll = ScalePoll(
                at=now,
                active_messages=previous.active_messages if previous else 0,
                dead_letters=previous.dead_letters if previous else 0,
                workers=self.pool.counts(),
                depth_error=str(error),
                by_queue=previous.by_queue if previous else (),
            )
        else:
            replicas = self.rule.decide(
                now=now, active_messages=active, current_replicas=self.pool.replicas
            )
            self.pool.scale_to(replicas)
            poll = ScalePoll(
                at=now,
                active_messages=active,
                dead_letters=dead,
                workers=self.pool.counts(),
                by_queue=getattr(self._queue_depth, "by_queue", ()),
            )
        self.last_poll = poll
        return poll

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, then stop every worker (SIGTERM: each abandons its
        message, so nothing is lost)."""
        try:
            while not stop.is_set():
                try:
                    self.poll()
                except Exception:  # a worker that cannot start: try again next poll, as KEDA does
                    log.exception("autoscaler poll failed")
                stop.wait(self.rule.params.polling_interval_s)
        finally:
            self.pool.stop()


class AutoscalerThread:
    """The autoscaler on a thread of its own; the thread that starts workers outlives them."""

    def __init__(self, autoscaler: Autoscaler):
        self.autoscaler = autoscaler
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=autoscaler.run, args=(self._stop,), name="autoscaler", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
