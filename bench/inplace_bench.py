"""--isolation=inplace against --isolation=chroot on the same Dockerfiles (wall time of whole builds).

Why: inplace is kaniko's model for unprivileged pods: the stage lives in ``/``, snapshots walk ``/``
(overlay cannot be mounted there), ``/`` is emptied between stages and a stage read by ``COPY --from``
is unpacked again from its image. This shows what that costs against chroot (overlay snapshots) here.
The inplace build runs in the tests' throw-away root (``tests/e2e/throwaway.py``: a tmpfs ``/`` in a
private mount namespace; this machine's ``/`` is never touched); the chroot build runs as usual. Both
pull busybox from a loopback ``docker-registry`` and write an OCI layout. Cases from bench/run.py:
``snap10k`` (a RUN writes 10k small files) and ``multistage`` (20k files and 200 MB in one stage,
copied whole into the next).

``python bench/inplace_bench.py [--repeat 3] [--cases snap10k,multistage]``  (needs root)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import CASES, REPO, bench_registry, kiln_argv, push_busybox_base, timed, write_context  # type: ignore[import-not-found]

from e2e.throwaway import run_in_throwaway_root  # type: ignore[import-not-found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default="snap10k,multistage")
    args = parser.parse_args()
    with bench_registry("kiln-inplace-bench-") as (work, host):
        base = push_busybox_base(work, host)
        print(f"median of {args.repeat} cold builds (s):        chroot   inplace")
        for name in args.cases.split(","):
            case = CASES[name]()
            times: dict[str, list[float]] = {"chroot": [], "inplace": []}
            for run in range(args.repeat):
                for isolation in ("chroot", "inplace"):
                    out = work / f"{name}-{isolation}-{run}"
                    ctx = out / "ctx"
                    write_context(case, ctx, {"base": base})
                    argv = [*kiln_argv(case, ctx, out, host), f"--isolation={isolation}"]
                    if isolation == "chroot":
                        result = timed(argv, out / "log", cwd=REPO)
                        ok, seconds, tail = result.ok, result.seconds, result.tail
                    else:
                        started = time.perf_counter()
                        done = run_in_throwaway_root([*argv, "--force"], out / "mnt", writable=[str(out)])
                        seconds = time.perf_counter() - started
                        ok, tail = done.returncode == 0, (done.stdout + done.stderr)[-1500:]
                    if not ok:
                        print(tail)
                        sys.exit(1)
                    times[isolation].append(seconds)
                    shutil.rmtree(out, ignore_errors=True)
            chroot, inplace = (statistics.median(times[k]) for k in ("chroot", "inplace"))
            print(f"  {name:<40} {chroot:7.2f}   {inplace:7.2f}")


if __name__ == "__main__":
    main()
