"""The emulator's TLS certificate: self-signed for 127.0.0.1, ::1 and localhost, made on first
start in the data folder and reused after, so a client that trusts it keeps trusting it.

The SDK refuses to send a bearer token over plain HTTP, hence HTTPS even on loopback. Clients
trust ``cert.pem`` itself (``connection_verify=`` or ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALID_DAYS = 825
#: A certificate this close to its end is made anew at start.
RENEW_BEFORE = datetime.timedelta(days=1)
_COMMON_NAME = "Key Vault emulator (localhost)"


@dataclass(frozen=True, kw_only=True)
class CertificateFiles:
    cert: Path
    key: Path


def ensure_certificate(folder: Path) -> CertificateFiles:
    """The certificate in ``folder``, made first if it is missing or about to expire."""
    files = CertificateFiles(cert=folder / CERT_FILE, key=folder / KEY_FILE)
    if not _usable(files):
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        # The key first and the certificate last: a certificate on disk means both are whole.
        _write(files.key, _key_pem(key), mode=0o600)
        _write(files.cert, _certificate(key).public_bytes(serialization.Encoding.PEM), mode=0o644)
    return files


def _usable(files: CertificateFiles) -> bool:
    if not (files.cert.is_file() and files.key.is_file()):
        return False
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    return cert.not_valid_after_utc - RENEW_BEFORE > datetime.datetime.now(datetime.UTC)


def _certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _COMMON_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    # Python 3.13 verifies strictly (VERIFY_X509_STRICT): it wants these extensions.
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(_subject_alternative_names(), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _subject_alternative_names() -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
            x509.DNSName("localhost"),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, content: bytes, *, mode: int) -> None:
    """Write whole or not at all, with the permissions set before any byte is written."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)
