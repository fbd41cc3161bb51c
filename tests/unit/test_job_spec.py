from typing import Any

import pytest
from pydantic import ValidationError

from renderfarm.jobs.render_request import RenderSettingsIn
from renderfarm.jobs.spec import JobRequest, JobSpec
from renderfarm.shared.errors import CameraNotInScene, SceneNotInFile, TooManyFrames
from renderfarm.shared.render_settings import Engine, OutputFormat

SHA = "a" * 64


def request(**overrides: Any) -> JobRequest:
    return JobRequest.model_validate({"scene_sha256": SHA, "frames": "1-10", **overrides})


def error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in e["loc"]) for e in error.errors()}


def test_a_minimal_request_becomes_a_spec_with_defaults() -> None:
    spec = request().to_spec()
    assert spec.frames == tuple(range(1, 11))
    assert spec.render.output_format is OutputFormat.PNG
    assert spec.chunk_size is None
    assert spec.priority == 5


def test_engines_are_named_by_their_bpy_ids() -> None:
    spec = request(render={"engine": "BLENDER_EEVEE", "output_format": "OPEN_EXR"}).to_spec()
    assert spec.render.engine is Engine.EEVEE
    assert spec.render.output_format.extension == "exr"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"scene_sha256": "A" * 64}, "scene_sha256"),
        ({"frames": "1-2000000"}, "frames"),
        ({"step": 0}, "step"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"priority": 10}, "priority"),
        ({"render": {"engine": "EEVEE"}}, "render.engine"),
        ({"render": {"samples": 0}}, "render.samples"),
        ({"render": {"resolution_x": 3}}, "render.resolution_x"),
        ({"render": {"resolution_percentage": 101}}, "render.resolution_percentage"),
        ({"render": {"output_format": "TIFF"}}, "render.output_format"),
        ({"render": {"camera": "x" * 64}}, "render.camera"),
        ({"render": {"colour": "red"}}, "render.colour"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_each_bad_field_is_named_in_the_error(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        request(**overrides)
    assert field in error_fields(caught.value)


@pytest.mark.parametrize(
    ("field", "error"), [("camera", CameraNotInScene), ("scene", SceneNotInFile)]
)
def test_a_name_longer_than_blender_holds_names_nothing_in_any_scene(
    field: str, error: type[Exception]
) -> None:
    # 32 characters, 64 bytes in UTF-8: past the 63 bytes Blender keeps a name in.
    with pytest.raises(error, match="63 bytes"):
        request(render={field: "é" * 32})


def test_more_frames_than_a_job_holds_are_past_the_farms_limit_not_malformed() -> None:
    with pytest.raises(TooManyFrames, match="more than 100000 frames"):
        request(frames="1-100001")


def test_samples_are_refused_for_workbench() -> None:
    with pytest.raises(ValidationError, match="Workbench"):
        RenderSettingsIn(engine=Engine.WORKBENCH, samples=16)


def test_a_step_thins_a_range_that_would_otherwise_be_too_long() -> None:
    assert request(frames="1-200000", step=2).to_spec().frames[:2] == (1, 3)


def test_fingerprint_tells_different_requests_apart_and_ignores_key_order() -> None:
    a = JobRequest.model_validate({"frames": "1-10", "scene_sha256": SHA})
    assert a.fingerprint() == request().fingerprint()
    assert request(frames="1-11").fingerprint() != a.fingerprint()


def test_spec_round_trips_through_its_dict() -> None:
    spec = request(render={"engine": "CYCLES", "samples": 16, "camera": "Cam"}, chunk_size=3)
    assert JobSpec.from_dict(spec.to_spec().to_dict()) == spec.to_spec()
