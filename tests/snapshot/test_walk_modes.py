"""What each walk mode counts as a change, deletions under replaced paths, and one snapshot for many steps."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from kiln.fs.ignore import IgnoreList
from kiln.fs.tarwriter import Add, Opaque, Whiteout
from kiln.fs.unpack import apply_layer
from kiln.snapshot.walk import WalkSnapshotter

IGNORE = IgnoreList.build()


def _tree(root: Path) -> None:
    (root / "dir").mkdir(parents=True)
    (root / "dir/a").write_bytes(b"a")
    (root / "file").write_bytes(b"content")


def _touch(path: Path) -> None:
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


@pytest.mark.parametrize("mode", ["full", "redo", "time"])
def test_touch_of_a_file_with_known_content(tmp_path: Path, mode: str) -> None:
    _tree(tmp_path)
    snap = WalkSnapshotter(tmp_path, IGNORE, mode=mode)  # type: ignore[arg-type]
    snap.start()
    (tmp_path / "mine").write_bytes(b"written by step 1")
    assert [e.path for e in snap.changes()] == ["/mine"]
    _touch(tmp_path / "mine")
    paths = [e.path for e in snap.changes()]
    # full compares content it hashed in the previous snapshot; redo and time trust the mtime
    assert paths == ([] if mode == "full" else ["/mine"])


def test_time_mode_misses_a_chmod_but_redo_sees_it(tmp_path: Path) -> None:
    _tree(tmp_path)
    seen = {}
    for mode in ("time", "redo"):
        snap = WalkSnapshotter(tmp_path, IGNORE, mode=mode)  # type: ignore[arg-type]
        snap.start()
        os.chmod(tmp_path / "file", 0o600 if mode == "time" else 0o640)
        seen[mode] = [e.path for e in snap.changes()]
    assert seen == {"time": [], "redo": ["/file"]}


def test_full_mode_sees_same_size_content_change(tmp_path: Path) -> None:
    _tree(tmp_path)
    snap = WalkSnapshotter(tmp_path, IGNORE, mode="full")
    snap.start()
    (tmp_path / "file").write_bytes(b"CONTENT")
    assert [e.path for e in snap.changes()] == ["/file"]
    (tmp_path / "file").write_bytes(b"content")  # back to the first bytes, same size
    assert [e.path for e in snap.changes()] == ["/file"]


def test_dir_replaced_by_file_has_no_whiteouts_below_it(tmp_path: Path) -> None:
    _tree(tmp_path)
    snap = WalkSnapshotter(tmp_path, IGNORE, mode="redo")
    snap.start()
    shutil.rmtree(tmp_path / "dir")
    (tmp_path / "dir").write_bytes(b"now a file")
    assert snap.changes() == [Add("/dir", tmp_path / "dir")]


def test_recreated_dir_hides_what_it_held(tmp_path: Path) -> None:
    """Opaque when the new directory has a new inode; ext4 may hand back the same inode, then whiteouts."""
    root = tmp_path / "root"
    _tree(root)
    snap = WalkSnapshotter(root, IGNORE, mode="redo")
    snap.start()
    shutil.rmtree(root / "dir")
    (root / "dir/sub").mkdir(parents=True)
    (root / "dir/sub/b").write_bytes(b"b")
    entries = snap.changes()
    assert (Opaque("/dir") in entries) != (Whiteout("/dir/a") in entries)
    assert {"/dir/sub", "/dir/sub/b"} <= {e.path for e in entries if isinstance(e, Add)}
    layer = snap.take(tmp_path / "unused.tar")
    assert layer is None  # changes() already recorded them as seen
    fresh = tmp_path / "fresh"
    _tree(fresh)
    from kiln.fs.tarwriter import write_layer

    written = write_layer(entries, tmp_path / "l.tar", compression="none")
    with open(written.path, "rb") as f:
        apply_layer(fresh, f)
    assert sorted(os.listdir(fresh / "dir")) == ["sub"] and (fresh / "dir/sub/b").read_bytes() == b"b"


def test_single_snapshot_after_many_steps(tmp_path: Path) -> None:
    """``--single-snapshot``: take once at the end; the layer holds the net result of every step."""
    root = tmp_path / "root"
    _tree(root)
    snap = WalkSnapshotter(root, IGNORE, mode="redo")
    snap.start()
    (root / "tmpfile").write_bytes(b"made by step 1")
    (root / "tmpfile").unlink()  # ... and removed by step 2: no trace in the layer
    (root / "kept").write_bytes(b"step 3")
    (root / "dir/a").unlink()
    layer = snap.take(tmp_path / "layer.tar")
    assert layer is not None
    with tarfile.open(layer.path) as tar:
        assert sorted(tar.getnames()) == ["dir", "dir/.wh.a", "kept"]
    fresh = tmp_path / "fresh"
    _tree(fresh)
    with open(layer.path, "rb") as f:
        apply_layer(fresh, io.BytesIO(f.read()))
    assert sorted(os.listdir(fresh)) == ["dir", "file", "kept"] and os.listdir(fresh / "dir") == []


def _rewrite_keeping_mtime(path: Path, data: bytes) -> None:
    st = os.stat(path)
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_mode_override_for_one_snapshot(tmp_path: Path) -> None:
    """--use-new-run: after RUN only mtimes count (kaniko's caveat: a rewrite keeping the mtime is missed)."""
    _tree(tmp_path)
    snap = WalkSnapshotter(tmp_path, IGNORE, mode="full")
    snap.start()
    _rewrite_keeping_mtime(tmp_path / "file", b"longer content")
    (tmp_path / "new").write_bytes(b"n")
    (tmp_path / "dir/a").unlink()
    entries = snap.changes("time")
    assert sorted((type(e).__name__, e.path) for e in entries) == [
        ("Add", "/dir"),  # its mtime moved with the deletion
        ("Add", "/new"),
        ("Whiteout", "/dir/a"),
    ]
    _rewrite_keeping_mtime(tmp_path / "file", b"longer content, again")
    assert [e.path for e in snap.changes()] == ["/file"]  # the snapshotter's own mode is back


def test_a_full_snapshot_after_a_time_one_does_not_trust_stale_hashes(tmp_path: Path) -> None:
    _tree(tmp_path)
    snap = WalkSnapshotter(tmp_path, IGNORE, mode="full")
    snap.start()
    (tmp_path / "mine").write_bytes(b"one")
    assert [e.path for e in snap.changes()] == ["/mine"]  # full: its hash is recorded
    (tmp_path / "mine").write_bytes(b"two")
    _touch(tmp_path / "mine")
    assert [e.path for e in snap.changes("time")] == ["/mine"]
    st = os.stat(tmp_path / "mine")
    (tmp_path / "mine").write_bytes(b"one")  # back to the first content: only a fresh hash can tell
    os.utime(tmp_path / "mine", ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))
    assert [e.path for e in snap.changes()] == ["/mine"]
