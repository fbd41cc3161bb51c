"""Every Bicep file parses, main.bicep only composes modules, and nothing secret is output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.bicep_files import INFRA, MAIN_BICEP, bicep_files, parse

#: What main.bicep may output: names and URLs (workerNames, queueNames: one per Blender pool).
ALLOWED_OUTPUT = re.compile(r"(Url|Names?|Kind|LoginServer|Namespace)$")


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_bicep_file_parses(path: Path) -> None:
    doc = parse(path)
    assert doc.get("resources") or doc.get("modules"), f"{path.name} declares nothing"


def test_main_composes_a_module_per_concern_and_declares_no_resource_itself() -> None:
    doc = parse(MAIN_BICEP)
    assert not doc.get("resources")
    paths = {m["detail"]["path"] for m in doc["modules"].values()}
    for module_path in paths:
        assert (INFRA / module_path).is_file(), module_path
    assert {Path(p).stem for p in paths} == {p.stem for p in (INFRA / "modules").glob("*.bicep")}


def test_main_outputs_names_and_urls_never_a_key_or_connection_string() -> None:
    outputs = parse(MAIN_BICEP)["outputs"]
    assert "apiUrl" in outputs
    assert [name for name in outputs if not ALLOWED_OUTPUT.search(name)] == []
    values = " ".join(str(output["value"]) for output in outputs.values())
    for forbidden in ("ConnectionString", "listKeys", "primaryKey", "InstrumentationKey"):
        assert forbidden not in values


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_no_bicep_file_reads_keys_or_connection_strings(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for forbidden in ("listKeys", "listConnectionStrings", "AccountKey=", "SharedAccessKey"):
        assert forbidden not in text, f"{path.name} uses {forbidden}"
