"""CPU cost of one overlay snapshot of N new files: ``changes``, ``write_layer`` and the fold, separately.

``python bench/take_bench.py [--files 100000] [--dir /var/tmp]`` (root: it mounts overlayfs): writes N small
files into an ``OverlaySnapshotter``'s mount (from Python, so the writing is not what is measured), then
times ``changes()``, ``write_layer`` (gzip, fixed mtime so the digest is comparable between versions) and
the fold with ``time.process_time`` (CPU of this process and its compression threads: steadier than wall
time on a shared machine), and prints the layer's digests and the peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from kiln.fs.ignore import IgnoreList
from kiln.fs.tarwriter import write_layer
from kiln.snapshot.overlay import OverlaySnapshotter


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kiln-takebench-", dir=args.dir))
    try:
        base = work / "base"
        base.mkdir()
        snap = OverlaySnapshotter(base, work / "scratch", IgnoreList(()))
        snap.start()
        target = snap.root / "workdir"
        target.mkdir()
        for i in range(args.files):
            (target / f"file{i}").write_text(f"hello {i}\n")
        cpu = time.process_time
        t0 = cpu()
        entries = snap.changes()
        t1 = cpu()
        layer = write_layer(entries, work / "layer.tgz", mtime=0)
        t2 = cpu()
        snap._fold()
        t3 = cpu()
        snap.close()
        print(
            f"{args.files} files: changes {t1 - t0:.2f} s, write_layer {t2 - t1:.2f} s, fold {t3 - t2:.2f} s (CPU)"
        )
        print(f"diff_id {layer.diff_id}  digest {layer.digest}")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
