"""The usage report's span rules and the rows one settled attempt adds, without storage."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from renderfarm.billing.report import GroupBy, InvalidUsageSpan, UsageSpanTooLong, usage_report
from renderfarm.billing.usage import (
    USAGE_SHARDS,
    Attribution,
    Dimension,
    Spend,
    UsageAddition,
    UsageRow,
    months_between,
)
from renderfarm.shared.errors import DomainError


class NoTotals:
    def add(self, addition: UsageAddition) -> bool:
        raise AssertionError("a report never writes")

    def rows(
        self, tenant: str, month: str, dimension: Dimension, value: str | None = None
    ) -> list[tuple[UsageRow, Spend]]:
        return []


@pytest.mark.parametrize(
    ("first", "last", "refusal", "status"),
    [
        (date(2026, 12, 8), date(2026, 12, 7), InvalidUsageSpan, 422),
        (date(2025, 1, 1), date(2026, 1, 2), UsageSpanTooLong, 403),
    ],
    ids=["from-after-to-is-malformed", "longer-than-a-year-is-the-farms-limit"],
)
def test_a_span_that_ends_before_it_starts_or_passes_a_year_is_refused(
    first: date, last: date, refusal: type[DomainError], status: int
) -> None:
    with pytest.raises(refusal) as refused:
        usage_report(NoTotals(), tenant="acme", first=first, last=last, group_by=GroupBy.DAY)
    assert refused.value.field == ("from", "query")
    assert refused.value.status == status


def test_a_span_reads_every_month_it_touches() -> None:
    assert months_between(date(2026, 11, 30), date(2027, 1, 1)) == ["2026-11", "2026-12", "2027-01"]


def test_an_attempt_adds_to_the_day_each_distinct_tag_its_name_and_its_key() -> None:
    owner = Attribution(tenant="acme", name="n", tags=("a", "b", "a"), submitted_by="k")
    addition = UsageAddition(
        id="j/0/1", owner=owner, at=datetime(2026, 12, 7, tzinfo=UTC), spend=Spend(frames=1)
    )
    rows = addition.rows()
    assert sorted((row.dimension.value, row.value) for row in rows) == [
        ("day", ""),
        ("key", "k"),
        ("name", "n"),
        ("tag", "a"),
        ("tag", "b"),
    ]
    assert {row.day for row in rows} == {7}
    assert all(0 <= row.shard < USAGE_SHARDS for row in rows)
