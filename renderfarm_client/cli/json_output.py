"""``--json``: a command prints the API's answer exactly as the API sent it, one JSON document on
stdout and nothing else there (what a person reads goes to stderr), so a script can pipe it to
``jq`` or validate it against the farm's OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

json_option: Callable[[Callable[..., Any]], Callable[..., Any]] = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="print the API's JSON answer on stdout (its shape in the OpenAPI document), nothing else",
)


def print_json(body: dict[str, Any]) -> None:
    """One JSON document on stdout, as the API sent it."""
    click.echo(json.dumps(body, indent=2, ensure_ascii=False))
