"""docker-archive tarballs read back, and the kaniko-format base-image cache built on them."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from kiln.digest import Digest
from kiln.errors import CacheError, DigestMismatch, KilnError
from kiln.oci import FileLayer, History, Image, ImageConfig, mediatypes, mutate
from kiln.storage.base_cache import BaseImageCache
from kiln.storage.layout import Layout
from kiln.storage.tarball import write_docker_tarball
from kiln.storage.tarball_read import TarballImage


def _run(*argv: str) -> str:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _image(tmp_path: Path, files: dict[str, bytes]) -> Image:
    img = mutate.new_image(ImageConfig(architecture="amd64", os="linux"), docker=True)
    for name, data in files.items():
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        blob = gzip.compress(raw.getvalue(), mtime=0)
        path = tmp_path / f"{Digest.of_bytes(blob).hex}.gz"
        path.write_bytes(blob)
        layer = FileLayer(
            path,
            Digest.of_bytes(blob),
            Digest.of_bytes(raw.getvalue()),
            len(blob),
            mediatypes.DOCKER_LAYER_GZIP,
        )
        img = mutate.append_layer(img, layer, History(created_by=f"COPY {name}"))
    return img


def _files(image: Image) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for layer in image.layers():
        with layer.open_uncompressed() as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                extracted = tar.extractfile(member)
                if extracted is not None:
                    out[member.name.removeprefix("./")] = extracted.read()
    return out


def test_own_tarball_reads_back_with_the_same_layers(tmp_path: Path) -> None:
    img = _image(tmp_path, {"a.txt": b"A", "b/c.txt": b"C" * 70000})
    tar_path = tmp_path / "img.tar"
    write_docker_tarball(tar_path, img, ["app:1"])
    back = TarballImage(tar_path)
    assert back.config() == img.config()
    assert [layer.digest for layer in back.layers()] == [layer.digest for layer in img.layers()]
    assert back.media_type() == mediatypes.DOCKER_MANIFEST
    # kiln writes the manifest the same way, so the made-up manifest is the original one
    assert back.digest() == img.digest()
    assert _files(back) == {"a.txt": b"A", "b/c.txt": b"C" * 70000}
    assert TarballImage(tar_path, tag="app:1").digest() == img.digest()
    with pytest.raises(KilnError, match="no image tagged"):
        TarballImage(tar_path, tag="app:2")


def test_reads_a_tarball_skopeo_wrote(tmp_path: Path, busybox_layout) -> None:  # type: ignore[no-untyped-def]
    """An independent writer: skopeo turns the hand-made busybox layout into a docker-archive."""
    tar_path = tmp_path / "busybox.tar"
    _run("skopeo", "copy", busybox_layout.oci_ref, f"docker-archive:{tar_path}:busybox:latest")
    img = TarballImage(tar_path)
    assert [str(d) for d in img.config().rootfs_diff_ids] == busybox_layout.diff_ids
    for layer in img.layers():
        with layer.open_uncompressed() as f:
            assert Digest.of_stream(f)[0] == layer.diff_id
    assert b"root:x:0:0" in _files(img)["etc/passwd"]


def test_several_images_need_a_tag(tmp_path: Path) -> None:
    tar_path = tmp_path / "two.tar"
    one = _image(tmp_path, {"one": b"1"})
    with tarfile.open(tar_path, "w") as tar:
        raw_config = one.raw_config()
        cfg_name = f"sha256:{Digest.of_bytes(raw_config).hex}"
        info = tarfile.TarInfo(cfg_name)
        info.size = len(raw_config)
        tar.addfile(info, io.BytesIO(raw_config))
        layer = one.layers()[0]
        with layer.open_compressed() as f:
            info = tarfile.TarInfo("l.tar.gz")
            info.size = layer.size
            tar.addfile(info, f)
        entries = [
            {"Config": cfg_name, "RepoTags": ["a:1"], "Layers": ["l.tar.gz"]},
            {"Config": cfg_name, "RepoTags": ["b:1"], "Layers": ["l.tar.gz"]},
        ]
        data = json.dumps(entries).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(KilnError, match="choose one of: a:1, b:1"):
        TarballImage(tar_path)
    assert _files(TarballImage(tar_path, tag="b:1")) == {"one": b"1"}


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"not a tar", "not a readable tar|no manifest.json"), (None, "no image tarball")],
)
def test_bad_tarballs_are_clear_errors(tmp_path: Path, content: bytes | None, match: str) -> None:
    path = tmp_path / "x.tar"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(KilnError, match=match):
        TarballImage(path)


def test_base_cache_round_trip_keeps_the_registry_digest(tmp_path: Path) -> None:
    img = _image(tmp_path, {"etc/os-release": b"ID=test\n"})
    cache = BaseImageCache(tmp_path / "cache")
    assert cache.state(img.digest()) == "missing"
    assert cache.get(img.digest()) is None
    assert cache.put(img, "registry.example/base:1")
    assert sorted(p.name for p in cache.root.iterdir()) == [str(img.digest()), f"{img.digest()}.json"]
    got = cache.get(img.digest())
    assert got is not None
    assert got.digest() == img.digest()
    assert got.raw_manifest() == img.raw_manifest()
    assert _files(got) == {"etc/os-release": b"ID=test\n"}
    layout = Layout(tmp_path / "oci")
    layout.init()
    assert layout.append_image(got).digest == img.digest()  # byte-exact copy out of the cache


def test_base_cache_keeps_digest_pinned_images_untagged(tmp_path: Path) -> None:
    img = _image(tmp_path, {"x": b"x"})
    cache = BaseImageCache(tmp_path / "cache")
    cache.put(img, f"localhost:5000/base@{img.digest()}")
    with tarfile.open(cache.tarball_path(img.digest())) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == []
    got = cache.get(img.digest())
    assert got is not None and got.digest() == img.digest()


def test_base_cache_ttl_and_force(tmp_path: Path) -> None:
    img = _image(tmp_path, {"x": b"x"})
    now = [1_000_000_000.0]
    cache = BaseImageCache(tmp_path / "cache", ttl=3600, clock=lambda: now[0])
    cache.put(img, "base:1")
    tar_path = cache.tarball_path(img.digest())
    os.utime(tar_path, (now[0], now[0]))
    assert cache.state(img.digest()) == "fresh"
    now[0] += 3601
    assert cache.state(img.digest()) == "expired"
    assert cache.get(img.digest()) is None
    assert cache.put(img, "base:1") is False  # kaniko's warmer: expired counts as cached without --force
    os.utime(tar_path, (0, 0))
    assert cache.put(img, "base:1", force=True) is True
    assert tar_path.stat().st_mtime > 0
    cache.touch(img.digest())


def test_base_cache_damage_is_detected(tmp_path: Path) -> None:
    img = _image(tmp_path, {"x": b"payload" * 5000})
    cache = BaseImageCache(tmp_path / "cache")
    cache.put(img, "base:1")
    manifest = cache.manifest_path(img.digest())
    manifest.write_bytes(manifest.read_bytes() + b" ")
    with pytest.raises(DigestMismatch):
        cache.get(img.digest())
    manifest.unlink()
    with pytest.raises(CacheError, match=r"no .*json manifest"):
        cache.get(img.digest())
    cache.put(img, "base:1", force=True)
    tar_path = cache.tarball_path(img.digest())
    data = bytearray(tar_path.read_bytes())
    blob = img.layers()[0]
    with blob.open_compressed() as f:
        start = bytes(data).index(f.read(64))
    data[start + blob.size // 2] ^= 0x01
    tar_path.write_bytes(bytes(data))
    got = cache.get(img.digest())
    assert got is not None
    with pytest.raises(DigestMismatch):
        _files(got)
