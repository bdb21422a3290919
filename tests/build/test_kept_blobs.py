"""Local outputs reuse the base layers the build downloaded, instead of pulling them a second time.

A logging proxy (tests/reliability/faultproxy.py, armed with no fault) sits in front of the real registry, and
the base image is named through it, so ``proxy.log`` lists every blob request the build made. The base has
three layers: the first streams into the unpacker (kept by a tee), the others are fetched ahead (kept by a
link of the downloaded file). oci-image-tool and skopeo judge the layout; the tarball is compared blob by blob.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.helpers import options_for
from fixtures.images import Entry, PushedImage, _finish_layout, _write_image, host_arch, push_layout
from fixtures.registry import RegistryServer
from fixtures.tools import oci_image_tool, skopeo
from kiln.build.executor import build
from reliability.faultproxy import FaultProxy

LAYERS = [
    [Entry("etc/", directory=True), Entry("etc/a", b"from layer 1" * 1000)],
    [Entry("etc/b", os.urandom(300_000))],
    [Entry("etc/c", b"from layer 3", mode=0o600)],
]


@pytest.fixture
def three_layers(tmp_path: Path, registry_http: RegistryServer) -> PushedImage:
    layout = tmp_path / "base-layout"
    desc, info = _write_image(layout, LAYERS, arch=host_arch(), variant=None, cmd=[])
    _finish_layout(layout, desc)
    return push_layout(info, registry_http, "kept/three:latest")


@pytest.fixture
def proxy(registry_http: RegistryServer) -> Iterator[FaultProxy]:
    with FaultProxy(registry_http.host) as running:
        yield running


def _manifest(layout: Path) -> dict[str, object]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    result: dict[str, object] = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    return result


def test_layout_and_tarball_reuse_the_downloaded_base_layers(
    tmp_path: Path, three_layers: PushedImage, proxy: FaultProxy
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "new.txt").write_text("built on top\n")
    base = three_layers.ref.replace(three_layers.ref.split("/")[0], proxy.host, 1)
    (context / "Dockerfile").write_text(f"FROM {base}\nCOPY new.txt /etc/new.txt\n")
    layout, tarball = tmp_path / "out" / "oci", tmp_path / "out" / "image.tar"
    options = options_for(
        context, tmp_path / "work", proxy.host, None, oci_layout_path=str(layout), tar_path=str(tarball)
    )
    build(options)

    manifest = _manifest(layout)
    layers = [str(layer["digest"]) for layer in manifest["layers"]]  # type: ignore[index,union-attr]
    base_layers = layers[:3]
    gets = collections.Counter(
        e.path.rsplit("/", 1)[1] for e in proxy.log if e.method == "GET" and "/blobs/sha256:" in e.path
    )
    assert {d: gets[d] for d in base_layers} == {d: 1 for d in base_layers}  # pulled once, for the unpack

    for digest in layers:  # every blob in the layout is whole (the kept copies were complete)
        data = (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    assert "Validation succeeded" in oci_image_tool("validate", "--type", "image", str(layout)).stdout
    skopeo("inspect", f"oci:{layout}")

    with tarfile.open(tarball) as tar:  # the docker tarball carries the same layer blobs
        names = json.load(tar.extractfile("manifest.json"))[0]["Layers"]  # type: ignore[arg-type]
        for name, digest in zip(names, layers, strict=True):
            blob = tar.extractfile(name).read()  # type: ignore[union-attr]
            assert "sha256:" + hashlib.sha256(blob).hexdigest() == digest
