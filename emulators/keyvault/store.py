"""Durable storage of secrets: SQLite in WAL mode, one file in the data folder.

A commit in WAL mode is in the operating system's page cache before ``commit()`` returns, and the
wire layer answers only after the commit, so a ``kill -9`` of the emulator loses no acknowledged
write. Names compare without regard to case, as Key Vault's do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.sqlite_database import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE,
    version TEXT NOT NULL,
    value TEXT NOT NULL,
    content_type TEXT,
    tags TEXT,
    enabled INTEGER NOT NULL,
    not_before INTEGER,
    expires INTEGER,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    UNIQUE (name, version)
);
CREATE INDEX IF NOT EXISTS versions_by_name ON versions (name, seq);
CREATE TABLE IF NOT EXISTS deletions (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    deleted INTEGER NOT NULL,
    purge_at INTEGER NOT NULL
);
"""

_COLUMNS = (
    "name, version, value, content_type, tags, enabled, not_before, expires, created, updated"
)
_LATEST = "seq = (SELECT max(seq) FROM versions AS newer WHERE newer.name = versions.name)"


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretVersion:
    """One version of a secret; times are Unix seconds."""

    name: str
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str] | None
    enabled: bool
    not_before: int | None
    expires: int | None
    created: int
    updated: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Deletion:
    """A soft-deleted secret: its versions are kept until ``purge_at``."""

    name: str
    deleted: int
    purge_at: int


def _version(row: tuple[Any, ...]) -> SecretVersion:
    return SecretVersion(
        name=row[0],
        version=row[1],
        value=row[2],
        content_type=row[3],
        tags=None if row[4] is None else json.loads(row[4]),
        enabled=bool(row[5]),
        not_before=row[6],
        expires=row[7],
        created=row[8],
        updated=row[9],
    )


def _row(secret: SecretVersion) -> tuple[Any, ...]:
    tags = None if secret.tags is None else json.dumps(secret.tags)
    return (
        secret.name,
        secret.version,
        secret.value,
        secret.content_type,
        tags,
        int(secret.enabled),
        secret.not_before,
        secret.expires,
        secret.created,
        secret.updated,
    )


class SqliteStore(SqliteDatabase):
    """Every secret's versions, and the soft-deleted names, in one SQLite database.

    Not thread-safe by itself: the vault serializes its calls.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    def add(self, secret: SecretVersion) -> None:
        self._db.execute(
            f"INSERT INTO versions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            _row(secret),
        )

    def replace(self, secret: SecretVersion) -> None:
        """Store new attributes for an existing version (its value never changes)."""
        self._db.execute(
            "UPDATE versions SET content_type = ?, tags = ?, enabled = ?, not_before = ?,"
            " expires = ?, updated = ? WHERE name = ? AND version = ?",
            (
                secret.content_type,
                None if secret.tags is None else json.dumps(secret.tags),
                int(secret.enabled),
                secret.not_before,
                secret.expires,
                secret.updated,
                secret.name,
                secret.version,
            ),
        )

    def latest(self, name: str) -> SecretVersion | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM versions WHERE name = ? ORDER BY seq DESC LIMIT 1",  # noqa: S608
            (name,),
        ).fetchone()
        return None if row is None else _version(row)

    def version(self, name: str, version: str) -> SecretVersion | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM versions WHERE name = ? AND version = ?",  # noqa: S608
            (name, version),
        ).fetchone()
        return None if row is None else _version(row)

    def versions(self, name: str, *, after: str, limit: int) -> list[SecretVersion]:
        """A page of the secret's versions in the order of their ids."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM versions WHERE name = ? AND version > ?"  # noqa: S608
            " ORDER BY version LIMIT ?",
            (name, after, limit),
        )
        return [_version(row) for row in rows]

    def latest_versions(self, *, after: str, limit: int) -> list[SecretVersion]:
        """A page of the latest version of each secret that is not deleted, by name."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM versions WHERE {_LATEST}"  # noqa: S608
            " AND name NOT IN (SELECT name FROM deletions) AND name > ?"
            " ORDER BY name LIMIT ?",
            (after, limit),
        )
        return [_version(row) for row in rows]

    def mark_deleted(self, deletion: Deletion) -> None:
        self._db.execute(
            "INSERT INTO deletions (name, deleted, purge_at) VALUES (?, ?, ?)",
            (deletion.name, deletion.deleted, deletion.purge_at),
        )

    def deletion(self, name: str) -> Deletion | None:
        row = self._db.execute(
            "SELECT name, deleted, purge_at FROM deletions WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else Deletion(name=row[0], deleted=row[1], purge_at=row[2])

    def deletions(self, *, after: str, limit: int) -> list[Deletion]:
        rows = self._db.execute(
            "SELECT name, deleted, purge_at FROM deletions WHERE name > ? ORDER BY name LIMIT ?",
            (after, limit),
        )
        return [Deletion(name=row[0], deleted=row[1], purge_at=row[2]) for row in rows]

    def undelete(self, name: str) -> None:
        self._db.execute("DELETE FROM deletions WHERE name = ?", (name,))

    def purge(self, name: str) -> None:
        """Forget the secret and every version of it. Call inside a transaction."""
        self._db.execute("DELETE FROM versions WHERE name = ?", (name,))
        self._db.execute("DELETE FROM deletions WHERE name = ?", (name,))

    def due_for_purge(self, now: int) -> list[str]:
        rows = self._db.execute("SELECT name FROM deletions WHERE purge_at <= ?", (now,))
        return [row[0] for row in rows]
