"""Key Vault's secret semantics: versions, enabled and dated attributes, soft delete, recovery and
purge. Knows nothing of HTTP; the wire layer calls it and renders what it raises (errors.py).

Calls may come from many request threads; one lock makes each operation atomic.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from . import errors
from .store import Deletion, SecretVersion, SqliteStore

#: Key Vault stores a secret value of at most 25k bytes (as UTF-8).
MAX_VALUE_BYTES = 25 * 1024
#: Key Vault's page size when the client names none, and the most it accepts.
MAX_PAGE_SIZE = 25
#: The vault's soft-delete retention, and the recovery level it reports with it.
RECOVERABLE_DAYS = 90
RECOVERY_LEVEL = "Recoverable+Purgeable"
_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
_DAY_S = 24 * 60 * 60


@dataclass(frozen=True, kw_only=True)
class Properties:
    """What a client may set besides the value; None leaves a property as it is."""

    enabled: bool | None = None
    not_before: int | None = None
    expires: int | None = None
    content_type: str | None = None
    tags: dict[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class DeletedSecret:
    deletion: Deletion
    latest: SecretVersion


@dataclass(frozen=True, kw_only=True)
class Page[T]:
    items: list[T]
    #: Where the next page starts (an opaque token for the client); None on the last page.
    next_after: str | None


def _page[T](rows: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    """``rows`` holds up to ``limit + 1`` rows: one more than fits says there is a next page."""
    if len(rows) <= limit:
        return Page(items=rows, next_after=None)
    items = rows[:limit]
    return Page(items=items, next_after=key(items[-1]))


def _either[T](new: T | None, old: T) -> T:
    return old if new is None else new


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise errors.invalid_name(name)


def new_version() -> str:
    """32 lowercase hex digits, like Key Vault's version ids."""
    return uuid.uuid4().hex


class Vault:
    def __init__(self, store: SqliteStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()

    def _now(self) -> int:
        return int(self._clock())

    def _purge_due(self) -> None:
        """Key Vault purges a deleted secret when its retention ends; the emulator does it the
        next time it is asked anything."""
        for name in self._store.due_for_purge(self._now()):
            with self._store.transaction():
                self._store.purge(name)

    def _active(self, name: str) -> SecretVersion:
        """The latest version of a secret that exists and is not deleted."""
        check_name(name)
        latest = self._store.latest(name)
        if latest is None or self._store.deletion(name) is not None:
            raise errors.secret_not_found(name)
        return latest

    def _deleted(self, name: str) -> DeletedSecret:
        check_name(name)
        deletion = self._store.deletion(name)
        latest = self._store.latest(name)
        if deletion is None or latest is None:
            raise errors.deleted_secret_not_found(name)
        return DeletedSecret(deletion=deletion, latest=latest)

    def set(self, name: str, value: str, properties: Properties) -> SecretVersion:
        """A new version, which becomes the latest; a new secret if the name is unused."""
        check_name(name)
        size = len(value.encode())
        if size > MAX_VALUE_BYTES:
            raise errors.value_too_large(size, MAX_VALUE_BYTES)
        with self._lock:
            self._purge_due()
            if self._store.deletion(name) is not None:
                raise errors.deleted_but_recoverable(name)
            previous = self._store.latest(name)
            now = self._now()
            secret = SecretVersion(
                name=previous.name if previous else name,  # the first spelling stays
                version=new_version(),
                value=value,
                content_type=properties.content_type,
                tags=properties.tags,
                enabled=True if properties.enabled is None else properties.enabled,
                not_before=properties.not_before,
                expires=properties.expires,
                created=now,
                updated=now,
            )
            self._store.add(secret)
            return secret

    def get(self, name: str, version: str | None = None) -> SecretVersion:
        """A version's value. Key Vault serves expired and not-yet-valid secrets (nbf and exp
        are for the client to honour) but not disabled ones."""
        with self._lock:
            self._purge_due()
            secret = self._version(name, version)
        if not secret.enabled:
            raise errors.secret_disabled()
        return secret

    def _version(self, name: str, version: str | None) -> SecretVersion:
        latest = self._active(name)
        if not version:
            return latest
        found = self._store.version(name, version.lower())
        if found is None:
            raise errors.secret_not_found(name, version)
        return found

    def update(self, name: str, version: str | None, properties: Properties) -> SecretVersion:
        """New attributes for a version (the latest when none is named); allowed on a disabled
        secret, which is how one is enabled again."""
        with self._lock:
            self._purge_due()
            secret = self._version(name, version)
            changed = replace(
                secret,
                enabled=_either(properties.enabled, secret.enabled),
                not_before=_either(properties.not_before, secret.not_before),
                expires=_either(properties.expires, secret.expires),
                content_type=_either(properties.content_type, secret.content_type),
                tags=_either(properties.tags, secret.tags),
                updated=self._now(),
            )
            self._store.replace(changed)
            return changed

    def secrets(self, *, after: str, limit: int) -> Page[SecretVersion]:
        """The latest version of each secret, deleted ones left out."""
        with self._lock:
            self._purge_due()
            rows = self._store.latest_versions(after=after, limit=limit + 1)
        return _page(rows, limit, lambda secret: secret.name)

    def versions(self, name: str, *, after: str, limit: int) -> Page[SecretVersion]:
        """Every version of a secret; none for a name that is unknown or deleted."""
        check_name(name)
        with self._lock:
            self._purge_due()
            if self._store.deletion(name) is not None:
                return Page(items=[], next_after=None)
            rows = self._store.versions(name, after=after, limit=limit + 1)
        return _page(rows, limit, lambda secret: secret.version)

    def delete(self, name: str) -> DeletedSecret:
        """Soft delete: every version is kept, and the name is taken, until recovered or
        purged. Done at once, so the SDK's delete poller finishes on its first poll."""
        with self._lock:
            self._purge_due()
            latest = self._active(name)
            now = self._now()
            deletion = Deletion(
                name=latest.name, deleted=now, purge_at=now + RECOVERABLE_DAYS * _DAY_S
            )
            self._store.mark_deleted(deletion)
            return DeletedSecret(deletion=deletion, latest=latest)

    def deleted(self, name: str) -> DeletedSecret:
        with self._lock:
            self._purge_due()
            return self._deleted(name)

    def deleted_secrets(self, *, after: str, limit: int) -> Page[DeletedSecret]:
        with self._lock:
            self._purge_due()
            found = [
                self._deleted(deletion.name)
                for deletion in self._store.deletions(after=after, limit=limit + 1)
            ]
        return _page(found, limit, lambda deleted: deleted.deletion.name)

    def recover(self, name: str) -> SecretVersion:
        """Undo a soft delete; done at once, so the SDK's recover poller finishes at once."""
        with self._lock:
            self._purge_due()
            deleted = self._deleted(name)
            self._store.undelete(deleted.deletion.name)
            return deleted.latest

    def purge(self, name: str) -> None:
        """Forget a deleted secret for good; its name is free again."""
        with self._lock:
            self._purge_due()
            deleted = self._deleted(name)
            with self._store.transaction():
                self._store.purge(deleted.deletion.name)
