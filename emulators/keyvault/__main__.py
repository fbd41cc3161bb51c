"""``python -m emulators.keyvault``: a local Azure Key Vault (secrets) for the official SDK.

A client passes the vault URL ``https://127.0.0.1:PORT``, trusts the printed certificate
(``connection_verify=`` or ``REQUESTS_CA_BUNDLE``), passes ``verify_challenge_resource=False``
(the challenge names vault.azure.net, which 127.0.0.1 is not under) and any credential that
returns a token: the emulator checks that a bearer token is there, not what it says.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .certificate import ensure_certificate
from .http_api import KeyVaultHttpServer
from .store import SqliteStore
from .vault import Vault

log = logging.getLogger("emulators.keyvault")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.keyvault",
        description="A local Azure Key Vault emulator (secrets, HTTPS) for azure-keyvault-secrets.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8443, help="HTTPS port (0: any free port)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".emulator-data/keyvault"),
        help="secrets and the TLS certificate",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


#: How often the main thread wakes to run a pending signal handler.
WAKE_S = 0.25


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    # Before the server binds its port: a supervisor that sees the port open may stop us at once.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    certificate = ensure_certificate(args.data_dir)
    store = SqliteStore(args.data_dir / "secrets.sqlite3")
    server = KeyVaultHttpServer(
        host=args.host, port=args.port, vault=Vault(store), certificate=certificate
    )
    server.start()
    print(f"certificate: {certificate.cert}", flush=True)
    print(f"Key Vault emulator ready on https://{args.host}:{server.port}", flush=True)
    try:
        # The server runs in its own thread: shutdown() from a signal handler on the thread
        # that runs serve_forever() would wait for itself. The wait is timed: a signal that
        # lands just before an untimed wait blocks leaves its Python handler pending until the
        # main thread runs Python again, which it never would (seen under load: SIGTERM hung).
        while not stopping.wait(WAKE_S):
            pass
    finally:
        server.stop()
        store.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
