"""Cold build vs rebuild with a warm layer cache (issue 6: the rebuild must take < 20% of the cold time).

Why: the cache is what makes re-run CI builds cheap; this shows how cheap. A Dockerfile with 5 RUN
steps, each doing some CPU work and writing a file, is built with ``executor --cache
--cache-repo=<registry>/cache`` from busybox in a loopback ``docker-registry``: once cold (empty
cache), then again with the same context (every RUN should hit). Each build is a fresh kiln process
and a fresh kiln dir. Prints both wall times and the ratio; exits 1 if the ratio is >= 0.20.

``python bench/cache_bench.py [--repeat 3] [--work SECONDS-OF-CPU-PER-RUN]``  (needs root: RUN uses chroot)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import KILN, REPO, bench_registry, push_busybox_base  # type: ignore[import-not-found]


def dockerfile(base: str, seconds: float) -> str:
    lines = [f"FROM {base}"]
    for i in range(5):
        # busy work for a fixed time (like a compiler), then a file of output
        lines.append(
            f"RUN end=$(( $(date +%s) + {max(1, round(seconds))} )); n=0; "
            f"while [ $(date +%s) -lt $end ]; do n=$((n+1)); done; head -c 65536 /dev/urandom > /out{i}"
        )
    return "\n".join(lines) + "\n"


def build(ctx: Path, host: str, kaniko_dir: Path, out: Path) -> float:
    argv = [
        *KILN, "--no-push", "-c", str(ctx), "--kaniko-dir", str(kaniko_dir),
        "--oci-layout-path", str(out), "--insecure-registry", host, "--cache", "--cache-repo", f"{host}/cache",
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=float, default=2.0, help="seconds of busy work per RUN")
    args = parser.parse_args()
    with bench_registry("kiln-cache-bench-") as (work, host):
        base = push_busybox_base(work, host)
        colds, warms = [], []
        for run in range(args.repeat):
            ctx = work / f"ctx-{run}"
            ctx.mkdir()
            # a different first line per repeat: every repeat starts from an empty cache
            (ctx / "Dockerfile").write_text(
                dockerfile(base, args.work).replace("\n", f"\nENV REPEAT={run}\n", 1)
            )
            colds.append(build(ctx, host, work / f"k-cold-{run}", work / f"o-cold-{run}"))
            warms.append(build(ctx, host, work / f"k-warm-{run}", work / f"o-warm-{run}"))
        cold, warm = statistics.median(colds), statistics.median(warms)
        ratio = warm / cold
        print(f"5 RUN steps x {args.work:.0f}s work, median of {args.repeat}:")
        print(f"  cold build      {cold:6.2f}s")
        print(f"  warm rebuild    {warm:6.2f}s")
        print(f"  ratio           {ratio:6.1%}  (target < 20%)")
        sys.exit(0 if ratio < 0.20 else 1)


if __name__ == "__main__":
    main()
