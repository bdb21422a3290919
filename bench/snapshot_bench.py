"""Snapshot cost after a step that creates one file in a rootfs of N files (default 100k).

Run as root for the overlay figure: ``python bench/snapshot_bench.py [--files 100000] [--dir /var/tmp]``.
Targets from issue 4 on the 2-core build machine: overlay < 0.1 s, walk (redo) < 3 s.
Each snapshotter is measured ``--repeat`` times (one new file per round) and the best and median
are printed; the first walk (``start``: the index of the base) is printed separately because it is paid
once per stage, not per step.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kiln.fs.ignore import IgnoreList
from kiln.snapshot.base import Snapshotter
from kiln.snapshot.overlay import OverlaySnapshotter, overlay_supported
from kiln.snapshot.walk import WalkSnapshotter


def make_rootfs(root: Path, files: int, per_dir: int = 100) -> None:
    """``files`` small files spread over directories two levels deep, like a distro rootfs."""
    payload = b"#!/bin/sh\necho kiln\n"
    made = 0
    d = 0
    while made < files:
        directory = root / f"usr{d % 10}" / f"pkg{d}"
        directory.mkdir(parents=True, exist_ok=True)
        for i in range(min(per_dir, files - made)):
            with open(directory / f"file{i}", "wb") as f:
                f.write(payload)
        made += per_dir
        d += 1


def measure(snap: Snapshotter, out: Path, repeat: int) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    snap.start()
    start = time.perf_counter() - t0
    rounds = []
    for i in range(repeat):
        (snap.root / f"step-{i}").write_bytes(b"one new file\n")
        t0 = time.perf_counter()
        layer = snap.take(out / f"layer{i}.tar.gz")
        rounds.append(time.perf_counter() - t0)
        assert layer is not None and layer.entries >= 1, "the new file must be in the layer"
    snap.close()
    return start, rounds


def report(name: str, start: float, rounds: list[float]) -> None:
    print(
        f"{name:<14} start {start:7.3f} s   snapshot best {min(rounds):7.3f} s"
        f"   median {statistics.median(rounds):7.3f} s   ({len(rounds)} rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to build the rootfs (a real disk, not tmpfs)")
    parser.add_argument("--modes", default="overlay,redo,time,full")
    args = parser.parse_args()
    ignore = IgnoreList.build()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="kiln-snapbench-") as tmp:
        work = Path(tmp)
        template = work / "template"
        t0 = time.perf_counter()
        make_rootfs(template, args.files)
        print(f"rootfs: {args.files} files in {time.perf_counter() - t0:.1f} s at {template}")
        print(f"cpus: {os.cpu_count()}")
        factories: dict[str, Callable[[Path, Path], Snapshotter]] = {
            "overlay": lambda base, scratch: OverlaySnapshotter(base, scratch, ignore),
            "redo": lambda base, scratch: WalkSnapshotter(base, ignore, mode="redo"),
            "time": lambda base, scratch: WalkSnapshotter(base, ignore, mode="time"),
            "full": lambda base, scratch: WalkSnapshotter(base, ignore, mode="full"),
        }
        for name in args.modes.split(","):
            if name == "overlay" and (os.geteuid() != 0 or not overlay_supported(work / "probe")):
                print("overlay        skipped: overlayfs cannot be mounted here (needs root)")
                continue
            base = work / f"base-{name}"
            shutil.copytree(template, base, symlinks=True)
            out = work / f"out-{name}"
            out.mkdir()
            start, rounds = measure(factories[name](base, work / f"scratch-{name}"), out, args.repeat)
            report(f"{name}", start, rounds)
            shutil.rmtree(base)


if __name__ == "__main__":
    main()
