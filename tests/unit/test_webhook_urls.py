"""Where a webhook may point: the URL rules, with a resolver the test controls."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from renderfarm.webhooks.urls import (
    HostUnresolvable,
    WebhookUrlRejected,
    forbidden_reason,
    parse_target,
    vet_url,
)


def resolver(answers: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        del port
        if host not in answers:
            raise OSError(f"{host}: Name or service not known")
        return answers[host]

    return resolve


PUBLIC = resolver(
    {"hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}
)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # Azure/AWS/GCP metadata
        "fd00:ec2::254",  # AWS metadata over IPv6
        "100.100.100.200",  # Alibaba metadata
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "127.8.8.8",
        "::1",
        "0.0.0.0",  # noqa: S104 (an address to refuse, not to bind)
        "::",
        "169.254.1.1",
        "fe80::1",
        "fc00::1",
        "100.64.0.1",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.10",  # documentation
        "::ffff:10.0.0.1",  # v4-mapped
        "::ffff:169.254.169.254",
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    ],
)
def test_non_public_and_metadata_addresses_are_forbidden(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_loopback_is_allowed_only_under_the_development_exception() -> None:
    assert forbidden_reason(ipaddress.ip_address("127.0.0.1"), loopback_allowed=True) is None
    assert forbidden_reason(ipaddress.ip_address("::1"), loopback_allowed=True) is None
    # the exception is for loopback only, never for private or metadata addresses
    assert forbidden_reason(ipaddress.ip_address("10.0.0.1"), loopback_allowed=True)
    assert forbidden_reason(ipaddress.ip_address("169.254.169.254"), loopback_allowed=True)


def test_an_https_url_to_a_public_host_is_taken_apart() -> None:
    target, addresses = vet_url(
        "https://Hooks.Example.com:8443/in?x=1", development=False, resolve=PUBLIC
    )
    assert (target.https, target.host, target.port, target.path) == (
        True,
        "hooks.example.com",
        8443,
        "/in?x=1",
    )
    assert target.host_header == "hooks.example.com:8443"
    assert str(addresses[0]) == "93.184.215.14"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # not https
        "ftp://example.com/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/hook",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/",
        "https://user:pw@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "https:///no-host",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/caf\u00e9",  # percent-encode it
        "not a url",
        "https://" + "a" * 2100 + ".com/",
    ],
)
def test_urls_the_rules_refuse(url: str) -> None:
    with pytest.raises(WebhookUrlRejected):
        vet_url(url, development=False, resolve=PUBLIC)


def test_a_host_resolving_to_a_forbidden_address_is_refused() -> None:
    resolve = resolver(
        {
            "rebind.example.com": ["93.184.215.14", "127.0.0.1"],  # one bad answer is enough
            "meta.example.com": ["169.254.169.254"],
            "inside.example.com": ["10.1.2.3"],
        }
    )
    for host in ("rebind.example.com", "meta.example.com", "inside.example.com"):
        with pytest.raises(WebhookUrlRejected, match="resolves to"):
            vet_url(f"https://{host}/hook", development=True, resolve=resolve)


def test_a_host_that_does_not_resolve_is_refused_as_unresolvable() -> None:
    with pytest.raises(HostUnresolvable):
        vet_url("https://nowhere.example.com/", development=False, resolve=PUBLIC)
    with pytest.raises(HostUnresolvable):
        vet_url(
            "https://empty.example.com/",
            development=False,
            resolve=resolver({"empty.example.com": []}),
        )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_development_allows_plain_http_to_this_machine(host: str) -> None:
    resolve = resolver({"localhost": ["127.0.0.1", "::1"]})
    target, _ = vet_url(f"http://{host}:8080/hook", development=True, resolve=resolve)
    assert not target.https and target.loopback_allowed and target.port == 8080


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_outside_development_this_machine_is_refused_even_over_https(host: str) -> None:
    resolve = resolver({"localhost": ["127.0.0.1"]})
    with pytest.raises(WebhookUrlRejected):
        vet_url(f"http://{host}:8080/hook", development=False, resolve=resolve)
    with pytest.raises(WebhookUrlRejected):
        vet_url(f"https://{host}:8080/hook", development=False, resolve=resolve)


def test_the_development_exception_covers_those_names_only() -> None:
    resolve = resolver({"my-laptop.example.com": ["127.0.0.1"], "localhost": ["10.0.0.5"]})
    with pytest.raises(WebhookUrlRejected):  # another name for this machine
        vet_url("https://my-laptop.example.com/", development=True, resolve=resolve)
    with pytest.raises(WebhookUrlRejected):  # "localhost" that is not loopback
        vet_url("http://localhost/", development=True, resolve=resolve)
    with pytest.raises(WebhookUrlRejected, match="https"):
        parse_target("http://hooks.example.com/", development=True)


def test_numeric_host_forms_are_judged_by_what_they_resolve_to() -> None:
    # 2130706433 is 127.0.0.1 written as one number; getaddrinfo accepts it
    resolve = resolver({"2130706433": ["127.0.0.1"], "0x7f.1": ["127.0.0.1"]})
    for host in ("2130706433", "0x7f.1"):
        with pytest.raises(WebhookUrlRejected, match="loopback"):
            vet_url(f"https://{host}/", development=False, resolve=resolve)


def test_an_international_host_name_is_used_in_its_ascii_form() -> None:
    resolve = resolver({"xn--bcher-kva.example": ["93.184.215.14"]})
    target, _ = vet_url("https://B\u00fccher.example/in", development=False, resolve=resolve)
    assert target.host == "xn--bcher-kva.example" and target.host_header == target.host
