"""Why kiln's end-of-build cleanup is slow on some hosts: files written through the overlay snapshotter.

``python bench/overlay_unlink_probe.py [--files 2000]`` (root): writes ``--files`` small files through an
``OverlaySnapshotter`` mount (as a RUN step does), closes it (changes folded into the base), then unlinks
half of them as they are and the other half after copying each to a fresh inode, and prints the cost per
unlink of each. On the benchmark host (ext4 with ``discard``, Linux 6.18) the first costs ~1-2 ms a file and
the second ~30 us, which is what makes ``shutil.rmtree`` of the build's work dir take most of a 10k-file
build (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from kiln.fs.ignore import IgnoreList
from kiln.snapshot.overlay import OverlaySnapshotter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kiln-unlink-probe-"))
    try:
        base = work / "base"
        base.mkdir()
        snap = OverlaySnapshotter(base, work / "scratch", IgnoreList(()))
        snap.start()
        script = f'mkdir d; i=0; while [ $i -lt {args.files} ]; do echo "hello $i" > d/f$i; i=$((i+1)); done'
        subprocess.run(["sh", "-c", script], cwd=snap.root, check=True)
        snap.close()
        names = sorted(os.listdir(base / "d"))
        half = len(names) // 2
        start = time.perf_counter()
        for name in names[:half]:
            os.unlink(base / "d" / name)
        through_overlay = (time.perf_counter() - start) / half
        for name in names[half:]:
            shutil.copy2(base / "d" / name, base / "d" / f"{name}.copy")
            os.unlink(base / "d" / name)
        start = time.perf_counter()
        for name in names[half:]:
            os.unlink(base / "d" / f"{name}.copy")
        fresh = (time.perf_counter() - start) / (len(names) - half)
        print(f"unlink of a file written through overlayfs: {through_overlay * 1e6:.0f} us")
        print(f"unlink of a fresh copy of it:               {fresh * 1e6:.0f} us")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
