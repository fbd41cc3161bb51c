"""A stand-in `az` for deploy.sh's tests: logs each call and answers like the real CLI would.

Installed as an executable named `az` on PATH. Each call appends one JSON line to $AZ_LOG:
{"argv": [...], "rc": 0} (plus "zip_members" for a Function code upload). $AZ_STATE names a JSON
file with what the fake subscription holds: logged_in, group_exists, registries (each a
loginServer and its tags), existing_keys, and failures: how many times each command (its words,
"keyvault secret set") fails before it succeeds, as a role assignment not yet in force would.
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
    "workerKind": "app",
    "registryName": "crabc",
    "registryLoginServer": "crabc.azurecr.io",
    "keyVaultName": "kv-abc",
}

#: deploy.sh's query for one pool's worker in the workerNames output.
WORKER_QUERY = re.compile(
    r"properties\.outputs\.workerNames\.value\[\?blenderVersion=='([0-9.]+)'\] \| \[0\]\.name"
)


def command_words(argv: list[str]) -> list[str]:
    words = []
    for arg in argv:
        if arg.startswith("-"):
            break
        words.append(arg)
    return words


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def worker_name(version: str) -> str:
    """What the Bicep names a pool's worker app (token 'abc')."""
    return f"ca-worker-{version.replace('.', '-')}-abc"


def deployment_output(query: str) -> str:
    worker = WORKER_QUERY.fullmatch(query)
    if worker:
        return worker_name(worker.group(1))
    match = re.fullmatch(r"properties\.outputs\.(\w+)\.value", query)
    assert match, query
    return OUTPUTS[match.group(1)]


def registries_matching(state: dict[str, Any], query: str) -> list[str]:
    """The login servers whose tags satisfy every `tags.x=='y'` test of the JMESPath query."""
    wanted = dict(re.findall(r"tags\.(\w+)=='([^']*)'", query))
    return [
        registry["loginServer"]
        for registry in state["registries"]
        if all(registry["tags"].get(key) == value for key, value in wanted.items())
    ]


def earlier_calls(words: str) -> int:
    log = Path(os.environ["AZ_LOG"])
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return sum(1 for line in lines if " ".join(command_words(json.loads(line)["argv"])) == words)


def answer(argv: list[str], state: dict[str, Any], entry: dict[str, Any]) -> int:
    words = " ".join(command_words(argv))
    if earlier_calls(words) < state.get("failures", {}).get(words, 0):
        sys.stderr.write(f"(Forbidden) the caller is not authorized to perform {words}\n")
        return 1
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
        found = registries_matching(state, option(argv, "--query"))
        sys.stdout.write(found[0] + "\n" if found else "")
    elif words == "deployment group what-if":
        sys.stdout.write("Resource and property changes are indicated with these symbols:\n")
    elif words == "deployment group show":
        sys.stdout.write(deployment_output(option(argv, "--query")) + "\n")
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
    entry["rc"] = code
    with Path(os.environ["AZ_LOG"]).open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
