"""bench/core_split.py: the services' cores and Blender's, and a process moved between them."""

from __future__ import annotations

import os
import threading

import pytest

from bench.core_split import CoreSplit, this_process_on


def test_the_services_take_the_first_core_and_blender_the_others() -> None:
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        with pytest.raises(RuntimeError, match="two of them"):
            CoreSplit.of_this_machine()
        return
    split = CoreSplit.of_this_machine()
    assert split.services == {min(cores)}
    assert split.render == cores - {min(cores)}


def test_every_thread_of_this_process_moves_and_is_moved_back() -> None:
    before = os.sched_getaffinity(0)
    one = {min(before)}
    seen: list[set[int]] = []
    started, release = threading.Event(), threading.Event()

    def other_thread() -> None:
        started.set()
        release.wait(10)
        seen.append(os.sched_getaffinity(0))

    thread = threading.Thread(target=other_thread)
    thread.start()
    started.wait(10)
    with this_process_on(one):
        release.set()
        thread.join(10)
        assert os.sched_getaffinity(0) == one
    assert seen == [one]  # a thread already running moved too
    assert os.sched_getaffinity(0) == before
