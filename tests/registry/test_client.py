"""Distribution API steps against the real registry in every auth/TLS mode."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from fixtures.images import LayoutImage, PushedImage, push_layout
from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect
from kiln.digest import Digest
from kiln.errors import AuthError, DigestMismatch, RegistryError
from kiln.reference import Reference
from registry.helpers import client_for


def _opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: path.open("rb")


def test_manifest_and_blobs_every_mode(
    registry_any: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    pushed = push_layout(busybox_layout, registry_any, "client/busybox:src")
    with client_for(registry_any, tmp_path) as client:
        ref = Reference.parse(pushed.ref)
        fetched = client.get_manifest(ref)
        assert str(fetched.digest) == busybox_layout.manifest_digest
        manifest = json.loads(fetched.raw)
        layer = manifest["layers"][0]
        digest = Digest.parse(layer["digest"])
        with client.open_blob(ref.context(), digest, layer["size"]) as reader:
            data = reader.read()
        assert len(data) == layer["size"]
        # push the same blobs under a new repo (mount) and new tags; skopeo must agree
        target = Reference.parse(registry_any.ref("client/copy:new"))
        for desc in [manifest["config"], *manifest["layers"]]:
            d = Digest.parse(desc["digest"])
            path = busybox_layout.path / "blobs" / "sha256" / d.hex
            client.upload_blob(
                target.context(),
                d,
                desc["size"],
                _opener(path),
                mount_from=ref.context(),
            )
            assert client.blob_exists(target.context(), d)
        put = client.put_manifest(target, fetched.raw, fetched.media_type)
        assert str(put) == busybox_layout.manifest_digest
    info = skopeo_inspect(str(target.name) + ":new", creds=registry_any.creds)
    assert info["Digest"] == busybox_layout.manifest_digest


def test_chunked_upload(registry_basic: RegistryServer, tmp_path: Path) -> None:
    blob = bytes(range(256)) * 5000  # 1.28 MB, several chunks
    digest = Digest.of_bytes(blob)
    with client_for(registry_basic, tmp_path) as client:
        client.chunked_threshold, client.chunk_size = 1000, 300_000
        repo = Reference.parse(registry_basic.ref("client/chunked")).context()
        client.upload_blob(repo, digest, len(blob), lambda: io.BytesIO(blob))
        with client.open_blob(repo, digest, len(blob)) as reader:
            assert reader.read() == blob


def test_corrupted_blob_is_rejected(registry_http: RegistryServer, tmp_path: Path) -> None:
    blob = b"precious bytes " * 100
    digest = Digest.of_bytes(blob)
    with client_for(registry_http) as client:
        repo = Reference.parse(registry_http.ref("client/corrupt")).context()
        client.upload_blob(repo, digest, len(blob), lambda: io.BytesIO(blob))
        path = registry_http.blob_path(str(digest))
        path.write_bytes(b"X" + blob[1:])
        with pytest.raises(DigestMismatch) as info, client.open_blob(repo, digest, len(blob)) as reader:
            reader.read()
        assert str(digest) in str(info.value)


def test_manifest_unknown(registry_http: RegistryServer) -> None:
    with client_for(registry_http) as client, pytest.raises(RegistryError) as info:
        client.get_manifest(Reference.parse(registry_http.ref("client/nothing:here")))
    assert info.value.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_wrong_password_is_auth_error(mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    server: RegistryServer = request.getfixturevalue(f"registry_{mode}")
    real = server.password
    assert real is not None
    bad = RegistryServer(**{**server.__dict__, "password": "wrong-" + real})
    with client_for(bad, tmp_path) as client, pytest.raises(AuthError) as info:
        client.get_manifest(Reference.parse(server.ref("client/busybox:src")))
    message = str(info.value)
    assert info.value.code in ("UNAUTHORIZED", "DENIED")
    assert "wrong-" not in message and real not in message and "\n" not in message


def test_anonymous_is_refused_with_hint(registry_basic: RegistryServer) -> None:
    with client_for(registry_basic) as client, pytest.raises(AuthError) as info:
        client.get_manifest(Reference.parse(registry_basic.ref("client/busybox:src")))
    assert info.value.status == 401
    assert "no credentials found" in str(info.value)


def test_unreachable_registry_is_connection_error() -> None:
    from fixtures.registry import free_port
    from kiln.registry.client import RegistryClient
    from kiln.registry.options import RegistryOptions

    host = f"127.0.0.1:{free_port()}"
    with (
        RegistryClient(RegistryOptions(insecure_registries=(host,))) as client,
        pytest.raises(RegistryError) as info,
    ):
        client.get_manifest(Reference.parse(f"{host}/x:y"))
    assert info.value.code == "CONNECTION"
    assert host in str(info.value)


def test_tls_without_ca_is_tls_error(registry_tls: RegistryServer) -> None:
    from kiln.registry.client import RegistryClient
    from kiln.registry.options import RegistryOptions

    with RegistryClient(RegistryOptions()) as client, pytest.raises(RegistryError) as info:
        client.get_manifest(Reference.parse(registry_tls.ref("client/busybox:src")))
    assert info.value.code == "TLS"
    assert "--registry-certificate" in str(info.value)


def test_check_push_permission(registry_token: RegistryServer, tmp_path: Path) -> None:
    with client_for(registry_token, tmp_path) as client:
        client.check_push_permission(Reference.parse(registry_token.ref("client/perm:x")))
    with client_for(registry_token) as anonymous, pytest.raises(AuthError):
        anonymous.check_push_permission(Reference.parse(registry_token.ref("client/perm:x")))


def test_head_manifest(registry_token: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path) -> None:
    pushed = push_layout(busybox_layout, registry_token, "client/head:1")
    with client_for(registry_token, tmp_path) as client:
        desc = client.head_manifest(Reference.parse(pushed.ref))
        assert desc is not None
        assert str(desc.digest) == busybox_layout.manifest_digest
        assert desc.media_type == "application/vnd.oci.image.manifest.v1+json"
        assert desc.size == len(client.get_manifest(Reference.parse(pushed.ref)).raw)
        assert client.head_manifest(Reference.parse(registry_token.ref("client/head:absent"))) is None


def test_busybox_image_fixture(busybox_image: PushedImage, registry_http: RegistryServer) -> None:
    with client_for(registry_http) as client:
        assert str(client.get_manifest(Reference.parse(busybox_image.ref)).digest) == busybox_image.digest


def test_list_tags_with_pagination(
    registry_basic: RegistryServer, busybox_layout: LayoutImage, tmp_path: Path
) -> None:
    pushed = push_layout(busybox_layout, registry_basic, "client/tags:t0")
    with client_for(registry_basic, tmp_path) as client:
        fetched = client.get_manifest(Reference.parse(pushed.ref))
        repo = Reference.parse(pushed.ref).context()
        for i in range(1, 5):
            client.put_manifest(repo.with_tag(f"t{i}"), fetched.raw, fetched.media_type)
        assert sorted(client.list_tags(repo, page_size=2)) == [f"t{i}" for i in range(5)]
        assert client.list_tags(Reference.parse(registry_basic.ref("client/no-such-repo")).context()) == []


def test_empty_blob_round_trip(registry_http: RegistryServer) -> None:
    digest = Digest.of_bytes(b"")
    repo = Reference.parse(registry_http.ref("client/empty")).context()
    with client_for(registry_http) as client:
        client.upload_blob(repo, digest, 0, lambda: io.BytesIO(b""))
        assert client.blob_exists(repo, digest)
        with client.open_blob(repo, digest, 0) as reader:
            assert reader.read() == b""
