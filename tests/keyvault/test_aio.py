"""The emulator serves the asyncio client (azure.keyvault.secrets.aio) as it serves the sync one."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets.aio import SecretClient


async def test_set_get_and_list_versions(aclient: SecretClient, name: str) -> None:
    first = await aclient.set_secret(name, "one")
    await aclient.set_secret(name, "two", tags={"k": "v"})

    assert (await aclient.get_secret(name)).value == "two"
    assert (await aclient.get_secret(name, first.properties.version)).value == "one"
    pages = aclient.list_properties_of_secret_versions(name, max_page_size=1).by_page()
    sizes = [len([item async for item in page]) async for page in pages]
    assert sizes == [1, 1]


async def test_a_disabled_secret_cannot_be_read(aclient: SecretClient, name: str) -> None:
    await aclient.set_secret(name, "value")
    await aclient.update_secret_properties(name, enabled=False)
    with pytest.raises(HttpResponseError) as caught:
        await aclient.get_secret(name)
    assert caught.value.status_code == 403


async def test_delete_recover_then_delete_purge_and_set_again(
    aclient: SecretClient, name: str
) -> None:
    await aclient.set_secret(name, "value")

    deleted = await aclient.delete_secret(name)
    assert deleted.recovery_id is not None
    with pytest.raises(ResourceExistsError):
        await aclient.set_secret(name, "again")
    assert (await aclient.get_deleted_secret(name)).name == name

    await aclient.recover_deleted_secret(name)
    assert (await aclient.get_secret(name)).value == "value"

    await aclient.delete_secret(name)
    await aclient.purge_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        await aclient.get_deleted_secret(name)
    await aclient.set_secret(name, "fresh")
    assert (await aclient.get_secret(name)).value == "fresh"
