"""``renderfarm usage`` over the wire: a month or a span, grouped, as a table or as the API's
JSON (in the shape the OpenAPI document gives); a month that is not one is refused before any
request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_cli_commands import Cli, cli, document  # noqa: F401 - fixtures
from tests.openapi_shapes import assert_fits


def test_usage_of_a_month_by_tag_is_the_apis_answer_in_its_schema(
    cli: Cli,  # noqa: F811 - the fixture
    document: dict[str, Any],  # noqa: F811 - the fixture
) -> None:
    result = cli("usage", "--by", "tag", "--month", "2026-02", "--json")
    assert result.code == 0, result.stderr
    answer = result.json
    assert (answer["first_day"], answer["last_day"], answer["group_by"]) == (
        "2026-02-01",
        "2026-02-28",
        "tag",
    )
    assert_fits(document, "GET", "/api/usage", 200, answer)


def test_usage_prints_a_table_with_its_total(cli: Cli) -> None:  # noqa: F811 - the fixture
    result = cli("usage", "--from", "2026-12-01", "--to", "2026-12-07")
    assert result.code == 0, result.stderr
    assert "2026-12-01 to 2026-12-07" in result.stdout
    assert "total" in result.stdout


@pytest.mark.parametrize(
    "args",
    [("--month", "2026-13"), ("--month", "2026-12", "--from", "2026-12-01")],
    ids=["no-such-month", "month-and-from"],
)
def test_usage_refuses_a_month_that_is_not_one(cli: Cli, args: tuple[str, ...]) -> None:  # noqa: F811
    result = cli("usage", *args)
    assert result.code == 2
    assert "month" in result.stderr


def test_a_span_the_api_refuses_is_one_line_naming_from(cli: Cli) -> None:  # noqa: F811
    result = cli("usage", "--from", "2026-12-08", "--to", "2026-12-07")
    assert result.code != 0
    assert "from" in result.stderr
