"""OCI layouts as a shared store: indexes, several writers at once, damage found on read.

The reference images in ``fixtures.images`` are written without kiln's code, so reading them checks
kiln against an independent writer; layouts kiln writes are judged by oci-image-tool and skopeo.
"""

from __future__ import annotations

import gzip
import io
import json
import multiprocessing
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from kiln.digest import Digest
from kiln.errors import DigestMismatch, KilnError, LayerError
from kiln.oci import BlobLayer, FileLayer, History, Image, ImageConfig, Platform, mediatypes, mutate
from kiln.storage.layout import REF_NAME, Layout, parse_layout_reference, write_oci_layout


def _validate(root: Path) -> None:
    """oci-image-tool checks every ref'd manifest, config and blob of the layout (Debian's build
    detects the layout itself; its ``--type imageLayout`` is not implemented)."""
    out = _run("oci-image-tool", "validate", "--type", "image", str(root))
    assert "Validation succeeded" in out


def _run(*argv: str) -> str:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _image(workdir: Path, text: str, arch: str = "amd64", variant: str | None = None) -> Image:
    """A one-layer image holding ``/name.txt`` with ``text``, written by hand with tarfile + gzip."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = text.encode()
        info = tarfile.TarInfo("name.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    blob = gzip.compress(raw.getvalue(), mtime=0)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{Digest.of_bytes(blob).hex}.tar.gz"
    path.write_bytes(blob)
    layer = FileLayer(
        path, Digest.of_bytes(blob), Digest.of_bytes(raw.getvalue()), len(blob), mediatypes.OCI_LAYER_GZIP
    )
    cfg = ImageConfig(architecture=arch, os="linux", variant=variant, created="1970-01-01T00:00:00Z")
    return mutate.append_layer(mutate.new_image(cfg), layer, History(created_by=f"COPY {text}"))


def _read_name(image: Image) -> bytes:
    with image.layers()[0].open_uncompressed() as f, tarfile.open(fileobj=f, mode="r|") as tar:
        member = tar.next()
        assert member is not None
        extracted = tar.extractfile(member)
        assert extracted is not None
        return extracted.read()


def test_reads_an_index_written_by_an_independent_tool(multiarch_layout) -> None:  # type: ignore[no-untyped-def]
    layout = Layout(multiarch_layout.path)
    for wanted, digest in multiarch_layout.platform_digests.items():
        image = layout.open_image(ref_name="latest", platform=Platform.parse(wanted))
        assert str(image.digest()) == digest
        assert _read_name(image) == wanted.encode()
    with pytest.raises(KilnError, match=r"no image for platform linux/s390x.*available: linux/amd64"):
        layout.open_image(ref_name="latest", platform=Platform.parse("linux/s390x"))


def test_write_index_is_a_valid_multi_platform_layout(tmp_path: Path) -> None:
    amd = _image(tmp_path / "w", "linux/amd64")
    arm = _image(tmp_path / "w", "linux/arm64/v8", arch="arm64", variant="v8")
    index = mutate.new_index((amd, arm))
    layout = Layout(tmp_path / "oci")
    layout.init()
    desc = layout.append_index(index, {REF_NAME: "multi"})
    assert desc.digest == index.digest()
    _validate(layout.root)
    raw = json.loads(_run("skopeo", "inspect", "--raw", f"oci:{layout.root}:multi"))
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == ["amd64", "arm64"]
    got = layout.open_image(ref_name="multi", platform=Platform.parse("linux/aarch64"))
    assert got.digest() == arm.digest()
    assert _read_name(got) == b"linux/arm64/v8"
    archive = tmp_path / "arm.tar"
    _run(
        "skopeo", "--override-arch", "arm64", "copy",
        f"oci:{layout.root}:multi", f"docker-archive:{archive}:app:arm",
    )  # fmt: skip
    info = json.loads(_run("skopeo", "inspect", "--config", f"docker-archive:{archive}"))
    assert info["architecture"] == "arm64"


def test_kaniko_oci_layout_path_replaces_the_index(tmp_path: Path) -> None:
    """--oci-layout-path: a fresh index holding only the new image (old blobs may stay)."""
    out = tmp_path / "oci"
    first = _image(tmp_path / "w", "first")
    second = _image(tmp_path / "w", "second")
    write_oci_layout(out, first)
    write_oci_layout(out, second)
    entries = json.loads((out / "index.json").read_bytes())["manifests"]
    assert [e["digest"] for e in entries] == [str(second.digest())]
    assert "annotations" not in entries[0]
    _validate(out)


def test_present_blobs_are_not_rewritten(tmp_path: Path) -> None:
    image = _image(tmp_path / "w", "same")
    layout = Layout(tmp_path / "oci")
    layout.init()
    layout.append_image(image)
    blob = layout.blob_path(image.layers()[0].digest)
    before = blob.stat()
    layout.append_image(image)
    after = blob.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert len(layout.images()) == 1


def test_a_local_layer_file_goes_in_by_a_hard_link(tmp_path: Path) -> None:
    image = _image(tmp_path / "w", "linked")
    layer = image.layers()[0]
    assert isinstance(layer, FileLayer)
    layout = Layout(tmp_path / "oci")
    layout.init()
    layout.append_image(image)
    blob = layout.blob_path(layer.digest)
    assert blob.stat().st_ino == layer.path.stat().st_ino  # no copy of the bytes
    assert blob.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in blob.parent.iterdir() if p.name.startswith(".")] == []  # no temp link left
    _validate(tmp_path / "oci")


def test_a_local_layer_file_of_the_wrong_size_is_copied_and_refused(tmp_path: Path) -> None:
    image = _image(tmp_path / "w", "grown")
    layer = image.layers()[0]
    assert isinstance(layer, FileLayer)
    with open(layer.path, "ab") as f:
        f.write(b"junk")  # not the file the descriptor describes: linking it would publish a wrong blob
    layout = Layout(tmp_path / "oci")
    layout.init()
    with pytest.raises(DigestMismatch):
        layout.append_image(image)
    assert not layout.has_blob(layer.digest)


def test_wrong_blob_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    layout.init()
    claimed = Digest.of_bytes(b"what the manifest says")
    with pytest.raises(DigestMismatch):
        layout.write_blob(claimed, lambda: io.BytesIO(b"something else"))
    assert not layout.has_blob(claimed)
    leftovers = [p.name for p in layout.blob_path(claimed).parent.iterdir()]
    assert leftovers == []


@pytest.mark.parametrize("what", ["manifest", "config", "layer"])
def test_damage_anywhere_is_found_on_read(tmp_path: Path, what: str) -> None:
    image = _image(tmp_path / "w", "payload " * 1000)
    out = tmp_path / "oci"
    write_oci_layout(out, image, ref_name="x")
    layout = Layout(out)
    target = {
        "manifest": image.digest(),
        "config": image.config_descriptor().digest,
        "layer": image.layers()[0].digest,
    }[what]
    path = layout.blob_path(target)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch):
        back = layout.open_image(ref_name="x")
        back.config()
        _read_name(back)


def test_layer_that_does_not_decompress_is_a_layer_error(tmp_path: Path) -> None:
    """A blob whose digest is right but whose bytes are not gzip: LayerError, not a traceback."""
    blob = b"not gzip at all, but stored under its own digest"
    path = tmp_path / "blob"
    path.write_bytes(blob)
    layer = FileLayer(path, Digest.of_bytes(blob), Digest.of_bytes(b""), len(blob), mediatypes.OCI_LAYER_GZIP)
    with (
        pytest.raises(LayerError, match=f"layer {layer.digest} does not decompress"),
        layer.open_uncompressed() as f,
    ):
        f.read()


def test_missing_blob_and_wrong_kind_are_clear_errors(tmp_path: Path) -> None:
    image = _image(tmp_path / "w", "x")
    out = tmp_path / "oci"
    write_oci_layout(out, image, ref_name="x")
    layout = Layout(out)
    desc = layout.find(ref_name="x")
    with pytest.raises(KilnError, match="not an image index"):
        layout.image_index(desc)
    layout.blob_path(image.layers()[0].digest).unlink()
    with pytest.raises(KilnError, match="is missing from the OCI layout"):
        _read_name(layout.open_image(digest=image.digest()))


def _append_many(root: str, worker: int, count: int) -> None:
    layout = Layout(Path(root))
    for i in range(count):
        layout.append_image(
            _image(Path(root).parent / f"w{worker}", f"{worker}-{i}"), {REF_NAME: f"{worker}-{i}"}
        )


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    """Several processes appending to one layout (a shared base-image cache): every image lands."""
    root = tmp_path / "shared"
    Layout(root).init()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(root), w, 6)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    layout = Layout(root)
    refs = sorted((d.annotations or {})[REF_NAME] for d in layout.images())
    assert refs == sorted(f"{w}-{i}" for w in range(4) for i in range(6))
    assert not [n for n in os.listdir(root / "blobs" / "sha256") if n.startswith(".")]
    _validate(root)
    assert _read_name(layout.open_image(ref_name="3-5")) == b"3-5"


def test_prune_removes_only_what_no_image_needs(tmp_path: Path) -> None:
    from kiln.storage.layout_gc import prune

    shared = _image(tmp_path / "w", "shared")
    keep = _image(tmp_path / "w", "keep")
    drop = mutate.append_layer(
        shared, _image(tmp_path / "w", "only in drop").layers()[0], History(created_by="COPY drop")
    )
    layout = Layout(tmp_path / "oci")
    layout.init()
    layout.append_image(keep, {REF_NAME: "keep"})
    layout.append_image(shared, {REF_NAME: "shared"})
    layout.append_image(drop, {REF_NAME: "drop"})
    layout.remove_from_index(drop.digest())
    stray = layout.blob_path(Digest.of_bytes(b"half-written by a crashed writer"))
    stray.write_bytes(b"half-written by a crashed writer")
    assert prune(layout, grace=3600) == []  # everything is younger than the grace period
    removed = prune(layout, grace=0)
    only_drop = {drop.digest(), drop.config_descriptor().digest, drop.layers()[1].digest}
    assert set(removed) == only_drop | {Digest.of_bytes(b"half-written by a crashed writer")}
    for image in (keep, shared):
        assert layout.open_image(digest=image.digest()).digest() == image.digest()
        for layer in image.layers():
            assert layout.has_blob(layer.digest, layer.size)
    assert layout.has_blob(drop.layers()[0].digest)  # shared with a kept image
    _validate(layout.root)


@pytest.mark.parametrize(
    ("text", "path", "name"),
    [
        ("oci:/cache", "/cache", None),
        ("oci:/cache:v1", "/cache", "v1"),
        ("oci:rel/dir:latest", "rel/dir", "latest"),
        ("oci:/tmp/a:team/app", "/tmp/a", "team/app"),
        ("oci:/cache:", "/cache", None),
    ],
)
def test_layout_reference_syntax(text: str, path: str, name: str | None) -> None:
    assert parse_layout_reference(text) == (Path(path), name)


@pytest.mark.parametrize("text", ["docker://x", "oci:", "oci::tag"])
def test_layout_reference_rejects(text: str) -> None:
    with pytest.raises(KilnError, match=r"OCI layout reference|names no directory"):
        parse_layout_reference(text)


def test_layout_reference_agrees_with_skopeo(tmp_path: Path) -> None:
    image = _image(tmp_path / "w", "named")
    out = tmp_path / "layout"
    write_oci_layout(out, image, ref_name="team/app:v1")
    text = f"oci:{out}:team/app:v1"
    path, name = parse_layout_reference(text)
    assert Layout(path).open_image(ref_name=name).digest() == image.digest()
    assert json.loads(_run("skopeo", "inspect", text))["Digest"] == str(image.digest())


def test_damaged_blob_is_replaced_when_asked_to_verify(tmp_path: Path) -> None:
    """A same-sized damaged blob survives a plain rewrite (it is skipped) but not a verifying one."""
    image = _image(tmp_path / "w", "to be damaged " * 500)
    layout = Layout(tmp_path / "oci")
    layout.init()
    layout.append_image(image)
    blob = layout.blob_path(image.layers()[0].digest)
    data = bytearray(blob.read_bytes())
    data[100] ^= 0x01
    damaged = blob.with_name("damaged")  # the layout's file only: it is a hard link of the built layer
    damaged.write_bytes(bytes(data))
    damaged.replace(blob)
    assert not layout.blob_is_intact(image.layers()[0].digest)
    layout.write_image(image)
    assert not layout.blob_is_intact(image.layers()[0].digest)
    layout.write_image(image, verify_existing=True)
    assert layout.blob_is_intact(image.layers()[0].digest)
    assert _read_name(layout.open_image(digest=image.digest())) == b"to be damaged " * 500


def test_reader_that_stops_early_still_gets_the_digest_checked(tmp_path: Path) -> None:
    """A tar reader stops at the end-of-archive marker; damage after it (gzip trailer, padding) must still
    fail the ``with`` block, as the build's unpacker uses layer streams."""
    image = _image(tmp_path / "w", "tail")
    out = tmp_path / "oci"
    write_oci_layout(out, image)
    layout = Layout(out)
    blob = layout.blob_path(image.layers()[0].digest)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0x01  # last byte of the gzip trailer (the size field)
    blob.write_bytes(bytes(data))
    layer = layout.open_image(digest=image.digest()).layers()[0]
    with pytest.raises(DigestMismatch), layer.open_compressed() as f:
        assert f.read(10) == bytes(data[:10])  # the consumer reads only the head
    # an error inside the block is the one reported (no DigestMismatch from draining on the way out)
    with pytest.raises(ValueError, match="consumer"), layer.open_compressed():
        raise ValueError("consumer failed")


def test_one_image_under_several_ref_names(tmp_path: Path) -> None:
    image = _image(tmp_path / "w", "tagged twice")
    other = _image(tmp_path / "w", "other")
    layout = Layout(tmp_path / "oci")
    layout.init()
    layout.append_image(image, {REF_NAME: "1.0"})
    layout.append_image(image, {REF_NAME: "latest"})
    layout.append_image(image, {REF_NAME: "latest"})
    assert [(d.digest, (d.annotations or {})[REF_NAME]) for d in layout.images()] == [
        (image.digest(), "1.0"),
        (image.digest(), "latest"),
    ]
    layout.append_image(other, {REF_NAME: "latest"})  # the name moves, 1.0 stays
    assert [(d.annotations or {})[REF_NAME] for d in layout.images()] == ["1.0", "latest"]
    for name, expected in (("1.0", image), ("latest", other)):
        info = json.loads(_run("skopeo", "inspect", f"oci:{layout.root}:{name}"))
        assert info["Digest"] == str(expected.digest())


def _blob_layers(count: int, opener_of: Callable[[int, bytes], Callable[[], IO[bytes]]]) -> Image:
    """An image of ``count`` layers whose bytes come from ``opener_of(i, blob)`` (not local files)."""
    image = mutate.new_image(ImageConfig(architecture="amd64", os="linux", created="1970-01-01T00:00:00Z"))
    for i in range(count):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(f"f{i}")
            tar.addfile(info, io.BytesIO(b""))
        blob = gzip.compress(raw.getvalue(), mtime=0)
        layer = BlobLayer(
            Digest.of_bytes(blob),
            Digest.of_bytes(raw.getvalue()),
            len(blob),
            mediatypes.OCI_LAYER_GZIP,
            opener_of(i, blob),  # type: ignore[arg-type]
        )
        image = mutate.append_layer(image, layer, History(created_by=f"layer {i}"))
    return image


def test_layers_are_written_concurrently(tmp_path: Path) -> None:
    together = threading.Barrier(3, timeout=30)  # three layers must be in flight at once

    def opener_of(i: int, blob: bytes) -> Callable[[], IO[bytes]]:
        def open_blob() -> IO[bytes]:
            together.wait()  # one layer at a time would never get past this
            return io.BytesIO(blob)

        return open_blob

    image = _blob_layers(3, opener_of)
    layout = Layout(tmp_path / "oci")
    layout.init()
    layout.append_image(image)
    _validate(tmp_path / "oci")


def test_a_failing_layer_leaves_no_manifest(tmp_path: Path) -> None:
    def opener_of(i: int, blob: bytes) -> Callable[[], IO[bytes]]:
        return lambda: io.BytesIO(b"not the blob" if i == 1 else blob)

    image = _blob_layers(3, opener_of)
    layout = Layout(tmp_path / "oci")
    layout.init()
    with pytest.raises(DigestMismatch):
        layout.append_image(image)
    assert not layout.has_blob(image.digest()) and not layout.has_blob(image.config_descriptor().digest)
    assert layout.index().manifests == ()
