"""Images pulled from a real registry (Debian's docker-registry on loopback) go into kiln's stores and keep
their registry digests: what the warmer and the base-image cache rely on."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.registry import RegistryServer
from kiln.digest import Digest
from kiln.oci import Platform
from kiln.reference import Reference
from kiln.registry import RegistryClient, RegistryOptions, default_keychain, pull
from kiln.storage import BaseImageCache, Layout


def _client(server: RegistryServer) -> RegistryClient:
    options = RegistryOptions(environ={}, insecure_registries=(server.host,), retry_base_delay=0.01)
    return RegistryClient(options, default_keychain(options.environ))


def test_pulled_image_survives_cache_and_layout(  # type: ignore[no-untyped-def]
    tmp_path: Path, registry_http: RegistryServer, busybox_image
) -> None:
    ref = Reference.parse(busybox_image.ref)
    with _client(registry_http) as client:
        remote = pull(client, ref, Platform.host())
        assert str(remote.digest()) == busybox_image.digest
        cache = BaseImageCache(tmp_path / "cache")
        assert cache.put(remote, ref)
    cached = cache.get(Digest.parse(busybox_image.digest))
    assert cached is not None
    assert cached.raw_manifest() == remote.raw_manifest()
    layout = Layout(tmp_path / "oci")
    layout.init()
    desc = layout.append_image(cached, {"org.opencontainers.image.ref.name": "busybox"})
    assert str(desc.digest) == busybox_image.digest
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    proc = subprocess.run(
        ["skopeo", "inspect", f"oci:{layout.root}:busybox"], capture_output=True, text=True, check=True
    )
    assert json.loads(proc.stdout)["Digest"] == busybox_image.digest
