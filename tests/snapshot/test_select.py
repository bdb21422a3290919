"""Snapshotter choice and the overlay's final tree after close()."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiln.errors import UsageError
from kiln.fs.ignore import IgnoreList
from kiln.snapshot.overlay import OverlaySnapshotter, overlay_supported
from kiln.snapshot.select import open_snapshotter
from kiln.snapshot.walk import WalkSnapshotter

IGNORE = IgnoreList.build()


def test_walk_when_asked_and_bad_mode_refused(tmp_path: Path) -> None:
    snap = open_snapshotter(tmp_path, tmp_path / "s", IGNORE, kind="walk", mode="time")
    assert isinstance(snap, WalkSnapshotter) and snap.mode == "time" and snap.root == tmp_path
    with pytest.raises(UsageError, match="snapshot-mode"):
        open_snapshotter(tmp_path, tmp_path / "s", IGNORE, mode="fast")


@pytest.mark.privileged
def test_auto_picks_overlay_as_root_and_close_keeps_untaken_changes(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not overlay_supported(tmp_path / "p"):
        pytest.skip("overlayfs cannot be mounted here")
    base = tmp_path / "base"
    base.mkdir()
    (base / "old").write_bytes(b"old")
    snap = open_snapshotter(base, tmp_path / "scratch", IGNORE)
    assert isinstance(snap, OverlaySnapshotter)
    snap.start()
    try:
        (snap.root / "new").write_bytes(b"new")
        (snap.root / "old").unlink()
        assert not (base / "new").exists()  # the lower dir is untouched while mounted
    finally:
        snap.close()
    assert sorted(os.listdir(base)) == ["new"]


@pytest.mark.privileged
def test_a_directory_only_copied_up_is_no_change_whatever_xattrs_the_layer_leaves_out(tmp_path: Path) -> None:
    """A directory copied up because a file inside came and went, whose only difference from the base is an
    xattr layers never carry (``user.overlay.*``, overlayfs' bookkeeping), makes no layer entry."""
    if os.geteuid() != 0 or not overlay_supported(tmp_path / "p"):
        pytest.skip("overlayfs cannot be mounted here")
    base = tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    snap = OverlaySnapshotter(base, tmp_path / "scratch", IGNORE)
    snap.start()
    try:
        stamp = os.stat(snap.root / "etc").st_mtime_ns
        (snap.root / "etc" / "stub").write_bytes(b"")  # as the sandbox's hosts/resolv.conf stubs
        (snap.root / "etc" / "stub").unlink()
        os.utime(snap.root / "etc", ns=(stamp, stamp))
        os.setxattr(tmp_path / "scratch" / "upper" / "etc", "user.overlay.kiln-test", b"1")
        assert [e.path for e in snap.changes()] == []
    finally:
        snap.close()
