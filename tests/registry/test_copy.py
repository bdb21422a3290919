"""Pull the busybox fixture and push it back under new tags with kiln's client; skopeo must agree."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from fixtures.images import LayoutImage, push_layout
from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect
from kiln.digest import Digest
from kiln.errors import DigestMismatch, RegistryError
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.copy import copy_image
from kiln.registry.keychain import Keychain, default_keychain
from registry.helpers import client_for, options_for

_unique = itertools.count()


def test_copy_new_tags_every_mode(
    registry_any: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    pushed = push_layout(busybox_layout, registry_any, "copy/busybox:src")
    n = next(_unique)
    dests = [Reference.parse(registry_any.ref(f"copy/again{n}:{tag}")) for tag in ("a", "b")]
    dests.append(Reference.parse(registry_any.ref(f"copy/other{n}:c")))
    with client_for(registry_any, tmp_path) as client:
        digest = copy_image(client, Reference.parse(pushed.ref), dests)
    assert str(digest) == busybox_layout.manifest_digest
    for dest in dests:
        info = skopeo_inspect(str(dest), creds=registry_any.creds)
        assert info["Digest"] == busybox_layout.manifest_digest
        assert info["Layers"] == busybox_layout.layer_digests
        assert info["Os"] == "linux"


def test_copy_between_registries(
    registry_http: RegistryServer, registry_token: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    pushed = push_layout(busybox_layout, registry_http, "xreg/busybox:1")
    registry_token.write_docker_config(tmp_path)
    options = options_for(
        registry_token, tmp_path, insecure_registries=(registry_http.host, registry_token.host)
    )
    dest = Reference.parse(registry_token.ref("xreg/busybox:copied"))
    with RegistryClient(options, default_keychain(options.environ)) as client:
        copy_image(client, Reference.parse(pushed.ref), [dest])
    assert skopeo_inspect(str(dest), creds=registry_token.creds)["Digest"] == busybox_layout.manifest_digest


def test_copy_index_keeps_every_platform(
    registry_basic: RegistryServer, multiarch_layout: LayoutImage, tmp_path: Path
) -> None:
    pushed = push_layout(multiarch_layout, registry_basic, "copy/multi:src")
    dest = Reference.parse(registry_basic.ref("copy/multi-copy:1"))
    with client_for(registry_basic, tmp_path) as client:
        copy_image(client, Reference.parse(pushed.ref), [dest])
        fetched = client.get_manifest(dest)
    assert str(fetched.digest) == multiarch_layout.manifest_digest
    raw = skopeo_inspect(str(dest), creds=registry_basic.creds, raw=True)
    assert sorted(m["digest"] for m in raw["manifests"]) == sorted(multiarch_layout.platform_digests.values())
    for digest in multiarch_layout.platform_digests.values():
        child = skopeo_inspect(
            f"{registry_basic.ref('copy/multi-copy')}@{digest}", creds=registry_basic.creds
        )
        assert child["Digest"] == digest


def test_corrupted_source_blob_fails_before_manifest(
    registry_http: RegistryServer, registry_basic: RegistryServer, tmp_path: Path
) -> None:
    """Across registries the bytes flow through kiln, which checks them (a same-registry mount would not)."""
    from fixtures.images import Entry, write_image_layout

    layout = write_image_layout(tmp_path / "l", [Entry("hello", data=b"corrupt me " * 500)])
    pushed = push_layout(layout, registry_http, "corrupt/src:1")
    path = registry_http.blob_path(layout.layer_digests[0])
    good = path.read_bytes()
    path.write_bytes(good[:-3] + b"\x00\x00\x00")
    dest = Reference.parse(registry_basic.ref("corrupt/dest:1"))
    options = options_for(
        registry_basic, tmp_path / "cfg", insecure_registries=(registry_http.host, registry_basic.host)
    )
    try:
        with RegistryClient(options, default_keychain(options.environ)) as client:
            with pytest.raises(DigestMismatch) as info:
                copy_image(client, Reference.parse(pushed.ref), [dest])
            assert layout.layer_digests[0] in str(info.value)
            with pytest.raises(RegistryError) as missing:
                client.get_manifest(dest)
            assert missing.value.code == "MANIFEST_UNKNOWN"
    finally:
        path.write_bytes(good)


def test_upload_from_verifying_stream_sends_content_length(registry_http: RegistryServer) -> None:
    """Streams without fileno/len still go up monolithically (the body is sized, not chunk-encoded)."""

    class Opaque(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            data = self._inner.read(len(b))
            b[: len(data)] = data
            return len(data)

    blob = b"opaque" * 3000
    digest = Digest.of_bytes(blob)
    repo = Reference.parse(registry_http.ref("copy/opaque")).context()
    with RegistryClient(options_for(registry_http), Keychain([])) as client:
        client.upload_blob(repo, digest, len(blob), lambda: Opaque(blob))  # type: ignore[arg-type,return-value]
        assert client.blob_exists(repo, digest)
