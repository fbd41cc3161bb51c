"""What a chunk does when its scene uses files its project lacks (issue 22: never a silent wrong
frame): fail for good, naming each file, or, when the job allows it, render and say so in the
job's warnings, written once per job on this replica so that a thousand chunks do not rewrite
the manifest a thousand times."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from azure.core.exceptions import AzureError

from containerapp_worker.errors import MissingFiles
from renderfarm.jobs.manifest import JobManifest
from renderfarm.jobs.manifest_updates import update_manifest
from renderfarm.jobs.ports import ManifestStore
from renderfarm.projects.file_set import missing_warnings
from renderfarm.shared.errors import ConcurrentUpdate, DependencyUnavailable

log = logging.getLogger(__name__)

#: Tries at adding a job's warnings to its manifest when others write it meanwhile.
WARN_ATTEMPTS = 4


@dataclass
class MissingFilesPolicy:
    #: Jobs whose manifest this replica knows to carry the warnings for their missing files.
    _warned: set[str] = field(default_factory=set)

    def check(
        self, manifest: JobManifest, missing: tuple[str, ...], *, manifests: ManifestStore
    ) -> None:
        """Raise MissingFiles for a job that does not allow them; else add them to its warnings
        (best effort: the next chunk tries again)."""
        if not missing:
            return
        if not manifest.spec.allow_missing:
            raise MissingFiles(f"the scene uses files that are missing: {', '.join(missing)}")
        warnings = missing_warnings(missing)
        if manifest.job_id in self._warned or manifest.warned(warnings) is manifest:
            self._warned.add(manifest.job_id)
            return
        try:
            written = update_manifest(
                manifests,
                manifest.job_id,
                lambda current: current.warned(warnings),
                attempts=WARN_ATTEMPTS,
            ).value
        except ConcurrentUpdate:
            log.warning("could not add warnings to job %s: it kept changing", manifest.job_id)
            return
        except (AzureError, DependencyUnavailable):
            log.warning("could not add warnings to job %s", manifest.job_id, exc_info=True)
            return
        if written is not None:
            self._warned.add(manifest.job_id)
