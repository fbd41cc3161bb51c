"""Errors shown to clients never carry a server's folders."""

from __future__ import annotations

import pytest

from renderfarm.shared.redact import without_folders, without_paths


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            'cannot open 1d98.blend: Error: Loading "/tmp/renderfarm-blend-cache/1d98.blend"'
            " failed: Failed to read blend file '/tmp/renderfarm-blend-cache/1d98.blend'",
            'cannot open 1d98.blend: Error: Loading "1d98.blend" failed: Failed to read blend'
            " file '1d98.blend'",
        ),
        (
            "cannot write frame 3 to /tmp/renderfarm-x1/000003.png",
            "cannot write frame 3 to 000003.png",
        ),
        (
            "Read blend: /home/worker/cache/a.blend\n00:00.64 done",
            "Read blend: a.blend\n00:00.64 done",
        ),
    ],
)
def test_absolute_paths_keep_only_their_file_names(text: str, shown: str) -> None:
    assert without_paths(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "frame 3 failed: 1/2 samples",
        "see https://docs.blender.org/manual/en/latest/",
        "ratio 16/9 and 4/3",
        "MaxDeliveryCountExceeded: Message could not be consumed after 5 delivery attempts.",
        # Paths relative to a project or a .blend are the user's names, not the server's.
        "the scene uses files that are missing: textures/wood.png, ../assets/crate.blend",
        "the scene uses files that are missing: //../../../assets/props/crate.blend",
    ],
)
def test_text_without_absolute_paths_is_left_alone(text: str) -> None:
    assert without_paths(text) == text


WORKER_FOLDERS = ("/var/cache/render farm", "/tmp")


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        # A folder with a space: without_paths alone would keep "farm/studio/…".
        ('Read blend: "/var/cache/render farm/studio/ab12.blend"', 'Read blend: "ab12.blend"'),
        ("Saved: '/tmp/renderfarm-x1/000003.png'", "Saved: '000003.png'"),
        ("cache at /var/cache/render farm", "cache at "),
        ("file:/tmp/renderfarm-x1/a.png", "file:/renderfarm-x1/a.png"),
        # Not the start of another folder's name.
        ("mounted /tmpfs/volume/x.exr", "mounted x.exr"),
        (
            "Fra:3 Mem:12.00M | Time:00:01.20 | Sample 3/8",
            "Fra:3 Mem:12.00M | Time:00:01.20 | Sample 3/8",
        ),
    ],
)
def test_a_workers_own_folders_are_cut_from_its_log_lines(line: str, shown: str) -> None:
    assert without_folders(line, WORKER_FOLDERS) == shown
