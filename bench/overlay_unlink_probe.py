"""Why deleting kiln's work dir was slow on the benchmark host: freed blocks, not overlayfs itself.

``python bench/overlay_unlink_probe.py [--files 3000]`` (root) writes ``--files`` small files with a shell
loop in four ways and times unlinking them, printing for each the cost per unlink and what the block device
did meanwhile (discard requests and the time the device spent on them, from /proc/diskstats):

- ``direct``: written straight into a directory, unlinked at once (data still delayed-allocated in memory);
- ``direct+sync``: the same, then ``syncfs`` before the unlinks (blocks allocated and written);
- ``overlay (synced)``: written through an ``OverlaySnapshotter`` mounted without ``volatile`` (kiln before
  this probe), then folded into the base: the unmount syncs the whole upper filesystem;
- ``overlay (kiln)``: the same with kiln's mount options (``volatile``: no sync at unmount).

On the benchmark host (ext4 mounted with ``discard`` on a virtio disk) an unlink costs ~0.1 ms while the
file's data is still delayed-allocated, and ~0.5-2 ms once its block was written, because ext4's online
discard sends the device one discard per freed extent as the journal commits and the next unlinks wait for
that commit. See docs/performance.md for the numbers and what kiln does about it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kiln.fs.ignore import IgnoreList
from kiln.snapshot import overlay
from kiln.snapshot.overlay import OverlaySnapshotter


def device_of(path: Path) -> str:
    dev = os.stat(path).st_dev
    name = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve().name
    return name


def discards(dev: str) -> tuple[int, int]:
    """(discard requests completed, ms spent discarding) for ``dev`` (0, 0 when the kernel does not say)."""
    for line in Path("/proc/diskstats").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 18 and fields[2] == dev:
            return int(fields[14]), int(fields[17])
    return 0, 0


def write_files(target: Path, count: int) -> None:
    script = f'i=0; while [ $i -lt {count} ]; do echo "hello $i" > f$i; i=$((i+1)); done'
    target.mkdir(parents=True)
    subprocess.run(["sh", "-c", script], cwd=target, check=True)


def unlink_all(directory: Path, dev: str) -> tuple[float, int, int]:
    names = os.listdir(directory)
    before = discards(dev)
    start = time.perf_counter()
    for name in names:
        os.unlink(directory / name)
    os.sync()  # the discards of the last commit are part of the cost
    seconds = time.perf_counter() - start
    after = discards(dev)
    return seconds / len(names), after[0] - before[0], after[1] - before[1]


def through_overlay(work: Path, count: int, volatile: bool) -> Path:
    """Files written through kiln's OverlaySnapshotter (volatile), or through the same mount without it."""
    base = work / "base"
    base.mkdir()
    snap = OverlaySnapshotter(base, work / "scratch", IgnoreList(()))
    if not volatile:

        def mount_synced() -> None:
            data = f"lowerdir={base},upperdir={snap._upper},workdir={snap._work},metacopy=off,redirect_dir=off,index=off"
            if overlay._libc.mount(b"overlay", os.fsencode(snap.root), b"overlay", 0, data.encode()) != 0:
                raise OSError("mount failed")
            snap._mounted = True

        snap._mount = mount_synced  # type: ignore[method-assign]
    snap.start()
    write_files(snap.root / "d", count)
    snap.close()
    return base / "d"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: a temp dir)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kiln-unlink-probe-", dir=args.dir))
    dev = device_of(work)
    print(f"device {dev}, {args.files} files per way")
    ways: dict[str, Callable[[Path], Path]] = {
        "direct": lambda w: (write_files(w / "d", args.files), w / "d")[1],
        "direct+sync": lambda w: (write_files(w / "d", args.files), os.sync(), w / "d")[2],
        "overlay (synced)": lambda w: through_overlay(w, args.files, volatile=False),
        "overlay (kiln)": lambda w: through_overlay(w, args.files, volatile=True),
    }
    try:
        for name, make in ways.items():
            sub = work / name
            sub.mkdir()
            directory = make(sub)
            per_file, count, ms = unlink_all(directory, dev)
            print(
                f"{name:<18} unlink {per_file * 1e6:7.0f} us/file   discards {count:6d}   device ms {ms:6d}"
            )
            shutil.rmtree(sub, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
