"""kiln.registry.index against real registries: merging children that live elsewhere, and what it refuses."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fixtures.images import LayoutImage, push_layout
from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect
from kiln.digest import Digest
from kiln.errors import UsageError
from kiln.oci import Platform, mediatypes
from kiln.reference import Reference
from kiln.registry.client import FetchedManifest, RegistryClient
from kiln.registry.index import (
    IndexChild,
    IndexRequest,
    ResolvedChild,
    build_index,
    check_platforms,
    publish_index,
)
from kiln.registry.keychain import default_keychain
from registry.helpers import client_for, options_for


def children_of(layout: LayoutImage, repo: str) -> tuple[IndexChild, ...]:
    return tuple(
        IndexChild(Reference.parse(f"{repo}@{digest}"), f"test {platform}")
        for platform, digest in sorted(layout.platform_digests.items())
    )


def test_children_on_another_registry_are_streamed_in_before_the_index(
    registry_http: RegistryServer,
    registry_basic: RegistryServer,
    multiarch_layout: LayoutImage,
    tmp_path: Path,
) -> None:
    push_layout(multiarch_layout, registry_http, "xindex/src:all")
    options = options_for(
        registry_basic, tmp_path, insecure_registries=(registry_http.host, registry_basic.host)
    )
    dest = Reference.parse(registry_basic.ref("xindex/dest:1"))
    request = IndexRequest(
        children=children_of(multiarch_layout, registry_http.ref("xindex/src")),
        destinations=(dest,),
        annotations={"org.example": "yes"},
    )
    with RegistryClient(options, default_keychain(options.environ)) as client:
        published = publish_index(client, request)
    raw = skopeo_inspect(str(dest), creds=registry_basic.creds, raw=True)
    assert raw["mediaType"] == mediatypes.OCI_INDEX
    assert raw["annotations"] == {"org.example": "yes"}
    entries = {(m["platform"]["architecture"], m["digest"]) for m in raw["manifests"]}
    assert entries == {("amd64", multiarch_layout.platform_digests["linux/amd64"]),
                       ("arm64", multiarch_layout.platform_digests["linux/arm64/v8"])}  # fmt: skip
    assert str(published.digest) == skopeo_inspect(str(dest), creds=registry_basic.creds)["Digest"]
    for digest in multiarch_layout.platform_digests.values():
        child = skopeo_inspect(f"{registry_basic.ref('xindex/dest')}@{digest}", creds=registry_basic.creds)
        assert child["Digest"] == digest


def test_an_index_as_child_and_a_config_without_platform_are_refused(
    registry_http: RegistryServer, multiarch_layout: LayoutImage, tmp_path: Path
) -> None:
    pushed = push_layout(multiarch_layout, registry_http, "xindex/nested:all")
    dest = Reference.parse(registry_http.ref("xindex/nested:out"))
    with client_for(registry_http) as client:
        nested = IndexChild(Reference.parse(f"{registry_http.ref('xindex/nested')}@{pushed.digest}"), "args")
        with pytest.raises(UsageError, match="is itself an index"):
            publish_index(client, IndexRequest(children=(nested,), destinations=(dest,)))
        repo = dest.context()
        config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
        config_digest = Digest.of_bytes(config)
        client.upload_blob(repo, config_digest, len(config), lambda: io.BytesIO(config))
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST, "layers": [],
            "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": str(config_digest), "size": len(config)},
        }).encode()  # fmt: skip
        digest = client.put_manifest(
            repo.with_digest(Digest.of_bytes(manifest)), manifest, mediatypes.OCI_MANIFEST
        )
        bare = IndexChild(repo.with_digest(digest), "digests/x")
        with pytest.raises(UsageError) as err:
            publish_index(client, IndexRequest(children=(bare,), destinations=(dest,)))
        assert "(from digests/x) has no platform" in str(err.value)
        assert client.head_manifest(dest) is None


def resolved(media_type: str, platform: str, n: int) -> ResolvedChild:
    raw = json.dumps({"n": n}).encode()
    ref = Reference.parse(f"reg.example/app@{Digest.of_bytes(raw)}")
    fetched = FetchedManifest(raw, media_type, Digest.of_bytes(raw), ref.context())
    return ResolvedChild(IndexChild(ref, f"file{n}"), fetched, Platform.parse(platform))


def test_index_document_rules() -> None:
    amd = resolved(mediatypes.DOCKER_MANIFEST, "linux/amd64", 1)
    arm = resolved(mediatypes.OCI_MANIFEST, "linux/arm64", 2)
    index = build_index([amd, arm], legacy=False, annotations={})
    assert index.media_type == mediatypes.OCI_INDEX and index.annotations is None
    assert [str(d.platform) for d in index.manifests] == ["linux/amd64", "linux/arm64"]
    with pytest.raises(UsageError, match="is an OCI manifest"):
        build_index([amd, arm], legacy=True, annotations={})
    with pytest.raises(UsageError, match="cannot carry annotations"):
        build_index([amd], legacy=True, annotations={"a": "b"})
    assert build_index([amd], legacy=True, annotations={}).media_type == mediatypes.DOCKER_MANIFEST_LIST
    armv7, armv6 = (
        resolved(mediatypes.OCI_MANIFEST, "linux/arm/v7", 3),
        resolved(mediatypes.OCI_MANIFEST, "linux/arm/v6", 4),
    )
    check_platforms([amd, arm, armv7, armv6], ())  # variants are different platforms
    with pytest.raises(UsageError, match=r"two images for platform linux/amd64: .*file1.* and .*file5"):
        check_platforms([amd, resolved(mediatypes.OCI_MANIFEST, "linux/amd64", 5)], ())
    with pytest.raises(UsageError, match="missing linux/s390x; unexpected linux/arm/v6"):
        check_platforms([amd, armv6], (Platform.parse("linux/amd64"), Platform.parse("linux/s390x")))
