"""FarmClient.job_url, what the Blender add-on's "Open in browser" opens: the dashboard's page
for the job at the farm's URL root, not the API's status URL (which answers a browser 401)."""

from __future__ import annotations

import pytest

from renderfarm_client.farm_api import FarmClient

JOB = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "api_url",
    [
        "http://127.0.0.1:7071",
        "http://127.0.0.1:7071/",
        "http://127.0.0.1:7071/api",
        "http://127.0.0.1:7071/api/",
    ],
)
def test_the_job_url_is_the_dashboards_job_page_at_the_farms_root(api_url: str) -> None:
    assert FarmClient(api_url=api_url, api_key=None).job_url(JOB) == (
        f"http://127.0.0.1:7071/jobs/{JOB}"
    )


def test_a_deployed_farms_job_url_keeps_its_host_and_drops_the_api_prefix() -> None:
    client = FarmClient(api_url="https://func-abc.azurewebsites.net/api", api_key="rf_x")
    assert client.job_url(JOB) == f"https://func-abc.azurewebsites.net/jobs/{JOB}"


def test_a_job_id_is_quoted_into_one_path_segment() -> None:
    url = FarmClient(api_url="http://farm", api_key=None).job_url("a/b c")
    assert url == "http://farm/jobs/a%2Fb%20c"
