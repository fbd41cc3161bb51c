"""The saved Application Insights queries name only columns and customDimensions keys that
tests/telemetry/test_job_trace.py sees the exporter send, so neither can drift from the other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.telemetry.sink import COLUMNS, JOB_DIMENSIONS

QUERIES = sorted((Path(__file__).parents[2] / "infra" / "queries").glob("*.kql"))
#: Tables, operators, functions and the queries' own names: every other word must be a column.
KQL_WORDS = {
    # tables
    "requests",
    "dependencies",
    "traces",
    # operators and keywords
    "let",
    "union",
    "where",
    "and",
    "or",
    "in",
    "distinct",
    "extend",
    "order",
    "by",
    "asc",
    "desc",
    "project",
    "summarize",
    "true",
    "false",
    # functions
    "ago",
    "tostring",
    "iff",
    "toscalar",
    "min",
    "max",
    # timespans
    "d",
    "h",
    "m",
    "s",
    # the queries' own names
    "jobId",
    "lookback",
    "operations",
    "what",
    "offset",
}
DIMENSION = re.compile(r'customDimensions(?:\.(\w+)|\[\s*"([^"]+)"\s*\])')


def _words(query: str) -> tuple[set[str], set[str]]:
    """The identifiers a query uses, and the customDimensions keys it reads."""
    code = re.sub(r"//[^\n]*", "", query)
    dimensions = {dot or bracket for dot, bracket in DIMENSION.findall(code)}
    code = DIMENSION.sub("customDimensions", code)
    code = re.sub(r'"[^"]*"', '""', code)
    code = re.sub(r"\b\d+(?=[a-z]\b)", "", code)  # 30d -> d
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code)), dimensions


def test_there_is_a_query() -> None:
    assert [path.name for path in QUERIES] == ["job-timeline.kql"]


@pytest.mark.parametrize("path", QUERIES, ids=lambda path: path.name)
def test_a_query_names_only_columns_the_exporter_sends(path: Path) -> None:
    words, dimensions = _words(path.read_text())
    assert words - KQL_WORDS - set(COLUMNS) == set()
    assert dimensions <= set(JOB_DIMENSIONS)


def test_the_job_timeline_finds_the_job_by_every_key_that_names_it() -> None:
    _, dimensions = _words(
        (Path(__file__).parents[2] / "infra/queries/job-timeline.kql").read_text()
    )
    assert dimensions == set(JOB_DIMENSIONS)
