"""Which stored project files to delete: those no job has named for ``keep`` (30 days by
default), and the file sets no job has named for as long.

A job names a file set when it is submitted, and the API then writes the set again, so a set's
last-modified time is when a job last named it. A file is kept while any set named within
``keep`` lists it, or while it is itself younger than ``keep`` (uploaded for a job not yet
submitted). One pass reads each recent set once: the cost grows with what is stored, not with
how often it is used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

KEEP_DAYS = 30


@dataclass(frozen=True, kw_only=True)
class StoredBlob:
    tenant: str
    sha256: str
    modified: datetime


@dataclass(frozen=True, kw_only=True)
class Sweep:
    files: tuple[StoredBlob, ...]
    file_sets: tuple[StoredBlob, ...]


def is_recent(blob: StoredBlob, *, now: datetime, keep: timedelta) -> bool:
    return now - blob.modified < keep


def sweep(
    *,
    files: Iterable[StoredBlob],
    file_sets: Iterable[StoredBlob],
    named_recently: Iterable[tuple[str, str]],
    now: datetime,
    keep: timedelta,
) -> Sweep:
    """What to delete. ``named_recently``: (tenant, sha256) of every file listed by a recent set;
    a file is only ever kept by its own tenant's sets."""
    kept = set(named_recently)
    return Sweep(
        files=tuple(
            blob
            for blob in files
            if not is_recent(blob, now=now, keep=keep) and (blob.tenant, blob.sha256) not in kept
        ),
        file_sets=tuple(blob for blob in file_sets if not is_recent(blob, now=now, keep=keep)),
    )
