"""A local farm whose workers fail the frames listed in a file (tests.local.faulty_worker): a
fault a test injects and then removes without changing the job."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LocalFarm
from tests.local.conftest import TEST_SCALING, RunningFarm


@contextlib.contextmanager
def farm_with_faults(root: Path, faults: Path) -> Iterator[RunningFarm]:
    """The farm in ``root``, its workers failing each frame listed in ``faults`` (absent: none)."""
    farm = LocalFarm(
        layout=FarmLayout(root=root),
        ports=FarmPorts.free(),
        scaling=TEST_SCALING,
        worker_command=(sys.executable, "-m", "tests.local.faulty_worker", str(faults)),
    )
    farm.start()
    try:
        yield RunningFarm(farm=farm)
    finally:
        farm.stop()
