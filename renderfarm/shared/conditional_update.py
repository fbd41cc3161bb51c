"""One read-modify-write over an etag, for every store that writes only over what it read.

``read`` gives the stored value and its etag (None: nothing stored yet); ``change`` makes the new
value (returning its argument itself means there is nothing to write); ``write`` stores it only
over that etag (or only if still absent, for None) and raises ConcurrentUpdate when someone else
wrote first, whereupon the value is read and changed again, up to ``attempts`` times. Storage
adapters translate their SDK's conflict (a 412, a 409) into ConcurrentUpdate; this module knows
no SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from renderfarm.shared.errors import ConcurrentUpdate

T = TypeVar("T")


class KeptChanging(ConcurrentUpdate):
    """Every attempt lost its race to another writer: try the whole operation again later."""


@dataclass(frozen=True, kw_only=True)
class Updated(Generic[T]):
    """The value as it now stands, its etag (None only when nothing is stored), and whether
    this update wrote it (False: ``change`` found nothing to do)."""

    value: T
    etag: str | None
    wrote: bool


def update_conditionally(  # noqa: PLR0913 - keyword-only: read, change, write and the retry policy
    *,
    read: Callable[[], tuple[T, str | None]],
    change: Callable[[T], T],
    write: Callable[[T, str | None], str],
    attempts: int,
    what: str,
    known: tuple[T, str | None] | None = None,
    contention: Callable[[str], Exception] = KeptChanging,
) -> Updated[T]:
    """Apply ``change`` to ``what`` as stored, re-reading after each lost race. ``known``: the
    version the caller holds (the one it wrote last, say), tried first without a read.
    Raises ``contention`` (KeptChanging unless the caller names its own) after ``attempts``."""
    for attempt in range(attempts):
        current, etag = known if attempt == 0 and known is not None else read()
        changed = change(current)
        if changed is current:
            return Updated(value=current, etag=etag, wrote=False)
        try:
            new_etag = write(changed, etag)
        except ConcurrentUpdate:
            continue
        return Updated(value=changed, etag=new_etag, wrote=True)
    raise contention(f"{what} kept changing: {attempts} writes lost to other writers")
