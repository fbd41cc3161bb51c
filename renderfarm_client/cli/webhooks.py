"""``renderfarm webhooks``: subscribe a URL to the key's job events, list the subscriptions,
remove one (docs/events-and-webhooks.md "Webhooks"). The signing secret is shown once, by
``add``: the farm keeps only what verifies it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from renderfarm_client.cli.json_output import json_option, print_json
from renderfarm_client.cli.options import Target, stderr, stdout


@click.group()
def webhooks() -> None:
    """Send signed POSTs to your URL when your jobs start, end or lose a chunk."""


@webhooks.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    metavar="EVENT",
    multiple=True,
    required=True,
    help="an event to receive, e.g. job.completed, job.failed, chunk.failed; repeat for more",
)
@json_option
@click.pass_obj
def add(target: Target, /, url: str, events: tuple[str, ...], as_json: bool) -> None:
    """Subscribe URL (https; plain http only to this machine's farm) to EVENTs. Prints the
    signing secret, this once only."""
    with target.client() as client:
        created = client.webhooks.add(url, events)
    if as_json:
        print_json(created)
        return
    stdout.print(
        f"webhook {created['id']}: {created['url']} on {', '.join(created['events'])}",
        soft_wrap=True,
        markup=False,
    )
    stdout.print(f"secret  {created['secret']}", soft_wrap=True, markup=False)
    stderr.print(
        "keep the secret now: the farm never shows it again (it signs every delivery)",
        soft_wrap=True,
    )


@webhooks.command("list")
@json_option
@click.pass_obj
def list_webhooks(target: Target, /, as_json: bool) -> None:
    """Your webhooks, oldest first, with how their deliveries went (never their secrets)."""
    with target.client() as client:
        listed = client.webhooks.list()
    if as_json:
        print_json(listed)
        return
    hooks = listed["webhooks"]
    if not hooks:
        stdout.print("no webhooks yet: add one with `renderfarm webhooks add URL --event ...`")
        return
    # A few lines each rather than a table: a URL is long, and the id must stay whole to paste.
    for hook in hooks:
        deliveries = hook["deliveries"]
        stdout.print(f"{hook['id']}  {hook['url']}", soft_wrap=True, markup=False)
        stdout.print(
            f"  events {', '.join(hook['events'])}; created {_when(hook['created_at'])}",
            soft_wrap=True,
            markup=False,
        )
        stdout.print(
            f"  {deliveries['deliveries']} delivered, {deliveries['failures']} failed; "
            f"last try: {_last(deliveries)}",
            soft_wrap=True,
            markup=False,
        )


@webhooks.command("remove")
@click.argument("webhook_id", metavar="ID")
@click.pass_obj
def remove(target: Target, /, webhook_id: str) -> None:
    """Remove webhook ID (as `renderfarm webhooks list` shows it); queued deliveries are
    dropped."""
    with target.client() as client:
        client.webhooks.remove(webhook_id.strip().lower())
    stdout.print(f"webhook {webhook_id} removed", markup=False)


def _when(timestamp: str) -> str:
    return f"{datetime.fromisoformat(timestamp):%Y-%m-%d %H:%M:%S}"


def _last(deliveries: dict[str, Any]) -> str:
    """The last try: when, and its HTTP status or its error when nothing answered."""
    if deliveries["last_attempt_at"] is None:
        return "none yet"
    status = deliveries["last_status"]
    answer = f"HTTP {status}" if status is not None else deliveries["last_error"] or "no answer"
    return f"{_when(deliveries['last_attempt_at'])}, {answer}"
