"""Defects the tar fuzzing found in kiln.fs, pinned by the smallest reproduction.

1. A layer entry nested ~1000 directories deep took minutes to apply: ``mkparents`` resolved every parent
   component from the root again, and ``resolve`` re-joined the whole path at every step (O(depth^3) in Python).
   A hostile base image could stall a build with a single entry. The guard below is a hang limit, not a
   benchmark: the fixed code needs well under a second, the old code several minutes.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from kiln.fs.unpack import apply_layer
from reliability.fuzzing import remove_tree, time_limit


def test_a_very_deep_entry_unpacks_without_stalling(tmp_path: Path) -> None:
    out = io.BytesIO()
    name = "/".join(["d"] * 1000) + "/f"
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"ok"))
    (tmp_path / "root").mkdir()
    with time_limit(30):
        apply_layer(tmp_path / "root", io.BytesIO(out.getvalue()))
    assert (tmp_path / "root" / name).read_bytes() == b"ok"
    remove_tree(tmp_path / "root")


def test_deep_parents_through_a_symlink_stay_inside(tmp_path: Path) -> None:
    """The faster parent creation still resolves a symlinked parent inside the root."""
    outside = tmp_path / "outside"
    outside.mkdir()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        link = tarfile.TarInfo("a")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        tar.addfile(link)
        info = tarfile.TarInfo("a/b/c/f")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    root = tmp_path / "root"
    root.mkdir()
    apply_layer(root, io.BytesIO(out.getvalue()))
    assert list(outside.iterdir()) == []
    assert (root / str(outside).lstrip("/") / "b/c/f").read_bytes() == b"x"
