"""Cores of their own for the emulated Azure services, and the rest for Blender (Linux).

In Azure, Blob Storage, Service Bus, the API and the queue consumers run elsewhere: a worker's
replica has its vCPUs to itself. On one machine the local farm's emulators share Blender's cores.
Split, the services run on the first core (with this process, whose children inherit it) and
Blender, the worker's or bare, on the others, so a benchmark can measure what the farm costs
Blender as in Azure: the worker's own work beside the render, and nothing of the emulators'.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Set
from dataclasses import dataclass


@dataclass(frozen=True)
class CoreSplit:
    services: frozenset[int]
    render: frozenset[int]

    @classmethod
    def of_this_machine(cls) -> CoreSplit:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            raise RuntimeError("splitting the cores needs two of them at least")
        return cls(services=frozenset(cores[:1]), render=frozenset(cores[1:]))


def pin(pid: int, cores: Set[int]) -> None:
    """Every thread of ``pid`` on ``cores``; threads it starts later inherit them (an affinity
    is a thread's, so each of a running process's threads is pinned)."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
            os.sched_setaffinity(int(thread), cores)


@contextlib.contextmanager
def this_process_on(cores: Set[int]) -> Iterator[None]:
    """This process (and the children it starts meanwhile) on ``cores``, as it was after."""
    before = os.sched_getaffinity(0)
    pin(os.getpid(), cores)
    try:
        yield
    finally:
        pin(os.getpid(), before)
