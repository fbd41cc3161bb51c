"""The ``renderfarm`` group: the farm's URL and key, the client's commands and the local farm's,
and ``main``, which ends every failure a person can act on as one line on stderr and a non-zero
exit, never a traceback."""

from __future__ import annotations

import click

from renderfarm_client.cli.commands import COMMANDS
from renderfarm_client.cli.logs import logs
from renderfarm_client.cli.options import Target, stderr
from renderfarm_client.farm_api import DEFAULT_API_URL, FarmError
from renderfarm_local.budgets_command import budgets
from renderfarm_local.commands import LOCAL_ERRORS, keys, local, resolve_key

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
#: Failures that end as one line on stderr and exit 1.
KNOWN_ERRORS: tuple[type[Exception], ...] = (FarmError, *LOCAL_ERRORS)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--api-url",
    envvar="RENDERFARM_API_URL",
    default=DEFAULT_API_URL,
    show_default=True,
    help="the farm's URL [env RENDERFARM_API_URL]",
)
@click.option(
    "--api-key",
    envvar="RENDERFARM_API_KEY",
    default=None,
    help="[env RENDERFARM_API_KEY; default: the local farm's key]",
)
@click.pass_context
def cli(ctx: click.Context, api_url: str, api_key: str | None) -> None:
    """Render Blender scenes on a renderfarm, in Azure or on this machine."""
    ctx.obj = Target(api_url=api_url, api_key=resolve_key(api_url, api_key))


for _command in COMMANDS:
    cli.add_command(_command)
cli.add_command(logs)
# This machine's farm and vault.
cli.add_command(local)
cli.add_command(keys)
cli.add_command(budgets)


def main(argv: list[str] | None = None) -> int:
    """The console script: run the command, turn known failures into one line and an exit code."""
    try:
        result = cli.main(args=argv, prog_name="renderfarm", standalone_mode=False)
    except KNOWN_ERRORS as error:
        click.echo(f"error: {error}", err=True)
        return EXIT_FAILED
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except (KeyboardInterrupt, click.Abort):
        stderr.print("interrupted")
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0
