"""``renderfarm keys`` against the Key Vault emulator: create, list, revoke, and what it refuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from renderfarm.keys.api_keys import hash_key
from renderfarm_cli import EXIT_FAILED, main
from renderfarm_local.farm_layout import FarmLayout, LocalVault
from tests.keyvault.emulator import KeyVaultEmulator


@pytest.fixture
def farm_dir(vault: KeyVaultEmulator, tmp_path: Path) -> Path:
    """A local farm's data folder whose vault is the emulator (as the farm writes it)."""
    LocalVault(url=vault.vault_url, ca_bundle=vault.certificate).write(
        FarmLayout(root=tmp_path).keyvault_file
    )
    return tmp_path


def keys(farm_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["keys", "--data-dir", str(farm_dir), *args])
    out, err = capsys.readouterr()
    return code, out, err


def tenant() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def listed(farm_dir: Path, capsys: pytest.CaptureFixture[str], name: str) -> list[str]:
    code, out, _ = keys(farm_dir, capsys, "list")
    assert code == 0
    return [line for line in out.splitlines() if name in line]


def test_create_list_revoke(
    farm_dir: Path, vault: KeyVaultEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    name = tenant()
    code, out, err = keys(farm_dir, capsys, "create", "--tenant", name)
    assert code == 0, err
    (key,) = out.split()
    assert key.startswith("rf_")
    assert "shown once" in err.lower()
    (row,) = listed(farm_dir, capsys, name)
    assert "never" in row
    assert "unknown" in row  # last used: the vault does not know
    key_id = row.split()[3]
    with vault.client() as client:
        secret = client.get_secret(f"apikey-{name}-{key_id}")
    assert secret.value == f"{name}={hash_key(key)}"  # the hash, never the key
    assert secret.properties.tags == {
        "tenant": name,
        "key-id": key_id,
        "purpose": "renderfarm-api-key",
    }
    code, _, err = keys(farm_dir, capsys, "revoke", key_id)
    assert code == 0, err
    assert "revoked" in err
    assert listed(farm_dir, capsys, name) == []
    with vault.client() as client:  # soft-deleted, not purged: a mistake can be undone
        assert client.get_deleted_secret(f"apikey-{name}-{key_id}").name


def test_expires_sets_the_secrets_expiry(
    farm_dir: Path, vault: KeyVaultEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    name = tenant()
    code, _, err = keys(farm_dir, capsys, "create", "--tenant", name, "--expires", "90d")
    assert code == 0, err
    (row,) = listed(farm_dir, capsys, name)
    key_id = row.split()[3]
    with vault.client() as client:
        expires = client.get_secret(f"apikey-{name}-{key_id}").properties.expires_on
    assert expires is not None
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    assert f"{expires:%Y-%m-%d}" in row


@pytest.mark.parametrize("bad", ["Studio", "studio_7", "-studio", "a" * 64, "ünïcode"])
def test_a_bad_tenant_is_one_line_and_stores_nothing(
    farm_dir: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, out, err = keys(farm_dir, capsys, "create", "--tenant", bad)
    assert code == EXIT_FAILED
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: tenant")


@pytest.mark.parametrize("bad", ["90", "0d", "soon", "-1d"])
def test_a_bad_expiry_is_one_line(
    farm_dir: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, _, err = keys(farm_dir, capsys, "create", "--tenant", tenant(), "--expires", bad)
    assert code == EXIT_FAILED
    assert err.startswith("error: --expires")


def test_revoking_an_unknown_key_is_one_line(
    farm_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = keys(farm_dir, capsys, "revoke", "0badc0de")
    assert code == EXIT_FAILED
    assert err.startswith("error: no API key '0badc0de'")


def test_without_a_vault_or_a_local_farm_it_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RENDERFARM_KEYVAULT_URL", raising=False)
    code, _, err = keys(tmp_path, capsys, "list")
    assert code == EXIT_FAILED
    assert "--vault-url" in err


def test_a_local_vault_that_is_down_is_one_line(
    tmp_path: Path, vault: KeyVaultEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    LocalVault(url="https://127.0.0.1:1", ca_bundle=vault.certificate).write(
        FarmLayout(root=tmp_path).keyvault_file
    )
    code, _, err = keys(tmp_path, capsys, "list")
    assert code == EXIT_FAILED
    assert "did not answer (is the local farm running?)" in err
    assert err.count("\n") == 1


def test_a_local_vault_that_never_started_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    LocalVault(url="https://127.0.0.1:1", ca_bundle=tmp_path / "cert.pem").write(
        FarmLayout(root=tmp_path).keyvault_file
    )
    code, _, err = keys(tmp_path, capsys, "list")
    assert code == EXIT_FAILED
    assert err.startswith("error: no certificate at")
