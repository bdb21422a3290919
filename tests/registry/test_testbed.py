"""The test bed itself: each registry mode accepts a push from skopeo and serves it back."""

from __future__ import annotations

from fixtures.images import LayoutImage, push_layout
from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect


def test_skopeo_round_trip_every_mode(registry_any: RegistryServer, busybox_layout: LayoutImage) -> None:
    pushed = push_layout(busybox_layout, registry_any, "testbed/busybox:1")
    info = skopeo_inspect(pushed.ref, creds=registry_any.creds)
    assert info["Digest"] == busybox_layout.manifest_digest
    assert info["Layers"] == busybox_layout.layer_digests
    assert registry_any.blob_path(busybox_layout.layer_digests[0]).is_file()
