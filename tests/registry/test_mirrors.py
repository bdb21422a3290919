"""--registry-map / --registry-mirror for pulls: mirrors in order, then the original unless told not to."""

from __future__ import annotations

import pytest

from fixtures.images import LayoutImage, push_layout
from fixtures.registry import RegistryServer, free_port
from kiln.errors import RegistryError
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.options import RegistryOptions


def test_docker_hub_pull_served_by_mirror_with_prefix(
    registry_http: RegistryServer, busybox_layout: LayoutImage
) -> None:
    push_layout(busybox_layout, registry_http, "hubmirror/library/busybox:1")
    dead = f"127.0.0.1:{free_port()}"
    options = RegistryOptions(
        insecure_registries=(registry_http.host, dead),
        registry_maps={"index.docker.io": (dead, f"{registry_http.host}/hubmirror")},
        skip_default_registry_fallback=True,
        retry_base_delay=0.01,
    )
    with RegistryClient(options) as client:
        fetched = client.get_manifest(Reference.parse("busybox:1"))
    assert str(fetched.digest) == busybox_layout.manifest_digest
    assert fetched.source.registry == registry_http.host
    assert fetched.source.repository == "hubmirror/library/busybox"


def test_falls_back_to_original(registry_http: RegistryServer, busybox_layout: LayoutImage) -> None:
    pushed = push_layout(busybox_layout, registry_http, "fallback/app:1")
    dead = f"127.0.0.1:{free_port()}"
    options = RegistryOptions(
        insecure_registries=(registry_http.host, dead), registry_maps={registry_http.host: (dead,)}
    )
    with RegistryClient(options) as client:
        fetched = client.get_manifest(Reference.parse(pushed.ref))
    assert fetched.source.registry == registry_http.host


def test_no_fallback_when_disabled(registry_http: RegistryServer) -> None:
    dead = f"127.0.0.1:{free_port()}"
    options = RegistryOptions(
        insecure_registries=(registry_http.host, dead),
        registry_maps={registry_http.host: (dead,)},
        skip_default_registry_fallback=True,
    )
    with RegistryClient(options) as client, pytest.raises(RegistryError) as info:
        client.get_manifest(Reference.parse(registry_http.ref("fallback/app:1")))
    assert "fallback" in str(info.value) and info.value.code == "CONNECTION"


def test_candidates_order() -> None:
    options = RegistryOptions(registry_maps={"index.docker.io": ("m1.io", "https://m2.io/pre/fix/")})
    client = RegistryClient(options)
    got = [str(c) for c in client.pull_candidates(Reference.parse("alpine").context())]
    assert got == ["m1.io/library/alpine", "m2.io/pre/fix/library/alpine", "docker.io/library/alpine"]
