"""Which chunk ``renderfarm logs JOB`` shows without ``--chunk``: the first failed, else the
first rendering, else the one that started last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from renderfarm.wire import ChunkProgress
from renderfarm_client.cli.logs import pick_chunk

T0 = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def _chunk(index: int, state: str, *, started_s: int | None = None) -> ChunkProgress:
    return ChunkProgress.from_json(
        {
            "index": index,
            "state": state,
            "frames_total": 2,
            "frames_done": 0,
            "attempts": 0 if started_s is None else 1,
            "last_error": None,
            "blender_version": None,
            "started_at": None
            if started_s is None
            else (T0 + timedelta(seconds=started_s)).isoformat(),
            "finished_at": None,
        }
    )


def test_the_first_failed_chunk_comes_first() -> None:
    chunks = (
        _chunk(0, "done", started_s=0),
        _chunk(1, "rendering", started_s=5),
        _chunk(2, "failed", started_s=1),
        _chunk(3, "failed", started_s=2),
    )
    chosen = pick_chunk(chunks)
    assert chosen is not None and chosen.index == 2


def test_else_the_first_rendering_chunk() -> None:
    chunks = (
        _chunk(0, "done", started_s=9),
        _chunk(1, "rendering", started_s=5),
        _chunk(2, "rendering", started_s=1),
    )
    chosen = pick_chunk(chunks)
    assert chosen is not None and chosen.index == 1


def test_else_the_chunk_that_started_last() -> None:
    chunks = (_chunk(0, "done", started_s=9), _chunk(1, "done", started_s=3), _chunk(2, "pending"))
    chosen = pick_chunk(chunks)
    assert chosen is not None and chosen.index == 0


def test_no_chunk_started_means_no_log() -> None:
    assert pick_chunk((_chunk(0, "pending"), _chunk(1, "pending"))) is None
