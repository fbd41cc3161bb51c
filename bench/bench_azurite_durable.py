"""What Azurite's durable writes (emulators/azurite/durable_writes.js) cost: blob uploads per
second with and without it, on an empty account and on one that already holds many blobs (each
save writes Azurite's whole metadata database, so the cost grows with what it holds).

Starts its own Azurite on a free port and a fresh folder for each case. Prints uploads per second
and the ratio plain / durable; asserts nothing.

    .venv/bin/python -m bench.bench_azurite_durable [--uploads 200] [--held 3000]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.storage.blob import BlobServiceClient, ContainerClient

from renderfarm_local import services
from renderfarm_local.supervisor import free_port, port_open

FRAME = b"\x89PNG" + bytes(2000)  # about a 64x48 frame


@contextlib.contextmanager
def azurite(folder: Path, *, durable: bool) -> Iterator[ContainerClient]:
    port = free_port()
    argv = list(services.azurite_spec(location=folder, port=port).argv)
    if not durable:  # node --require durable_writes.js <azurite>: drop the preload
        argv = [argv[0], *argv[3:]]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not port_open(port):
            time.sleep(0.05)
        service = BlobServiceClient.from_connection_string(services.azurite_connection_string(port))
        container = service.get_container_client("bench")
        with contextlib.suppress(Exception):
            container.create_container()
        yield container
    finally:
        process.terminate()
        process.wait(10)


def fill(container: ContainerClient, count: int) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: container.upload_blob(f"held/{n:06d}", b"x"), range(count)))


def uploads_per_second(container: ContainerClient, count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        container.upload_blob(f"frames/{n:06d}.png", FRAME)
    return count / (time.perf_counter() - started)


def case(root: Path, *, durable: bool, held: int, uploads: int) -> float:
    folder = root / f"{'durable' if durable else 'plain'}-{held}"
    with azurite(folder, durable=False) as container:  # filled fast, then saved on SIGTERM
        fill(container, held)
    with azurite(folder, durable=durable) as container:
        rate = uploads_per_second(container, uploads)
    shutil.rmtree(folder, ignore_errors=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--held", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-azurite-") as tmp:
        for held in (0, args.held):
            plain = case(Path(tmp), durable=False, held=held, uploads=args.uploads)
            durable = case(Path(tmp), durable=True, held=held, uploads=args.uploads)
            print(
                f"{held:>6,} blobs held: plain {plain:6.0f} uploads/s, durable {durable:6.0f} "
                f"uploads/s, durable costs {plain / durable:4.2f}x"
            )


if __name__ == "__main__":
    main()
