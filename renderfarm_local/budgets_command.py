"""``renderfarm budgets``: set, list and remove the farm's monthly budgets (renderfarm.billing).

For the farm's operator: budgets live in the farm's table account, which only the operator (and
the farm's own identities) can write; a tenant's API key never sets its own. The table account is
``--table-endpoint`` (the storage account's table endpoint, with Azure's identity: ``az login``),
``--table-connection-string``, or by default the local farm's Azurite.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click
from azure.data.tables import TableClient
from azure.identity import DefaultAzureCredential
from rich.console import Console
from rich.table import Table

from renderfarm.billing.budgets import DEFAULT_NOTIFY_AT, Budget, BudgetError
from renderfarm.shared.errors import DependencyUnavailable
from renderfarm.shared.settings import Settings
from renderfarm.shared.tenants import is_tenant
from renderfarm_azure.budget_store import TableBudgetStore
from renderfarm_local.farm_layout import FarmPorts
from renderfarm_local.services import azurite_table_connection_string

stdout = Console()
stderr = Console(stderr=True)


@contextlib.contextmanager
def budget_store(context: click.Context) -> Iterator[TableBudgetStore]:
    """The store of the group's table account; its failures as one line each."""
    endpoint, connection = context.obj["endpoint"], context.obj["connection_string"]
    name = Settings.model_fields["budgets_table"].default
    if endpoint:
        table = TableClient(endpoint, table_name=name, credential=DefaultAzureCredential())
    else:
        connection = connection or azurite_table_connection_string(FarmPorts.standard().table)
        table = TableClient.from_connection_string(connection, table_name=name)
    store = TableBudgetStore(table)
    try:
        yield store
    except DependencyUnavailable as error:
        raise click.ClickException(f"the farm's table account did not answer: {error}") from error
    except BudgetError as error:
        raise click.ClickException(str(error)) from error
    finally:
        store.close()


def _tenant(value: str) -> str:
    if not is_tenant(value):
        raise click.BadParameter("1-63 lower-case letters, digits and dashes")
    return value


def _percentages(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise click.BadParameter("percentages such as 50,80") from error


@click.group()
@click.option(
    "--table-endpoint",
    "endpoint",
    envvar="RENDERFARM_RATE_LIMIT_TABLE_ENDPOINT",
    default=None,
    help="the farm's table endpoint, with your Azure identity [default: the local farm's]",
)
@click.option(
    "--table-connection-string",
    "connection_string",
    envvar="RENDERFARM_RATE_LIMIT_TABLE_CONNECTION_STRING",
    default=None,
    help="the farm's table account by connection string (Azurite)",
)
@click.pass_context
def budgets(context: click.Context, endpoint: str | None, connection_string: str | None) -> None:
    """Set, list and remove monthly budgets (the farm's operator only)."""
    context.obj = {"endpoint": endpoint, "connection_string": connection_string}


@budgets.command("set")
@click.argument("tenant", callback=lambda _c, _p, value: _tenant(value))
@click.option("--usd", type=float, required=True, help="the monthly budget in USD")
@click.option("--tag", default=None, help="a budget for the jobs with this tag only")
@click.option(
    "--notify-at",
    default=",".join(str(p) for p in DEFAULT_NOTIFY_AT),
    show_default=True,
    help="percentages at which a budget.threshold event is sent",
)
@click.option("--no-hold", is_flag=True, help="at 100 %, notify only: do not hold new chunks")
@click.pass_context
def set_budget(  # noqa: PLR0913, PLR0917 - click passes each option
    context: click.Context, tenant: str, usd: float, tag: str | None, notify_at: str, no_hold: bool
) -> None:
    """Set TENANT's monthly budget (or its TAG's); replaces one set before."""
    try:
        budget = Budget(
            tenant=tenant,
            tag=tag,
            monthly_usd=usd,
            notify_at=_percentages(notify_at),
            hold=not no_hold,
        )
    except BudgetError as error:
        raise click.BadParameter(str(error), param_hint="--usd/--notify-at") from error
    with budget_store(context) as store:
        store.set_budget(budget)
    stderr.print(f"budget set: {budget.scope} of {tenant}, {usd:.2f} USD a month")


@budgets.command("list")
@click.option("--tenant", default=None, help="only this tenant's")
@click.pass_context
def list_budgets(context: click.Context, tenant: str | None) -> None:
    """Every budget: tenant, scope, USD a month, thresholds, hold."""
    with budget_store(context) as store:
        found = store.budgets(tenant) if tenant else store.all_budgets()
    table = Table("tenant", "scope", "USD a month", "notify at", "at 100 %")
    for budget in sorted(found, key=lambda b: (b.tenant, b.scope)):
        table.add_row(
            budget.tenant,
            budget.scope,
            f"{budget.monthly_usd:.2f}",
            ",".join(f"{p}%" for p in budget.notify_at) or "-",
            "hold" if budget.hold else "notify",
        )
    stdout.print(table if found else "no budgets")


@budgets.command("remove")
@click.argument("tenant", callback=lambda _c, _p, value: _tenant(value))
@click.option("--tag", default=None, help="the tag's budget, not the tenant's")
@click.pass_context
def remove_budget(context: click.Context, tenant: str, tag: str | None) -> None:
    """Remove TENANT's budget (or its TAG's): held jobs start again within seconds."""
    with budget_store(context) as store:
        removed = store.remove_budget(tenant, tag)
    if not removed:
        raise click.ClickException(f"{tenant} has no {'tag ' + tag if tag else 'tenant'} budget")
    stderr.print(f"budget removed: {tenant} {'tag:' + tag if tag else 'tenant'}")
