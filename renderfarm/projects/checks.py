"""What the API checks of a project before a job may render it: within the farm's limits, every
file stored at its size, every .blend (the main file and each library) hashed and whole.

Files other than .blend files are hashed by the worker that downloads them (a texture's bytes
cannot break a job the way a cut-off library does, and hashing 50 GiB would outlast a request);
a .blend is read here once per content, its verdict kept with the stored file.
"""

from __future__ import annotations

from dataclasses import dataclass

from renderfarm.projects.file_set import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, FileSet
from renderfarm.projects.ports import ProjectStore
from renderfarm.shared.blend_header import BlenderVersion, BlendHeaderError, saved_by
from renderfarm.shared.errors import ProjectFileNotFound, ProjectFileNotUsable

#: Files named in one error, before "and N more".
NAMED_IN_ERROR = 20


@dataclass(frozen=True, kw_only=True)
class ProjectChecks:
    store: ProjectStore | None
    max_files: int = DEFAULT_MAX_FILES
    max_bytes: int = DEFAULT_MAX_BYTES

    def check(self, file_set: FileSet, *, tenant: str) -> tuple[BlenderVersion, BlenderVersion]:
        """Raise FileSetError or ProjectFileNotUsable, naming the file, unless the project can
        render; the Blender that saved the main file, and the newest that saved any .blend."""
        store = self._require_store()
        file_set.check_limits(max_files=self.max_files, max_bytes=self.max_bytes)
        sizes = store.stored_sizes([entry.sha256 for entry in file_set.files], tenant=tenant)
        absent = [entry.path for entry in file_set.files if sizes.get(entry.sha256) != entry.size]
        if absent:
            raise ProjectFileNotFound(
                f"{len(absent)} of the project's files are not on the farm "
                f"(upload them through POST /api/files/missing): {_names(absent)}",
                path=absent[0],
            )
        blends = file_set.blends
        checks = store.verify_blends(list({e.sha256: e for e in blends}), tenant=tenant)
        versions: dict[str, BlenderVersion] = {}
        for entry in blends:
            check = checks[entry.sha256]
            if check.problem is not None:
                raise ProjectFileNotUsable(f"{entry.path}: {check.problem}", path=entry.path)
            try:
                versions[entry.path] = saved_by(check.head)
            except BlendHeaderError as error:
                raise ProjectFileNotUsable(
                    f"{entry.path} is not a .blend Blender can read: {error}", path=entry.path
                ) from None
        return versions[file_set.main], max(versions.values())

    def save(self, file_set: FileSet, *, tenant: str) -> None:
        self._require_store().save_file_set(file_set, tenant=tenant)

    def _require_store(self) -> ProjectStore:
        if self.store is None:
            raise ProjectFileNotUsable("this farm takes one-file scenes only", path="")
        return self.store


def _names(paths: list[str]) -> str:
    named = ", ".join(paths[:NAMED_IN_ERROR])
    more = len(paths) - NAMED_IN_ERROR
    return named + (f" and {more} more" if more > 0 else "")
