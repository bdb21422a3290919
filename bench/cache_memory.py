"""Peak memory of builds that push a big layer to the layer cache and pull it back (--compressed-caching).

Why: kaniko's ``--compressed-caching=false`` exists because kaniko (go-containerregistry's
``tarball.WithCompressedCaching``) keeps each compressed layer in RAM for the cache push, and large
layers ran pods out of memory. kiln writes every layer once to a file in its work dir, compressed
while written, and streams it from there to the cache and the destinations; a cache hit streams the
layer from the registry into the stage root. So the flag has nothing to turn off, and kiln accepts it
as a no-op. This shows the claim: a RUN writes ``--mb`` MB of random bytes (incompressible), the
build pushes that layer to a ``--cache-repo`` in a loopback ``docker-registry``, then a second build
hits the cache; each build's peak RSS (``ru_maxrss`` from ``os.wait4``) is printed beside the layer
size, for ``--compressed-caching`` true and false.

``python bench/cache_memory.py [--mb 300]``  (needs root: RUN uses chroot)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import KILN, REPO, bench_registry, push_busybox_base, timed  # type: ignore[import-not-found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300, help="size of the RUN layer in MB")
    args = parser.parse_args()
    with bench_registry("kiln-cache-mem-") as (work, host):
        base = push_busybox_base(work, host)
        print(f"RUN layer: {args.mb} MB of random bytes; peak RSS of the kiln process (MB):")
        for flag in ("true", "false"):
            ctx = work / f"ctx-{flag}"
            ctx.mkdir()
            (ctx / "Dockerfile").write_text(
                f"FROM {base}\nENV FLAG={flag}\nRUN head -c {args.mb}m /dev/urandom > /big\n"
            )
            for kind in ("cold (pushes to the cache)", "warm (cache hit)"):
                run = timed(
                    [*KILN, "--no-push", "-c", str(ctx), "--kaniko-dir", str(work / f"k-{flag}-{kind[:4]}"),
                     "--oci-layout-path", str(work / f"o-{flag}-{kind[:4]}"), "--insecure-registry", host,
                     "--cache", "--cache-repo", f"{host}/cache", f"--compressed-caching={flag}"],
                    work / f"log-{flag}-{kind[:4]}",
                    cwd=REPO,
                )  # fmt: skip
                if not run.ok:
                    print(run.tail)
                    sys.exit(1)
                print(
                    f"  --compressed-caching={flag:<5} {kind:<27} {run.max_rss_kb / 1024:7.1f} MB  ({run.seconds:.1f}s)"
                )


if __name__ == "__main__":
    main()
