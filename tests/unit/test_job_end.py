"""The ledger of settled chunks, and the outcome of a job once every chunk has settled."""

from __future__ import annotations

import pytest

from renderfarm.chunks.record import ChunkState
from renderfarm.jobs.end import (
    FANOUT,
    JobOutcome,
    LedgerTree,
    Node,
    SettledChunks,
    combined,
    outcome_of,
)


def settled(*states: ChunkState) -> SettledChunks:
    ledger = SettledChunks.empty(len(states))
    for index, state in enumerate(states):
        ledger = ledger.with_chunk(index, state)
    return ledger


def test_a_job_has_no_outcome_until_its_last_chunk_settles() -> None:
    ledger = SettledChunks.empty(3).with_chunk(0, ChunkState.DONE).with_chunk(2, ChunkState.DONE)
    assert ledger.settled == 2
    assert ledger.outcome(cancelled=False) is None
    assert ledger.with_chunk(1, ChunkState.DONE).outcome(cancelled=False) == JobOutcome.COMPLETED


def test_one_failed_chunk_fails_the_job_and_one_cancelled_cancels_it() -> None:
    assert settled(ChunkState.DONE, ChunkState.FAILED).outcome(cancelled=False) == "failed"
    assert settled(ChunkState.FAILED, ChunkState.CANCELLED).outcome(cancelled=False) == "cancelled"


def test_a_cancelled_manifest_cancels_a_job_whose_chunks_all_finished_after() -> None:
    assert settled(ChunkState.DONE).outcome(cancelled=True) == JobOutcome.CANCELLED


def test_the_latest_word_on_a_chunk_wins() -> None:
    ledger = settled(ChunkState.FAILED).with_chunk(0, ChunkState.DONE)
    assert ledger.state_of(0) is ChunkState.DONE


def test_the_ledger_round_trips_and_refuses_what_it_did_not_write() -> None:
    ledger = settled(ChunkState.DONE, ChunkState.FAILED, ChunkState.CANCELLED)
    assert SettledChunks.from_json(ledger.to_json()) == ledger
    with pytest.raises(ValueError, match="ledger"):
        SettledChunks.from_json('{"version": 1, "chunks": "dx"}')


@pytest.mark.parametrize("state", [ChunkState.PENDING, ChunkState.RENDERING])
def test_only_settled_states_go_into_the_ledger(state: ChunkState) -> None:
    with pytest.raises(ValueError, match="not a settled state"):
        SettledChunks.empty(1).with_chunk(0, state)


def test_a_chunk_outside_the_job_is_refused() -> None:
    with pytest.raises(ValueError, match="not in a job of 2 chunks"):
        SettledChunks.empty(2).with_chunk(2, ChunkState.DONE)


@pytest.mark.parametrize(
    ("chunks", "widths"),
    [
        (1, [1, 1]),
        (32, [32, 1]),
        (33, [33, 2, 1]),
        (1024, [1024, 32, 1]),
        (10_000, [10_000, 313, 10, 1]),
    ],
)
def test_the_ledger_tree_has_a_root_above_every_chunk_and_nodes_of_32(
    chunks: int, widths: list[int]
) -> None:
    tree = LedgerTree(chunks)
    assert [tree.width(level) for level in range(tree.root_level + 1)] == widths
    node = tree.leaf(chunks - 1)
    while not tree.is_root(node):
        node = tree.parent(node)
        assert 1 <= tree.child_count(node) <= FANOUT
    assert node == Node(tree.root_level, 0)


def test_the_last_node_of_a_level_counts_only_the_children_it_has() -> None:
    tree = LedgerTree(10_000)
    assert tree.child_count(Node(1, 312)) == 10_000 - 312 * 32
    assert tree.child_count(Node(2, 9)) == 313 - 9 * 32


def test_codes_combine_cancelled_over_failed_over_done() -> None:
    assert combined("ddd") == "d"
    assert combined("dfd") == "f"
    assert combined("fdc") == "c"
    assert outcome_of("d", cancelled=True) == JobOutcome.CANCELLED
    with pytest.raises(ValueError, match="not settled"):
        combined("d.")
