"""Unpacking layers: every entry type and whiteout, and hostile tars that must not write outside the root."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from kiln.errors import LayerError
from kiln.fs.safepath import clean, resolve
from kiln.fs.unpack import apply_layer

Builder = Callable[[tarfile.TarFile], None]


def make_tar(build: Builder) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return raw.getvalue()


def add(
    tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: object
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def tree_hash(top: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(top)):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            h.update(f"{p}:{st.st_mode}:{st.st_size}".encode())
            if stat.S_ISREG(st.st_mode):
                h.update(Path(p).read_bytes())
    return h.hexdigest()


def test_every_entry_type(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add(tar, "etc", tarfile.DIRTYPE, mode=0o755)
        add(tar, "etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n", uid=0, gid=0)
        add(tar, "bin/su", data=b"ELF", mode=0o4755, uid=0, gid=0)
        add(tar, "bin/sh", tarfile.SYMTYPE, linkname="busybox")
        add(tar, "bin/busybox", data=b"bb", mtime=1234567890, uid=1000, gid=1001)
        add(tar, "bin/hard", tarfile.LNKTYPE, linkname="bin/busybox")
        add(tar, "tmp", tarfile.DIRTYPE, mode=0o1777)
        add(tar, "dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
        add(tar, "run/fifo", tarfile.FIFOTYPE)
        info = tarfile.TarInfo("caps")
        info.size = 1
        info.pax_headers = {"SCHILY.xattr.user.kiln": "yes"}
        tar.addfile(info, io.BytesIO(b"x"))

    root = tmp_path / "root"
    root.mkdir()
    apply_layer(root, io.BytesIO(gzip.compress(make_tar(build))))
    assert (root / "etc/passwd").read_bytes().startswith(b"root:")
    assert stat.S_IMODE(os.stat(root / "bin/su").st_mode) == 0o4755
    assert os.readlink(root / "bin/sh") == "busybox"
    st = os.stat(root / "bin/busybox")
    assert (st.st_uid, st.st_gid, int(st.st_mtime)) == (1000, 1001, 1234567890)
    assert os.stat(root / "bin/hard").st_ino == st.st_ino
    assert stat.S_IMODE(os.stat(root / "tmp").st_mode) == 0o1777
    assert stat.S_ISFIFO(os.lstat(root / "run/fifo").st_mode)
    if os.geteuid() == 0:
        dev = os.lstat(root / "dev/null")
        assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1 and os.minor(dev.st_rdev) == 3
    assert os.getxattr(root / "caps", "user.kiln") == b"yes"


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress, lambda b: b])
def test_whiteouts_and_opaque_dirs(tmp_path: Path, compress: Callable[[bytes], bytes]) -> None:
    root = tmp_path / "root"
    root.mkdir()

    def base(tar: tarfile.TarFile) -> None:
        add(tar, "a/keep", data=b"1")
        add(tar, "a/gone", data=b"2")
        add(tar, "d/old1", data=b"3")
        add(tar, "d/sub/old2", data=b"4")
        add(tar, "x", tarfile.DIRTYPE)
        add(tar, "x/y", data=b"5")

    def top(tar: tarfile.TarFile) -> None:
        add(tar, "a/.wh.gone")
        add(tar, "d/new", data=b"6")
        add(tar, "d/.wh..wh..opq")
        add(tar, ".wh.x")
        add(tar, "x", data=b"now a file")

    apply_layer(root, io.BytesIO(compress(make_tar(base))))
    apply_layer(root, io.BytesIO(compress(make_tar(top))))
    assert sorted(os.listdir(root / "a")) == ["keep"]
    assert sorted(os.listdir(root / "d")) == ["new"]
    assert (root / "x").read_bytes() == b"now a file"


def _outside_untouched(tmp_path: Path, build: Builder, match: str | None) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("safe")
    before = tree_hash(outside)
    blob = io.BytesIO(make_tar(build))
    if match is None:
        apply_layer(root, blob)
    else:
        with pytest.raises(LayerError, match=match):
            apply_layer(root, blob)
    assert tree_hash(outside) == before
    assert (outside / "victim").read_text() == "safe"


def test_dotdot_name_is_refused(tmp_path: Path) -> None:
    _outside_untouched(
        tmp_path, lambda t: add(t, "../outside/victim", data=b"pwned"), r"'\.\./outside/victim'.*climbs"
    )


def test_absolute_name_is_refused(tmp_path: Path) -> None:
    target = str(tmp_path / "outside" / "victim")
    _outside_untouched(tmp_path, lambda t: add(t, target, data=b"pwned"), "absolute name")


def test_symlinked_parent_stays_inside(tmp_path: Path) -> None:
    outside = str(tmp_path / "outside")

    def build(tar: tarfile.TarFile) -> None:
        add(tar, "escape", tarfile.SYMTYPE, linkname=outside)
        add(tar, "escape/victim", data=b"pwned")
        add(tar, "rel", tarfile.SYMTYPE, linkname="../../../../../../..")
        add(tar, "rel/" + outside.lstrip("/") + "/victim2", data=b"pwned")

    _outside_untouched(tmp_path, build, None)
    root = tmp_path / "root"
    assert (root / outside.lstrip("/") / "victim").read_bytes() == b"pwned"  # landed inside the root


def test_hardlink_to_outside_is_refused(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add(tar, "h", tarfile.LNKTYPE, linkname="../outside/victim")

    _outside_untouched(tmp_path, build, "climbs")


def test_hardlink_through_symlink_stays_inside(tmp_path: Path) -> None:
    outside = str(tmp_path / "outside")

    def build(tar: tarfile.TarFile) -> None:
        add(tar, "s", tarfile.SYMTYPE, linkname=outside)
        add(tar, "h", tarfile.LNKTYPE, linkname="s/victim")

    _outside_untouched(tmp_path, build, "does not exist")


def test_symlink_then_file_replaces_link_not_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside"

    def build(tar: tarfile.TarFile) -> None:
        add(tar, "link", tarfile.SYMTYPE, linkname=str(outside / "victim"))
        add(tar, "link", data=b"replaced")

    _outside_untouched(tmp_path, build, None)
    assert (tmp_path / "root" / "link").read_bytes() == b"replaced"


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"\x1f\x8b\x08\x00garbage", "cannot unpack|malformed|corrupt|ends early"),
        (gzip.compress(b"x" * 700), "malformed"),
    ],
)
def test_garbage_is_a_layer_error(tmp_path: Path, blob: bytes, match: str) -> None:
    with pytest.raises(LayerError, match=match):
        apply_layer(tmp_path, io.BytesIO(blob))


def test_truncated_layer_is_an_error(tmp_path: Path) -> None:
    data = make_tar(lambda t: add(t, "big", data=b"y" * 100_000))
    with pytest.raises(LayerError):
        apply_layer(tmp_path, io.BytesIO(data[:5000]))


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/a/../../b", "/b"), ("a/./b/", "/a/b"), ("", "/"), ("/..", "/"), ("//x//y", "/x/y")],
)
def test_clean(path: str, expected: str) -> None:
    assert clean(path) == expected


def test_resolve_follows_links_inside_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink("/real", tmp_path / "abs")
    os.symlink("../../../real", tmp_path / "rel")
    os.symlink("loop", tmp_path / "loop")
    assert resolve(tmp_path, "/abs/f") == tmp_path / "real" / "f"
    assert resolve(tmp_path, "/rel/f") == tmp_path / "real" / "f"
    assert resolve(tmp_path, "/abs", follow_final=False) == tmp_path / "abs"
    with pytest.raises(Exception, match="too many levels"):
        resolve(tmp_path, "/loop/x")


def test_whiteout_and_opaque_through_symlinks_stay_inside(tmp_path: Path) -> None:
    outside = str(tmp_path / "outside")

    def build(tar: tarfile.TarFile) -> None:
        add(tar, "escape", tarfile.SYMTYPE, linkname=outside)
        add(tar, "escape/.wh.victim")
        add(tar, "escape/.wh..wh..opq")
        add(tar, "up", tarfile.SYMTYPE, linkname="../..")
        add(tar, "up/outside/.wh.victim")

    _outside_untouched(tmp_path, build, None)


def test_rewriting_a_hardlinked_name_does_not_change_the_other(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add(tar, "orig", data=b"original")
        add(tar, "alias", tarfile.LNKTYPE, linkname="orig")
        add(tar, "alias", data=b"replaced")
        add(tar, "dirlink", tarfile.SYMTYPE, linkname=str(tmp_path / "outside"))
        add(tar, "dirlink", tarfile.DIRTYPE)
        add(tar, "dirlink/victim", data=b"pwned")

    _outside_untouched(tmp_path, build, None)
    root = tmp_path / "root"
    assert (root / "orig").read_bytes() == b"original" and (root / "alias").read_bytes() == b"replaced"
    assert (root / "dirlink").is_dir() and not (root / "dirlink").is_symlink()


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress, lambda b: b])
def test_blob_digest_is_checked_past_the_tar_end(tmp_path: Path, compress: Callable[[bytes], bytes]) -> None:
    """A valid tar in a blob whose digest is wrong must fail, even though the tar ends before the blob."""
    from kiln.digest import Digest, VerifyingReader
    from kiln.errors import DigestMismatch

    blob = compress(make_tar(lambda t: add(t, "f", data=b"content")))
    wrong = Digest.of_bytes(blob + b"x")
    with pytest.raises(DigestMismatch):
        apply_layer(tmp_path, VerifyingReader(io.BytesIO(blob), wrong))  # type: ignore[arg-type]
    right = VerifyingReader(io.BytesIO(blob), Digest.of_bytes(blob), len(blob))
    (tmp_path / "ok").mkdir()
    apply_layer(tmp_path / "ok", right)  # type: ignore[arg-type]
    assert (tmp_path / "ok" / "f").read_bytes() == b"content"
