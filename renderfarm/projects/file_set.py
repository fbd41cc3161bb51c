"""A project as a set of files: each one's path in the project, its sha256 and its size.

A job that renders a real shot names a file set instead of one ``.blend``: the main file, its
linked libraries, textures, caches. Files are stored once per tenant under their hash, and the
worker lays the project out again from the paths here. The paths are the user's own names for
their files (``textures/wood.png``), so every error and warning names files by them.

Paths are relative and POSIX: no drive, no ``..``, no control characters, and no two that differ
only by case (the worker may lay a project out on a case-insensitive disk, and Windows artists
submit projects that a case-sensitive disk would split in two).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from renderfarm.shared.errors import AboutAFile

#: The folder of a file set that holds files from outside the project root (absolute paths,
#: ``//../..`` paths that climb out, other drives, UNC shares); the client rewrites the paths in
#: the .blend files that use them to point in here.
OUTSIDE_ROOT = "_outside"
#: Longest project path, in UTF-8 bytes: Linux's PATH_MAX less room for the worker's job folder.
MAX_PATH_BYTES = 1024
#: Longest single path component (most file systems allow 255 bytes).
MAX_NAME_BYTES = 255
#: Files a job may render without (allow_missing): past this, the project is not what was meant.
MAX_MISSING = 1000
#: Entries per ``files/missing`` call: a bounded request (about 45 KB), a bounded number of URLs
#: to sign.
MAX_HASHES_PER_CALL = 500
#: Defaults of the farm's limits on one file set (Settings.max_project_files / _bytes).
DEFAULT_MAX_FILES = 20_000
DEFAULT_MAX_BYTES = 50 * 1024**3
#: Largest single file the farm stores (a block blob uploaded with one PUT holds 5,000 MiB).
MAX_FILE_BYTES = 5000 * 1024**2
BLEND_SUFFIX = ".blend"

SHA256_PATTERN = r"^[0-9a-f]{64}$"

# path_problem, as the API's schema states it (but for the byte lengths, which no pattern says):
# folders and a name, none empty, "." or "..", no control character or backslash, and not
# absolute (no leading "/", no drive's ":" second).
_CHAR = r"[^\x00-\x1f\x7f/\\]"
_NOT_DOT = r"[^\x00-\x1f\x7f/\\.]"
_PART = rf"(?:{_NOT_DOT}{_CHAR}*|\.{_NOT_DOT}{_CHAR}*|\.\.{_CHAR}+)"
_FIRST = (
    rf"(?:{_NOT_DOT}(?:[^\x00-\x1f\x7f/\\:]{_CHAR}*)?|\.[^\x00-\x1f\x7f/\\.:]{_CHAR}*|\.\.{_CHAR}+)"
)
PATH_PATTERN = rf"^{_FIRST}(?:/{_PART})*$"
_BLEND = r"\.[bB][lL][eE][nN][dD]"
#: A path to a .blend: the name ends in .blend, so it is never "." or "..".
BLEND_PATH_PATTERN = (
    rf"^(?:{_FIRST}(?:/{_PART})*/{_CHAR}*{_BLEND}"
    rf"|(?:{_NOT_DOT}(?:[^\x00-\x1f\x7f/\\:]{_CHAR}*)?)?{_BLEND})$"
)


class FileSetError(AboutAFile, ValueError):
    """A file set that cannot be read as one project (a path no file can have, a main file
    that is not a .blend, one path with two contents)."""

    status, slug, title = 422, "validation", "Invalid request"


class ProjectRefused(AboutAFile):
    """A well-formed project past what the farm holds: its file and byte limits, its workers'
    file systems (name lengths, one file per path whatever its case). A 403 as any farm limit
    (FarmLimitExceeded), and not a ValueError, so that it is not folded into a 422."""

    status, slug, title = 403, "project-refused", "Project refused"


class MainFileNotFound(AboutAFile, LookupError):
    """The main file is not among the project's files: a 404, as for any file the request
    names and the farm cannot find."""

    status, slug, title = 404, "main-file-not-found", "Main file not among the files"
    field = ("files.main", "body")


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a file in a project, or None when it can."""
    return _shape_problem(path) or _length_problem(path)


def _shape_problem(path: str) -> str | None:
    """What PATH_PATTERN states: no path of this shape names a file anywhere."""
    parts = path.split("/")
    problems = (
        (not path, "is empty"),
        (any(ord(ch) < 32 or ord(ch) == 127 for ch in path), "holds a NUL or control character"),
        ("\\" in path, "holds a backslash: use '/' between folders"),
        (
            path.startswith("/") or path[1:2] == ":",
            "is absolute: give it relative to the project root",
        ),
        (".." in parts, "climbs out of the project with '..'"),
        (any(part in {"", "."} for part in parts), "has an empty or '.' folder"),
    )
    return next((text for failed, text in problems if failed), None)


def _length_problem(path: str) -> str | None:
    """What the workers' file systems hold, in UTF-8 bytes (no pattern counts bytes)."""
    if len(path.encode()) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    if any(len(part.encode()) > MAX_NAME_BYTES for part in path.split("/")):
        return f"has a name longer than {MAX_NAME_BYTES} bytes"
    return None


def is_blend(path: str) -> bool:
    """A .blend (a main file or a linked library), whose wholeness the API checks."""
    return path.lower().endswith(BLEND_SUFFIX)


class FileEntryIn(BaseModel):
    """One file of a project as the client names it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(
        min_length=1,
        max_length=MAX_PATH_BYTES,
        json_schema_extra={"pattern": PATH_PATTERN},
        description="the file's path in the project, '/' between folders",
        examples=["textures/wood.png"],
    )
    sha256: str = Field(pattern=SHA256_PATTERN, description="sha256 of its bytes, lower-case")
    size: int = Field(ge=0, le=MAX_FILE_BYTES, description="its size in bytes")

    @field_validator("size", mode="before")
    @classmethod
    def _integer(cls, value: Any) -> Any:
        """5 or 5.0, but not true or "5" (which pydantic would read as 1 and 5)."""
        if isinstance(value, bool | str):
            raise ValueError("Input should be a valid integer")
        return value


class FileSetIn(BaseModel):
    """The ``files`` of a job: a project, its main .blend, and what is missing from it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    main: str = Field(
        min_length=1,
        max_length=MAX_PATH_BYTES,
        json_schema_extra={"pattern": BLEND_PATH_PATTERN},
        description="path of the .blend to render, one of the files",
        examples=["shot.blend"],
    )
    files: tuple[FileEntryIn, ...] = Field(
        min_length=1,
        description="every file the scene needs; a path listed twice has the same sha256 and size",
    )
    missing: tuple[Annotated[str, Field(json_schema_extra={"pattern": PATH_PATTERN})], ...] = Field(
        default=(),
        max_length=MAX_MISSING,
        description=(
            "project paths the scene uses that were not on the artist's machine; allowed only "
            "with allow_missing, and shown as the job's warnings"
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> FileSetIn:
        try:
            self.to_domain()
        except FileSetError as error:
            raise ValueError(str(error)) from error
        return self

    def to_domain(self) -> FileSet:
        return FileSet.of(
            main=self.main,
            files=[FileEntry(path=f.path, sha256=f.sha256, size=f.size) for f in self.files],
            missing=self.missing,
        )


@dataclass(frozen=True, kw_only=True, order=True)
class FileEntry:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True, kw_only=True)
class FileSet:
    """A checked file set: paths valid and unique (case-insensitively), the main file in it."""

    main: str
    files: tuple[FileEntry, ...]  # sorted by path
    missing: tuple[str, ...] = ()  # sorted

    @classmethod
    def of(cls, *, main: str, files: Iterable[FileEntry], missing: Iterable[str] = ()) -> FileSet:
        ordered = tuple(sorted(set(files)))  # the same file listed twice is one file
        seen: dict[str, str] = {}
        for entry in ordered:
            _check_path(entry.path)
            folded = entry.path.casefold()
            if folded in seen:
                other = seen[folded]
                if other == entry.path:
                    raise FileSetError(
                        f"{entry.path!r} is listed twice, with other bytes", path=entry.path
                    )
                raise ProjectRefused(
                    f"{other!r} and {entry.path!r} differ only by case: the farm's workers "
                    "hold one file for both",
                    path=entry.path,
                )
            seen[folded] = entry.path
        _check_path(main)
        if not is_blend(main):
            raise FileSetError(f"the main file {main!r} is not a .blend", path=main)
        if main not in {entry.path for entry in ordered}:
            raise MainFileNotFound(f"the main file {main!r} is not among the files", path=main)
        for path in missing:
            _check_path(path)
        # A path both sent and said missing is there: the file wins (paths fold as files do).
        missing = {path for path in missing if path.casefold() not in seen}
        return cls(main=main, files=ordered, missing=tuple(sorted(missing)))

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)

    @property
    def main_entry(self) -> FileEntry:
        return next(entry for entry in self.files if entry.path == self.main)

    @property
    def blends(self) -> tuple[FileEntry, ...]:
        """The main file and every library: the files the API checks are whole."""
        return tuple(entry for entry in self.files if is_blend(entry.path))

    def check_limits(self, *, max_files: int, max_bytes: int) -> None:
        """Refuse a set larger than the farm takes, naming the file that crossed the line."""
        if len(self.files) > max_files:
            raise ProjectRefused(
                f"{len(self.files)} files exceed the farm's limit of {max_files} "
                f"(the first past it: {self.files[max_files].path!r})",
                path=self.files[max_files].path,
            )
        total = 0
        for entry in self.files:
            total += entry.size
            if total > max_bytes:
                raise ProjectRefused(
                    f"the files add up to more than the farm's limit of {max_bytes} bytes "
                    f"(reached at {entry.path!r}; {self.total_bytes} bytes in all)",
                    path=entry.path,
                )

    def to_json(self) -> str:
        """Canonical JSON: the same set always gives the same bytes, so the same hash."""
        return json.dumps(
            {
                "main": self.main,
                "files": [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in self.files],
                "missing": list(self.missing),
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, body: str | bytes) -> FileSet:
        data: Mapping[str, Any] = json.loads(body)
        return cls.of(
            main=str(data["main"]),
            files=[
                FileEntry(path=str(f["path"]), sha256=str(f["sha256"]), size=int(f["size"]))
                for f in data["files"]
            ],
            missing=[str(path) for path in data.get("missing", ())],
        )

    def ref(self) -> FileSetRef:
        return FileSetRef(
            sha256=self.sha256,
            main=self.main,
            files=len(self.files),
            bytes=self.total_bytes,
        )


@dataclass(frozen=True, kw_only=True)
class FileSetRef:
    """What a job's manifest keeps of its file set: enough to fetch it and to show it."""

    sha256: str
    main: str
    files: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "main": self.main, "files": self.files, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileSetRef:
        return cls(
            sha256=str(data["sha256"]),
            main=str(data["main"]),
            files=int(data["files"]),
            bytes=int(data["bytes"]),
        )


def missing_warnings(paths: Sequence[str]) -> tuple[str, ...]:
    """The job's warnings for files the scene uses that the farm rendered without."""
    return tuple(f"missing file: {path}" for path in sorted(set(paths)))


def _check_path(path: str) -> None:
    shape = _shape_problem(path)
    if shape is not None:
        raise FileSetError(f"the path {path!r} {shape}", path=path)
    length = _length_problem(path)
    if length is not None:
        raise ProjectRefused(f"the path {path!r} {length}", path=path)
