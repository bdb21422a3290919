"""Emptying a root but for the ignore list (inplace builds between stages), and unpacking around it."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from kiln.fs.clear import clear_root
from kiln.fs.ignore import IgnoreList
from kiln.fs.unpack import UnpackOptions, apply_layer


def populate(root: Path) -> None:
    for rel in ("keep/a", "work/x/y", "etc/hosts", "etc/passwd", "usr/bin/tool", "var/run/secrets/tok",
                "var/lib/db", "top"):  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    os.symlink("/work", root / "link-to-work")


IGNORE = IgnoreList.build(["/keep", "/work", "/etc/hosts", "/var/run/secrets"], ignore_var_run=False)


def listing(root: Path) -> set[str]:
    return {
        os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files
    }


def test_clear_keeps_ignored_paths_and_their_parents(tmp_path: Path) -> None:
    populate(tmp_path)
    clear_root(str(tmp_path), IGNORE)
    assert listing(tmp_path) == {
        "keep", "keep/a", "work", "work/x", "work/x/y", "etc", "etc/hosts", "var", "var/run",
        "var/run/secrets", "var/run/secrets/tok",
    }  # fmt: skip
    assert (tmp_path / "work/x/y").read_text() == "work/x/y"  # a symlink to a kept dir goes, not its target


def test_guards_reports_ancestors_only() -> None:
    assert IGNORE.guards("/")
    assert IGNORE.guards("/var") and IGNORE.guards("/var/run")
    assert not IGNORE.guards("/var/lib")
    assert not IGNORE.guards("/work")  # the ignored path itself is kept whole, not guarded
    globbed = IgnoreList.build(["/data/*/cache"], ignore_var_run=False)
    assert globbed.guards("/data") and globbed.guards("/data/x")
    assert not globbed.guards("/other")


def layer(*entries: tuple[str, bytes]) -> io.BytesIO:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755
            data = b"from-layer"
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    raw.seek(0)
    return raw


def test_unpack_with_skip_leaves_ignored_paths_alone(tmp_path: Path) -> None:
    populate(tmp_path)
    stream = layer(
        ("etc/hosts", tarfile.REGTYPE),  # the runtime's file stays
        ("etc/.wh.passwd", tarfile.REGTYPE),  # a whiteout of a normal file applies
        ("var/.wh..wh..opq", tarfile.REGTYPE),  # an opaque dir spares ignored descendants
        ("var/new", tarfile.REGTYPE),
        (".wh.work", tarfile.REGTYPE),  # a whiteout of an ignored dir is skipped
        ("keep/b", tarfile.REGTYPE),  # entries below an ignored path are skipped
        ("usr/bin/tool", tarfile.REGTYPE),
    )
    apply_layer(tmp_path, stream, options=UnpackOptions(skip=IGNORE))
    assert (tmp_path / "etc/hosts").read_text() == "etc/hosts"
    assert not (tmp_path / "etc/passwd").exists()
    assert not (tmp_path / "var/lib").exists()
    assert (tmp_path / "var/run/secrets/tok").read_text() == "var/run/secrets/tok"
    assert (tmp_path / "var/new").read_text() == "from-layer"
    assert (tmp_path / "work/x/y").exists()
    assert not (tmp_path / "keep/b").exists()
    assert (tmp_path / "usr/bin/tool").read_text() == "from-layer"


def test_unpack_without_skip_applies_everything(tmp_path: Path) -> None:
    populate(tmp_path)
    apply_layer(tmp_path, layer(("etc/hosts", tarfile.REGTYPE), (".wh.work", tarfile.REGTYPE)))
    assert (tmp_path / "etc/hosts").read_text() == "from-layer"
    assert not (tmp_path / "work").exists()


def _deep_tree(top: Path, depth: int) -> None:
    """``top/d/d/.../d/f`` ``depth`` levels down, made relative to an fd (the path exceeds PATH_MAX)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            deeper = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        os.close(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)


def test_clear_removes_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "keep").mkdir()
    _deep_tree(root / "deep", 1500)  # shutil.rmtree raised RecursionError here
    clear_root(os.fspath(root), IgnoreList(("/keep",)))
    assert sorted(os.listdir(root)) == ["keep"]


def test_a_whiteout_removes_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _deep_tree(root / "deep", 1500)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.addfile(tarfile.TarInfo(".wh.deep"), io.BytesIO(b""))
    raw.seek(0)
    apply_layer(root, raw)
    assert os.listdir(root) == []
