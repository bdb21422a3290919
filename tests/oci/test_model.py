"""The image model: JSON round trips, validation errors, platform matching, mutate."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
import zstandard

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
