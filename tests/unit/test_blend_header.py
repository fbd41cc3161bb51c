"""Reading which Blender saved a .blend from its first bytes, on files saved by each pool's bpy."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import zstandard

from renderfarm.shared.blend_header import (
    HEAD_BYTES,
    BlenderVersion,
    BlendHeaderError,
    HeaderProblem,
    saved_by,
)
from tests.blend_files import BLENDER_PYTHONS, blend_files, blender_python


@pytest.fixture(scope="session", params=list(BLENDER_PYTHONS))
def saved(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[BlenderVersion, dict[str, Path]]:
    """Files saved by one Blender (made once a session): its version and the paths."""
    version: str = request.param
    python = blender_python(version)
    files = blend_files(python, tmp_path_factory.mktemp(f"blender-{version}"))
    return BlenderVersion.parse(version), files


def _head(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(HEAD_BYTES)


def _problem(head: bytes) -> HeaderProblem:
    with pytest.raises(BlendHeaderError) as caught:
        saved_by(head)
    assert str(caught.value)  # a reason a person can read
    return caught.value.problem


def test_a_plain_file_names_the_blender_that_saved_it(
    saved: tuple[BlenderVersion, dict[str, Path]],
) -> None:
    version, files = saved
    assert saved_by(_head(files["plain"])) == version


def test_a_compressed_file_names_the_blender_that_saved_it(
    saved: tuple[BlenderVersion, dict[str, Path]],
) -> None:
    version, files = saved
    head = _head(files["compressed"])
    assert head.startswith(b"\x28\xb5\x2f\xfd")
    assert saved_by(head) == version


def test_a_cut_compressed_head_is_truncated(
    saved: tuple[BlenderVersion, dict[str, Path]],
) -> None:
    _, files = saved
    assert _problem(files["compressed"].read_bytes()[:10]) is HeaderProblem.TRUNCATED


def test_blender_5_writes_the_17_byte_header() -> None:
    assert saved_by(b"BLENDER17-01v0503REND") == BlenderVersion(5, 3)


def test_blender_4_writes_the_12_byte_header() -> None:
    assert saved_by(b"BLENDER-v405REND") == BlenderVersion(4, 5)


@pytest.mark.parametrize(
    ("head", "version"),
    [
        (b"BLENDER-v280REND", BlenderVersion(2, 80)),
        (b"BLENDER_V279", BlenderVersion(2, 79)),  # 32-bit pointers, big endian
        (b"BLENDER-v306", BlenderVersion(3, 6)),
    ],
)
def test_legacy_headers_read_their_three_digits_as_major_and_two_digit_minor(
    head: bytes, version: BlenderVersion
) -> None:
    assert saved_by(head) == version


def test_a_compressed_legacy_header_is_read_too() -> None:
    head = zstandard.ZstdCompressor().compress(b"BLENDER-v306" + bytes(100))
    assert saved_by(head) == BlenderVersion(3, 6)


def test_random_bytes_are_not_a_blend_file() -> None:
    assert _problem(random.Random(7).randbytes(4096)) is HeaderProblem.NOT_A_BLEND_FILE


@pytest.mark.parametrize("head", [b"", b"BLEN", b"BLENDER", b"BLENDER-v40", b"BLENDER17-01v05"])
def test_a_head_shorter_than_the_header_is_truncated(head: bytes) -> None:
    assert _problem(head) is HeaderProblem.TRUNCATED


def test_a_zstd_frame_of_something_else_is_not_a_blend_file() -> None:
    head = zstandard.ZstdCompressor().compress(b"PK\x03\x04 a zip, say" * 50)
    assert _problem(head) is HeaderProblem.NOT_A_BLEND_FILE


def test_a_zstd_frame_too_short_for_a_header_is_truncated() -> None:
    assert _problem(zstandard.ZstdCompressor().compress(b"BLEND")) is HeaderProblem.TRUNCATED


def test_garbage_after_the_zstd_magic_is_corrupt() -> None:
    head = b"\x28\xb5\x2f\xfd" + random.Random(3).randbytes(512)
    assert _problem(head) is HeaderProblem.CORRUPT_COMPRESSION


@pytest.mark.parametrize(
    "head",
    [
        b"BLENDER-v4a5",
        b"BLENDER17-01v05x3",
        b"BLENDER18-01v0503",  # a header size this farm does not know
        b"BLENDER17-02v0503",  # a format version this farm does not know
        b"BLENDER*v405",
    ],
)
def test_a_header_without_a_readable_version_is_refused(head: bytes) -> None:
    assert _problem(head) is HeaderProblem.UNREADABLE_VERSION


def test_the_error_is_a_value_error_with_a_reason() -> None:
    with pytest.raises(ValueError, match=r"not a \.blend file"):
        saved_by(b"<html>hello</html>")


@pytest.mark.parametrize(
    ("text", "version"), [("5.3", BlenderVersion(5, 3)), ("2.80", BlenderVersion(2, 80))]
)
def test_a_version_parses_and_prints_as_major_dot_minor(text: str, version: BlenderVersion) -> None:
    assert BlenderVersion.parse(text) == version
    assert str(version) == text


@pytest.mark.parametrize("text", ["", "5", "5.3.0", " 5.3", "v5.3", "5.03", "5.x", "\u0665.\u0663"])
def test_anything_but_major_dot_minor_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Blender version"):
        BlenderVersion.parse(text)


def test_versions_order_numerically() -> None:
    assert BlenderVersion(2, 80) < BlenderVersion(3, 0) < BlenderVersion(4, 5)
    assert BlenderVersion(4, 5) < BlenderVersion(4, 10) < BlenderVersion(5, 3)
