"""OCI layouts, docker tarballs and digest files, judged by skopeo, umoci and oci-image-tool."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from kiln.digest import Digest
from kiln.errors import DigestMismatch, KilnError
from kiln.oci import FileLayer, History, ImageConfig, mediatypes, mutate
from kiln.oci.image import Image
from kiln.reference import Reference
from kiln.storage.digest_files import write_digest_file, write_image_name_file, write_image_name_files
from kiln.storage.layout import Layout, write_oci_layout
from kiln.storage.tarball import repo_tag, write_docker_tarball


def _layer(tmp_path: Path, files: dict[str, bytes], docker: bool = False) -> FileLayer:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    blob = gzip.compress(tar_bytes, mtime=0)
    path = tmp_path / f"layer-{Digest.of_bytes(blob).hex[:8]}.tar.gz"
    path.write_bytes(blob)
    mt = mediatypes.DOCKER_LAYER_GZIP if docker else mediatypes.OCI_LAYER_GZIP
    return FileLayer(path, Digest.of_bytes(blob), Digest.of_bytes(tar_bytes), len(blob), mt)


def _image(tmp_path: Path, docker: bool = False) -> Image:
    cfg = ImageConfig(architecture="amd64", os="linux", created="1970-01-01T00:00:00Z")
    img = mutate.new_image(cfg, (), docker=docker)
    img = mutate.append_layer(
        img, _layer(tmp_path, {"hello.txt": b"hello\n"}), History(created_by="COPY hello")
    )
    return mutate.append_layer(img, _layer(tmp_path, {"etc/motd": b"hi\n"}), History(created_by="COPY motd"))


def _run(*argv: str) -> str:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_oci_layout_is_valid_for_independent_tools(tmp_path: Path) -> None:
    img = _image(tmp_path)
    out = tmp_path / "oci"
    desc = write_oci_layout(out, img, ref_name="latest")
    assert desc.digest == img.digest()
    _run("oci-image-tool", "validate", "--type", "image", "--ref", "name=latest", str(out))
    info = json.loads(_run("skopeo", "inspect", f"oci:{out}:latest"))
    assert info["Digest"] == str(img.digest())
    assert len(info["Layers"]) == 2
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--rootless", "--image", f"{out}:latest", str(bundle))
    assert (bundle / "rootfs" / "hello.txt").read_bytes() == b"hello\n"
    assert (bundle / "rootfs" / "etc" / "motd").read_bytes() == b"hi\n"


def test_layout_round_trip_and_corruption_detected(tmp_path: Path) -> None:
    img = _image(tmp_path)
    out = tmp_path / "oci"
    write_oci_layout(out, img)
    layout = Layout(out)
    back = layout.image(layout.find(digest=img.digest()))
    assert back.digest() == img.digest()
    assert back.config() == img.config()
    with back.layers()[0].open_uncompressed() as f, tarfile.open(fileobj=io.BytesIO(f.read())) as tar:
        assert tar.getnames() == ["hello.txt"]
    blob = layout.blob_path(img.layers()[1].digest)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch), back.layers()[1].open_compressed() as f:
        while f.read(1 << 16):
            pass


def test_layout_append_keeps_other_images_and_moves_ref(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "cache")
    layout.init()
    a = _image(tmp_path)
    b = mutate.with_media_types(a, docker=True)
    layout.append_image(a, {"org.opencontainers.image.ref.name": "x"})
    layout.append_image(b, {"org.opencontainers.image.ref.name": "x"})
    digests = [d.digest for d in layout.images()]
    assert digests == [b.digest()]
    layout.append_image(a)
    assert [d.digest for d in layout.images()] == [b.digest(), a.digest()]
    with pytest.raises(KilnError, match="no image"):
        layout.find(ref_name="nope")


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KilnError, match="not an OCI image layout"):
        Layout(tmp_path).index()


def test_docker_tarball_is_readable_by_skopeo(tmp_path: Path) -> None:
    img = _image(tmp_path, docker=True)
    tar_path = tmp_path / "image.tar"
    write_docker_tarball(tar_path, img, ["registry.example:5000/team/app:1.0", "app:latest"])
    with tarfile.open(tar_path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        names = set(tar.getnames())
    assert manifest[0]["RepoTags"] == ["registry.example:5000/team/app:1.0", "app:latest"]
    assert set(manifest[0]["Layers"]) <= names
    assert manifest[0]["Config"] in names
    info = json.loads(_run("skopeo", "inspect", f"docker-archive:{tar_path}"))
    assert len(info["Layers"]) == 2
    config = json.loads(_run("skopeo", "inspect", "--config", f"docker-archive:{tar_path}"))
    assert config["rootfs"]["diff_ids"] == [str(d) for d in img.config().rootfs_diff_ids]


def test_digest_files(tmp_path: Path) -> None:
    digest = Digest.of_bytes(b"manifest")
    write_digest_file(str(tmp_path / "digest"), digest)
    assert (tmp_path / "digest").read_bytes() == str(digest).encode()
    refs = [Reference.parse("localhost:5000/a/b:1.0"), Reference.parse("busybox")]
    write_image_name_file(str(tmp_path / "names"), refs, digest, with_tag=False)
    write_image_name_file(str(tmp_path / "tags"), refs, digest, with_tag=True)
    # kaniko (go-containerregistry) spells Docker Hub as index.docker.io in these files
    assert (tmp_path / "names").read_text() == (
        f"localhost:5000/a/b@{digest}\nindex.docker.io/library/busybox@{digest}\n"
    )
    assert (tmp_path / "tags").read_text() == (
        f"localhost:5000/a/b:1.0@{digest}\nindex.docker.io/library/busybox:latest@{digest}\n"
    )
    assert not (tmp_path / "digest").read_bytes().endswith(b"\n")


@pytest.mark.parametrize(
    ("name_file", "tag_file", "tagged"),
    [(True, False, False), (False, True, True), (True, True, True)],
)
def test_name_files_share_one_text_like_kaniko(
    tmp_path: Path, name_file: bool, tag_file: bool, tagged: bool
) -> None:
    """kaniko fills both files from one buffer: with the tag file set, every line has the tag."""
    digest = Digest.of_bytes(b"m")
    refs = [Reference.parse("localhost:5000/app:v2"), Reference.parse("docker.io/team/tool")]
    names = tmp_path / "names" if name_file else None
    tags = tmp_path / "tags" if tag_file else None
    write_image_name_files(str(names) if names else None, str(tags) if tags else None, refs, digest)
    expected = (
        f"localhost:5000/app:v2@{digest}\nindex.docker.io/team/tool:latest@{digest}\n"
        if tagged
        else f"localhost:5000/app@{digest}\nindex.docker.io/team/tool@{digest}\n"
    )
    for path in (names, tags):
        if path is not None:
            assert path.read_text() == expected
    with pytest.raises(KilnError, match="need a destination"):
        write_image_name_files(str(tmp_path / "x"), None, [], digest)


def test_digest_file_put_to_http_endpoint(tmp_path: Path) -> None:
    """kaniko PUTs --digest-file to an http(s) URL; a loopback server records the body."""
    import http.server
    import threading

    received: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            assert self.headers["Content-Type"] == "text/plain"
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(201 if self.path == "/ok" else 403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        digest = Digest.of_bytes(b"m")
        base = f"http://127.0.0.1:{server.server_address[1]}"
        write_digest_file(f"{base}/ok", digest)
        assert received == [str(digest).encode()]
        with pytest.raises(KilnError, match="HTTP 403"):
            write_digest_file(f"{base}/denied?token=secret", digest)
    finally:
        server.shutdown()
        server.server_close()


def test_docker_tarball_refuses_corrupted_layer_and_leaves_nothing(tmp_path: Path) -> None:
    img = _image(tmp_path, docker=True)
    layer = img.layers()[1]
    assert isinstance(layer, FileLayer)
    data = bytearray(layer.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    layer.path.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DigestMismatch):
        write_docker_tarball(out / "image.tar", img, ["app:1"])
    assert list(out.iterdir()) == []


def test_docker_tarball_refuses_truncated_layer(tmp_path: Path) -> None:
    img = _image(tmp_path, docker=True)
    layer = img.layers()[0]
    assert isinstance(layer, FileLayer)
    layer.path.write_bytes(layer.path.read_bytes()[:-5])
    with pytest.raises(KilnError, match="shorter"):
        write_docker_tarball(tmp_path / "image.tar", img, ["app:1"])
    assert not (tmp_path / "image.tar").exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("app", "app:latest"),
        ("app:1", "app:1"),
        ("localhost:5000/team/app", "localhost:5000/team/app:latest"),
        (Reference.parse("busybox"), "busybox:latest"),
        (Reference.parse("docker.io/library/busybox:1.36"), "busybox:1.36"),
        (Reference.parse("localhost:5000/a/b@sha256:" + "a" * 64), "localhost:5000/a/b:latest"),
    ],
)
def test_repo_tags_are_docker_load_names(given: str | Reference, expected: str) -> None:
    assert repo_tag(given) == expected


def test_repo_tag_refuses_digest_string() -> None:
    with pytest.raises(KilnError, match="give a tag"):
        repo_tag("app@sha256:" + "a" * 64)


def test_docker_tarball_round_trips_through_skopeo_to_oci(tmp_path: Path) -> None:
    """docker-archive -> skopeo -> OCI layout: the layers and config kiln wrote come out unchanged."""
    img = _image(tmp_path, docker=True)
    tar_path = tmp_path / "image.tar"
    write_docker_tarball(tar_path, img, [Reference.parse("localhost:5000/app:2")])
    out = tmp_path / "copied"
    _run("skopeo", "copy", f"docker-archive:{tar_path}", f"oci:{out}:copied")
    back = Layout(out).open_image(ref_name="copied")
    assert back.config().rootfs_diff_ids == img.config().rootfs_diff_ids
    with back.layers()[1].open_uncompressed() as f, tarfile.open(fileobj=f, mode="r|") as tar:
        member = tar.next()
        assert member is not None and member.name == "etc/motd"


def test_docker_tarball_lists_each_tag_once(tmp_path: Path) -> None:
    img = _image(tmp_path, docker=True)
    tar_path = tmp_path / "image.tar"
    refs = [Reference.parse("busybox"), Reference.parse("docker.io/library/busybox:latest"), "app:1"]
    write_docker_tarball(tar_path, img, refs)
    with tarfile.open(tar_path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        repositories = json.load(tar.extractfile("repositories"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["busybox:latest", "app:1"]
    assert set(repositories) == {"busybox", "app"}
