"""One chunk shape on the wire (renderfarm/wire.py): the API serialises what the client parses,
and the client core stays runnable by Blender's bundled Python (standard library only)."""

from __future__ import annotations

import ast
import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import TypeAdapter

import renderfarm_client
from functions.schemas import JobStatusPublic, chunk_public
from renderfarm import wire
from renderfarm.chunks.record import ChunkState
from renderfarm.chunks.usage import ChunkUsage
from renderfarm.jobs.status import ChunkStatus
from renderfarm.projects import file_set
from renderfarm.wire import CHUNK_STATES, ChunkProgress
from renderfarm_client import farm_api

CORE = Path(renderfarm_client.__file__).parent
WIRE = Path(wire.__file__)


def test_the_wire_knows_every_chunk_state_of_the_domain() -> None:
    assert set(CHUNK_STATES) == {state.value for state in ChunkState}


def test_a_chunk_the_api_sends_is_the_chunk_the_client_reads() -> None:
    domain = ChunkStatus(
        index=3,
        state=ChunkState.FAILED,
        frames_total=4,
        frames_done=1,
        attempts=5,
        last_error="Traceback ... scene.blend: out of memory",
        blender_version="5.3.0",
        started_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        finished_at=None,
        usage=ChunkUsage(),
    )
    sent = TypeAdapter(ChunkProgress).dump_python(chunk_public(domain), mode="json")
    assert ChunkProgress.from_json(sent) == chunk_public(domain)
    assert sent["state"] == "failed" and sent["started_at"].startswith("2026-11-01T12:00:00")


def test_the_openapi_chunk_schema_comes_from_the_wire_module() -> None:
    schema = JobStatusPublic.model_json_schema()
    chunk = schema["$defs"]["ChunkProgress"]
    assert chunk["properties"]["state"]["enum"] == list(CHUNK_STATES)
    assert "Blender" in chunk["properties"]["blender_version"]["description"]
    assert set(chunk["required"]) >= {"index", "state", "blender_version", "started_at"}


#: Tracing a project needs blender-asset-tracer (and, through it, zstandard): the add-on bundles
#: its wheel; every other module of the core stays standard library only, but for the wire
#: module, which the add-on build copies next to the core.
_TRACING = {"project.py", "bat_compat.py"}
_TRACING_IMPORTS = {"blender_asset_tracer", "zstandard"}
_SHARED = {"renderfarm.wire"}


def _absolute_imports(module: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


def _standard(name: str) -> bool:
    top = name.partition(".")[0]
    return top in sys.stdlib_module_names or top == "__future__"


def test_the_client_core_imports_only_the_standard_library() -> None:
    for module in sorted(CORE.glob("*.py")):
        allowed = _TRACING_IMPORTS if module.name in _TRACING else set()
        for name in _absolute_imports(module):
            assert _standard(name) or name in _SHARED or name.partition(".")[0] in allowed, (
                module.name,
                name,
            )


def test_the_wire_module_imports_only_the_standard_library() -> None:
    assert all(_standard(name) for name in _absolute_imports(WIRE)), _absolute_imports(WIRE)


def test_the_client_asks_about_no_more_files_a_call_than_the_api_takes() -> None:
    """The client core cannot import the domain: its copy of the limit must agree with it
    (at 1,000 a project of more than 500 files was refused with a 422)."""
    assert farm_api.MAX_HASHES_PER_CALL == file_set.MAX_HASHES_PER_CALL
