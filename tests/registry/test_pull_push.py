"""Pull images as kiln.oci.Image objects and push them back: against every registry mode, checked by skopeo."""

from __future__ import annotations

import dataclasses
import itertools
import tarfile
from pathlib import Path
from typing import BinaryIO

import pytest

from fixtures.images import LayoutImage, push_layout
from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect
from kiln.digest import Digest
from kiln.errors import DigestMismatch, KilnError, RegistryError
from kiln.oci import BlobLayer, Descriptor, FileLayer, ImageConfig, Manifest, Platform, StaticImage
from kiln.reference import Reference
from kiln.registry.pull import download_layers, pull, pull_index
from kiln.registry.push import push_image, push_index
from kiln.registry.remote import RemoteImage, RemoteIndex
from registry.helpers import client_for

_n = itertools.count()
AMD64 = Platform.parse("linux/amd64")


def test_pull_then_push_new_tags_every_mode(
    registry_any: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    pushed = push_layout(busybox_layout, registry_any, "pp/busybox:src")
    n = next(_n)
    dests = [Reference.parse(registry_any.ref(f"pp/back{n}:{t}")) for t in ("one", "two")]
    with client_for(registry_any, tmp_path) as client:
        image = pull(client, Reference.parse(pushed.ref), Platform.parse(f"linux/{_arch(busybox_layout)}"))
        assert isinstance(image, RemoteImage)
        assert str(image.digest()) == busybox_layout.manifest_digest
        assert image.config().os == "linux"
        assert [str(d) for d in image.config().rootfs_diff_ids] == busybox_layout.diff_ids
        with image.layers()[0].open_uncompressed() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            names = {member.name for member in tar}
        assert {"bin/busybox", "bin/sh", "etc/passwd", "tmp"} <= names
        digest = push_image(client, image, dests)
    assert str(digest) == busybox_layout.manifest_digest
    for dest in dests:
        info = skopeo_inspect(str(dest), creds=registry_any.creds)
        assert info["Digest"] == busybox_layout.manifest_digest
        assert info["Layers"] == busybox_layout.layer_digests


def _arch(layout: LayoutImage) -> str:
    import json

    config = json.loads((layout.path / "blobs" / "sha256" / layout.config_digest.split(":")[1]).read_bytes())
    return str(config["architecture"])


@pytest.mark.parametrize(
    ("wanted", "key"), [("linux/arm64", "linux/arm64/v8"), ("linux/amd64", "linux/amd64")]
)
def test_pull_picks_platform_from_index(
    registry_token: RegistryServer, multiarch_layout: LayoutImage, tmp_path: Path, wanted: str, key: str
) -> None:
    pushed = push_layout(multiarch_layout, registry_token, "pp/multi:1")
    with client_for(registry_token, tmp_path) as client:
        image = pull(client, Reference.parse(pushed.ref), Platform.parse(wanted))
        assert str(image.digest()) == multiarch_layout.platform_digests[key]
        with image.layers()[0].open_uncompressed() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            member = tar.next()
            assert member is not None
            handle = tar.extractfile(member)
            assert handle is not None and handle.read().decode() == key
        with pytest.raises(KilnError) as info:
            pull(client, Reference.parse(pushed.ref), Platform.parse("linux/s390x"))
        assert "linux/arm64" in str(info.value) and pushed.ref in str(info.value)


def test_push_index_round_trip(
    registry_basic: RegistryServer, multiarch_layout: LayoutImage, tmp_path: Path
) -> None:
    pushed = push_layout(multiarch_layout, registry_basic, "pp/idx:src")
    dest = Reference.parse(registry_basic.ref("pp/idx-copy:all"))
    with client_for(registry_basic, tmp_path) as client:
        index = pull_index(client, Reference.parse(pushed.ref))
        assert isinstance(index, RemoteIndex)
        assert push_index(client, index, [dest]) == Digest.parse(multiarch_layout.manifest_digest)
    raw = skopeo_inspect(str(dest), creds=registry_basic.creds, raw=True)
    assert {m["digest"] for m in raw["manifests"]} == set(multiarch_layout.platform_digests.values())


def _local_image(layout: LayoutImage) -> StaticImage:
    blobs = layout.path / "blobs" / "sha256"
    manifest = Manifest.from_bytes((blobs / layout.manifest_digest.split(":")[1]).read_bytes())
    config = ImageConfig.from_bytes((blobs / manifest.config.digest.hex).read_bytes())
    layers = tuple(
        FileLayer(blobs / d.digest.hex, d.digest, diff, d.size, d.media_type)
        for d, diff in zip(manifest.layers, config.rootfs_diff_ids, strict=True)
    )
    raw_config = config.to_bytes()  # kiln's own serialisation: the manifest must name these bytes
    desc = Descriptor(manifest.config.media_type, Digest.of_bytes(raw_config), len(raw_config))
    return StaticImage(dataclasses.replace(manifest, config=desc), config, layers)


def test_push_local_image_streams_from_files(
    registry_tls: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    image = _local_image(busybox_layout)
    dest = Reference.parse(registry_tls.ref("pp/local:1"))
    with client_for(registry_tls, tmp_path) as client:
        digest = push_image(client, image, [dest])
    info = skopeo_inspect(str(dest))
    assert info["Digest"] == str(digest) == str(image.digest())
    assert info["Layers"] == [str(layer.digest) for layer in image.layers()]


def test_failed_layer_upload_leaves_no_manifest(
    registry_http: RegistryServer, busybox_layout: LayoutImage
) -> None:
    good = _local_image(busybox_layout)

    def broken() -> BinaryIO:
        raise RegistryError("source went away", code="CONNECTION")

    layer = good.layers()[0]
    bad_layer = BlobLayer(layer.digest, layer.diff_id, layer.size, layer.media_type, broken)
    image = StaticImage(good.manifest(), good.config(), (bad_layer,))
    dest = Reference.parse(registry_http.ref("pp/never:1"))
    with client_for(registry_http) as client:
        with pytest.raises(RegistryError, match="source went away"):
            push_image(client, image, [dest])
        with pytest.raises(RegistryError) as info:
            client.get_manifest(dest)
        assert info.value.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")


def test_config_not_matching_manifest_is_refused(
    registry_http: RegistryServer, busybox_layout: LayoutImage
) -> None:
    good = _local_image(busybox_layout)
    other = Descriptor(good.manifest().config.media_type, Digest.of_bytes(b"another config"), 14)
    wrong = dataclasses.replace(good.manifest(), config=other)
    image = StaticImage(wrong, good.config(), good.layers())
    with client_for(registry_http) as client, pytest.raises(DigestMismatch):
        push_image(client, image, [Reference.parse(registry_http.ref("pp/wrongcfg:1"))])


def test_download_layers_verified_and_atomic(
    registry_http: RegistryServer, busybox_layout: LayoutImage, multiarch_layout: LayoutImage, tmp_path: Path
) -> None:
    pushed = push_layout(busybox_layout, registry_http, "pp/dl:1")
    with client_for(registry_http) as client:
        image = pull(client, Reference.parse(pushed.ref), Platform.parse(f"linux/{_arch(busybox_layout)}"))
        files = download_layers(image, tmp_path / "blobs", workers=2)
        assert [str(f.digest) for f in files] == busybox_layout.layer_digests
        for f in files:
            assert Digest.of_bytes(f.path.read_bytes()) == f.digest
        # a corrupted registry blob never lands under its digest name
        bad = push_layout(multiarch_layout, registry_http, "pp/dlbad:1")
        arm = pull(client, Reference.parse(bad.ref), Platform.parse("linux/arm64"))
        blob = registry_http.blob_path(str(arm.layers()[0].digest))
        good = blob.read_bytes()
        blob.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
        try:
            with pytest.raises(DigestMismatch):
                download_layers(arm, tmp_path / "blobs2")
            assert not [p for p in (tmp_path / "blobs2").rglob("*") if p.is_file()]
        finally:
            blob.write_bytes(good)


def test_docker_schema2_image_round_trip(registry_http: RegistryServer, busybox_layout: LayoutImage) -> None:
    from fixtures.tools import skopeo

    src = registry_http.ref("pp/docker:v2s2")
    skopeo(
        "copy",
        "--quiet",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        busybox_layout.oci_ref,
        f"docker://{src}",
    )
    expected = skopeo_inspect(src)["Digest"]
    dest = Reference.parse(registry_http.ref("pp/docker-back:1"))
    with client_for(registry_http) as client:
        image = pull(client, Reference.parse(src), Platform.parse(f"linux/{_arch(busybox_layout)}"))
        assert image.media_type() == "application/vnd.docker.distribution.manifest.v2+json"
        assert image.layers()[0].media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"
        assert str(push_image(client, image, [dest])) == expected
    raw = skopeo_inspect(str(dest), raw=True)
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert skopeo_inspect(str(dest))["Digest"] == expected
