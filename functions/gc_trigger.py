"""The ``project_files_gc`` Function's body: once a day, delete the project files and file sets
no job has named for ``project_files_keep_days`` (renderfarm.projects.gc). A timer Function rather
than a Blob lifecycle rule: a rule sees only a blob's own age or last access, and a texture
uploaded a year ago that every job still names must stay."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from renderfarm.shared.settings import get_settings
from renderfarm_azure import clients
from renderfarm_azure.project_gc import GcReport, collect

log = logging.getLogger(__name__)

FUNCTION_NAME = "project_files_gc"
#: 03:30 UTC every day (NCRONTAB: second minute hour day month weekday).
SCHEDULE = "0 30 3 * * *"


def collect_project_files() -> GcReport:
    settings = get_settings()
    with clients.blob_service(settings) as service:
        report = collect(
            service.get_container_client(settings.scenes_container),
            now=datetime.now(UTC),
            keep=timedelta(days=settings.project_files_keep_days),
        )
    log.info(
        "project files collected",
        extra={"files_deleted": report.files_deleted, "bytes_deleted": report.bytes_deleted},
    )
    return report
