"""``python -m containerapp_worker``: render chunks from the queue until stopped.

SIGTERM or SIGINT (scale-in, a deploy, Ctrl-C) stops the worker at once: it stops taking messages,
hands its current message back (abandon) so another replica continues from the first missing
frame, and exits 0 well within the Container Apps grace period. A signal thread does this, because
the main thread may be inside Blender, where Python signal handlers cannot run until the frame ends.

It exits 3 (worker.EXIT_IN_DOUBT) when its state is in doubt (Blender raised something unforeseen,
memory ran out, Service Bus stayed unreachable), after handing its message back: Container Apps
and the local autoscaler replace a replica that exited.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from renderfarm.shared.json_logging import configure_json_logging
from renderfarm.shared.settings import Settings
from renderfarm_azure.telemetry import configure_telemetry, flush_telemetry

log = logging.getLogger("containerapp_worker")
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m containerapp_worker")
    parser.add_argument("--once", action="store_true", help="take one message, then exit")
    parser.add_argument("--max-messages", type=int, default=None, help="exit after this many")
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=2.0,
        help="seconds a stop waits for the current frame before abandoning the message anyway",
    )
    return parser.parse_args(argv)


def _watch_signals(
    stop: threading.Event,
    grace_s: float,
    worker_idle: threading.Event,
    abandon_now: Callable[[], None],
) -> None:
    received = signal.sigwait(STOP_SIGNALS)
    log.info("stop signal %s received", signal.Signals(received).name)
    stop.set()
    if worker_idle.wait(grace_s):
        return  # the loop noticed and will exit by itself
    abandon_now()
    flush_telemetry()  # os._exit skips the exporters' flush at exit
    logging.shutdown()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    # Block the stop signals before any thread starts, so only the watcher thread receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    args = parse_args(argv)
    configure_json_logging()
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"worker: invalid settings: {error}", file=sys.stderr)
        return 2
    from containerapp_worker.app import WrongPool, build_worker  # noqa: PLC0415 (bpy after settings)

    # Azure Monitor export when its connection string is set.
    configure_telemetry(
        settings, logger_name="containerapp_worker", service_name="renderfarm-worker"
    )

    stop = threading.Event()
    try:
        worker = build_worker(
            settings,
            stop=stop,
            worker_id=f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
            once=args.once,
            max_messages=args.max_messages
            if args.max_messages is not None
            else settings.worker_max_messages,
            cache_dir=Path(settings.blend_cache_dir),
        )
    except WrongPool as error:
        print(f"worker: {error}", file=sys.stderr)
        return 2
    watcher = threading.Thread(
        target=_watch_signals,
        args=(stop, args.stop_grace, worker.idle, worker.abandon_now),
        name="stop-signals",
        daemon=True,
    )
    watcher.start()
    end = worker.run()
    log.info("worker stopped after %d messages", end.handled)
    return end.exit_code  # non-zero: this replica's state is in doubt, so it is replaced


if __name__ == "__main__":
    sys.exit(main())
