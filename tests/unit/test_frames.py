import random

import pytest

from renderfarm.shared.frames import MAX_FRAME, FrameSpecError, format_frames, parse_frames


def test_single_range_is_inclusive() -> None:
    assert parse_frames("1-250") == tuple(range(1, 251))


def test_list_of_ranges_and_single_frames_is_sorted_and_distinct() -> None:
    assert parse_frames("30-32, 20,1-3,2") == (1, 2, 3, 20, 30, 31, 32)


def test_range_with_its_own_step() -> None:
    assert parse_frames("1-100x25") == (1, 26, 51, 76)


def test_step_field_applies_to_ranges_without_their_own() -> None:
    assert parse_frames("1-10,20-30x5", step=3) == (1, 4, 7, 10, 20, 25, 30)


def test_a_range_that_runs_backwards_names_the_same_frames() -> None:
    assert parse_frames("10-1") == parse_frames("1-10")


def test_a_backwards_range_with_a_step_counts_down_from_its_start() -> None:
    assert parse_frames("10-1x3") == (1, 4, 7, 10)
    assert parse_frames("10-2x3", step=1) == (4, 7, 10)


@pytest.mark.parametrize(
    "text", ["", " ", "1,,2", "a-b", "-3", "1-", "1-10x0", "1.5", "1 - 3 - 5", "0x10"]
)
def test_malformed_frame_text_is_refused(text: str) -> None:
    with pytest.raises(FrameSpecError):
        parse_frames(text)


def test_frames_beyond_blenders_maximum_are_refused() -> None:
    with pytest.raises(FrameSpecError, match="up to"):
        parse_frames(f"1-{MAX_FRAME + 1}")


def test_too_many_frames_are_refused_without_building_them() -> None:
    with pytest.raises(FrameSpecError, match="more than 10"):
        parse_frames("1-11", max_frames=10)


def test_step_below_one_is_refused() -> None:
    with pytest.raises(FrameSpecError):
        parse_frames("1-10", step=0)


def test_format_frames_reads_back_as_the_same_frames() -> None:
    frames = (1, 2, 3, 7, 9, 10)
    assert format_frames(frames) == "1-3,7,9-10"
    assert parse_frames(format_frames(frames)) == frames


def test_format_frames_writes_an_even_step_as_one_range() -> None:
    assert format_frames(tuple(range(1, 200, 2))) == "1-199x2"
    assert format_frames((10, 20, 30, 31, 32)) == "10-30x10,31-32"


def test_format_frames_reads_back_for_any_set_of_frames() -> None:
    chooser = random.Random(12)
    for _ in range(300):
        frames = tuple(sorted(chooser.sample(range(0, 60), chooser.randint(0, 40))))
        text = format_frames(frames)
        assert (parse_frames(text) if frames else ()) == frames, text
