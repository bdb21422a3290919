"""kiln's layers are plain tars to GNU tar, and GNU tar's layers unpack the same with kiln."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from kiln.fs.tarwriter import Add, Whiteout, write_layer
from kiln.fs.unpack import apply_layer

pytestmark = pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar not installed")


def _tree(root: Path) -> list[Add]:
    (root / "dir/sub").mkdir(parents=True)
    (root / "dir/sub/file").write_bytes(b"data" * 1000)
    (root / ("long-" + "n" * 150)).write_bytes(b"long name needs PAX")
    (root / "ünïcode").write_bytes(b"utf-8 name")
    os.symlink("dir/sub/file", root / "link")
    os.link(root / "dir/sub/file", root / "hard")
    os.chmod(root / "dir", 0o2750)
    paths = ["/dir", "/dir/sub", "/dir/sub/file", "/long-" + "n" * 150, "/ünïcode", "/link", "/hard"]
    return [Add(p, root / p.lstrip("/")) for p in paths]


def _describe(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = os.lstat(p)
            body = p.read_bytes() if stat.S_ISREG(st.st_mode) else os.readlink(p) if p.is_symlink() else None
            out[str(p.relative_to(root))] = (st.st_mode, st.st_nlink, body)
    return out


def test_gnu_tar_reads_kiln_layers_as_kiln_does(tmp_path: Path) -> None:
    src = tmp_path / "src"
    entries = _tree(src)
    layer = write_layer([*entries, Whiteout("/gone")], tmp_path / "l.tar.gz", mtime=0)
    listing = subprocess.run(["tar", "-tzf", str(layer.path)], capture_output=True, text=True, check=True)
    assert listing.stdout.splitlines()[0] == ".wh.gone"  # sorted: '.' before letters
    by_tar, by_kiln = tmp_path / "t", tmp_path / "k"
    by_tar.mkdir()
    by_kiln.mkdir()
    subprocess.run(["tar", "-xzf", str(layer.path), "-C", str(by_tar)], check=True)
    with open(layer.path, "rb") as f:
        apply_layer(by_kiln, f)
    (by_tar / ".wh.gone").unlink()  # GNU tar knows no whiteouts: it made a plain empty file
    assert _describe(by_tar) == _describe(by_kiln)
    assert os.stat(by_kiln / "hard").st_ino == os.stat(by_kiln / "dir/sub/file").st_ino


def test_kiln_unpacks_gnu_tar_output(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    blob = tmp_path / "gnu.tar.gz"
    subprocess.run(["tar", "-czf", str(blob), "-C", str(src), "."], check=True)
    out = tmp_path / "out"
    out.mkdir()
    with open(blob, "rb") as f:
        apply_layer(out, f)
    assert _describe(out) == _describe(src)
