"""``python3 -m renderfarm.keys.new_key TENANT``: a new key and where its hash goes, for scripts.

Prints one line, ``<key> <key id> <secret name> <tenant=sha256hex>``, as ``renderfarm keys create``
makes them; infra/deploy.sh stores the last two with ``az`` (the deployer's own login) and shows
the key once. Needs the standard library only, so any python3 runs it from the repository root.
"""

from __future__ import annotations

import sys

from renderfarm.keys.api_keys import (
    KeyConfigError,
    entry,
    hash_key,
    new_key,
    new_key_id,
    secret_name,
)

USAGE = "usage: python3 -m renderfarm.keys.new_key TENANT"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write(USAGE + "\n")
        return 2
    tenant = argv[0]
    key, key_id = new_key(), new_key_id()
    try:
        name = secret_name(tenant, key_id)
    except KeyConfigError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    sys.stdout.write(f"{key} {key_id} {name} {entry(tenant, hash_key(key))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
