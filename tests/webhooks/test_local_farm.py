"""The local farm runs the deliveries consumer as a supervised process, like the Function."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook as StandardWebhook

from renderfarm.shared.settings import Settings
from renderfarm.webhooks.fan_out import fan_out
from renderfarm_azure.webhooks.services import webhook_services
from renderfarm_local.farm_layout import FarmLayout, FarmPorts
from renderfarm_local.local_farm import LocalFarm
from tests.local.conftest import TEST_SCALING
from tests.webhooks.conftest import Receiver, job_event, summary_of

pytestmark = [pytest.mark.local_farm, pytest.mark.slow]


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[LocalFarm]:
    farm = LocalFarm(
        layout=FarmLayout(root=tmp_path / "farm"), ports=FarmPorts.free(), scaling=TEST_SCALING
    )
    farm.start()
    try:
        yield farm
    finally:
        farm.stop()


def test_the_farms_deliveries_process_posts_a_signed_event(
    farm: LocalFarm, make_receiver: Callable[..., Receiver]
) -> None:
    receiver = make_receiver()
    response = httpx.post(
        f"{farm.endpoints.api_url}/api/webhooks",
        json={"url": receiver.url, "events": ["job.completed"]},
        headers={"Authorization": f"Bearer {farm.endpoints.api_key}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    secret = response.json()["secret"]
    settings = Settings(
        storage_connection_string=farm.endpoints.storage_connection_string,
        servicebus_connection_string=farm.endpoints.servicebus_connection_string,
    )
    services = webhook_services(settings)
    event = job_event(tenant="local")
    try:
        queued = fan_out(
            event, summary_of(event), store=services.store, deliveries=services.deliveries
        )
    finally:
        services.close()
    assert queued == 1
    [request] = receiver.wait_for(1, timeout=60)
    assert StandardWebhook(secret).verify(request.body, request.headers)["data"]["id"] == (
        event.job_id
    )
