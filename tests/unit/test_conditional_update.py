"""One read-modify-write over an etag: a lost race reads again, a bounded number of times."""

from __future__ import annotations

import pytest

from renderfarm.shared.conditional_update import KeptChanging, update_conditionally
from renderfarm.shared.errors import ConcurrentUpdate


class Cell:
    """A stored value with an etag; ``rivals`` writes by someone else land just before ours."""

    def __init__(self, value: int | None = None, *, rivals: int = 0) -> None:
        self.value, self.version, self.rivals = value, (None if value is None else 1), rivals
        self.reads = self.writes = 0

    def read(self) -> tuple[int | None, str | None]:
        self.reads += 1
        return self.value, None if self.version is None else str(self.version)

    def write(self, value: int | None, etag: str | None) -> str:
        if self.rivals:
            self.rivals -= 1
            self.version = (self.version or 0) + 1
            self.value = (self.value or 0) + 100
        if etag != (None if self.version is None else str(self.version)):
            raise ConcurrentUpdate("written meanwhile")
        self.writes += 1
        self.value, self.version = value, (self.version or 0) + 1
        return str(self.version)


def add_one(value: int | None) -> int:
    return (value or 0) + 1


def test_a_value_not_yet_stored_is_created() -> None:
    cell = Cell()
    updated = update_conditionally(
        read=cell.read, change=add_one, write=cell.write, attempts=3, what="the cell"
    )
    assert (updated.value, updated.wrote, cell.value) == (1, True, 1)


def test_a_lost_race_reads_again_and_changes_what_the_other_writer_wrote() -> None:
    cell = Cell(5, rivals=2)
    updated = update_conditionally(
        read=cell.read, change=add_one, write=cell.write, attempts=3, what="the cell"
    )
    assert (updated.value, cell.reads, cell.writes) == (5 + 100 + 100 + 1, 3, 1)


def test_a_change_that_returns_its_argument_writes_nothing() -> None:
    cell = Cell(5)
    updated = update_conditionally(
        read=cell.read, change=lambda value: value, write=cell.write, attempts=3, what="the cell"
    )
    assert (updated.value, updated.wrote, cell.writes) == (5, False, 0)


def test_the_version_the_caller_holds_is_tried_first_without_a_read() -> None:
    cell = Cell(5)
    held: tuple[int | None, str | None] = (5, "1")
    update_conditionally(
        read=cell.read, change=add_one, write=cell.write, attempts=3, what="the cell", known=held
    )
    assert (cell.reads, cell.value) == (0, 6)


def test_every_attempt_lost_raises_a_clear_error_of_the_callers_kind() -> None:
    class CellContention(KeptChanging):
        pass

    cell = Cell(5, rivals=3)
    with pytest.raises(CellContention, match="the cell kept changing: 3 writes lost"):
        update_conditionally(
            read=cell.read,
            change=add_one,
            write=cell.write,
            attempts=3,
            what="the cell",
            contention=CellContention,
        )
    assert cell.writes == 0
