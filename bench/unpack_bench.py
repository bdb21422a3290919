"""kiln's layer unpack against GNU ``tar -xzf`` on the same gzip layer.

``python bench/unpack_bench.py [--small 20000] [--big 20] [--big-mb 5] [--repeat 3]``: builds a tree of
many small files and a few large (incompressible-ish) ones, writes it as a layer with kiln's writer,
then extracts it into fresh directories with ``apply_layer`` and with ``tar -xzf --same-owner``, alternating,
and prints the best wall and CPU time of each (``--layer F``: a given gzip layer instead, e.g. the bench's
debootstrap base).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
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


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[Path], None], dest: Path, who: int) -> tuple[float, float]:
    """Wall and CPU seconds (``who``: this process for kiln, its children for tar and gzip)."""
    dest.mkdir()
    cpu0, t0 = _cpu(who), time.perf_counter()
    fn(dest)
    wall, cpu = time.perf_counter() - t0, _cpu(who) - cpu0
    shutil.rmtree(dest)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--big", type=int, default=20)
    parser.add_argument("--big-mb", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layer", type=Path, help="unpack this gzip layer instead of a generated one")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="kiln-unpackbench-") as tmp:
        work = Path(tmp)
        if args.layer:
            path = args.layer
            print(f"layer: {path}, {path.stat().st_size / 1e6:.1f} MB gzip, cpus {os.cpu_count()}")
        else:
            entries = make_tree(work / "src", args.small, args.big, args.big_mb)
            path = write_layer(entries, work / "layer.tar.gz", compression="gzip").path
            print(
                f"layer: {len(entries)} entries, {path.stat().st_size / 1e6:.1f} MB gzip, cpus {os.cpu_count()}"
            )

        def kiln(dest: Path) -> None:
            with open(path, "rb") as f:
                apply_layer(dest, f)

        def gnu_tar(dest: Path) -> None:
            subprocess.run(
                ["tar", "-xzf", str(path), "-C", str(dest), "--same-owner"],
                check=True,
                stderr=subprocess.DEVNULL,
            )

        runs: dict[str, list[tuple[float, float]]] = {"kiln": [], "tar": []}
        for i in range(args.repeat):  # alternating, so a busy moment of a shared machine hits both
            order = [("kiln", kiln, resource.RUSAGE_SELF), ("tar", gnu_tar, resource.RUSAGE_CHILDREN)]
            for name, fn, who in order if i % 2 == 0 else order[::-1]:
                runs[name].append(timed(fn, work / f"{name}{i}", who))
        k_wall, t_wall = min(w for w, _ in runs["kiln"]), min(w for w, _ in runs["tar"])
        k_cpu, t_cpu = min(c for _, c in runs["kiln"]), min(c for _, c in runs["tar"])
        print(f"kiln apply_layer  {k_wall:7.3f} s wall  {k_cpu:7.3f} s cpu   (best of {args.repeat})")
        print(f"tar -xzf          {t_wall:7.3f} s wall  {t_cpu:7.3f} s cpu")
        print(f"kiln speed / tar speed: {t_wall / k_wall:.0%} by wall time, {t_cpu / k_cpu:.0%} by CPU time")


if __name__ == "__main__":
    main()
