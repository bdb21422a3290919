"""What a CI adapter's ``provenance: true`` costs end to end: the GitHub adapter (inputs -> executor ->
outputs, ``kiln.provenance`` read back from ``--provenance-refs-file``) with the switch off and on.

Why: bench/provenance_bench.py measures the executor alone; this adds what the adapter does on top (one more
flag, one small JSON file read). Runs alternate (off, on, off, on, ...), each a fresh executor process
pushing a scratch + one COPY image to a loopback ``docker-registry`` (distribution 2.8: fallback tag path).
Prints the median, min and max wall time of each mode.

``python bench/adapter_provenance_bench.py [--repeat 15]``  (no RUN: does not need root)
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import start_registry  # type: ignore[import-not-found]

from kiln.integrations import github


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    executor = shutil.which("executor")
    if executor is None:
        print("kiln's executor is not on PATH", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="kiln-adapter-prov-"))
    registry, host = start_registry(root)
    try:
        ctx = root / "ctx"
        ctx.mkdir()
        (ctx / "hello.txt").write_text("hi\n")
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
        times: dict[str, list[float]] = {"false": [], "true": []}
        for i in range(args.repeat):
            for provenance in times:
                env = {
                    "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(root / "home"),
                    "KILN_EXECUTOR": executor, "RUNNER_TEMP": str(root), "INPUT_CONTEXT": str(ctx),
                    "INPUT_TAGS": f"{host}/bench/app:{provenance}{i}", "INPUT_PUSH": "true",
                    "INPUT_PROVENANCE": provenance,
                    "INPUT_EXTRA_ARGS": f"--insecure --kaniko-dir={root / 'k'} --cache-dir={root / 'c'}",
                }  # fmt: skip
                start = time.perf_counter()
                if github.build(env, io.StringIO()) != 0:
                    print("build failed", file=sys.stderr)
                    return 1
                times[provenance].append(time.perf_counter() - start)
        for provenance, taken in times.items():
            print(
                f"provenance={provenance}: median {statistics.median(taken):.3f} s, "
                f"min {min(taken):.3f}, max {max(taken):.3f}, n={len(taken)}"
            )
        return 0
    finally:
        registry.terminate()
        registry.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
