"""Sending a project's files: which contents to upload (each once, whatever its paths), several
at a time, with one progress over all their bytes. Standard library only (the add-on runs it in
Blender's Python); the HTTP of each upload is the FarmClient's."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: Files uploaded at once: enough to hide each PUT's latency, few enough for a home uplink.
UPLOAD_THREADS = 4

#: Called with (bytes sent, bytes in all) while files upload.
Progress = Callable[[int, int], None]


class LocalFile(Protocol):
    """A file of a project on this machine (renderfarm_client.project.ProjectFile is one)."""

    @property
    def path(self) -> str: ...  # its path in the project, for messages
    @property
    def source(self) -> Path: ...  # where its bytes are read from
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...


@dataclass(frozen=True, kw_only=True)
class FilesSent:
    """What sending a project took: ``files`` in it, ``new`` contents uploaded (``new_bytes``),
    ``present`` contents the farm had already (files with the same bytes count once)."""

    files: int
    new: int
    new_bytes: int
    present: int


def upload_each_once(
    files: Sequence[LocalFile],
    wanted: Mapping[str, object],
    upload: Callable[[LocalFile, Progress], None],
    *,
    on_progress: Progress | None = None,
    threads: int = UPLOAD_THREADS,
) -> None:
    """``upload`` each file whose sha256 is in ``wanted`` (once per content), ``threads`` at a
    time; ``on_progress`` hears (bytes sent, bytes in all) over every file together. The first
    failure is raised once every upload has ended."""
    chosen: dict[str, LocalFile] = {}
    for file in files:
        if file.sha256 in wanted:
            chosen.setdefault(file.sha256, file)
    total = sum(file.size for file in chosen.values())
    lock = threading.Lock()
    sent: dict[str, int] = {}

    def progress_of(sha256: str) -> Progress:
        def heard(done: int, _size: int) -> None:
            with lock:
                sent[sha256] = done
                so_far = sum(sent.values())
            if on_progress is not None:
                on_progress(so_far, total)

        return heard

    if on_progress is not None:
        on_progress(0, total)
    if not chosen:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(chosen)))) as pool:
        futures = [pool.submit(upload, file, progress_of(file.sha256)) for file in chosen.values()]
    # Every upload has ended (the pool waits): report the first failure, in a fixed order.
    for future in futures:
        future.result()
