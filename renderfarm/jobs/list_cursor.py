"""Where a job list goes on: a page of the tenant index (its own cursor, and the page size that
cursor was for) and how many of that page's entries were already looked at.

A filtered list reads the index in large pages but may stop inside one, when it has found enough
or looked at as many as it may: the next request lists that page again and skips what was seen,
so no job is skipped and none is listed twice. The cursor is opaque to clients: ``c1.`` and the
base64url of a small JSON object. One that starts so but says nothing this module wrote is an
InvalidCursor; any other is taken as the index's own cursor, as lists handed them out before
(the index refuses one it did not make).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from typing import Any

from renderfarm.shared.errors import InvalidCursor

#: The most entries one listing of the tenant index returns (Blob Storage's limit).
MAX_PAGE_SIZE = 5_000
#: What starts every cursor this module writes (the index's own start with a digit and "!").
PREFIX = "c1."


@dataclass(frozen=True, kw_only=True)
class ListCursor:
    #: The index's own cursor of the page (None: the first page).
    index_cursor: str | None
    #: Entries of that page already looked at.
    skip: int
    page_size: int

    @classmethod
    def decode(cls, text: str | None, *, page_size: int) -> ListCursor:
        """The list's start (``text`` None, pages of ``page_size``) or where ``text`` says."""
        if text is None:
            return cls(index_cursor=None, skip=0, page_size=page_size)
        if not text.startswith(PREFIX):  # the index's own, from before this module
            return cls(index_cursor=text, skip=0, page_size=page_size)
        body = text.removeprefix(PREFIX)
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
            data: Any = json.loads(raw)
        except (binascii.Error, ValueError) as error:
            raise InvalidCursor("this cursor was not handed out by this API") from error
        if not _well_formed(data):
            raise InvalidCursor("this cursor was not handed out by this API")
        return cls(index_cursor=data["i"], skip=data["s"], page_size=data["n"])

    def encode(self) -> str:
        data = {"i": self.index_cursor, "s": self.skip, "n": self.page_size}
        raw = json.dumps(data, separators=(",", ":")).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def at(self, skip: int) -> ListCursor:
        """This page, with its first ``skip`` entries looked at."""
        return replace(self, skip=skip)

    def next_page(self, index_cursor: str) -> ListCursor:
        return replace(self, index_cursor=index_cursor, skip=0)


def _well_formed(data: Any) -> bool:
    if not isinstance(data, dict) or data.keys() != {"i", "s", "n"}:
        return False
    size, skip, cursor = data["n"], data["s"], data["i"]
    return (
        type(size) is int
        and 1 <= size <= MAX_PAGE_SIZE
        and type(skip) is int
        and 0 <= skip < size
        and (cursor is None or (isinstance(cursor, str) and cursor != ""))
    )
