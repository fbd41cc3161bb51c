"""The wire: Key Vault's secrets REST API over HTTPS, as ``azure-keyvault-secrets`` speaks it.

Routes map a method and path to the vault; JSON shapes follow the SDK's generated models
(SecretBundle, SecretItem, DeletedSecretBundle, DeletedSecretItem, KeyVaultError). A request
without a bearer token gets Key Vault's 401 challenge, which the SDK answers by asking its
credential for a token and sending the request again; any token is accepted.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from . import errors
from .certificate import CertificateFiles
from .errors import KeyVaultError
from .store import SecretVersion
from .vault import (
    MAX_PAGE_SIZE,
    RECOVERABLE_DAYS,
    RECOVERY_LEVEL,
    DeletedSecret,
    Page,
    Properties,
    Vault,
)

log = logging.getLogger("emulators.keyvault")

#: The tenant the challenge names; a local credential may ignore it.
TENANT_ID = "00000000-0000-0000-0000-000000000000"
#: Key Vault's challenge, word for word but for the tenant. The SDK derives the token scope
#: ``https://vault.azure.net/.default`` from ``resource`` (or takes ``scope=`` where a vault
#: sends one) and, unless the client passes ``verify_challenge_resource=False``, refuses a
#: resource whose domain is not a suffix of the vault's host, which 127.0.0.1 never is.
CHALLENGE = (
    f'Bearer authorization="https://login.microsoftonline.com/{TENANT_ID}", '
    'resource="https://vault.azure.net"'
)
#: How long a connection may take to finish its TLS handshake, or stay idle between requests.
CONNECTION_TIMEOUT_S = 60.0


@dataclass(frozen=True, kw_only=True)
class Call:
    """One request, as the routes need it."""

    base_url: str
    query: dict[str, str]
    raw_body: bytes

    def body(self) -> dict[str, Any]:
        try:
            document = json.loads(self.raw_body or b"{}")
        except ValueError:
            raise errors.bad_parameter("The request body is not valid JSON.") from None
        if not isinstance(document, dict):
            raise errors.bad_parameter("The request body must be a JSON object.")
        return document


@dataclass(frozen=True, kw_only=True)
class Reply:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


# Rendering: the store's records in the SDK's shapes.


def _attributes(secret: SecretVersion) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "enabled": secret.enabled,
        "created": secret.created,
        "updated": secret.updated,
        "recoveryLevel": RECOVERY_LEVEL,
        "recoverableDays": RECOVERABLE_DAYS,
    }
    if secret.not_before is not None:
        attributes["nbf"] = secret.not_before
    if secret.expires is not None:
        attributes["exp"] = secret.expires
    return attributes


def _described(secret: SecretVersion, ident: str) -> dict[str, Any]:
    document: dict[str, Any] = {"id": ident, "attributes": _attributes(secret)}
    if secret.content_type is not None:
        document["contentType"] = secret.content_type
    if secret.tags is not None:
        document["tags"] = secret.tags
    return document


def secret_id(base_url: str, secret: SecretVersion, *, versioned: bool = True) -> str:
    plain = f"{base_url}/secrets/{secret.name}"
    return f"{plain}/{secret.version}" if versioned else plain


def bundle(base_url: str, secret: SecretVersion, *, with_value: bool) -> dict[str, Any]:
    """A SecretBundle; Key Vault leaves the value out of update and recover answers."""
    document = _described(secret, secret_id(base_url, secret))
    if with_value:
        document["value"] = secret.value
    return document


def _deletion_fields(base_url: str, deleted: DeletedSecret) -> dict[str, Any]:
    return {
        "recoveryId": f"{base_url}/deletedsecrets/{deleted.deletion.name}",
        "deletedDate": deleted.deletion.deleted,
        "scheduledPurgeDate": deleted.deletion.purge_at,
    }


def deleted_bundle(base_url: str, deleted: DeletedSecret) -> dict[str, Any]:
    return {
        **bundle(base_url, deleted.latest, with_value=False),
        **_deletion_fields(base_url, deleted),
    }


def deleted_item(base_url: str, deleted: DeletedSecret) -> dict[str, Any]:
    ident = secret_id(base_url, deleted.latest, versioned=False)
    return {**_described(deleted.latest, ident), **_deletion_fields(base_url, deleted)}


def _listing(call: Call, path: str, items: list[dict[str, Any]], page: Page[Any]) -> Reply:
    body: dict[str, Any] = {"value": items, "nextLink": None}
    if page.next_after is not None:
        query = {
            "api-version": call.query["api-version"],
            "$skiptoken": page.next_after,
            "maxresults": _page_size(call),
        }
        body["nextLink"] = f"{call.base_url}{path}?{urlencode(query)}"
    return Reply(status=200, body=body)


# Reading requests.


def _page_size(call: Call) -> int:
    raw = call.query.get("maxresults", str(MAX_PAGE_SIZE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise errors.bad_parameter(
            f"The value of maxresults must be a whole number from 1 to {MAX_PAGE_SIZE}."
        )
    return int(raw)


def _invalid(what: str) -> KeyVaultError:
    return errors.bad_parameter(f"Property {what} has invalid value.")


def _typed[T](value: object, kind: type[T], what: str) -> T | None:
    if value is None or isinstance(value, kind):
        return value
    raise _invalid(what)


def _time(value: object, what: str) -> int | None:
    """Unix seconds; JSON has no integers of its own, so 1.0 is as good as 1."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    raise _invalid(what)


def _tags(value: object) -> dict[str, str] | None:
    tags = _typed(value, dict, "tags")
    if tags is not None and not all(isinstance(item, str) for item in tags.values()):
        raise _invalid("tags")
    return tags


def properties(body: dict[str, Any]) -> Properties:
    attributes = _typed(body.get("attributes"), dict, "attributes") or {}
    return Properties(
        enabled=_typed(attributes.get("enabled"), bool, "attributes.enabled"),
        not_before=_time(attributes.get("nbf"), "attributes.nbf"),
        expires=_time(attributes.get("exp"), "attributes.exp"),
        content_type=_typed(body.get("contentType"), str, "contentType"),
        tags=_tags(body.get("tags")),
    )


# Routes.


def route(vault: Vault, method: str, path: str, call: Call) -> Reply:
    collection, *parts = [unquote(part) for part in path.strip("/").split("/")]
    if collection == "secrets":
        return _secrets(vault, method, parts, call)
    if collection == "deletedsecrets":
        return _deleted_secrets(vault, method, parts, call)
    raise errors.no_such_operation(method, path)


def _secrets(vault: Vault, method: str, parts: list[str], call: Call) -> Reply:
    base = call.base_url
    match method, parts:
        case "PUT", [name]:
            body = call.body()
            value = body.get("value")
            if not isinstance(value, str):
                raise errors.bad_parameter("Property value is required and must be a string.")
            secret = vault.set(name, value, properties(body))
            return Reply(status=200, body=bundle(base, secret, with_value=True))
        case "GET", []:
            page = vault.secrets(after=call.query.get("$skiptoken", ""), limit=_page_size(call))
            items = [_described(s, secret_id(base, s, versioned=False)) for s in page.items]
            return _listing(call, "/secrets", items, page)
        case "GET", [name, "versions"]:
            after = call.query.get("$skiptoken", "")
            page = vault.versions(name, after=after, limit=_page_size(call))
            items = [_described(s, secret_id(base, s)) for s in page.items]
            return _listing(call, f"/secrets/{name}/versions", items, page)
        case "GET", [name, *version] if len(version) <= 1:
            secret = vault.get(name, version[0] if version else None)
            return Reply(status=200, body=bundle(base, secret, with_value=True))
        case "PATCH", [name, *version] if len(version) <= 1:
            changes = properties(call.body())
            secret = vault.update(name, version[0] if version else None, changes)
            return Reply(status=200, body=bundle(base, secret, with_value=False))
        case "DELETE", [name]:
            return Reply(status=200, body=deleted_bundle(base, vault.delete(name)))
    raise errors.no_such_operation(method, "/".join(["/secrets", *parts]))


def _deleted_secrets(vault: Vault, method: str, parts: list[str], call: Call) -> Reply:
    base = call.base_url
    match method, parts:
        case "GET", []:
            after = call.query.get("$skiptoken", "")
            page = vault.deleted_secrets(after=after, limit=_page_size(call))
            items = [deleted_item(base, deleted) for deleted in page.items]
            return _listing(call, "/deletedsecrets", items, page)
        case "GET", [name]:
            return Reply(status=200, body=deleted_bundle(base, vault.deleted(name)))
        case "DELETE", [name]:
            vault.purge(name)
            return Reply(status=204)
        case "POST", [name, "recover"]:
            return Reply(status=200, body=bundle(base, vault.recover(name), with_value=False))
    raise errors.no_such_operation(method, "/".join(["/deletedsecrets", *parts]))


def _authenticated(authorization: str | None) -> bool:
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _handler(vault: Vault) -> type[BaseHTTPRequestHandler]:
    class SecretsHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: one TLS handshake per client, not per call
        server_version = "keyvault-emulator"
        timeout = CONNECTION_TIMEOUT_S

        def setup(self) -> None:
            # The listening socket defers the handshake to here, the connection's own thread,
            # so a slow or failing client never holds up accepting the next one.
            self.request.settimeout(CONNECTION_TIMEOUT_S)
            self.request.do_handshake()
            super().setup()

        def do_GET(self) -> None:
            self._serve("GET")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            # Read the body whatever the answer, or it would be taken for the next request.
            raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            host = self.headers.get("Host") or "{}:{}".format(*self.connection.getsockname())
            call = Call(base_url=f"https://{host}", query=query, raw_body=raw_body)
            try:
                reply = self._answer(method, url.path, call)
            except KeyVaultError as error:
                reply = Reply(status=error.status, body=error.body())
            except Exception:
                log.exception("%s %s failed", method, url.path)
                reply = Reply(
                    status=500,
                    body=KeyVaultError(500, "InternalError", "The emulator failed.").body(),
                )
            self._send(reply)

        def _answer(self, method: str, path: str, call: Call) -> Reply:
            if not _authenticated(self.headers.get("Authorization")):
                error = errors.unauthorized()
                return Reply(status=401, body=error.body(), headers={"WWW-Authenticate": CHALLENGE})
            if "api-version" not in call.query:
                raise errors.bad_parameter("The api-version query parameter is required.")
            return route(vault, method, path, call)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.body is not None:
                payload = json.dumps(reply.body).encode()
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            else:
                self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return SecretsHandler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that does not trust the certificate, or hangs up, ends its connection here.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class KeyVaultHttpServer:
    """The HTTPS server, serving from a thread of its own once started."""

    def __init__(
        self, *, host: str, port: int, vault: Vault, certificate: CertificateFiles
    ) -> None:
        self._server = _Server((host, port), _handler(vault))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert, certificate.key)
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
