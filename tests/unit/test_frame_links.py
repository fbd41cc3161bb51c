"""Signed frame links are reused while more than half their lifetime is left."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from azure.storage.blob import BlobServiceClient

from renderfarm.shared.circuit_breaker import CircuitBreaker
from renderfarm_azure.sas import SasFrameLinks, SasSigner

# Azurite's well-known development account: signing needs no connection.
CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)
LIFETIME = timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def links(clock: Clock, *, cached: int = 10) -> SasFrameLinks:
    signer = SasSigner(
        service=BlobServiceClient.from_connection_string(CONNECTION),
        breaker=CircuitBreaker(name="test", threshold=3, open_seconds=1, clock=time.monotonic),
    )
    return SasFrameLinks(
        signer=signer, container="jobs", lifetime=LIFETIME, cached_links=cached, clock=clock
    )


def test_a_link_is_signed_once_while_more_than_half_its_lifetime_is_left() -> None:
    clock = Clock()
    frames = links(clock)
    first = frames.read_link("job/frames/000001.png")
    clock.now += LIFETIME / 4
    assert frames.read_link("job/frames/000001.png") is first
    clock.now += LIFETIME / 2  # now less than half is left: signed again
    renewed = frames.read_link("job/frames/000001.png")
    assert renewed is not first
    assert renewed.expires_at >= first.expires_at


def test_each_blob_has_its_own_link_and_the_cache_is_bounded() -> None:
    clock = Clock()
    frames = links(clock, cached=2)
    one, two = (frames.read_link(f"job/frames/00000{n}.png") for n in (1, 2))
    assert one.url != two.url and "000001.png" in one.url and "000002.png" in two.url
    frames.read_link("job/frames/000003.png")  # pushes out the least recently used: frame 1
    assert frames.read_link("job/frames/000002.png") is two
    assert frames.read_link("job/frames/000001.png") is not one
