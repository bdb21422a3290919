"""The test bed itself: each registry mode accepts a push from skopeo and serves it back."""

from __future__ import annotations

from pathlib import Path

from fixtures.images import LayoutImage, push_layout
from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect


def test_skopeo_round_trip_every_mode(registry_any: RegistryServer, busybox_layout: LayoutImage) -> None:
    pushed = push_layout(busybox_layout, registry_any, "testbed/busybox:1")
    info = skopeo_inspect(pushed.ref, creds=registry_any.creds)
    assert info["Digest"] == busybox_layout.manifest_digest
    assert info["Layers"] == busybox_layout.layer_digests
    assert registry_any.blob_path(busybox_layout.layer_digests[0]).is_file()


def test_tool_failure_shows_command_and_output() -> None:
    import pytest

    from fixtures.tools import run_tool

    with pytest.raises(pytest.fail.Exception) as info:
        run_tool(["skopeo", "inspect", "--tls-verify=false", "docker://127.0.0.1:1/nothing:here"], timeout=60)
    text = str(info.value)
    assert "skopeo inspect --tls-verify=false docker://127.0.0.1:1/nothing:here" in text
    assert "exit status" in text and "--- stderr ---" in text


def test_independent_tools_accept_the_hand_made_layouts(
    busybox_layout: LayoutImage, multiarch_layout: LayoutImage, tmp_path: Path
) -> None:
    from fixtures.tools import oci_image_tool, umoci

    for layout in (busybox_layout, multiarch_layout):
        assert (
            "Validation succeeded" in oci_image_tool("validate", "--type", "image", str(layout.path)).stdout
        )
    umoci("unpack", "--rootless", "--image", f"{busybox_layout.path}:latest", str(tmp_path / "bundle"))
    rootfs = tmp_path / "bundle" / "rootfs"
    assert (rootfs / "bin" / "busybox").stat().st_size > 100_000
    assert (rootfs / "bin" / "sh").readlink() == Path("busybox")
    assert (rootfs / "tmp").stat().st_mode & 0o1777 == 0o1777
    assert "root:x:0:0" in (rootfs / "etc" / "passwd").read_text()
