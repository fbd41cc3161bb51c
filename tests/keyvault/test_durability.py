"""What an answered write promises: it survives ``kill -9`` of the emulator and a restart, and
so does the certificate clients were told to trust."""

from __future__ import annotations

import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from cryptography import x509

from tests.keyvault.emulator import KeyVaultEmulator, run_keyvault


@pytest.fixture
def own_vault(tmp_path: Path) -> Iterator[KeyVaultEmulator]:
    """An emulator of this test's own, so killing it harms no other test."""
    with run_keyvault(tmp_path / "data") as emulator:
        yield emulator


def kill_and_restart(emulator: KeyVaultEmulator) -> None:
    assert emulator.stop(signal.SIGKILL) == -signal.SIGKILL
    emulator.start()  # same port, same data folder


def test_secrets_and_deletions_survive_a_kill(own_vault: KeyVaultEmulator) -> None:
    with own_vault.client() as client:
        first = client.set_secret("kept", "one")
        client.set_secret("kept", "two", tags={"a": "1"})
        client.update_secret_properties("kept", first.properties.version, enabled=False)
        client.set_secret("deleted", "value")
        client.begin_delete_secret("deleted").wait()
        client.set_secret("purged", "value")
        client.begin_delete_secret("purged").wait()
        client.purge_deleted_secret("purged")

    kill_and_restart(own_vault)

    with own_vault.client() as client:
        kept = client.get_secret("kept")
        assert kept.value == "two"
        assert kept.properties.tags == {"a": "1"}
        versions = {
            item.version: item for item in client.list_properties_of_secret_versions("kept")
        }
        assert versions[first.properties.version].enabled is False
        assert client.get_deleted_secret("deleted").name == "deleted"
        with pytest.raises(ResourceNotFoundError):
            client.get_deleted_secret("purged")


def test_the_certificate_is_kept_across_restarts(own_vault: KeyVaultEmulator) -> None:
    before = own_vault.certificate.read_bytes()

    kill_and_restart(own_vault)
    own_vault.stop()
    own_vault.start()

    assert own_vault.certificate.read_bytes() == before
    with own_vault.client() as client:
        client.set_secret("after-restart", "value")  # the old certificate is still the one served


def test_the_certificate_names_loopback_and_its_key_is_private(
    own_vault: KeyVaultEmulator,
) -> None:
    cert = x509.load_pem_x509_certificate(own_vault.certificate.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    key_mode = stat.S_IMODE((own_vault.data_dir / "key.pem").stat().st_mode)
    assert key_mode == 0o600


def test_sigterm_stops_the_emulator_cleanly(own_vault: KeyVaultEmulator) -> None:
    assert own_vault.stop(signal.SIGTERM) == 0
