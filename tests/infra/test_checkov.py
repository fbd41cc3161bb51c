"""checkov scans infra/ offline and finds nothing, except inline skips that say why."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.infra.bicep_files import REPO_ROOT, tool


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    checkov = tool("checkov")
    run = subprocess.run(
        [str(checkov), "--framework", "bicep", "--skip-download", "-d", "infra", "-o", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # Exit 1 means failed checks; the report then says which. Anything else is a crash.
    assert run.returncode in (0, 1), run.stderr
    report = json.loads(run.stdout)
    assert isinstance(report, dict), "expected one report for the one framework"
    return report


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert failed == []
    assert checkov_report["summary"]["passed"] > 0


def test_checkov_parses_every_bicep_file(checkov_report: dict[str, Any]) -> None:
    assert checkov_report["summary"]["parsing_errors"] == 0


def test_every_skipped_check_carries_its_justification(checkov_report: dict[str, Any]) -> None:
    unjustified = [
        f"{c['check_id']} {c['resource']}"
        for c in checkov_report["results"]["skipped_checks"]
        if len(str(c["check_result"].get("suppress_comment", "")).strip()) < 20
    ]
    assert unjustified == []
