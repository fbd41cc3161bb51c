"""PoolQueueDepth: a pool's depth over its band queues as KEDA reads it with one rule per queue
(the HPA takes the most replicas any rule asks for), and the local autoscaler deciding on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from renderfarm_local.autoscaler import Autoscaler, PoolQueueDepth, QueueDepthUnavailable
from renderfarm_local.scaling_rule import ScaleRule, ScalingParameters
from renderfarm_local.worker_pool import PoolCounts

PARAMS = ScalingParameters(
    min_replicas=0,
    max_replicas=10,
    message_count=2,
    activation_message_count=0,
    polling_interval_s=1.0,
    cooldown_period_s=30.0,
    scale_down_stabilization_s=0.0,
)


class Queue:
    """One band queue's counts, as ManagementQueueDepth answers them; settable between polls."""

    def __init__(self, active: int = 0, dead: int = 0) -> None:
        self.active, self.dead = active, dead
        self.reads = 0
        self.down = False

    def __call__(self) -> tuple[int, int]:
        self.reads += 1
        if self.down:
            raise QueueDepthUnavailable("http://127.0.0.1:5300/queues/render-chunks-5.3: refused")
        return self.active, self.dead


class FakePool:
    """The WorkerPool's face to the autoscaler: replicas set by scale_to."""

    def __init__(self) -> None:
        self.replicas = 0

    def scale_to(self, replicas: int) -> None:
        self.replicas = replicas

    def counts(self) -> PoolCounts:
        return PoolCounts(running=self.replicas, started=self.replicas, exited_on_their_own=0)


def bands(high: int, normal: int, low: int) -> tuple[Queue, Queue, Queue]:
    return Queue(high), Queue(normal), Queue(low)


@pytest.mark.parametrize(
    ("high", "normal", "low", "active"),
    [(0, 0, 0, 0), (7, 0, 0, 7), (0, 7, 0, 7), (0, 0, 7, 7), (3, 9, 4, 9), (5, 5, 5, 5)],
)
def test_the_depth_is_the_deepest_band_queue(high: int, normal: int, low: int, active: int) -> None:
    depth = PoolQueueDepth(bands(high, normal, low))
    assert depth() == (active, 0)


def test_dead_letters_add_up_over_the_band_queues() -> None:
    queues = [Queue(1, dead=2), Queue(0, dead=0), Queue(4, dead=5)]
    assert PoolQueueDepth(queues)() == (4, 7)


def test_every_queue_is_read_on_every_poll() -> None:
    queues = bands(0, 0, 0)
    depth = PoolQueueDepth(queues)
    depth()
    depth()
    assert [queue.reads for queue in queues] == [2, 2, 2]


def test_one_queue_alone_is_its_own_depth() -> None:
    assert PoolQueueDepth([Queue(3, dead=1)])() == (3, 1)


def test_a_pool_has_at_least_one_queue() -> None:
    with pytest.raises(ValueError, match="at least one queue"):
        PoolQueueDepth([])


def test_an_unreadable_band_queue_makes_the_depth_unavailable() -> None:
    """Not a smaller depth: a pool scaled on two of its three queues would drain workers that
    the third queue's backlog needs."""
    high, normal, low = bands(0, 0, 9)
    normal.down = True
    with pytest.raises(QueueDepthUnavailable):
        PoolQueueDepth([high, normal, low])()


def autoscaler(depth: Callable[[], tuple[int, int]]) -> tuple[Autoscaler, FakePool, list[float]]:
    pool = FakePool()
    clock = [0.0]
    scaler = Autoscaler(
        rule=ScaleRule(params=PARAMS),
        queue_depth=depth,
        pool=pool,  # type: ignore[arg-type]  # the three calls the autoscaler makes
        clock=lambda: clock[0],
    )
    return scaler, pool, clock


def test_a_backlog_in_any_band_alone_scales_the_pool_out() -> None:
    for position in range(3):
        counts = [0, 0, 0]
        counts[position] = 8
        scaler, pool, _ = autoscaler(PoolQueueDepth(bands(*counts)))
        poll = scaler.poll()
        assert (poll.active_messages, pool.replicas) == (8, 4)  # 8 messages / messageCount 2


def test_the_pool_scales_on_its_deepest_band_and_keeps_replicas_while_one_is_unreadable() -> None:
    high, normal, low = bands(2, 0, 6)
    scaler, pool, clock = autoscaler(PoolQueueDepth([high, normal, low]))
    assert scaler.poll().active_messages == 6 and pool.replicas == 3
    low.active, high.active = 0, 10  # the low backlog done, a high job in
    clock[0] += 1
    assert scaler.poll().active_messages == 10 and pool.replicas == 5
    low.down = True
    clock[0] += 1
    poll = scaler.poll()
    assert poll.depth_error is not None and pool.replicas == 5
    assert poll.active_messages == 10  # the last depth read, as KEDA keeps its last metric
    low.down = False
    high.active = 0
    clock[0] += PARAMS.cooldown_period_s + 1
    assert scaler.poll().active_messages == 0 and pool.replicas == 0


def test_named_queues_report_each_bands_count_through_the_poll() -> None:
    names = ("render-chunks-5.3-high", "render-chunks-5.3", "render-chunks-5.3-low")
    high, normal, low = bands(1, 0, 5)
    scaler, _, clock = autoscaler(PoolQueueDepth([high, normal, low], names=names))
    assert scaler.poll().by_queue == tuple(zip(names, (1, 0, 5), strict=True))
    normal.down = True
    clock[0] += 1
    assert scaler.poll().by_queue == tuple(zip(names, (1, 0, 5), strict=True))  # the last read
    with pytest.raises(ValueError, match="name every queue"):
        PoolQueueDepth([high, normal], names=names)
