"""Defects the fault proxy found in kiln.registry, each pinned by the smallest reproduction.

1. A blob download cut after its last byte but before the declared Content-Length (a proxy that adds bytes to
   the header, or a connection dropped while the server still owed nothing) was resumed with ``Range:
   bytes=<size>-``. The real registry (distribution 2.8) answers that with 416 and a Content-Length it never
   sends, so the pull failed -- with a raw ``requests`` exception out of the error parser.
2. An error answer whose body could not be read (cut connection, timeout) escaped as a raw
   ``requests.exceptions.ConnectionError`` instead of a RegistryError.
3. A manifest GET cut off mid-body was not retried at all (only refused requests were).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fixtures.registry import RegistryServer
from kiln.oci import Platform
from kiln.reference import Reference
from kiln.registry import download_layers, pull, push_image
from kiln.registry.errors import error_from_response
from reliability.faultproxy import Fault, FaultProxy
from reliability.registry_world import Sleeps, direct_client, lost_in_directory, make_image, proxied_client

pytestmark = pytest.mark.registry


@pytest.fixture
def proxy(registry_http: RegistryServer) -> Iterator[FaultProxy]:
    with FaultProxy(registry_http.host) as running:
        yield running


def test_download_cut_at_the_last_byte_completes(
    proxy: FaultProxy, registry_http: RegistryServer, tmp_path: Path
) -> None:
    image = make_image(tmp_path / "src", layers=3)
    with direct_client(registry_http) as client:
        push_image(client, image, [Reference.parse(registry_http.ref("regress/cut-at-end:v1"))])
    layer = image.layers()[0]
    proxy.arm(Fault("long_length", "GET", str(layer.digest)))
    with proxied_client(proxy.host, Sleeps(), retries=2) as client:
        pulled = pull(
            client, Reference.parse(f"{proxy.host}/regress/cut-at-end:v1"), Platform.parse("linux/amd64")
        )
        files = download_layers(pulled, tmp_path / "blobs")
    assert proxy.injected == 1
    assert [f.path.read_bytes() for f in files] == [Path(x.path).read_bytes() for x in image.layers()]  # type: ignore[attr-defined]
    assert lost_in_directory(tmp_path / "blobs") == (0, 0)


def test_unreadable_error_body_is_a_registry_error(registry_http: RegistryServer) -> None:
    """An error answer whose body never arrives is still reported as a RegistryError naming the status."""
    response = requests.Response()
    response.status_code = 503
    response.url = f"http://{registry_http.host}/v2/x/manifests/y"

    class BrokenBody:
        def stream(self, *args: object, **kwargs: object) -> Iterator[bytes]:
            raise requests.exceptions.ConnectionError("connection broken while reading the body")
            yield b""  # pragma: no cover

    response.raw = BrokenBody()
    error = error_from_response(response, "pull manifest x")
    assert error.status == 503 and error.temporary


def test_manifest_cut_mid_body_is_fetched_again(
    proxy: FaultProxy, registry_http: RegistryServer, tmp_path: Path
) -> None:
    """Defect 3: a manifest GET whose body was cut off failed at once, ignoring --image-download-retry."""
    image = make_image(tmp_path / "src", layers=3)
    with direct_client(registry_http) as client:
        push_image(client, image, [Reference.parse(registry_http.ref("regress/manifest-cut:v1"))])
    proxy.arm(Fault("reset", "GET", "/manifests/", 2, after_bytes=40))
    sleeps = Sleeps()
    with proxied_client(proxy.host, sleeps, retries=2) as client:
        pulled = pull(
            client, Reference.parse(f"{proxy.host}/regress/manifest-cut:v1"), Platform.parse("linux/amd64")
        )
        assert pulled.digest() == image.digest()
    assert proxy.injected == 2 and sleeps.asked == [0.01, 0.02]
