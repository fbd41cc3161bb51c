"""Names, tags, the list's cursor and key ids: the rules without the wire."""

from __future__ import annotations

import pytest

from renderfarm.jobs.list_cursor import ListCursor
from renderfarm.jobs.naming import MAX_NAME_LENGTH, JobFilter, default_name, frames_text
from renderfarm.keys.api_keys import KeyRing, hash_key, vault_key_id
from renderfarm.shared.errors import InvalidCursor
from tests.unit.job_use_case_fakes import MemoryStore, Queue, job, use_cases


@pytest.mark.parametrize(
    ("frames", "text"),
    [
        (range(1, 251), "1-250"),
        (range(1, 101, 5), "1-96x5"),
        ([1, 2, 3, 10, 20, 30, 31], "1-3,10-30x10,31"),
        ([7], "7"),
        ([1, 3], "1,3"),
    ],
)
def test_frames_are_said_as_blenders_syntax(frames: range | list[int], text: str) -> None:
    assert frames_text(tuple(frames)) == text


def test_a_default_name_is_the_file_name_and_frames_cut_to_fit() -> None:
    frames = tuple(range(1, 251))
    assert default_name(main="shots/shot_010.blend", scene_sha256="a" * 64, frames=frames) == (
        "shot_010.blend 1-250"
    )
    assert default_name(main=None, scene_sha256="0123456789ab" + "c" * 52, frames=frames) == (
        "scene 0123456789ab 1-250"
    )
    long = default_name(main="x" * 900 + ".blend", scene_sha256="a" * 64, frames=frames[::2])
    assert len(long) == MAX_NAME_LENGTH and long.endswith("\u2026 1-249x2")


def test_a_filter_matches_a_name_prefix_ignoring_case_and_every_tag() -> None:
    matching = JobFilter(name_prefix="SHOT_", tags=("lighting", "shot=010"))
    assert matching.matches("shot_010", ("shot=010", "lighting", "x"))
    assert not matching.matches("shot_010", ("shot=010",))
    assert not matching.matches("a shot_010", ("shot=010", "lighting"))
    assert JobFilter().is_empty and JobFilter().matches("anything", ())


def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    cursor = ListCursor(index_cursor="2!abc", skip=3, page_size=500)
    assert cursor.encode().startswith("c1.")
    assert ListCursor.decode(cursor.encode(), page_size=20) == cursor
    past_its_page = ListCursor(index_cursor=None, skip=9, page_size=5).encode()
    for text in ["c1.", "c1.not a cursor", "c1.bm90IG91cnM", past_its_page]:
        with pytest.raises(InvalidCursor):
            ListCursor.decode(text, page_size=20)
    # One from before: the index's own cursor, handed on (the index refuses a forged one).
    assert ListCursor.decode("2!88!MDAw", page_size=20) == ListCursor(
        index_cursor="2!88!MDAw", skip=0, page_size=20
    )


def test_a_keys_id_comes_from_its_vault_secret_else_from_its_hash() -> None:
    ring = KeyRing.from_named(
        [("3f2a9c1b", f"acme={hash_key('k1')}"), (None, f"acme={hash_key('k2')}")]
    )
    first, second = ring.key_for("k1"), ring.key_for("k2")
    assert first is not None and (first.tenant, first.key_id) == ("acme", "3f2a9c1b")
    assert second is not None and second.key_id == hash_key("k2")[:8]
    assert vault_key_id("apikey-acme-3f2a9c1b", None) == "3f2a9c1b"
    assert vault_key_id("apikey-acme-3f2a9c1b", {"key-id": "tagged"}) == "tagged"


def test_the_list_skips_jobs_whose_index_entry_does_not_match_without_reading_them() -> None:
    store, queue = MemoryStore(), Queue()
    svc = use_cases(store, queue)
    wanted = svc.submission.submit(
        job("1-2", tags=["pick"]), tenant="acme", idempotency_key=None, trace_context={}
    ).manifest.job_id
    for _ in range(5):
        svc.submission.submit(job("1-2"), tenant="acme", idempotency_key=None, trace_context={})
    reads = store.manifest_reads
    page = svc.listing.list_jobs(
        tenant="acme", size=10, cursor=None, state=None, matching=JobFilter(tags=("pick",))
    )
    assert [m.job_id for m, _ in page.statuses] == [wanted]
    assert store.manifest_reads - reads == 1
