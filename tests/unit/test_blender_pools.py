"""Routing a job to the Blender pool that renders it."""

from __future__ import annotations

import pytest

from renderfarm.shared.blend_header import BlenderVersion
from renderfarm.shared.blender_pools import (
    NoBlenderPool,
    parse_supported,
    pick_pool,
    queue_name,
    version_of_queue,
)

V2_80 = BlenderVersion(2, 80)
V4_4 = BlenderVersion(4, 4)
V4_5 = BlenderVersion(4, 5)
V5_0 = BlenderVersion(5, 0)
V5_3 = BlenderVersion(5, 3)
V6_0 = BlenderVersion(6, 0)
POOLS = (V4_5, V5_3)


def test_scene_saved_by_4_5_goes_to_the_4_5_pool() -> None:
    assert pick_pool(saved_by=V4_5, pinned=None, supported=POOLS) == V4_5


def test_scene_saved_by_5_3_goes_to_the_5_3_pool() -> None:
    assert pick_pool(saved_by=V5_3, pinned=None, supported=POOLS) == V5_3


def test_scene_goes_to_the_oldest_pool_not_older_than_it() -> None:
    assert pick_pool(saved_by=V5_0, pinned=None, supported=POOLS) == V5_3
    assert pick_pool(saved_by=V4_4, pinned=None, supported=POOLS) == V4_5
    assert pick_pool(saved_by=V2_80, pinned=None, supported=POOLS) == V4_5


def test_the_order_of_the_supported_versions_does_not_matter() -> None:
    assert pick_pool(saved_by=V2_80, pinned=None, supported=(V5_3, V4_5)) == V4_5


def test_scene_newer_than_every_pool_has_no_pool() -> None:
    with pytest.raises(NoBlenderPool) as caught:
        pick_pool(saved_by=V6_0, pinned=None, supported=(V5_3, V4_5))
    assert caught.value.supported == ("4.5", "5.3")
    assert "6.0" in str(caught.value)
    assert "newer than every pool" in str(caught.value)
    assert "4.5, 5.3" in str(caught.value)


def test_a_pinned_version_the_farm_runs_is_used() -> None:
    assert pick_pool(saved_by=V4_5, pinned=V5_3, supported=POOLS) == V5_3


def test_a_pin_older_than_the_scene_is_the_users_choice() -> None:
    assert pick_pool(saved_by=V5_3, pinned=V4_5, supported=POOLS) == V4_5


def test_a_pinned_version_the_farm_does_not_run_has_no_pool() -> None:
    with pytest.raises(NoBlenderPool, match=r"Blender 4\.4 is not run by this farm") as caught:
        pick_pool(saved_by=V4_4, pinned=V4_4, supported=POOLS)
    assert caught.value.supported == ("4.5", "5.3")


def test_a_farm_without_pools_has_no_pool_for_anything() -> None:
    with pytest.raises(NoBlenderPool) as caught:
        pick_pool(saved_by=V4_5, pinned=None, supported=())
    assert caught.value.supported == ()


def test_no_pool_is_a_value_error() -> None:
    assert issubclass(NoBlenderPool, ValueError)


def test_the_setting_lists_versions_oldest_first_without_duplicates() -> None:
    assert parse_supported(" 5.3, 4.5 ,5.3") == (V4_5, V5_3)
    assert parse_supported("5.3") == (V5_3,)


@pytest.mark.parametrize("text", ["", "  ", ","])
def test_an_empty_setting_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_supported(text)


@pytest.mark.parametrize("text", ["5.3,", "5.3,,4.5"])
def test_an_empty_item_in_the_setting_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="empty item"):
        parse_supported(text)


@pytest.mark.parametrize("text", ["5.3, latest", "5.3;4.5", "5", "4.5.15"])
def test_a_setting_with_something_that_is_not_a_version_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Blender version"):
        parse_supported(text)


def test_each_pool_has_its_own_queue() -> None:
    assert queue_name("render-chunks", V5_3) == "render-chunks-5.3"
    assert queue_name("render-chunks", V4_5) == "render-chunks-4.5"


@pytest.mark.parametrize("version", [V4_5, V5_3, V2_80])
def test_a_queue_name_gives_back_its_version(version: BlenderVersion) -> None:
    assert version_of_queue("render-chunks", queue_name("render-chunks", version)) == version


@pytest.mark.parametrize(
    "name",
    [
        "render-chunks",  # the queue of a farm without pools
        "render-chunks-",
        "render-chunks-latest",
        "render-chunks-5.3-dlq",
        "other-5.3",
        "render-chunks5.3",
    ],
)
def test_a_name_that_is_no_pool_queue_has_no_version(name: str) -> None:
    assert version_of_queue("render-chunks", name) is None
