import pytest

from renderfarm.shared import blob_layout as layout

JOB = "0123456789abcdef0123456789abcdef"


def test_names_follow_the_documented_layout() -> None:
    assert layout.scene_blob("acme", "b" * 64) == "acme/" + "b" * 64 + ".blend"
    assert layout.manifest_blob(JOB) == f"{JOB}/job.json"
    assert layout.chunk_blob(JOB, 7) == f"{JOB}/chunks/7.json"
    assert layout.frame_blob(JOB, 42, "png") == f"{JOB}/frames/000042.png"
    assert layout.thumb_blob(JOB, 42) == f"{JOB}/thumbs/000042.jpg"


def test_scene_names_refuse_anything_but_a_sha256() -> None:
    with pytest.raises(ValueError):
        layout.scene_blob("acme", "../etc/passwd")


def test_each_tenant_has_its_own_scene_names() -> None:
    sha = "c" * 64
    assert layout.scene_blob("acme", sha) != layout.scene_blob("globex", sha)
    assert layout.scene_blob("studio-9", sha).startswith("studio-9/")


@pytest.mark.parametrize(
    "tenant",
    ["", "..", "../acme", "acme/globex", "Acme", "-acme", "acme_1", "a" * 64, "acme ", "b" * 64],
)
def test_scene_names_refuse_a_tenant_that_is_not_a_tenant_id(tenant: str) -> None:
    with pytest.raises(ValueError, match="tenant"):
        layout.scene_blob(tenant, "c" * 64)


def test_frame_and_chunk_names_read_back() -> None:
    assert layout.frame_of(layout.frame_blob(JOB, 1_048_574, "exr"), JOB) == 1_048_574
    assert layout.frame_of(f"{JOB}/frames/notes.txt", JOB) is None
    assert layout.frame_of(layout.chunk_blob(JOB, 1), JOB) is None
    assert layout.chunk_index_of(layout.chunk_blob(JOB, 12), JOB) == 12


def test_tenant_index_lists_newest_first() -> None:
    older = layout.tenant_index_blob("acme", JOB, created_us=1_000)
    newer = layout.tenant_index_blob("acme", "f" * 32, created_us=2_000)
    assert sorted([older, newer]) == [newer, older]
    assert layout.job_id_of_index_blob(older) == JOB
    assert older.startswith(layout.tenant_index_prefix("acme"))


def covered(prefixes: list[str]) -> set[int]:
    """Every 6-digit frame number that some prefix matches."""
    frames: set[int] = set()
    for prefix in prefixes:
        rest = layout.FRAME_DIGITS - len(prefix)
        start = int(prefix) * 10**rest if prefix else 0
        frames.update(range(start, start + 10**rest))
    return frames


@pytest.mark.parametrize(
    "ranges",
    [[(1, 1)], [(1, 250)], [(100, 199)], [(5001, 10000)], [(7, 12), (95, 130)], [(0, 999_999)]],
)
def test_frame_name_prefixes_cover_exactly_the_ranges(ranges: list[tuple[int, int]]) -> None:
    prefixes = layout.frame_name_prefixes(ranges)
    assert prefixes is not None
    expected = {frame for low, high in ranges for frame in range(low, high + 1)}
    assert covered(prefixes) == expected


def test_an_aligned_block_of_frames_is_one_prefix() -> None:
    assert layout.frame_name_prefixes([(100, 199)]) == ["0001"]
    assert layout.frame_name_prefixes([(0, 999_999)]) == [""]


def test_frames_wider_than_the_padding_ask_for_a_full_listing() -> None:
    assert layout.frame_name_prefixes([(999_990, 1_000_010)]) is None


@pytest.mark.parametrize(
    ("first", "last"),
    [(42, 42), (1, 10), (11, 20), (1001, 1005), (99, 100), (1, 100), (5001, 10000), (1, 999_999)],
)
def test_a_range_is_listed_in_at_most_two_blocks_at_most_ten_times_its_size(
    first: int, last: int
) -> None:
    prefixes = layout.range_prefixes(first, last)
    assert prefixes is not None and 1 <= len(prefixes) <= 2
    listed = covered(prefixes)
    assert set(range(first, last + 1)) <= listed
    assert len(listed) <= 20 * (last - first + 1)


def test_a_chunk_lists_the_blocks_of_its_frames_or_each_frame_past_the_padding() -> None:
    assert layout.chunk_frame_prefixes([1001, 1002, 1003]) == ["00100"]
    assert layout.chunk_frame_prefixes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == ["00000", "00001"]
    assert layout.chunk_frame_prefixes([999_999, 1_000_000]) == ["999999.", "1000000."]
    assert layout.cancel_blob(JOB, 3) == f"{JOB}/cancel/3"
