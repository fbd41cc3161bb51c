"""A persistent cache of the artist's files' sha256, so a re-submit hashes only what changed.

Like Deadline Cloud's job attachments, a file's hash is kept under its path and what ``stat``
says of it; a re-submit of an unchanged 50 GB shot then reads no file's bytes.

The key must be conservative: a stale hash is worse than a slow submit. The client would send
the farm a hash the bytes do not have; the worker, which checks every file against its hash,
would fail the chunk and delete the stored blob. So a hit needs the resolved path *and*
``st_size``, ``st_mtime_ns``, ``st_ino``, ``st_dev`` and ``st_ctime_ns`` to match:

- ctime changes on any write to the file, even when a tool restores its mtime (``os.utime``),
  and no user-space call sets it back;
- the inode and device change when a file is replaced by another (how Blender and most
  programs save: write a new file, rename it over the old one), or the disk is another;
- a file is not stored when it changed while it was hashed (its stat before and after differ);
- a file is not stored while it is "racily clean" (as git calls it): written within
  ``RACY_WINDOW_NS`` of being hashed. A file system's clock ticks coarsely (FAT 2 s, HFS+ 1 s,
  ext4 a few ms on older kernels), so a second write in the same tick would leave size, mtime
  and ctime as they were. Such a file is hashed again on the next submit, then kept.

The store is SQLite (the standard library's ``sqlite3``, which Blender's Python ships too) in
the user's cache folder (``cache_dir()``), in WAL mode with a busy timeout: two submits at once
(separate processes) each read while the other writes, and writes wait their turn.

The cache is an optimisation and never fails a submit: a corrupt file is deleted and made anew;
a cache that cannot be opened, read or written is logged (warning, once) and every file is then
hashed, as without a cache.
"""

from __future__ import annotations

import enum
import logging
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .farm_api import sha256_of

_log = logging.getLogger(__name__)

CACHE_DIR_ENV = "RENDERFARM_CACHE_DIR"
FILE_NAME = "hashes.sqlite"
#: A file written this recently is not trusted to be unchanged: the coarsest common file
#: system clock (FAT's) ticks every 2 s. Compared with this machine's clock both ways, so a
#: network share whose clock is a little ahead is covered too.
RACY_WINDOW_NS = 2_000_000_000
#: Entries not used for this long go (a project not submitted in 90 days is done, or its files
#: moved). With one row per path, a changed file replaces its row; the cache grows with the
#: number of distinct files submitted, and this bounds it in time.
MAX_AGE_S = 90 * 24 * 3600
#: And a hard cap on rows (about 200 bytes each: some 100 MB), so a farm of huge caches
#: submitted within 90 days still cannot fill a laptop's disk; the least recently used go.
MAX_ROWS = 500_000
#: A hit refreshes its row's last use at most this often: most hits stay read-only.
_TOUCH_EVERY_S = 24 * 3600
#: How long a write waits for another process's write to finish.
BUSY_TIMEOUT_S = 10.0
_WAL_RETRY_S = 0.02
#: Bumped when the table changes shape: an older table is dropped, not migrated.
SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE hashes (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        ctime_ns INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        dev INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        used INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX hashes_used ON hashes (used)",
    f"PRAGMA user_version={SCHEMA_VERSION}",
)


class UserCache(enum.Enum):
    """The type of ``USER_CACHE``: "the user's own cache", a default resolved when used."""

    USER_CACHE = "user"


#: ``trace_project``'s default: the cache in ``cache_dir()``, looked up when a trace starts
#: (not at import: the add-on imports this inside Blender, where nothing should touch disk).
USER_CACHE = UserCache.USER_CACHE


def cache_dir() -> Path:
    """``$RENDERFARM_CACHE_DIR``, else the platform's per-user cache folder + ``renderfarm``."""
    if configured := os.environ.get(CACHE_DIR_ENV):
        return Path(configured)
    home = Path.home()
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "renderfarm"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "renderfarm"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else home / ".cache") / "renderfarm"


_USER_CACHES: dict[Path, HashCache] = {}
_USER_LOCK = threading.Lock()


def user_cache() -> HashCache:
    """The cache in ``cache_dir()``: one per folder per process, so its connection is reused."""
    path = cache_dir() / FILE_NAME
    with _USER_LOCK:
        if path not in _USER_CACHES:
            _USER_CACHES[path] = HashCache(path)
        return _USER_CACHES[path]


@dataclass(frozen=True)
class _Key:
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int

    @classmethod
    def of(cls, stat: os.stat_result) -> _Key:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)


@dataclass(frozen=True, kw_only=True)
class CacheStats:
    """What the cache did since it was made: hits read no bytes; misses hashed the file."""

    hits: int
    misses: int


class HashCache:
    """sha256 of files, kept in SQLite at ``path``; safe to use from many threads at once.

    Nothing is opened until the first lookup. One connection is shared, behind a lock held only
    for each statement (hashing happens outside it)."""

    def __init__(
        self,
        path: Path,
        *,
        racy_window_ns: int = RACY_WINDOW_NS,
        max_age_s: int = MAX_AGE_S,
        max_rows: int = MAX_ROWS,
    ) -> None:
        self.path = Path(path)
        self._racy_window_ns = racy_window_ns
        self._max_age_s = max_age_s
        self._max_rows = max_rows
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._opened = False
        self._hits = 0
        self._misses = 0

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(hits=self._hits, misses=self._misses)

    def sha256(self, path: Path, *, cancelled: threading.Event | None = None) -> tuple[str, int]:
        """The file's sha256 and size: from the cache when its stat is unchanged, else hashed
        (and kept). Errors reading the file itself propagate, as from ``sha256_of``."""
        resolved = Path(path).resolve()
        before = _Key.of(resolved.stat())
        cached = self._lookup(str(resolved), before)
        if cached is not None:
            return cached, before.size
        digest = sha256_of(resolved, cancelled=cancelled)
        after = resolved.stat()
        with self._lock:
            self._misses += 1
        if _Key.of(after) == before and not self._racy(after):
            self._store(str(resolved), before, digest)
        return digest, after.st_size

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None

    # The store: every call below catches sqlite3.Error (and OSError for the folder) and turns
    # the cache off for this process rather than fail the submit.

    def _racy(self, stat: os.stat_result) -> bool:
        now = time.time_ns()
        return any(
            abs(now - stamp) < self._racy_window_ns
            for stamp in (stat.st_mtime_ns, stat.st_ctime_ns)
        )

    def _lookup(self, path: str, key: _Key) -> str | None:
        with self._lock:
            connection = self._connect()
            if connection is None:
                return None
            try:
                row = connection.execute(
                    "SELECT size, mtime_ns, ctime_ns, ino, dev, sha256, used FROM hashes"
                    " WHERE path = ?",
                    (path,),
                ).fetchone()
                if row is None or _Key(*row[:5]) != key:
                    return None
                now = int(time.time())
                if now - row[6] > _TOUCH_EVERY_S:
                    connection.execute("UPDATE hashes SET used = ? WHERE path = ?", (now, path))
            except sqlite3.Error as error:
                self._give_up("read", error)
                return None
            self._hits += 1
            return str(row[5])

    def _store(self, path: str, key: _Key, digest: str) -> None:
        with self._lock:
            connection = self._connect()
            if connection is None:
                return
            try:
                connection.execute(
                    "INSERT OR REPLACE INTO hashes"
                    " (path, size, mtime_ns, ctime_ns, ino, dev, sha256, used)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        path,
                        key.size,
                        key.mtime_ns,
                        key.ctime_ns,
                        key.ino,
                        key.dev,
                        digest,
                        int(time.time()),
                    ),
                )
            except sqlite3.OperationalError as error:
                # Locked past the busy timeout, or read-only: this one file is hashed next time.
                _log.debug("hash cache %s: not stored: %s", self.path, error)
            except sqlite3.Error as error:
                self._give_up("write", error)

    def _connect(self) -> sqlite3.Connection | None:
        """The open connection (the lock held), opening it on first use; None when off."""
        if self._opened:
            return self._connection
        self._opened = True
        try:
            self._connection = self._open()
        except sqlite3.OperationalError as error:
            self._give_up("open", error)
        except sqlite3.DatabaseError as error:
            # Not a database, or malformed: start again from an empty cache.
            _log.warning("hash cache %s is corrupt (%s); starting a new one", self.path, error)
            self._remove_files()
            try:
                self._connection = self._open()
            except sqlite3.Error as again:
                self._give_up("open", again)
        except OSError as error:
            self._give_up("open", error)
        return self._connection

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level=None): each statement is its own short transaction, so a
        # write holds the database's one write lock only for a moment.
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            _use_wal(connection)
            # In WAL mode a commit is durable at the next checkpoint; a crash may lose the last
            # few entries, which costs a re-hash and never a wrong hash.
            connection.execute("PRAGMA synchronous=NORMAL")
            if _schema_version(connection) != SCHEMA_VERSION:
                self._make_table(connection)
            self._prune(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    @staticmethod
    def _make_table(connection: sqlite3.Connection) -> None:
        """A new table (dropping one of another version), in one transaction; another process
        may have made it while this one waited for the write lock."""
        connection.execute("BEGIN IMMEDIATE")
        if _schema_version(connection) != SCHEMA_VERSION:
            connection.execute("DROP TABLE IF EXISTS hashes")
            for statement in _SCHEMA:
                connection.execute(statement)
        connection.execute("COMMIT")

    def _prune(self, connection: sqlite3.Connection) -> None:
        """Once per process: drop rows unused for ``max_age_s``, then the least recently used
        beyond ``max_rows``."""
        cutoff = int(time.time()) - self._max_age_s
        connection.execute("DELETE FROM hashes WHERE used < ?", (cutoff,))
        excess = connection.execute("SELECT count(*) FROM hashes").fetchone()[0] - self._max_rows
        if excess > 0:
            connection.execute(
                "DELETE FROM hashes WHERE path IN (SELECT path FROM hashes ORDER BY used LIMIT ?)",
                (excess,),
            )

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            try:
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            except OSError as error:
                _log.debug("hash cache: cannot remove %s%s: %s", self.path, suffix, error)

    def _give_up(self, doing: str, error: Exception) -> None:
        """Turn the cache off for this process (the lock held): every file is hashed."""
        _log.warning("hash cache %s: cannot %s (%s); hashing every file", self.path, doing, error)
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._opened = True


def _use_wal(connection: sqlite3.Connection) -> None:
    """WAL mode. Switching a new database to it takes an exclusive lock and SQLite answers
    "locked" at once, without its busy timeout, when another process opens it at the same
    moment: so wait here instead (once in WAL mode, it stays so, and this returns at once)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(_WAL_RETRY_S)


def _schema_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])
