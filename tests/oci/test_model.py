"""The image model: JSON round trips, validation errors, platform matching, mutate."""

from __future__ import annotations

import base64
import gzip
import io
import json
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from kiln import compression
from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.oci import (
    ContainerConfig,
    Descriptor,
    FileLayer,
    Healthcheck,
    History,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    mediatypes,
    mutate,
)

D1 = Digest.of_bytes(b"one")
D2 = Digest.of_bytes(b"two")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", ("linux", "amd64", None)),
        ("linux/x86_64", ("linux", "amd64", None)),
        ("Linux/AMD64", ("linux", "amd64", None)),
        ("linux/aarch64", ("linux", "arm64", None)),
        ("linux/arm64/v8", ("linux", "arm64", None)),
        ("linux/arm64/8", ("linux", "arm64", None)),
        ("linux/arm/7", ("linux", "arm", "v7")),
        ("linux/armhf", ("linux", "arm", "v7")),
        ("linux/armel", ("linux", "arm", "v6")),
        ("linux/i386", ("linux", "386", None)),
        ("linux/armv7l", ("linux", "arm", "v7")),
        ("linux/armv6l", ("linux", "arm", "v6")),
        ("linux/ppc64le", ("linux", "ppc64le", None)),
        ("macos/arm64", ("darwin", "arm64", None)),
    ],
)
def test_platform_parse_normalises(text: str, expected: tuple[str, str, str | None]) -> None:
    p = Platform.parse(text)
    assert (p.os, p.architecture, p.variant) == expected


@pytest.mark.parametrize("text", ["", "linux", "linux/", "/amd64", "linux/amd64/v8/x", "linux/am d64"])
def test_platform_parse_rejects(text: str) -> None:
    with pytest.raises(KilnError, match="invalid platform"):
        Platform.parse(text)


@pytest.mark.parametrize(
    ("offered", "wanted", "ok"),
    [
        ("linux/amd64", "linux/amd64", True),
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/arm/v7", "linux/arm", True),
        ("linux/arm/v6", "linux/arm", False),
        ("linux/arm/v6", "linux/arm/v6", True),
        ("linux/amd64", "linux/arm64", False),
        ("windows/amd64", "linux/amd64", False),
    ],
)
def test_platform_matching(offered: str, wanted: str, ok: bool) -> None:
    assert Platform.parse(offered).matches(Platform.parse(wanted)) is ok


def _manifest() -> Manifest:
    return Manifest(
        media_type=mediatypes.OCI_MANIFEST,
        config=Descriptor(mediatypes.OCI_CONFIG, D1, 3),
        layers=(Descriptor(mediatypes.OCI_LAYER_GZIP, D2, 5, annotations={"a": "b"}),),
        annotations={"org.opencontainers.image.created": "x"},
    )


def test_manifest_round_trip_is_byte_exact() -> None:
    m = _manifest()
    raw = m.to_bytes()
    again = Manifest.from_bytes(raw)
    assert again == m
    assert again.to_bytes() == raw
    assert m.digest() == Digest.of_bytes(raw)
    assert json.loads(raw)["schemaVersion"] == 2


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"not json", "not JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"schemaVersion":1,"config":{}}', "schemaVersion"),
        (b'{"schemaVersion":2,"mediaType":"text/plain"}', "unexpected mediaType"),
        (b'{"schemaVersion":2}', "no config"),
        (b'{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1}}', "invalid sha256"),
        (
            b'{"schemaVersion":2,"config":{"mediaType":"x","digest":"' + str(D1).encode() + b'","size":-1}}',
            "size",
        ),
    ],
)
def test_manifest_rejects_bad_input(raw: bytes, match: str) -> None:
    with pytest.raises(KilnError, match=match):
        Manifest.from_bytes(raw)


def test_index_select_and_error_lists_platforms() -> None:
    idx = Index(
        media_type=mediatypes.OCI_INDEX,
        manifests=(
            Descriptor(mediatypes.OCI_MANIFEST, D1, 10, platform=Platform.parse("linux/amd64")),
            Descriptor(mediatypes.OCI_MANIFEST, D2, 10, platform=Platform.parse("linux/arm64")),
        ),
    )
    assert Index.from_bytes(idx.to_bytes()) == idx
    assert idx.select(Platform.parse("linux/arm64/v8")).digest == D2
    with pytest.raises(KilnError, match=r"available: linux/amd64, linux/arm64"):
        idx.select(Platform.parse("linux/s390x"))


def test_config_round_trip_keeps_unknown_fields_and_null_cmd() -> None:
    raw = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {
                "Env": ["PATH=/bin", "A=1"],
                "Cmd": ["sh"],
                "ExposedPorts": {"80/tcp": {}},
                "Hostname": "kept",
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000},
            },
            "rootfs": {"type": "layers", "diff_ids": [str(D1)]},
            "history": [{"created_by": "x", "empty_layer": True}],
            "docker_version": "kept too",
        }
    ).encode()
    cfg = ImageConfig.from_bytes(raw)
    assert cfg.config.cmd == ("sh",)
    assert cfg.config.entrypoint is None
    assert cfg.config.exposed_ports == ("80/tcp",)
    assert cfg.config.healthcheck == Healthcheck(("CMD", "true"), interval=30_000_000_000)
    assert cfg.history == (History(created_by="x", empty_layer=True),)
    again = json.loads(cfg.to_bytes())
    assert again["config"]["Hostname"] == "kept"
    assert again["docker_version"] == "kept too"
    assert ImageConfig.from_bytes(cfg.to_bytes()) == cfg


def test_with_env_replaces_in_place() -> None:
    c = ContainerConfig(env=("PATH=/bin", "A=1", "B=2"))
    assert c.with_env("A", "x").env == ("PATH=/bin", "A=x", "B=2")
    assert c.with_env("C", "3").env == ("PATH=/bin", "A=1", "B=2", "C=3")
    assert c.env_value("B") == "2"
    assert c.env_value("Z") is None


def test_config_rejects_bad_diff_id() -> None:
    with pytest.raises(KilnError, match="invalid"):
        ImageConfig.from_bytes(b'{"rootfs":{"diff_ids":["md5:abc"]}}')


def _gz_layer(tmp_path: Path, payload: bytes, docker: bool = False) -> FileLayer:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(payload)
    blob = raw.getvalue()
    path = tmp_path / "layer.gz"
    path.write_bytes(blob)
    return FileLayer(
        path,
        Digest.of_bytes(blob),
        Digest.of_bytes(payload),
        len(blob),
        mediatypes.DOCKER_LAYER_GZIP if docker else mediatypes.OCI_LAYER_GZIP,
    )


def test_mutate_append_layer_and_retype(tmp_path: Path) -> None:
    base = mutate.new_image(ImageConfig(architecture="amd64", os="linux"))
    assert base.media_type() == mediatypes.OCI_MANIFEST
    layer = _gz_layer(tmp_path, b"tar bytes")
    img = mutate.append_layer(base, layer, History(created_by="RUN x"))
    assert img.config().rootfs_diff_ids == (layer.diff_id,)
    assert img.manifest().layers[0].digest == layer.digest
    assert img.config_descriptor().digest == Digest.of_bytes(img.raw_config())
    assert img.digest() == Digest.of_bytes(img.raw_manifest())
    with img.layers()[0].open_uncompressed() as f:
        assert f.read() == b"tar bytes"
    docker = mutate.with_media_types(img, docker=True)
    assert docker.media_type() == mediatypes.DOCKER_MANIFEST
    assert docker.manifest().layers[0].media_type == mediatypes.DOCKER_LAYER_GZIP
    assert docker.config_descriptor().media_type == mediatypes.DOCKER_CONFIG
    assert docker.manifest().layers[0].digest == layer.digest


def test_canonical_sets_every_time(tmp_path: Path) -> None:
    img = mutate.new_image(
        ImageConfig(
            architecture="amd64",
            created="2024-05-05T00:00:00Z",
            history=(History(created="2024-05-05T00:00:00Z"),),
        )
    )
    canon = mutate.canonical(img, 0)
    assert canon.config().created == "1970-01-01T00:00:00Z"
    assert {h.created for h in canon.config().history} == {"1970-01-01T00:00:00Z"}
    assert mutate.canonical(img, 0).digest() == canon.digest()


@pytest.mark.parametrize("kind", ["gzip", "zstd", "none"])
def test_decompress_detects_compression(kind: str) -> None:
    payload = b"hello layer" * 1000
    blob = {
        "gzip": lambda: gzip.compress(payload),
        "zstd": lambda: zstandard.ZstdCompressor().compress(payload),
        "none": lambda: payload,
    }[kind]()
    assert compression.decompress(io.BytesIO(blob)).read() == payload
    assert compression.detect(blob[:4]) == kind


def test_layer_media_type_refuses_zstd_for_docker() -> None:
    assert mediatypes.layer_media_type("zstd", docker=False) == mediatypes.OCI_LAYER_ZSTD
    with pytest.raises(KilnError, match="zstd"):
        mediatypes.layer_media_type("zstd", docker=True)


@pytest.mark.parametrize("key", ["Cmd", "Entrypoint", "Shell"])
def test_empty_list_and_null_stay_distinct(key: str) -> None:
    """Docker tells ``CMD []`` (an empty command) from no CMD at all; the round trip keeps both."""
    empty = ImageConfig.from_bytes(json.dumps({"config": {key: []}}).encode())
    null = ImageConfig.from_bytes(json.dumps({"config": {key: None}}).encode())
    attr = key.lower()
    assert getattr(empty.config, attr) == ()
    assert getattr(null.config, attr) is None
    assert json.loads(empty.to_bytes())["config"][key] == []
    assert key not in json.loads(null.to_bytes())["config"]


def test_canonical_drops_host_traces_like_ggcr() -> None:
    raw = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-05-05T10:00:00.123Z",
            "container": "3f2a",
            "docker_version": "24.0",
            "container_config": {"Hostname": "3f2a"},
            "moby.buildkit.buildinfo.v1": "kept",
            "config": {"Hostname": "3f2a", "Env": ["A=1"]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created": "2024-01-01T00:00:00Z", "author": "me", "created_by": "RUN x"}],
        }
    ).encode()
    img = mutate.new_image(ImageConfig.from_bytes(raw))
    canon = json.loads(mutate.canonical(img, 1700000000).raw_config())
    assert canon["created"] == "2023-11-14T22:13:20Z"
    assert canon["history"] == [{"created": "2023-11-14T22:13:20Z", "created_by": "RUN x"}]
    assert canon["config"] == {"Env": ["A=1"]}
    for gone in ("container", "docker_version", "container_config"):
        assert gone not in canon
    assert canon["moby.buildkit.buildinfo.v1"] == "kept"


@pytest.mark.parametrize(
    ("desc", "match"),
    [
        ({"mediaType": "x", "digest": str(D1), "size": 1, "annotations": {"a": 1}}, "annotations"),
        ({"mediaType": "x", "digest": str(D1), "size": 1, "urls": "http://x"}, "urls"),
        ({"mediaType": 5, "digest": str(D1), "size": 1}, "mediaType"),
        ({"mediaType": "x", "digest": str(D1), "size": True}, "size"),
        ({"mediaType": "x", "size": 1}, "missing 'digest'"),
        ("not an object", "expected an object"),
    ],
)
def test_descriptor_rejects_bad_fields(desc: object, match: str) -> None:
    with pytest.raises(KilnError, match=match):
        Descriptor.from_json(desc)


def test_descriptor_round_trip_with_every_field() -> None:
    d = Descriptor(
        mediatypes.OCI_MANIFEST,
        D1,
        7,
        annotations={"org.opencontainers.image.ref.name": "v1"},
        platform=Platform.normalised(
            "windows", "amd64", os_version="10.0.17763.1234", os_features=("win32k",)
        ),
        urls=("https://example.invalid/blob",),
        artifact_type="application/x",
    )
    again = Descriptor.from_json(json.loads(json.dumps(d.to_json())))
    assert again == d
    assert d.to_json()["platform"]["os.version"] == "10.0.17763.1234"


def test_platform_os_version_must_agree_when_both_given() -> None:
    offered = Platform.normalised("windows", "amd64", os_version="10.0.17763.1")
    assert offered.matches(Platform.normalised("windows", "amd64"))
    assert offered.matches(Platform.normalised("windows", "amd64", os_version="10.0.17763.1"))
    assert not offered.matches(Platform.normalised("windows", "amd64", os_version="10.0.20348.1"))


def test_platform_json_and_str() -> None:
    p = Platform.parse("linux/arm/v6")
    assert str(p) == "linux/arm/v6"
    assert p.to_json() == {"architecture": "arm", "os": "linux", "variant": "v6"}
    assert Platform.from_json(p.to_json()) == p
    with pytest.raises(KilnError, match="invalid platform object"):
        Platform.from_json({"os": "linux"})


def test_index_skips_attestations_and_rejects_bad_input() -> None:
    att = Descriptor(
        mediatypes.OCI_MANIFEST,
        D1,
        3,
        annotations={"vnd.docker.reference.type": "attestation-manifest"},
        platform=Platform("unknown", "unknown"),
    )
    real = Descriptor(mediatypes.OCI_MANIFEST, D2, 3, platform=Platform.parse("linux/amd64"))
    idx = Index(mediatypes.OCI_INDEX, (att, real))
    assert idx.select(Platform.parse("linux/amd64")) == real
    with pytest.raises(KilnError, match=r"available: linux/amd64;"):
        idx.select(Platform.parse("linux/riscv64"))
    with pytest.raises(KilnError, match="unexpected mediaType"):
        Index.from_bytes(b'{"schemaVersion":2,"mediaType":"' + mediatypes.OCI_MANIFEST.encode() + b'"}')
    with pytest.raises(KilnError, match="not a list"):
        Index.from_bytes(b'{"schemaVersion":2,"manifests":{}}')


def test_new_index_carries_platforms_and_resolves_children(tmp_path: Path) -> None:
    amd = mutate.new_image(ImageConfig(architecture="amd64", os="linux"))
    arm = mutate.new_image(ImageConfig(architecture="arm64", os="linux", variant="v8"))
    idx = mutate.new_index((amd, arm))
    parsed = idx.index()
    assert parsed.media_type == mediatypes.OCI_INDEX
    assert [str(d.platform) for d in parsed.manifests] == ["linux/amd64", "linux/arm64"]
    chosen = parsed.select(Platform.parse("linux/aarch64"))
    assert idx.image(chosen).digest() == arm.digest()
    assert [i.digest() for i in idx.images()] == [amd.digest(), arm.digest()]
    assert idx.digest() == Digest.of_bytes(idx.raw_index())
    outer = mutate.new_index((idx,), docker=True)
    inner_desc = outer.index().manifests[0]
    assert outer.media_type() == mediatypes.DOCKER_MANIFEST_LIST
    assert outer.child_index(inner_desc).digest() == idx.digest()
    with pytest.raises(KilnError, match="is an index, not an image"):
        outer.image(inner_desc)


def test_layer_by_digest_and_media_types(tmp_path: Path) -> None:
    layer = _gz_layer(tmp_path, b"x", docker=True)
    img = mutate.new_image(ImageConfig(architecture="amd64"), (layer,), docker=False)
    got = img.layer_by_digest(layer.digest)
    assert got.media_type == mediatypes.OCI_LAYER_GZIP
    assert isinstance(got, FileLayer) and got.path == layer.path
    with pytest.raises(KilnError, match="has no layer"):
        img.layer_by_digest(D1)
    assert mediatypes.is_index(mediatypes.DOCKER_MANIFEST_LIST)
    assert mediatypes.is_image_manifest(mediatypes.DOCKER_MANIFEST)
    assert mediatypes.is_docker(mediatypes.DOCKER_LAYER_GZIP) and not mediatypes.is_docker(
        mediatypes.OCI_LAYER
    )
    assert mediatypes.layer_compression(mediatypes.OCI_LAYER_NONDIST_GZIP) == "gzip"
    assert mediatypes.layer_compression(mediatypes.OCI_CONFIG) is None
    assert mediatypes.layer_media_type("gzip", docker=True) == mediatypes.DOCKER_LAYER_GZIP
    assert mediatypes.layer_media_type(None, docker=False) == mediatypes.OCI_LAYER
    assert mediatypes.layer_media_type("none", docker=True) == mediatypes.DOCKER_LAYER


def test_foreign_layers_keep_their_type_when_retyped(tmp_path: Path) -> None:
    layer = _gz_layer(tmp_path, b"x")
    foreign = FileLayer(layer.path, layer.digest, layer.diff_id, layer.size, mediatypes.DOCKER_FOREIGN_LAYER)
    img = mutate.with_media_types(mutate.new_image(ImageConfig(), (foreign,), docker=True), docker=False)
    assert img.manifest().layers[0].media_type == mediatypes.DOCKER_FOREIGN_LAYER


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_file_layer_streams_uncompressed(tmp_path: Path, kind: str) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB: more than one read buffer
    blob = gzip.compress(payload) if kind == "gzip" else zstandard.ZstdCompressor().compress(payload)
    path = tmp_path / "blob"
    path.write_bytes(blob)
    mt = mediatypes.OCI_LAYER_GZIP if kind == "gzip" else mediatypes.OCI_LAYER_ZSTD
    layer = FileLayer(path, Digest.of_bytes(blob), Digest.of_bytes(payload), len(blob), mt)
    for _ in range(2):  # re-openable
        with layer.open_uncompressed() as f:
            assert Digest.of_stream(f)[0] == layer.diff_id


def test_index_entry_without_platform_counts_as_linux_amd64() -> None:
    """go-containerregistry (kaniko) assumes linux/amd64 for an index entry that names no platform."""
    bare = Descriptor(mediatypes.OCI_MANIFEST, D1, 3)
    arm = Descriptor(mediatypes.OCI_MANIFEST, D2, 3, platform=Platform.parse("linux/arm64"))
    idx = Index(mediatypes.OCI_INDEX, (bare, arm))
    assert idx.select(Platform.parse("linux/amd64")) == bare
    assert idx.select(Platform.parse("linux/arm64")) == arm
    with pytest.raises(KilnError, match="available: linux/amd64, linux/arm64"):
        idx.select(Platform.parse("linux/386"))


descriptors = st.builds(
    Descriptor,
    media_type=st.sampled_from([mediatypes.OCI_MANIFEST, mediatypes.OCI_LAYER_GZIP, "application/x"]),
    digest=st.binary(max_size=4).map(Digest.of_bytes),
    size=st.integers(0, 2**40),
    annotations=st.none() | st.dictionaries(st.text(min_size=1, max_size=6), st.text(max_size=6), min_size=1),
    platform=st.none() | st.sampled_from(["linux/amd64", "linux/arm64", "linux/arm/v6"]).map(Platform.parse),
    urls=st.lists(st.text(min_size=1, max_size=6), max_size=2).map(tuple),
    artifact_type=st.none() | st.just("application/vnd.example+json"),
    data=st.none() | st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode()),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(descriptors, max_size=4), descriptors)
def test_manifest_and_index_round_trip(descs: list[Descriptor], config: Descriptor) -> None:
    manifest = Manifest(mediatypes.OCI_MANIFEST, config, tuple(descs), subject=config)
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest
    index = Index(mediatypes.OCI_INDEX, tuple(descs), annotations={"a": "b"})
    again = Index.from_bytes(index.to_bytes())
    assert again == index
    assert again.to_bytes() == index.to_bytes()


def test_with_config_refuses_diff_ids_that_do_not_match_the_layers(tmp_path: Path) -> None:
    img = mutate.new_image(ImageConfig(architecture="amd64"), (_gz_layer(tmp_path, b"x"),))
    with pytest.raises(KilnError, match="1 layers"):
        mutate.with_config(img, ImageConfig(architecture="amd64"))
