"""``renderfarm usage``: what the tenant spent, by day, tag, job name or API key, from the
farm's running totals (``GET /api/usage``)."""

from __future__ import annotations

import calendar
import re
from datetime import date

import click
from rich.table import Table

from renderfarm_client.cli.json_output import json_option, print_json
from renderfarm_client.cli.options import Target, stdout
from renderfarm_client.farm_api import UsageAnswer

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def month_span(month: str) -> tuple[str, str]:
    """``2026-12`` -> its first and last day."""
    found = _MONTH.fullmatch(month)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise click.BadParameter(f"{month!r} is not a month (YYYY-MM)", param_hint="--month")
    year, number = int(found.group(1)), int(found.group(2))
    last = calendar.monthrange(year, number)[1]
    return date(year, number, 1).isoformat(), date(year, number, last).isoformat()


def usage_table(answer: UsageAnswer) -> Table:
    table = Table(title=f"usage {answer.first_day} to {answer.last_day}, by {answer.group_by}")
    table.add_column(answer.group_by)
    table.add_column("worker-s", justify="right")
    table.add_column("frames", justify="right")
    table.add_column("USD", justify="right")
    for line in (*answer.groups, answer.total):
        table.add_row(line.key, f"{line.worker_s:,.1f}", f"{line.frames:,}", f"{line.usd:,.4f}")
    return table


@click.command()
@click.option(
    "--by",
    "group_by",
    type=click.Choice(["day", "tag", "name", "key"]),
    default="day",
    show_default=True,
    help="group the lines by day, tag, job name or API key",
)
@click.option("--month", help="a whole month, YYYY-MM (default: this month so far)")
@click.option("--from", "first", help="the first day, YYYY-MM-DD")
@click.option("--to", "last", help="the last day, YYYY-MM-DD (default: today)")
@json_option
@click.pass_obj
def usage(  # noqa: PLR0913 - a click command: one parameter per option
    target: Target,
    /,
    *,
    group_by: str,
    month: str | None,
    first: str | None,
    last: str | None,
    as_json: bool,
) -> None:
    """What this tenant spent: worker-seconds, frames and USD (as jobs' costs count them)."""
    if month is not None:
        if first is not None or last is not None:
            raise click.UsageError("give --month, or --from and --to, not both")
        first, last = month_span(month)
    with target.client() as client:
        body = client.usage_json(first=first, last=last, group_by=group_by)
    if as_json:
        print_json(body)
        return
    stdout.print(usage_table(UsageAnswer.from_json(body)))
