"""Where a webhook may point: the rules checked when it is registered and again when a delivery
connects.

- https only; plain http only to 127.0.0.1, localhost or [::1] when the farm runs in development;
- the host must resolve, and to public addresses only: no private, loopback (but for that
  development exception), link-local, shared, unspecified, multicast, reserved or cloud metadata
  address, also when hidden inside an IPv6 address (v4-mapped, 6to4, Teredo, NAT64);
- at delivery the host is resolved once, every address is checked, and the connection goes to a
  checked address itself, so a DNS answer that changes in between (rebinding) cannot get around
  the check.

The resolver is a parameter: the adapters pass the system's, tests pass their own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import urlsplit

from renderfarm.shared.errors import DomainError

#: host, port -> the addresses it resolves to; raises OSError when it does not resolve.
Resolver = Callable[[str, int], Sequence[str]]
IPAddress = IPv4Address | IPv6Address

MAX_URL_LENGTH = 2048
#: The hosts a development farm may call over plain http (a receiver on the same machine).
DEVELOPMENT_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Instance metadata services (Azure, AWS, GCP: 169.254.169.254; AWS over IPv6; Alibaba; ECS).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, not public either
_DEFAULT_PORTS = {"https": 443, "http": 80}


class WebhookUrlRejected(DomainError, ValueError):
    """A URL a webhook may not use; the message says why."""

    # A 403, not a 422: the document states every rule of the URL's text (the route checks it),
    # so what is left is the farm's policy on where it sends events, decided by what the host
    # resolves to and by the farm's settings, neither of which is in the request.
    status, slug, title = 403, "webhook-url-rejected", "Webhook URL not allowed"
    field = ("url", "body")


class HostUnresolvable(WebhookUrlRejected):
    """The host did not resolve (at delivery, maybe for now only: retried)."""


@dataclass(frozen=True, kw_only=True)
class Target:
    """A webhook URL taken apart: what to connect to and what to ask for."""

    https: bool
    host: str  # lower-case; an IPv6 literal without brackets
    port: int
    path: str  # path and query, at least "/"
    loopback_allowed: bool  # the development exception applies

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = _DEFAULT_PORTS["https" if self.https else "http"]
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str, *, development: bool) -> Target:
    """The URL's parts, or WebhookUrlRejected for a URL the rules refuse by its text alone."""
    if len(url) > MAX_URL_LENGTH or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise WebhookUrlRejected(f"not a URL of at most {MAX_URL_LENGTH} printable characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookUrlRejected(f"not a valid URL: {error}") from None
    host = _ascii_host(parts.hostname or "")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRejected("the URL may not carry a user name or password")
    if parts.fragment:
        raise WebhookUrlRejected("the URL may not carry a fragment")
    loopback_allowed = development and host in DEVELOPMENT_HOSTS
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and loopback_allowed):
        raise WebhookUrlRejected("the URL must be https")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not path.isascii():
        raise WebhookUrlRejected("percent-encode the path and query (ASCII only)")
    return Target(
        https=scheme == "https",
        host=host,
        port=port or _DEFAULT_PORTS[scheme],
        path=path,
        loopback_allowed=loopback_allowed,
    )


def _ascii_host(host: str) -> str:
    """The host in lower case, an international name in its ASCII (IDNA) form."""
    if not host:
        raise WebhookUrlRejected("the URL has no host")
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise WebhookUrlRejected(f"not a valid host name: {host!r}") from None


def forbidden_reason(address: IPAddress, *, loopback_allowed: bool = False) -> str | None:
    """Why a webhook may not call ``address``; None when it may."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = forbidden_reason(embedded, loopback_allowed=loopback_allowed)
            if reason is not None or address.ipv4_mapped is not None:
                return reason  # a v4-mapped address is that IPv4 address
    if address.is_loopback:
        return None if loopback_allowed else "a loopback address"
    return _kind_of_non_public(address)


def _kind_of_non_public(address: IPAddress) -> str | None:
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (isinstance(address, IPv4Address) and address in _SHARED, "a shared (CGNAT) address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries to (mapped, 6to4, Teredo client, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def vet_addresses(target: Target, addresses: Sequence[str]) -> tuple[IPAddress, ...]:
    """Every address, parsed, when each may be called; else WebhookUrlRejected naming one."""
    if not addresses:
        raise HostUnresolvable(f"{target.host} resolves to no address")
    parsed = tuple(ipaddress.ip_address(text.split("%", 1)[0]) for text in addresses)
    for address in parsed:
        reason = forbidden_reason(address, loopback_allowed=target.loopback_allowed)
        if reason is not None:
            raise WebhookUrlRejected(f"{target.host} resolves to {address}, {reason}")
    return parsed


def resolve_target(target: Target, resolve: Resolver) -> tuple[IPAddress, ...]:
    """Resolve once and vet every answer; raise HostUnresolvable or WebhookUrlRejected."""
    try:
        literal = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        return vet_addresses(target, [str(literal)])
    try:
        addresses = resolve(target.host, target.port)
    except (OSError, UnicodeError) as error:
        raise HostUnresolvable(f"{target.host} does not resolve: {error}") from None
    return vet_addresses(target, addresses)


def vet_url(
    url: str, *, development: bool, resolve: Resolver
) -> tuple[Target, tuple[IPAddress, ...]]:
    """The URL's target and the addresses it may be called at, or WebhookUrlRejected."""
    target = parse_target(url, development=development)
    return target, resolve_target(target, resolve)
