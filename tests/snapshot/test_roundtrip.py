"""Snapshot -> layer -> apply onto a fresh base gives the same tree, for both snapshotters."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiln.fs.ignore import IgnoreList
from kiln.fs.tarwriter import Add, write_layer
from kiln.fs.unpack import apply_layer
from kiln.snapshot.base import Snapshotter
from kiln.snapshot.overlay import OverlaySnapshotter, overlay_supported
from kiln.snapshot.walk import WalkSnapshotter

IGNORE = IgnoreList.build(ignore_var_run=True)


def _add(
    tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: object
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def base_tar() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in (
            "bin",
            "etc",
            "data",
            "data/sub",
            "olddir",
            "olddir/inner",
            "replace",
            "var/run",
            "var/cache",
        ):
            _add(tar, d, tarfile.DIRTYPE)
        _add(tar, "bin/tool", data=b"tool v1", mode=0o755)
        _add(tar, "etc/config", data=b"a=1\n")
        _add(tar, "etc/owned", data=b"o")
        _add(tar, "data/delete-me", data=b"bye")
        _add(tar, "data/sub/f", data=b"f")
        _add(tar, "olddir/inner/x", data=b"x")
        _add(tar, "replace/y", data=b"y")
        _add(tar, "link", tarfile.SYMTYPE, linkname="etc/config")
        _add(tar, "var/run/pid", data=b"1")
        _add(tar, "var/cache/c", data=b"c")
    return raw.getvalue()


def make_changes(root: Path) -> None:
    (root / "new-file").write_bytes(b"new")  # add
    (root / "bin/tool").write_bytes(b"tool v2 longer")  # modify
    os.chmod(root / "etc/config", 0o600)  # chmod
    os.chown(root / "etc/owned", 1234, 5678)  # chown
    os.chmod(root / "bin/tool", 0o4755)  # setuid
    (root / "data/delete-me").unlink()  # delete file
    shutil.rmtree(root / "olddir")  # delete dir
    shutil.rmtree(root / "replace")  # replace dir: deleted and made again
    (root / "replace").mkdir()
    (root / "replace/z").write_bytes(b"z")
    (root / "link").unlink()  # symlink retarget
    os.symlink("bin/tool", root / "link")
    os.link(root / "new-file", root / "hard")  # hardlink
    (root / "name with spaces ü").write_bytes(b"unicode")
    os.makedirs(root / "deep/a/b/c")
    (root / "deep/a/b/c/leaf").write_bytes(b"leaf")
    os.setxattr(root / "new-file", "user.note", b"kept")
    (root / "var/run/ignored").write_bytes(b"not in layers")


def describe(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if rel.startswith("var/run"):
                continue
            st = os.lstat(p)
            content: object = None
            if stat.S_ISREG(st.st_mode):
                content = Path(p).read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            xattrs = tuple(
                sorted(
                    (k, os.getxattr(p, k, follow_symlinks=False))
                    for k in os.listxattr(p, follow_symlinks=False)
                    if k.startswith("user.")
                )
            )
            out[rel] = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode) | (st.st_mode & 0o7000),
                st.st_uid,
                st.st_gid,
                content,
                xattrs,
            )
    return out


def _walk(base: Path, scratch: Path) -> Snapshotter:
    return WalkSnapshotter(base, IGNORE, mode="redo")


def _overlay(base: Path, scratch: Path) -> Snapshotter:
    if os.geteuid() != 0 or not overlay_supported(scratch / "probe"):
        pytest.skip("overlayfs cannot be mounted here")
    return OverlaySnapshotter(base, scratch / "ovl", IGNORE)


@pytest.fixture(params=["walk", "overlay"])
def snapshotter_factory(request: pytest.FixtureRequest) -> Iterator[Callable[[Path, Path], Snapshotter]]:
    yield _walk if request.param == "walk" else _overlay


@pytest.mark.privileged
def test_round_trip(tmp_path: Path, snapshotter_factory: Callable[[Path, Path], Snapshotter]) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    base = tmp_path / "base"
    base.mkdir()
    apply_layer(base, io.BytesIO(base_tar()))
    snap = snapshotter_factory(base, tmp_path)
    snap.start()
    try:
        make_changes(snap.root)
        expected = describe(snap.root)
        layer = snap.take(tmp_path / "layer.tar.gz")
        assert layer is not None
        after_fold = describe(snap.root)
        assert snap.take(tmp_path / "empty.tar.gz") is None  # nothing changed since
    finally:
        snap.close()
    assert after_fold == expected
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    apply_layer(fresh, io.BytesIO(base_tar()))
    with open(layer.path, "rb") as f:
        apply_layer(fresh, f)
    assert describe(fresh) == expected
    with tarfile.open(layer.path) as tar:
        names = tar.getnames()
    assert not any(n.startswith("var/run") for n in names)
    assert "data/.wh.delete-me" in names and ".wh.olddir" in names
    # the walk sees a recreated dir by its new inode; ext4 may reuse the inode, then a whiteout says it
    assert "replace/.wh..wh..opq" in names or "replace/.wh.y" in names
    assert os.stat(fresh / "hard").st_ino == os.stat(fresh / "new-file").st_ino


def test_walk_only_reports_what_changed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for i in range(50):
        (root / f"f{i}").write_bytes(b"x")
    snap = WalkSnapshotter(root, IGNORE, mode="full")
    snap.start()
    (root / "f3").write_bytes(b"changed")
    (root / "added").write_bytes(b"new")
    paths = sorted(e.path for e in snap.changes())
    assert paths == ["/added", "/f3"]
    assert snap.changes() == []


def test_layers_are_reproducible(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(200):
        (src / f"file{i}").write_bytes(os.urandom(64) * (i + 1) if i % 2 else b"same" * 1000)
    entries = [Add("/" + p.name, p) for p in src.iterdir()]
    digests = set()
    for threads in (1, 2, 4):
        layer = write_layer(list(reversed(entries)), tmp_path / f"l{threads}.gz", mtime=0, threads=threads)
        digests.add((layer.digest, layer.diff_id))
    assert len(digests) == 1
    zst = write_layer(entries, tmp_path / "l.zst", compression="zstd", mtime=0)
    again = write_layer(entries, tmp_path / "l2.zst", compression="zstd", mtime=0)
    assert zst.digest == again.digest and zst.diff_id == next(iter(digests))[1]


def test_ignore_list_globs_and_mounts() -> None:
    from kiln.fs.ignore import mount_points

    info = "22 1 0:21 / /proc rw - proc proc rw\n23 1 0:22 / /work/root/proc rw - proc proc rw\n"
    assert mount_points(info, "/work/root") == ("/proc",)
    ig = IgnoreList.build(extra=["/opt/*/cache"], ignore_var_run=False)
    assert ig.ignored("/opt/app/cache/x") and not ig.ignored("/opt/app/data")
    assert ig.ignored("/proc/1") and not ig.ignored("/var/run/x")


def _mounted_overlay(tmp_path: Path) -> tuple[Path, OverlaySnapshotter]:
    base = tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    os.utime(base / "etc", ns=(0, 0))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    if os.geteuid() != 0 or not overlay_supported(scratch / "probe"):
        pytest.skip("overlayfs needs root here")
    snap = OverlaySnapshotter(base, scratch / "ovl", IGNORE)
    snap.start()
    return snap.root, snap


def test_overlay_drops_a_directory_only_copied_up(tmp_path: Path) -> None:
    """A file made and removed (the sandbox's /etc/hosts stub) with the mtime put back is no change."""
    root, snap = _mounted_overlay(tmp_path)
    try:
        (root / "etc" / "hosts").write_text("stub")
        (root / "etc" / "hosts").unlink()
        os.utime(root / "etc", ns=(0, 0))
        assert snap.changes() == []
        (root / "etc" / "hosts").write_text("stub")
        (root / "etc" / "hosts").unlink()  # the mtime moved this time: a real change of /etc
        assert [e.path for e in snap.changes()] == ["/etc"]
    finally:
        snap.close()


def test_overlay_keeps_a_copied_up_directory_with_changes(tmp_path: Path) -> None:
    root, snap = _mounted_overlay(tmp_path)
    try:
        (root / "etc" / "new").write_text("n")
        os.utime(root / "etc", ns=(0, 0))
        assert sorted(e.path for e in snap.changes()) == ["/etc", "/etc/new"]
        os.chmod(root / "etc", 0o700)
        os.utime(root / "etc", ns=(0, 0))
        assert "/etc" in [e.path for e in snap.changes()]
    finally:
        snap.close()
