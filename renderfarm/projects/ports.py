"""What the project checks need of the project store (renderfarm_azure/project_store.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from renderfarm.projects.file_set import FileSet


@dataclass(frozen=True, kw_only=True)
class BlendCheck:
    """A stored .blend after its check: its first bytes (HEAD_BYTES, for the header), or what
    is wrong with it."""

    head: bytes = b""
    problem: str | None = None


class ProjectStore(Protocol):
    """A tenant's project files, stored once each under their sha256."""

    def stored_sizes(self, hashes: Sequence[str], *, tenant: str) -> Mapping[str, int | None]:
        """Each file's stored size; None for one not stored."""
        ...

    def verify_blends(self, hashes: Sequence[str], *, tenant: str) -> Mapping[str, BlendCheck]:
        """Hash each stored .blend and check it is whole (a file that fails is deleted)."""
        ...

    def save_file_set(self, file_set: FileSet, *, tenant: str) -> None: ...
