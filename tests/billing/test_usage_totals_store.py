"""Running usage totals in Azurite's Table service: additions from many settlers at once lose
nothing, an addition applied again adds nothing, and a report reads them back by group."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from azure.data.tables import TableClient

from renderfarm.billing.report import GroupBy, usage_report
from renderfarm.billing.usage import Attribution, Dimension, Spend, UsageAddition
from renderfarm_azure.usage_totals_store import TableUsageTotals
from testbed.emulators import AzuriteTable, run_azurite_table

AT = datetime(2026, 12, 7, 10, tzinfo=UTC)
FOREST = Attribution(
    tenant="acme",
    name="shot_010.blend 1-250",
    tags=("project=forest", "lighting"),
    submitted_by="k1",
)


@pytest.fixture(scope="module")
def table_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteTable]:
    with run_azurite_table(Path(tmp_path_factory.mktemp("table"))) as service:
        yield service


@pytest.fixture
def totals(table_service: AzuriteTable) -> Iterator[TableUsageTotals]:
    client = TableClient.from_connection_string(
        table_service.connection_string, table_name="usage" + uuid.uuid4().hex[:10]
    )
    store = TableUsageTotals(client)
    yield store
    store.close()


def addition(
    id: str, *, owner: Attribution = FOREST, at: datetime = AT, usd: float = 0.25, writer: str = ""
) -> UsageAddition:
    return UsageAddition(
        id=id, owner=owner, at=at, spend=Spend(worker_s=10.0, frames=2, usd=usd), writer=writer
    )


def test_settlers_adding_to_one_months_totals_at_once_lose_nothing(
    totals: TableUsageTotals,
) -> None:
    threads, each = 8, 12

    def settle(thread: int) -> None:
        for n in range(each):
            # One writer: every thread writes the same rows, the worst case for races.
            assert totals.add(addition(f"job/{thread}/{n}", writer="worker-0"))

    workers = [threading.Thread(target=settle, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    (day,) = totals.rows("acme", "2026-12", Dimension.DAY)
    assert day[1] == Spend(worker_s=10.0 * threads * each, frames=2 * threads * each, usd=24.0)


def test_an_addition_applied_again_adds_nothing(totals: TableUsageTotals) -> None:
    assert totals.add(addition("job/0/1"))
    assert not totals.add(addition("job/0/1"))
    (day,) = totals.rows("acme", "2026-12", Dimension.DAY)
    assert day[1].frames == 2


def test_a_report_groups_by_tag_name_key_and_day(totals: TableUsageTotals) -> None:
    other = Attribution(tenant="acme", name="shot_020.blend 1-10", tags=("project=desert",))
    totals.add(addition("a/0/1", writer="w1"))
    totals.add(addition("a/1/1", writer="w2"))  # another shard, summed back
    totals.add(addition("b/0/1", owner=other, at=AT.replace(day=8), usd=1.0))
    totals.add(addition("c/0/1", owner=Attribution(tenant="globex"), usd=9.0))

    def report(group_by: GroupBy, last: date = date(2026, 12, 31)) -> dict[str, float]:
        found = usage_report(
            totals, tenant="acme", first=date(2026, 12, 1), last=last, group_by=group_by
        )
        return {group.key: group.spend.usd for group in found.groups}

    assert report(GroupBy.TAG) == {"lighting": 0.5, "project=desert": 1.0, "project=forest": 0.5}
    assert report(GroupBy.NAME) == {"shot_010.blend 1-250": 0.5, "shot_020.blend 1-10": 1.0}
    assert report(GroupBy.KEY) == {"k1": 0.5}
    assert report(GroupBy.DAY) == {"2026-12-07": 0.5, "2026-12-08": 1.0}
    assert report(GroupBy.TAG, last=date(2026, 12, 7)) == {
        "lighting": 0.5,
        "project=forest": 0.5,
    }


@pytest.mark.parametrize(
    "name", ["a/b#c?d\\e", "é" * 200, "tab\tand|bar", "%41 not decoded twice"], ids=str.__len__
)
def test_any_name_a_job_may_have_is_kept_as_given(totals: TableUsageTotals, name: str) -> None:
    totals.add(addition("n/0/1", owner=Attribution(tenant="acme", name=name)))
    ((row, spend),) = totals.rows("acme", "2026-12", Dimension.NAME, name)
    assert (row.value, spend.frames) == (name, 2)


def test_a_month_with_no_usage_reads_as_none(totals: TableUsageTotals) -> None:
    assert totals.rows("acme", "2026-11", Dimension.DAY) == []
