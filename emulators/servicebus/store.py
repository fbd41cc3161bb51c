"""Durable storage of messages: SQLite in WAL mode, one file in the data folder.

A commit in WAL mode is in the operating system's page cache before ``commit()`` returns, so a
``kill -9`` of the emulator loses nothing whose send was acknowledged (the broker acknowledges a
transfer only after its commit). Locks are not stored: after a restart every message is unlocked,
as if its lock had expired.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from uuid import UUID

from emulators.sqlite_database import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    state INTEGER NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    delivery_count INTEGER NOT NULL,
    message_id TEXT,
    priority INTEGER NOT NULL,
    ttl_ms INTEGER,
    dead_letter_source TEXT,
    annotations BLOB NOT NULL,
    properties BLOB NOT NULL,
    app_properties BLOB NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS duplicates (
    entity TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_ms INTEGER NOT NULL,
    PRIMARY KEY (entity, message_id)
);
"""


class MessageState(IntEnum):
    """Values of Service Bus's ``x-opt-message-state`` annotation."""

    ACTIVE = 0
    DEFERRED = 1
    SCHEDULED = 2


@dataclass(slots=True, kw_only=True)
class MessageMeta:
    """What the broker keeps in memory of a message; its content stays on disk."""

    seq: int
    entity: str
    state: MessageState
    enqueued_ms: int
    visible_ms: int
    expires_ms: int | None
    delivery_count: int
    message_id: str | None
    priority: int
    ttl_ms: int | None
    dead_letter_source: str | None = None
    size: int = 0
    lock_token: UUID | None = field(default=None)
    locked_until_ms: int | None = field(default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageContent:
    annotations: bytes
    properties: bytes
    app_properties: bytes
    body: bytes


class SqliteStore(SqliteDatabase):
    """The messages of every entity in one SQLite database."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    def load(self) -> list[MessageMeta]:
        rows = self._db.execute(
            "SELECT seq, entity, state, enqueued_ms, visible_ms, expires_ms, delivery_count,"
            " message_id, priority, ttl_ms, dead_letter_source,"
            " length(annotations) + length(properties) + length(app_properties) + length(body)"
            " FROM messages ORDER BY seq"
        )
        return [
            MessageMeta(
                seq=row[0],
                entity=row[1],
                state=MessageState(row[2]),
                enqueued_ms=row[3],
                visible_ms=row[4],
                expires_ms=row[5],
                delivery_count=row[6],
                message_id=row[7],
                priority=row[8],
                ttl_ms=row[9],
                dead_letter_source=row[10],
                size=row[11],
            )
            for row in rows
        ]

    def last_sequence_number(self) -> int:
        row = self._db.execute("SELECT max(seq) FROM messages").fetchone()
        return int(row[0] or 0)

    def load_duplicates(self, since_ms: int) -> list[tuple[str, str, int]]:
        rows = self._db.execute(
            "SELECT entity, message_id, seen_ms FROM duplicates WHERE seen_ms >= ?", (since_ms,)
        )
        return [(row[0], row[1], row[2]) for row in rows]

    def insert(self, items: Iterable[tuple[MessageMeta, MessageContent]]) -> None:
        self._db.executemany(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    meta.seq,
                    meta.entity,
                    int(meta.state),
                    meta.enqueued_ms,
                    meta.visible_ms,
                    meta.expires_ms,
                    meta.delivery_count,
                    meta.message_id,
                    meta.priority,
                    meta.ttl_ms,
                    meta.dead_letter_source,
                    content.annotations,
                    content.properties,
                    content.app_properties,
                    content.body,
                )
                for meta, content in items
            ),
        )

    def remember_duplicates(self, entries: Iterable[tuple[str, str, int]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO duplicates VALUES (?, ?, ?)", entries)

    def forget_duplicates(self, before_ms: int) -> None:
        self._db.execute("DELETE FROM duplicates WHERE seen_ms < ?", (before_ms,))

    def update(self, meta: MessageMeta) -> None:
        self._db.execute(
            "UPDATE messages SET entity = ?, state = ?, visible_ms = ?, expires_ms = ?,"
            " delivery_count = ?, dead_letter_source = ? WHERE seq = ?",
            (
                meta.entity,
                int(meta.state),
                meta.visible_ms,
                meta.expires_ms,
                meta.delivery_count,
                meta.dead_letter_source,
                meta.seq,
            ),
        )

    def set_app_properties(self, seq: int, app_properties: bytes) -> None:
        self._db.execute(
            "UPDATE messages SET app_properties = ? WHERE seq = ?", (app_properties, seq)
        )

    def delete(self, seqs: Iterable[int]) -> None:
        self._db.executemany("DELETE FROM messages WHERE seq = ?", ((seq,) for seq in seqs))

    def content(self, seq: int) -> MessageContent:
        row = self._db.execute(
            "SELECT annotations, properties, app_properties, body FROM messages WHERE seq = ?",
            (seq,),
        ).fetchone()
        if row is None:
            raise KeyError(seq)
        return MessageContent(
            annotations=row[0], properties=row[1], app_properties=row[2], body=row[3]
        )
