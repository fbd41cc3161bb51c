"""``python -m emulators.servicebus``: a local Azure Service Bus for the official SDK."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from .amqp_server import AmqpServer
from .broker import Broker
from .config import BUNDLED_CONFIG, ConfigError, load_config
from .http_api import ManagementHttpServer
from .store import SqliteStore

log = logging.getLogger("emulators.servicebus")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.servicebus",
        description="A local Azure Service Bus emulator (AMQP 1.0) for the azure-servicebus SDK.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5672, help="AMQP port (0: any free port)")
    parser.add_argument(
        "--config", type=Path, default=BUNDLED_CONFIG, help="config in Microsoft's emulator schema"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(".emulator-data/servicebus"), help="message store"
    )
    parser.add_argument(
        "--management-port", type=int, default=5300, help="HTTP port for health and queue counts"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if logging.getLogger().level > logging.DEBUG:
        # Proton logs every accepted connection, and a client's ordinary disconnect as an
        # error ("Couldn't send: BrokenPipeError"); the emulator logs what matters itself.
        logging.getLogger("proton").setLevel(logging.CRITICAL)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"servicebus emulator: {error}", file=sys.stderr)
        return 2
    broker = Broker(config, SqliteStore(args.data_dir / "messages.sqlite3"))
    http = ManagementHttpServer(
        host=args.host, port=args.management_port, counts=broker.counts, namespace=config.namespace
    )
    http.start()

    def ready(port: int) -> None:
        queues = ",".join(queue.name for queue in config.queues)
        print(
            f"Service Bus emulator ready on amqp://{args.host}:{port} "
            f"management http://{args.host}:{http.port} queues={queues}",
            flush=True,
        )

    server = AmqpServer(broker, host=args.host, port=args.port, on_ready=ready)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()
    finally:
        http.stop()
        broker.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
