"""The dead-letter handler Function's body: a dead-lettered chunk message fails its chunk.

The logic lives in renderfarm_azure.dead_letters, which the local farm runs as a process; this is
only the Functions binding's view of the message. An exception leaves the message for the host
to retry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache

import azure.functions as func
from azure.storage.blob import ContainerClient

from renderfarm.jobs.dead_letters import DeadLetter, record_dead_letter
from renderfarm.jobs.lifecycle import JobLifecycle
from renderfarm.shared.blender_pools import farm_queues, parse_supported
from renderfarm.shared.settings import Settings, get_settings
from renderfarm_azure import clients
from renderfarm_azure.dead_letters import ContainerChunkRecords, settling_of
from renderfarm_azure.job_ledger import job_lifecycle

log = logging.getLogger(__name__)

#: The app setting prefix of the trigger's identity-based connection (infra's functionapp.bicep).
CONNECTION = "ServiceBusConnection"
DEAD_LETTER_SUFFIX = "/$deadletterqueue"


def dead_letter_queues(environ: Mapping[str, str]) -> dict[str, str]:
    """Function name -> dead-letter queue, one per chunk queue of the Blender pools the app
    settings name (three bands each; and the GPU queues with RENDERFARM_GPU_WORKERS):
    ``dead_letters_5_3`` for render-chunks-5.3, ``dead_letters_5_3_gpu_high`` for
    render-chunks-5.3-gpu-high.

    Read from the environment when the host indexes the functions (app settings are there), and
    never raising: an import-time error in a Functions app unregisters every function, so a bad
    setting falls back to the default pools and the API's settings check reports it.
    """
    defaults = Settings.model_fields
    prefix = environ.get("RENDERFARM_QUEUE_PREFIX") or str(defaults["queue_prefix"].default)
    try:
        versions = parse_supported(environ.get("RENDERFARM_BLENDER_VERSIONS") or "")
    except ValueError:
        versions = parse_supported(str(defaults["blender_versions"].default))
    gpu = (environ.get("RENDERFARM_GPU_WORKERS") or "").strip().lower() in {"true", "1", "yes"}
    return {
        "dead_letters_" + queue[len(prefix) + 1 :].replace(".", "_").replace("-", "_"): queue
        + DEAD_LETTER_SUFFIX
        for queue in farm_queues(prefix, versions, gpu=gpu)
    }


@lru_cache(maxsize=1)
def jobs_container() -> ContainerClient:
    """One Blob client per process, reused across invocations."""
    settings = get_settings()
    return clients.blob_service(settings).get_container_client(settings.jobs_container)


@lru_cache(maxsize=1)
def lifecycle() -> JobLifecycle:
    """Settles dead-lettered chunks in their jobs; one per process, reused."""
    settings = get_settings()
    return job_lifecycle(
        settings, blob_service=clients.blob_service(settings), bus=clients.servicebus(settings)
    )


def handle_dead_letter(
    message: func.ServiceBusMessage, jobs: ContainerClient | None = None
) -> None:
    record = record_dead_letter(
        DeadLetter(
            body=message.get_body(),
            message_id=message.message_id,
            reason=message.dead_letter_reason,
            description=message.dead_letter_error_description,
            delivery_count=message.delivery_count or 0,
        ),
        records=ContainerChunkRecords(jobs or jobs_container()),
        settling=settling_of(lifecycle()),
        at=datetime.now(UTC),
    )
    if record is not None:
        log.info(
            "chunk %s failed: %s",
            message.message_id,
            record.last_error,
            extra={"job_id": record.job_id, "chunk_index": record.chunk_index},
        )
