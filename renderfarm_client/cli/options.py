"""What the ``renderfarm`` command's groups share: the farm a command talks to, the consoles,
and the render options of ``submit`` and ``local run``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from renderfarm_client.farm_api import FarmClient
from renderfarm_client.farm_http import FIRST_CONTACT_S
from renderfarm_client.render_request import ENGINES, FORMATS, ORDERS, RenderOptions

stdout = Console()
stderr = Console(stderr=True)


@dataclass(frozen=True, kw_only=True)
class Target:
    api_url: str
    api_key: str | None

    def client(self) -> FarmClient:
        # At a terminal, a farm never reached is said at once (FIRST_CONTACT_S), not in 30 s.
        return FarmClient(
            api_url=self.api_url, api_key=self.api_key, first_contact_s=FIRST_CONTACT_S
        )


class Priority(click.ParamType["int | str"]):
    """``--priority``: 0..9, or a band's name (low, normal, high), sent as typed: the API maps
    a name to its band's middle (2, 5, 8)."""

    name = "priority"
    BANDS = ("low", "normal", "high")

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[0..9|low|normal|high]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip().lower()
            if text in self.BANDS:
                return text
            try:
                number = int(text)
            except ValueError:
                self.fail(f"{value!r} is not 0..9 or one of low, normal, high", param, ctx)
        if not 0 <= number <= 9:
            self.fail(f"{number} is not in 0..9 (or use low, normal, high)", param, ctx)
        return number


def render_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``submit`` and ``local run`` share."""
    options = [
        click.argument("scene", type=click.Path(path_type=Path)),
        click.option("--frames", required=True, help="Blender syntax: 1-48, 1-10,20, 1-100x5"),
        click.option("--chunk-size", type=click.IntRange(1), help="frames per message"),
        click.option(
            "--order",
            type=click.Choice(ORDERS),
            default=None,
            help=(
                "the order chunks render in: preview_first (the first, last and middle frames, "
                "then the gaps, halving) or sequential (file order) [default: preview_first]"
            ),
        ),
        click.option(
            "--engine", type=click.Choice(sorted(ENGINES), case_sensitive=False), default=None
        ),
        click.option("--samples", type=click.IntRange(1), default=None),
        click.option("--resolution", metavar="WxH", default=None, help="e.g. 320x240"),
        click.option(
            "--format",
            "output_format",
            type=click.Choice(sorted(FORMATS), case_sensitive=False),
            default="png",
            show_default=True,
        ),
        click.option(
            "--priority",
            type=Priority(),
            default=None,
            help="0..9 or low (0-3), normal (4-6), high (7-9); high jobs' chunks go first",
        ),
        click.option(
            "--out",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="where frames and previews go [default: out/<job>]",
        ),
        click.option(
            "--name",
            default=None,
            help="what to call the job [default: the .blend's file name and the frames]",
        ),
        click.option(
            "--tag",
            "tags",
            multiple=True,
            metavar="TAG",
            help="a label or key=value to find the job by, e.g. shot=010; repeat for more",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def options_from(**kwargs: Any) -> RenderOptions:
    """The render options of ``submit`` and ``local run`` (``local run`` does not scout)."""
    from renderfarm_client.cli.quotes import scout_choice  # noqa: PLC0415 - quotes imports this

    return RenderOptions(
        blender=kwargs.get("pin_blender"),
        not_before=kwargs.get("not_before"),
        frames=kwargs["frames"],
        chunk_size=kwargs["chunk_size"],
        engine=kwargs["engine"],
        samples=kwargs["samples"],
        resolution=kwargs["resolution"],
        output_format=kwargs["output_format"],
        priority=kwargs["priority"],
        order=kwargs.get("order"),
        name=kwargs.get("name"),
        tags=tuple(kwargs.get("tags") or ()),
        scout=scout_choice(bool(kwargs.get("scout")), kwargs.get("scout_frames")),
        approve_below_usd=kwargs.get("approve_below_usd"),
    )
