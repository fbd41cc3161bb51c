"""A stand-in `az` for deploy.sh's tests: logs each call and answers like the real CLI would.

Installed as an executable named `az` on PATH. Each call appends one JSON line to $AZ_LOG:
{"argv": [...]} (plus "zip_members" for a Function code upload). $AZ_STATE names a JSON file
with what the fake subscription holds: logged_in, group_exists, registry, existing_keys.
"""

from __future__ import annotations

import json
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

OUTPUTS = {
    "apiUrl": "https://func-abc.azurewebsites.net/api",
    "functionAppName": "func-abc",
    "workerName": "ca-worker-abc",
    "workerKind": "app",
    "registryName": "crabc",
    "registryLoginServer": "crabc.azurecr.io",
    "keyVaultName": "kv-abc",
}


def command_words(argv: list[str]) -> list[str]:
    words = []
    for arg in argv:
        if arg.startswith("-"):
            break
        words.append(arg)
    return words


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def answer(argv: list[str], state: dict[str, Any], entry: dict[str, Any]) -> int:
    words = " ".join(command_words(argv))
    if words == "account show":
        if not state["logged_in"]:
            sys.stderr.write("Please run 'az login' to setup account.\n")
            return 1
        query = option(argv, "--query") if "--query" in argv else ""
        answers = {"user.type": "user", "user.name": "someone@example.com"}
        if query:
            sys.stdout.write(answers[query] + "\n")
        return 0
    if words == "ad signed-in-user show":
        sys.stdout.write("00000000-0000-0000-0000-00000000d3p1\n")
    elif words == "group exists":
        sys.stdout.write("true\n" if state["group_exists"] else "false\n")
    elif words == "acr list":
        sys.stdout.write(state["registry"] + "\n" if state["registry"] else "")
    elif words == "deployment group what-if":
        sys.stdout.write("Resource and property changes are indicated with these symbols:\n")
    elif words == "deployment group show":
        match = re.fullmatch(r"properties\.outputs\.(\w+)\.value", option(argv, "--query"))
        assert match, argv
        sys.stdout.write(OUTPUTS[match.group(1)] + "\n")
    elif words == "functionapp deployment source config-zip":
        with zipfile.ZipFile(option(argv, "--src")) as archive:
            entry["zip_members"] = archive.namelist()
    elif words == "keyvault secret list":
        sys.stdout.write(f"{state['existing_keys']}\n")
    return 0


def main() -> int:
    argv = sys.argv[1:]
    state = json.loads(Path(os.environ["AZ_STATE"]).read_text(encoding="utf-8"))
    entry: dict[str, Any] = {"argv": argv}
    code = answer(argv, state, entry)
    with Path(os.environ["AZ_LOG"]).open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
