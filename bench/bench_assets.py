"""A project of 200 files of 1 MiB each through the client and the worker's content cache,
against Azurite, the Service Bus emulator and the API over HTTP on loopback.

Times the tracing (blender-asset-tracer, no Blender) and hashing, the first submit (every file
uploaded) and a re-submit after one texture changed (that file only), with the bytes each
uploaded. The client's hash cache lives in the scratch folder: the first trace is cold (every
file hashed), the re-submit's is warm (only the changed texture hashed). Then
the worker laying the project out from a cold cache (every file downloaded and hashed) and a
warm one (the re-submit's project: one download, the rest hard links). Prints the figures, the
ratios measured in this one run, and a last line of JSON; asserts nothing.

    .venv/bin/python -m bench.bench_assets [--files 200] [--mib 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from bench.bench_api import KEY, serve
from containerapp_worker.project_cache import ProjectCache
from containerapp_worker.storage import WorkerStorage
from emulators.servicebus.config import BUNDLED_CONFIG
from renderfarm.keys.api_keys import hash_key
from renderfarm.projects.file_set import FileSet
from renderfarm.shared.settings import Settings
from renderfarm_client.farm_api import FarmClient, FilesSent
from renderfarm_client.hash_cache import FILE_NAME, RACY_WINDOW_NS, HashCache
from renderfarm_client.project import trace_project
from testbed.emulators import run_azurite, run_servicebus

TENANT = "bench"
#: A .blend whose images are the project's files: made by bpy, traced without it.
MAKE_SCENE = """
import sys, bpy
main, count = sys.argv[-2], int(sys.argv[-1])
bpy.ops.wm.read_factory_settings(use_empty=True)
for i in range(count):
    image = bpy.data.images.new(f"tex{i:03d}", 4, 4)
    image.source = "FILE"
    image.filepath = f"//textures/tex{i:03d}.png"
    image.use_fake_user = True
bpy.ops.wm.save_as_mainfile(filepath=main)
"""


def make_project(root: Path, files: int, size: int) -> Path:
    (root / "textures").mkdir(parents=True)
    for i in range(files):
        (root / "textures" / f"tex{i:03d}.png").write_bytes(os.urandom(size))
    main = root / "shot.blend"
    subprocess.run(
        [sys.executable, "-c", MAKE_SCENE, str(main), str(files)], check=True, capture_output=True
    )
    return main


def submit(
    client: FarmClient, main: Path, cache: HashCache
) -> tuple[float, float, FilesSent, FileSet]:
    """Trace, then upload what the farm lacks; the seconds of each, what went, the file set."""
    started = time.perf_counter()
    with trace_project(main, hash_cache=cache) as project:
        traced = time.perf_counter()
        sent = client.ensure_files(project.files)
        uploaded = time.perf_counter()
        body = project.file_set()
    file_set = FileSet.from_json(json.dumps(body))
    accepted = client.submit({"files": body, "frames": "1"})
    assert accepted.job_id
    return traced - started, uploaded - traced, sent, file_set


def lay_out(cache_dir: Path, storage: WorkerStorage, file_set: FileSet) -> float:
    cache = ProjectCache(cache_dir, max_bytes=10 * 1024**3, store=storage)
    started = time.perf_counter()
    cache.lay_out(file_set.ref(), tenant=TENANT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--mib", type=float, default=1.0)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    size = int(args.mib * 1024**2)
    with (
        tempfile.TemporaryDirectory() as scratch_dir,
        run_azurite(Path(scratch_dir) / "azurite") as azurite,
        run_servicebus(Path(scratch_dir) / "servicebus", Path(BUNDLED_CONFIG)) as servicebus,
    ):
        scratch = Path(scratch_dir)
        settings = Settings(
            storage_connection_string=azurite.connection_string,
            servicebus_connection_string=servicebus.connection_string,
            api_key_hashes=f"{TENANT}={hash_key(KEY)}",
            rate_limit_per_minute=100_000,
        )
        main_blend = make_project(scratch / "project", args.files, size)
        # An artist's files are older than this: the cache keeps no file written just now.
        time.sleep(RACY_WINDOW_NS / 1e9)
        cache = HashCache(scratch / "hash-cache" / FILE_NAME)
        with serve(settings) as url, FarmClient(api_url=url, api_key=KEY) as client:
            trace_1, upload_1, sent_1, first = submit(client, main_blend, cache)
            (scratch / "project" / "textures" / "tex000.png").write_bytes(os.urandom(size))
            trace_2, upload_2, sent_2, second = submit(client, main_blend, cache)
        cache.close()
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        storage = WorkerStorage(
            service, scenes=settings.scenes_container, jobs=settings.jobs_container
        )
        cold = lay_out(scratch / "cache", storage, first)
        warm = lay_out(scratch / "cache", storage, second)
    mb = 1e6
    print(f"project: {args.files} files of {size / mb:.2f} MB")
    print(
        f"trace + hash:     cold {trace_1:6.2f} s   warm (re-submit) {trace_2:6.2f} s   "
        f"ratio {trace_2 / trace_1:.3f}"
    )
    print(
        f"first submit:     uploaded {sent_1.new_bytes / mb:8.1f} MB in {upload_1:6.2f} s "
        f"({sent_1.new} of {sent_1.files} files)"
    )
    print(
        f"re-submit:        uploaded {sent_2.new_bytes / mb:8.1f} MB in {upload_2:6.2f} s "
        f"({sent_2.new} of {sent_2.files} files)"
    )
    print(f"worker layout:    cold {cold:6.2f} s   warm {warm:6.2f} s")
    ratios = {
        "resubmit_bytes_ratio": round(sent_2.new_bytes / max(sent_1.new_bytes, 1), 4),
        "resubmit_time_ratio": round((trace_2 + upload_2) / (trace_1 + upload_1), 3),
        "warm_layout_ratio": round(warm / cold, 3),
    }
    print(
        f"ratios:           re-submit/first bytes {ratios['resubmit_bytes_ratio']:.4f}, "
        f"time {ratios['resubmit_time_ratio']:.3f}; warm/cold layout "
        f"{ratios['warm_layout_ratio']:.3f}"
    )
    print(
        json.dumps(
            {
                "files": args.files,
                "file_bytes": size,
                "trace_s": round(trace_1, 3),
                "first_upload_s": round(upload_1, 3),
                "first_upload_bytes": sent_1.new_bytes,
                "resubmit_s": round(trace_2 + upload_2, 3),
                "retrace_s": round(trace_2, 3),
                "retrace_ratio": round(trace_2 / trace_1, 3),
                "resubmit_upload_bytes": sent_2.new_bytes,
                "layout_cold_s": round(cold, 3),
                "layout_warm_s": round(warm, 3),
                **ratios,
            }
        )
    )


if __name__ == "__main__":
    main()
