"""COPY of a directory tree deeper than Python's recursion limit (a RUN or a base layer can make one)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kiln.build.steps.copy import Copier

DEPTH = 1500  # past the recursion limit (1000), short of PATH_MAX for the host paths


def test_copy_of_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    """Regression: Copier.copy recursed once per level and the build ended in 'internal error: RecursionError'."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    dst.mkdir()
    try:
        bottom = src
        src.mkdir()
        for _ in range(DEPTH):  # not mkdir(parents=True): pathlib recurses once per missing level
            bottom = bottom / "d"
            bottom.mkdir()
        (bottom / "f").write_text("deep\n")
        os.utime(src / "d", ns=(0, 1_000_000_000))
        os.chmod(src / "d", 0o750)
        Copier(root=dst, owner=None, keep_owner=True, mode=None).copy(src / "d", "/d")
        copied = dst.joinpath(*["d"] * DEPTH)
        assert (copied / "f").read_text() == "deep\n"
        top = (dst / "d").stat()
        # The top directory's mode and times are set after its children were copied into it.
        assert (top.st_mode & 0o777, top.st_mtime_ns) == (0o750, 1_000_000_000)
    finally:  # pytest's own tmp cleanup (shutil.rmtree) cannot delete trees this deep
        subprocess.run(["rm", "-rf", str(src), str(dst)], check=False)
