"""The local farm's autoscalers report their replicas in a file the dashboard's Farm page reads
(the API is another process): what one writes, the other reads."""

from __future__ import annotations

from pathlib import Path

from dashboard.farm import read_replicas
from renderfarm_local.autoscaler import ScalePoll
from renderfarm_local.replicas_report import report, write_report
from renderfarm_local.worker_pool import PoolCounts
from tests.local.conftest import TEST_SCALING


def test_the_farm_page_reads_what_the_autoscalers_wrote(tmp_path: Path) -> None:
    path = tmp_path / "replicas.json"
    poll = ScalePoll(
        at=1.0,
        active_messages=3,
        dead_letters=0,
        workers=PoolCounts(running=2, started=5, exited_on_their_own=1),
    )
    write_report(path, report({"5.3": poll, "4.5": None}, TEST_SCALING))
    found = read_replicas(str(path))
    assert found is not None
    by_version = {pool.blender: pool for pool in found.pools}
    assert by_version["5.3"].replicas == 2 and by_version["5.3"].started == 5
    assert by_version["5.3"].active_messages == 3
    assert by_version["5.3"].max_replicas == TEST_SCALING.max_replicas
    assert by_version["4.5"].replicas == 0
    assert not list(tmp_path.glob("*.partial"))


def test_no_file_or_a_broken_one_is_no_report(tmp_path: Path) -> None:
    assert read_replicas(None) is None
    assert read_replicas(str(tmp_path / "missing.json")) is None
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert read_replicas(str(tmp_path / "broken.json")) is None
