"""kiln's layer unpack against GNU ``tar -xzf`` on the same gzip layer.

``python bench/unpack_bench.py [--small 20000] [--big 20] [--big-mb 5] [--repeat 3]``: builds a tree of
many small files and a few large (incompressible-ish) ones, writes it as a layer with kiln's writer,
then extracts it into fresh directories with ``apply_layer`` and with ``tar -xzf --same-owner`` and
prints the best time of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from kiln.fs.tarwriter import Add, Entry, write_layer
from kiln.fs.unpack import apply_layer


def make_tree(root: Path, small: int, big: int, big_mb: int) -> list[Entry]:
    entries: list[Entry] = []
    for i in range(small):
        d = root / f"d{i // 200}"
        if not d.exists():
            d.mkdir(parents=True)
            entries.append(Add(f"/d{i // 200}", d))
        f = d / f"f{i}"
        f.write_bytes(b"small file %d\n" % i * 20)
        entries.append(Add(f"/d{i // 200}/f{i}", f))
    (root / "big").mkdir()
    entries.append(Add("/big", root / "big"))
    chunk = os.urandom(1 << 16)
    for i in range(big):
        f = root / "big" / f"blob{i}"
        with open(f, "wb") as out:
            for j in range(big_mb * 16):
                out.write(chunk if j % 2 else b"\0" * len(chunk))
        entries.append(Add(f"/big/blob{i}", f))
    return entries


def best(fn: object, repeat: int, work: Path) -> float:
    times = []
    for i in range(repeat):
        dest = work / f"x{i}"
        dest.mkdir()
        t0 = time.perf_counter()
        fn(dest)  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
        shutil.rmtree(dest)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--big-mb", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="kiln-unpackbench-") as tmp:
        work = Path(tmp)
        entries = make_tree(work / "src", args.small, args.big, args.big_mb)
        layer = write_layer(entries, work / "layer.tar.gz", compression="gzip")
        size_mb = layer.size / 1e6
        print(f"layer: {len(entries)} entries, {size_mb:.1f} MB gzip, cpus {os.cpu_count()}")

        def kiln(dest: Path) -> None:
            with open(layer.path, "rb") as f:
                apply_layer(dest, f)

        def gnu_tar(dest: Path) -> None:
            subprocess.run(["tar", "-xzf", str(layer.path), "-C", str(dest), "--same-owner"], check=True)

        t_kiln = best(kiln, args.repeat, work)
        t_tar = best(gnu_tar, args.repeat, work)
        print(f"kiln apply_layer  {t_kiln:7.3f} s")
        print(f"tar -xzf          {t_tar:7.3f} s   (kiln / tar = {t_kiln / t_tar:.2f})")


if __name__ == "__main__":
    main()
